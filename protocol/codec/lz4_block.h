// protocol/codec/lz4_block.h: LZ4 block compression of one bulk-copy chunk.
//
// Contract: a block is raw LZ4 block format (no frame); the receiver must know the
// uncompressed size (it travels in the chunk header). All functions check their bounds:
//   * lz4_compress() writes at most `cap` bytes and returns the compressed size, or nullopt
//     when src_size exceeds kMaxLz4Input or the output does not fit `cap` (use
//     lz4_compress_bound() for a cap that always fits);
//   * lz4_decompress() returns the number of bytes written, which the caller compares with the
//     expected size; nullopt for corrupt input or output that would exceed `cap`. It never
//     reads past `src_size` nor writes past `cap`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace rgpu::codec {

inline constexpr size_t kMaxLz4Input = 0x7E000000;  // LZ4_MAX_INPUT_SIZE

size_t lz4_compress_bound(size_t src_size);  // 0 when src_size > kMaxLz4Input

std::optional<size_t> lz4_compress(const void* src, size_t src_size, void* dst, size_t cap);
std::optional<size_t> lz4_decompress(const void* src, size_t src_size, void* dst, size_t cap);

// Convenience: compress into a new vector (nullopt only when src_size > kMaxLz4Input), and
// decompress exactly `expected_size` bytes (nullopt on corruption or a size mismatch).
std::optional<std::vector<uint8_t>> lz4_compress(const void* src, size_t src_size);
std::optional<std::vector<uint8_t>> lz4_decompress_exact(const void* src, size_t src_size,
                                                         size_t expected_size);

}  // namespace rgpu::codec
