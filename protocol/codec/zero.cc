#include "protocol/codec/zero.h"

#include <cstdint>
#include <cstring>

namespace rgpu::codec {

bool is_all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  // Head: bytes up to 8-byte alignment.
  while (n != 0 && (reinterpret_cast<uintptr_t>(b) & 7) != 0) {
    if (*b != 0) return false;
    ++b;
    --n;
  }
  // Middle: four words per step, OR-reduced, early exit per 32 bytes.
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, b, 32);
    if ((w[0] | w[1] | w[2] | w[3]) != 0) return false;
    b += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, b, 8);
    if (w != 0) return false;
    b += 8;
    n -= 8;
  }
  while (n != 0) {
    if (*b != 0) return false;
    ++b;
    --n;
  }
  return true;
}

}  // namespace rgpu::codec
