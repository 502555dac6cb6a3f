// server/backend/va_window.h — a session's device address window and the allocator inside it.
//
// Contract:
// - check_window() accepts a window only when it lies inside [kMinVa, kMaxVa) (far above a
//   worker's heap and below its libraries and stacks, and above ASan's shadow), is aligned to
//   kWindowAlign and is not empty; otherwise it returns an error naming the bad value.
// - WindowAllocator splits a session's window in two: the backend's own placements
//   (cuMemAlloc answered by the server, module globals, reservations) lie in the lower half,
//   whatever hint they were given; the upper half holds only what the client placed itself
//   (ops.def MemAllocAt), in ranges of kVmmGranularity. So neither side ever places over the
//   other. Both halves are rgpu::VaAllocator (protocol/va_allocator.h, shared with the shim).
#pragma once

#include <cstdint>
#include <optional>
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

class WindowAllocator {
 public:
  // `align`: the backend's own placement unit (a power of two dividing kVmmGranularity).
  void reset(uint64_t base, uint64_t size, uint64_t align);
  uint64_t rounded(uint64_t bytes) const { return own_.rounded(bytes); }
  // The backend's own placement, in the lower half (a hint outside it is not taken).
  std::optional<uint64_t> allocate(uint64_t bytes, uint64_t align = 0, uint64_t hint = 0) {
    return own_.allocate(bytes, align, hint);
  }
  // The client's placement: exactly [addr, addr + bytes rounded to kVmmGranularity) of the
  // upper half, when free and aligned.
  bool allocate_at(uint64_t addr, uint64_t bytes) { return client_.allocate_at(addr, bytes); }
  // Either kind, by start address: the rounded size taken back, or 0.
  uint64_t release(uint64_t addr) {
    return addr >= mid_ ? client_.release(addr) : own_.release(addr);
  }
  uint64_t client_half() const { return mid_; }
  // What a backend's mem_alloc does with its `at` (backend.h): at = 0, its own placement
  // (allocate); else the client's (allocate_at). Null with *why set when neither can be had.
  std::optional<uint64_t> place(uint64_t bytes, uint64_t at, std::string* why);

 private:
  VaAllocator own_, client_;
  uint64_t mid_ = 0;
};

}  // namespace rgpu::server
