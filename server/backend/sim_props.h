// server/backend/sim_props.h — the device the sim backend pretends to be.
//
// Contract: sim_device_props() returns a complete DeviceProps for an H100-like card
// ("rgpu sim", 132 SMs) reporting compute capability `arch` (kSimDefaultArch unless
// --sim-arch says otherwise), with every attribute cudart reads at init filled with a
// plausible H100 value, PCI ids and a UUID derived from `gpu_index` (stable across runs).
// total_mem is the session's cap; va_base/va_size are the session's window.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/device_props.h"

namespace rgpu::server {

// A compute capability, e.g. {12, 0}.
struct SimArch {
  int32_t major = 13;
  int32_t minor = 0;
  uint32_t sm() const { return static_cast<uint32_t>(major * 10 + minor); }
};

// The default is 13.0, newer than every SASS the CUDA 13 toolkit and its libraries ship
// (sm_75 .. sm_121): a program, cudart or cuBLAS that finds no cubin for the device falls back
// to the newest PTX it carries (compute_120 in cuBLAS 13), which is what the sim executes.
// At 12.0 (or 9.0) cuBLAS hands over its sm_120 (sm_90) cubins, which carry no PTX, so its
// kernels cannot run; --sim-arch 12.0 is for programs that check the capability they get.
inline constexpr SimArch kSimDefaultArch{13, 0};

// Parses "MAJOR.MINOR" (e.g. "12.0"; major 3..99, minor 0..9); false on anything else.
bool parse_sim_arch(const std::string& text, SimArch* out);

DeviceProps sim_device_props(uint32_t gpu_index, SimArch arch, uint64_t total_mem, uint64_t va_base,
                             uint64_t va_size);

// The driver version the sim reports (CUDA 13.0).
inline constexpr int32_t kSimDriverVersion = 13000;

}  // namespace rgpu::server
