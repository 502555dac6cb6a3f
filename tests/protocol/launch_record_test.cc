// The launch record's rules (protocol/launch_record.h) that the shim and the worker both apply.
#include "protocol/launch_record.h"

#include <gtest/gtest.h>

namespace rgpu {
namespace {

DeviceProps device() {
  DeviceProps p{};
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X] = 2147483647;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y] = 65535;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z] = 65535;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X] = 1024;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y] = 1024;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z] = 64;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
  p.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN] = 232448;
  return p;
}

LaunchGeometry one_block() {
  LaunchGeometry g{};
  for (int i = 0; i < 3; ++i) g.grid[i] = g.block[i] = 1;
  return g;
}

TEST(LaunchRecord, AcceptsWhatTheDeviceRuns) {
  LaunchGeometry g = one_block();
  g.grid[0] = 2147483647;
  g.block[0] = 1024;
  g.shared_mem = 232448;
  g.param_bytes = kMaxLaunchParamBytes;
  g.num_attrs = kMaxLaunchAttrs;
  EXPECT_EQ(check_launch(device(), g), "");
}

TEST(LaunchRecord, RefusesEachLimitSayingWhich) {
  const DeviceProps p = device();
  LaunchGeometry g = one_block();
  g.grid[1] = 0;
  EXPECT_NE(check_launch(p, g).find("outside the device's limits"), std::string::npos);
  g = one_block();
  g.block[2] = 65;
  EXPECT_NE(check_launch(p, g).find("block(1,1,65)"), std::string::npos);
  g = one_block();
  g.block[0] = 64;
  g.block[1] = 32;
  EXPECT_NE(check_launch(p, g).find("2048 threads per block"), std::string::npos);
  g = one_block();
  g.shared_mem = 232449;
  EXPECT_NE(check_launch(p, g).find("dynamic shared memory"), std::string::npos);
  g = one_block();
  g.param_bytes = kMaxLaunchParamBytes + 1;
  EXPECT_NE(check_launch(p, g).find("parameter bytes"), std::string::npos);
  g = one_block();
  g.num_attrs = kMaxLaunchAttrs + 1;
  EXPECT_NE(check_launch(p, g).find("launch attributes"), std::string::npos);
}

TEST(LaunchRecord, AttributesRoundTrip) {
  CUlaunchAttribute in[2]{};
  in[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  in[0].value.clusterDim.x = 2;
  in[0].value.clusterDim.y = 3;
  in[0].value.clusterDim.z = 4;
  in[1].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  in[1].value.priority = -5;
  uint8_t recs[2 * kLaunchAttrBytes];
  for (int i = 0; i < 2; ++i) encode_launch_attr(in[i], recs + i * kLaunchAttrBytes);
  CUlaunchAttribute out[2];
  decode_launch_attrs(recs, 2, out);
  EXPECT_EQ(out[0].id, CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION);
  EXPECT_EQ(out[0].value.clusterDim.z, 4u);
  EXPECT_EQ(out[1].id, CU_LAUNCH_ATTRIBUTE_PRIORITY);
  EXPECT_EQ(out[1].value.priority, -5);
  EXPECT_EQ(launch_payload_bytes(16, 2), 16u + 2 * 72);
}

}  // namespace
}  // namespace rgpu
