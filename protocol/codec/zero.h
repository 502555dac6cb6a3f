// protocol/codec/zero.h: detect all-zero payloads (sent as a length instead of bytes).
//
// Contract: is_all_zero(p, n) is true when the n bytes at p are all zero (n == 0: true). It
// reads each byte at most once, 32 bytes per step on the aligned middle, and never reads
// outside [p, p+n). p may be null only when n == 0.
#pragma once

#include <cstddef>

namespace rgpu::codec {

bool is_all_zero(const void* p, size_t n);

}  // namespace rgpu::codec
