// protocol/device_props.h — everything the client needs to answer device queries locally.
//
// Contract: the server fills one DeviceProps per vGPU at hello (HelloReply.deviceProps); the
// client caches it and answers cuDeviceGetAttribute/Name/Uuid/TotalMem/PCI queries from it with
// no round trip. The record is trivially copyable and sent as raw bytes; its size is checked on
// receipt. Changing the layout bumps kProtocolVersion.
#pragma once

#include <cstdint>
#include <type_traits>

namespace rgpu {

inline constexpr int kMaxDeviceAttributes = 256;  // > CU_DEVICE_ATTRIBUTE_MAX in CUDA 13

struct DeviceProps {
  char name[256];
  uint8_t uuid[16];
  uint64_t total_mem;      // the vGPU's memory (its cap), not the card's
  int32_t driver_version;  // of the provider's driver, e.g. 13000
  int32_t cc_major, cc_minor;
  int32_t attrs[kMaxDeviceAttributes];  // indexed by CUdevice_attribute
  uint64_t va_base;  // device pointers of this vGPU lie in [va_base, va_base + va_size)
  uint64_t va_size;
};
static_assert(std::is_trivially_copyable_v<DeviceProps>);

}  // namespace rgpu
