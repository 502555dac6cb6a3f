#include "protocol/codec/lz4_block.h"

#include <lz4.h>

#include <climits>

namespace rgpu::codec {

static_assert(kMaxLz4Input == LZ4_MAX_INPUT_SIZE);

size_t lz4_compress_bound(size_t src_size) {
  if (src_size > kMaxLz4Input) return 0;
  return static_cast<size_t>(LZ4_compressBound(static_cast<int>(src_size)));
}

std::optional<size_t> lz4_compress(const void* src, size_t src_size, void* dst, size_t cap) {
  if (src_size > kMaxLz4Input || (src == nullptr && src_size != 0) || dst == nullptr) {
    return std::nullopt;
  }
  const int c = cap > INT_MAX ? INT_MAX : static_cast<int>(cap);
  const int n = LZ4_compress_default(static_cast<const char*>(src), static_cast<char*>(dst),
                                     static_cast<int>(src_size), c);
  if (n <= 0) return std::nullopt;
  return static_cast<size_t>(n);
}

std::optional<size_t> lz4_decompress(const void* src, size_t src_size, void* dst, size_t cap) {
  if (src == nullptr || src_size == 0 || src_size > INT_MAX || dst == nullptr) {
    return std::nullopt;
  }
  const int c = cap > INT_MAX ? INT_MAX : static_cast<int>(cap);
  const int n = LZ4_decompress_safe(static_cast<const char*>(src), static_cast<char*>(dst),
                                    static_cast<int>(src_size), c);
  if (n < 0) return std::nullopt;
  return static_cast<size_t>(n);
}

std::optional<std::vector<uint8_t>> lz4_compress(const void* src, size_t src_size) {
  const size_t bound = lz4_compress_bound(src_size);
  if (bound == 0) return std::nullopt;
  std::vector<uint8_t> out(bound);
  auto n = lz4_compress(src, src_size, out.data(), out.size());
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

std::optional<std::vector<uint8_t>> lz4_decompress_exact(const void* src, size_t src_size,
                                                         size_t expected_size) {
  if (expected_size > kMaxLz4Input * size_t{255}) return std::nullopt;
  std::vector<uint8_t> out(expected_size);
  if (expected_size == 0) {
    // A compressed empty block is the single token byte 0.
    if (src_size == 1 && src != nullptr && *static_cast<const uint8_t*>(src) == 0) return out;
    return std::nullopt;
  }
  auto n = lz4_decompress(src, src_size, out.data(), out.size());
  if (!n || *n != expected_size) return std::nullopt;
  return out;
}

}  // namespace rgpu::codec
