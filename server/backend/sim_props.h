// server/backend/sim_props.h — the device the sim backend pretends to be.
//
// Contract: sim_device_props() returns a complete DeviceProps for an H100-like sm_90 card
// ("rgpu sim H100", 132 SMs, cc 9.0) with every attribute cudart reads at init filled with a
// plausible H100 value, PCI ids and a UUID derived from `gpu_index` (stable across runs).
// total_mem is the session's cap; va_base/va_size are the session's window.
#pragma once

#include <cstdint>

#include "protocol/device_props.h"

namespace rgpu::server {

DeviceProps sim_device_props(uint32_t gpu_index, uint64_t total_mem, uint64_t va_base,
                             uint64_t va_size);

// The driver version the sim reports (CUDA 13.0).
inline constexpr int32_t kSimDriverVersion = 13000;

}  // namespace rgpu::server
