// protocol/image/image_zstd.h — a module image sent compressed (protocol 11).
//
// Contract: a ModuleLoad / ModuleLoadDeferred payload is the image itself or, from a protocol-11
// client, one ZSTD frame of it; no CUDA image starts with the ZSTD magic (a fatbin starts with
// 0xba55ed50, a cubin with 0x7f 'E' 'L' 'F', PTX with text), so the receiver tells them apart by
// is_zstd_image(). compress_image() returns the frame, or an empty vector when it would not be at
// least kMinSaving smaller or would unpack to more than kMaxZstdRatio times its size (the caller
// then sends the image as it is): every frame it returns, decompress_image() accepts. decompress_image() accepts
// exactly one whole frame that states its content size, at most `max_bytes` and at most
// kMaxZstdRatio times the frame's own size (so a small frame cannot make the receiver allocate
// much: the rule the fatbin parser applies to ZSTD entries); anything else (a truncated or
// corrupt frame, trailing bytes, an unstated or larger size) is an error with a message, and
// nothing is read or written out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/image/result.h"

namespace rgpu::image {

inline constexpr double kMinSaving = 0.10;  // compressed must be <= 90 % of the image
inline constexpr uint64_t kMaxZstdRatio = 256;

bool is_zstd_image(const uint8_t* data, size_t size);
std::vector<uint8_t> compress_image(const uint8_t* data, size_t size);
Result<std::vector<uint8_t>> decompress_image(const uint8_t* data, size_t size, size_t max_bytes);

}  // namespace rgpu::image
