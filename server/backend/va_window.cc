// server/backend/va_window.cc — see va_window.h.
#include "server/backend/va_window.h"

#include <cstdio>

namespace rgpu::server {

namespace {
std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

std::string check_window(uint64_t va_base, uint64_t va_size) {
  if (va_size == 0) return "device address window is empty";
  if (va_base % kWindowAlign != 0 || va_size % kWindowAlign != 0)
    return "device address window " + hex(va_base) + "+" + hex(va_size) +
           " is not aligned to 1 GiB";
  if (va_base < kMinVa || va_base >= kMaxVa || va_size > kMaxVa - va_base)
    return "device address window " + hex(va_base) + "+" + hex(va_size) + " is outside " +
           hex(kMinVa) + ".." + hex(kMaxVa);
  return "";
}

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

std::optional<uint64_t> VaAllocator::allocate(uint64_t bytes) {
  uint64_t need = rounded(bytes);
  if (need == 0) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    uint64_t start = it->first, len = it->second;
    free_.erase(it);
    if (len > need) free_[start + need] = len - need;
    used_[start] = need;
    return start;
  }
  return std::nullopt;
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

}  // namespace rgpu::server
