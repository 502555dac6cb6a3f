// protocol/va_allocator.cc — see va_allocator.h.
#include "protocol/va_allocator.h"

namespace rgpu {

void VaAllocator::reset(uint64_t base, uint64_t size, uint64_t align) {
  base_ = base;
  size_ = size;
  align_ = align ? align : 1;
  free_.clear();
  used_.clear();
  if (size) free_[base] = size;
}

uint64_t VaAllocator::rounded(uint64_t bytes) const {
  if (bytes == 0) bytes = 1;
  if (bytes > UINT64_MAX - align_) return 0;
  return (bytes + align_ - 1) / align_ * align_;
}

std::optional<uint64_t> VaAllocator::allocate(uint64_t bytes, uint64_t align, uint64_t hint) {
  uint64_t need = rounded(bytes);
  if (need == 0) return std::nullopt;
  if (align < align_) align = align_;
  if (align & (align - 1)) return std::nullopt;  // not a power of two
  // Takes [start, start + need) out of the free range at `it`.
  auto take = [&](std::map<uint64_t, uint64_t>::iterator it, uint64_t start) {
    const uint64_t fstart = it->first, flen = it->second;
    free_.erase(it);
    if (start > fstart) free_[fstart] = start - fstart;
    const uint64_t end = start + need, fend = fstart + flen;
    if (fend > end) free_[end] = fend - end;
    used_[start] = need;
    return start;
  };
  if (hint && hint % align == 0) {
    auto it = free_.upper_bound(hint);
    if (it != free_.begin()) {
      --it;
      if (hint >= it->first && hint - it->first <= it->second &&
          need <= it->second - (hint - it->first))
        return take(it, hint);
    }
  }
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    const uint64_t start = (it->first + align - 1) / align * align;
    if (start < it->first || start - it->first > it->second) continue;
    if (it->second - (start - it->first) < need) continue;
    return take(it, start);
  }
  return std::nullopt;
}

bool VaAllocator::allocate_at(uint64_t addr, uint64_t bytes) {
  if (addr == 0 || addr % align_ != 0) return false;
  auto at = allocate(bytes, align_, addr);
  if (at && *at == addr) return true;
  if (at) release(*at);
  return false;
}

uint64_t VaAllocator::release(uint64_t addr) {
  auto it = used_.find(addr);
  if (it == used_.end()) return 0;
  const uint64_t size = it->second;
  uint64_t start = it->first, len = size;
  used_.erase(it);
  auto next = free_.lower_bound(start);
  if (next != free_.end() && start + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      prev->second += len;
      return size;
    }
  }
  free_[start] = len;
  return size;
}

}  // namespace rgpu
