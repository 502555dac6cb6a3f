// protocol/va_allocator.h — arithmetic for placing ranges in a device address window.
//
// Contract: VaAllocator hands out non-overlapping ranges of `align`-rounded sizes inside
// [base, base + size), first fit from the lowest address (or exactly at a free hint), and takes
// them back by start address. It only does arithmetic: mapping memory there is the backend's
// job. Used by the server's backends (the whole window) and by the shim (the upper half of each
// vGPU's window, where it places cuMemAlloc itself: ops.def MemAllocAt). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace rgpu {

class VaAllocator {
 public:
  void reset(uint64_t base, uint64_t size, uint64_t align);
  // The start of a free range of round_up(bytes, align) bytes, or nullopt when none is left. The
  // start is a multiple of `align` (a power of two; at least the allocator's); a free `hint`
  // (cuMemAddressReserve's fixed address) is taken when the whole range is free there.
  std::optional<uint64_t> allocate(uint64_t bytes, uint64_t align = 0, uint64_t hint = 0);
  // Takes exactly [addr, addr + rounded(bytes)) when addr is a multiple of the allocator's
  // alignment and that whole range is free; false (nothing taken) otherwise.
  bool allocate_at(uint64_t addr, uint64_t bytes);
  // Whether no range is handed out.
  bool empty() const { return used_.empty(); }
  // The rounded size of the range starting at addr, or 0 when none starts there (not freed).
  uint64_t release(uint64_t addr);
  uint64_t rounded(uint64_t bytes) const;
  uint64_t align() const { return align_; }

 private:
  uint64_t base_ = 0, size_ = 0, align_ = 1;
  std::map<uint64_t, uint64_t> free_;  // start -> length, coalesced
  std::map<uint64_t, uint64_t> used_;  // start -> length
};

}  // namespace rgpu
