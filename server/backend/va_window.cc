// server/backend/va_window.cc — see va_window.h.
#include "server/backend/va_window.h"

#include <cstdio>

#include "protocol/ops.h"

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

std::optional<uint64_t> WindowAllocator::place(uint64_t bytes, uint64_t at, std::string* why) {
  if (at == 0) {
    auto got = allocate(bytes);
    if (!got) *why = "device address window is exhausted";
    return got;
  }
  if (allocate_at(at, bytes)) return at;
  *why = "cannot place an allocation at " + hex(at) + ": not aligned, outside the window or in use";
  return std::nullopt;
}

void WindowAllocator::reset(uint64_t base, uint64_t size, uint64_t align) {
  const uint64_t unit = kVmmGranularity;
  const uint64_t half = size / 2 / unit * unit;
  mid_ = base + half;
  own_.reset(base, half, align);
  client_.reset(mid_, size - half, unit);
}

}  // namespace rgpu::server
