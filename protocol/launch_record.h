// protocol/launch_record.h — a kernel launch on the wire, and the rules both ends check it by.
//
// Contract:
// - A LaunchKernel record (ops.def) carries its geometry in Args and, as its payload, the
//   packed parameter bytes (Args.param_bytes of them) followed by Args.num_attrs attribute
//   records of kLaunchAttrBytes each (u32 id, 4 zero bytes, CUlaunchAttributeValue's 64 bytes).
// - The client refuses a launch these rules refuse before it enqueues anything (the error is the
//   call's own, as the driver's would be); the worker checks the same rules again, because a
//   client may be anyone. Both use check_launch() and launch_payload_bytes() from here, so the
//   two ends cannot disagree on a limit.
// - Limits: kMaxLaunchParamBytes is CUDA 12.1+'s kernel parameter limit (32,764 bytes);
//   kMaxLaunchAttrs bounds the attribute list (CUDA defines fewer than 32 attribute ids).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "protocol/device_props.h"

namespace rgpu {

inline constexpr uint32_t kMaxLaunchParamBytes = 32764;
inline constexpr uint32_t kMaxLaunchAttrs = 32;
inline constexpr uint32_t kLaunchAttrBytes = 72;
static_assert(sizeof(CUlaunchAttribute) == kLaunchAttrBytes);
static_assert(sizeof(CUlaunchAttributeValue) == 64);

// The payload a launch with these counts carries.
constexpr uint64_t launch_payload_bytes(uint64_t param_bytes, uint64_t num_attrs) {
  return param_bytes + num_attrs * kLaunchAttrBytes;
}
// The largest launch payload any launch may carry.
inline constexpr uint64_t kMaxLaunchPayloadBytes =
    launch_payload_bytes(kMaxLaunchParamBytes, kMaxLaunchAttrs);

struct LaunchGeometry {
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_mem;  // dynamic shared memory bytes
  uint32_t param_bytes;
  uint32_t num_attrs;
};

// Empty when the launch fits the device and the wire's limits; otherwise what is wrong (the CUDA
// error is always CUDA_ERROR_INVALID_VALUE, as the driver's for these). A device attribute of 0
// (not reported) does not limit.
inline std::string check_launch(const DeviceProps& p, const LaunchGeometry& g) {
  const int32_t* at = p.attrs;
  const int32_t grid_max[3] = {at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X],
                               at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y],
                               at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]};
  const int32_t block_max[3] = {at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X],
                                at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y],
                                at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z]};
  auto over = [](uint32_t v, int32_t max) { return max > 0 && v > static_cast<uint32_t>(max); };
  uint64_t threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (g.grid[i] == 0 || g.block[i] == 0 || over(g.grid[i], grid_max[i]) ||
        over(g.block[i], block_max[i]))
      return "launch geometry grid(" + std::to_string(g.grid[0]) + "," + std::to_string(g.grid[1]) +
             "," + std::to_string(g.grid[2]) + ") block(" + std::to_string(g.block[0]) + "," +
             std::to_string(g.block[1]) + "," + std::to_string(g.block[2]) +
             ") is outside the device's limits";
    threads *= g.block[i];
  }
  const int32_t max_threads = at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  if (max_threads > 0 && threads > static_cast<uint64_t>(max_threads))
    return std::to_string(threads) + " threads per block exceed the device's limit of " +
           std::to_string(max_threads);
  if (over(g.shared_mem, at[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN]))
    return std::to_string(g.shared_mem) +
           " bytes of dynamic shared memory exceed the device's limit of " +
           std::to_string(at[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN]);
  if (g.param_bytes > kMaxLaunchParamBytes)
    return std::to_string(g.param_bytes) + " parameter bytes exceed the limit of " +
           std::to_string(kMaxLaunchParamBytes);
  if (g.num_attrs > kMaxLaunchAttrs)
    return std::to_string(g.num_attrs) + " launch attributes exceed the limit of " +
           std::to_string(kMaxLaunchAttrs);
  return "";
}

// Writes one attribute record (kLaunchAttrBytes at rec).
inline void encode_launch_attr(const CUlaunchAttribute& a, uint8_t* rec) {
  std::memset(rec, 0, kLaunchAttrBytes);
  const uint32_t id = static_cast<uint32_t>(a.id);
  std::memcpy(rec, &id, 4);
  std::memcpy(rec + 8, &a.value, sizeof a.value);
}

// Reads the records at `recs` (n of them) into CUlaunchAttribute values (out holds n).
inline void decode_launch_attrs(const uint8_t* recs, uint32_t n, CUlaunchAttribute* out) {
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* rec = recs + size_t{i} * kLaunchAttrBytes;
    uint32_t id;
    std::memcpy(&id, rec, 4);
    std::memset(&out[i], 0, sizeof out[i]);
    out[i].id = static_cast<CUlaunchAttributeID>(id);
    std::memcpy(&out[i].value, rec + 8, sizeof out[i].value);
  }
}

}  // namespace rgpu
