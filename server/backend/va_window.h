// server/backend/va_window.h — a session's device address window and the allocator inside it.
//
// Contract:
// - check_window() accepts a window only when it lies inside [kMinVa, kMaxVa) (far above a
//   worker's heap and below its libraries and stacks, and above ASan's shadow), is aligned to
//   kWindowAlign and is not empty; otherwise it returns an error naming the bad value.
// - VaAllocator hands out non-overlapping ranges of `align`-rounded sizes inside the window,
//   first fit from the lowest address, and takes them back by start address. It only does
//   arithmetic: mapping memory there is the backend's job.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace rgpu::server {

inline constexpr uint64_t kMinVa = 0x100000000000ull;  // 16 TiB
inline constexpr uint64_t kMaxVa = 0x700000000000ull;  // 112 TiB
inline constexpr uint64_t kWindowAlign = 1ull << 30;   // 1 GiB
inline constexpr uint64_t kDefaultVaBase = 0x200000000000ull;
inline constexpr uint64_t kDefaultVaSize = 1ull << 40;  // 1 TiB per vGPU

std::string check_window(uint64_t va_base, uint64_t va_size);

class VaAllocator {
 public:
  void reset(uint64_t base, uint64_t size, uint64_t align);
  // The start of a free range of round_up(bytes, align) bytes, or nullopt when none is left. The
  // start is a multiple of `align` (a power of two; at least the allocator's); a free `hint`
  // (cuMemAddressReserve's fixed address) is taken when the whole range is free there.
  std::optional<uint64_t> allocate(uint64_t bytes, uint64_t align = 0, uint64_t hint = 0);
  // The rounded size of the range starting at addr, or 0 when none starts there (not freed).
  uint64_t release(uint64_t addr);
  uint64_t rounded(uint64_t bytes) const;
  uint64_t align() const { return align_; }

 private:
  uint64_t base_ = 0, size_ = 0, align_ = 1;
  std::map<uint64_t, uint64_t> free_;  // start -> length, coalesced
  std::map<uint64_t, uint64_t> used_;  // start -> length
};

}  // namespace rgpu::server
