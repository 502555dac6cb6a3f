// server/backend/va_window.h — a session's device address window and the allocator inside it.
//
// Contract:
// - check_window() accepts a window only when it lies inside [kMinVa, kMaxVa) (far above a
//   worker's heap and below its libraries and stacks, and above ASan's shadow), is aligned to
//   kWindowAlign and is not empty; otherwise it returns an error naming the bad value.
// - The allocator inside a window is rgpu::VaAllocator (protocol/va_allocator.h, shared with
//   the shim, which places allocations in the upper half of the window itself).
#pragma once

#include <cstdint>
#include <string>

#include "protocol/va_allocator.h"

namespace rgpu::server {

inline constexpr uint64_t kMinVa = 0x100000000000ull;  // 16 TiB
inline constexpr uint64_t kMaxVa = 0x700000000000ull;  // 112 TiB
inline constexpr uint64_t kWindowAlign = 1ull << 30;   // 1 GiB
inline constexpr uint64_t kDefaultVaBase = 0x200000000000ull;
inline constexpr uint64_t kDefaultVaSize = 1ull << 40;  // 1 TiB per vGPU

std::string check_window(uint64_t va_base, uint64_t va_size);

using ::rgpu::VaAllocator;

}  // namespace rgpu::server
