// protocol/image/image_zstd.cc — see image_zstd.h.
#include "protocol/image/image_zstd.h"

#include <zstd.h>

#include <algorithm>
#include <string>

namespace rgpu::image {
namespace {
constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};  // 0xFD2FB528, little-endian
constexpr int kLevel = 3;  // ~300 MB/s on one core: cheaper than any link it is used on
}  // namespace

bool is_zstd_image(const uint8_t* data, size_t size) {
  return size >= 4 && data[0] == kZstdMagic[0] && data[1] == kZstdMagic[1] &&
         data[2] == kZstdMagic[2] && data[3] == kZstdMagic[3];
}

std::vector<uint8_t> compress_image(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(ZSTD_compressBound(size));
  const size_t n = ZSTD_compress(out.data(), out.size(), data, size, kLevel);
  if (ZSTD_isError(n) || static_cast<double>(n) > static_cast<double>(size) * (1 - kMinSaving))
    return {};
  if (n * kMaxZstdRatio < size) return {};  // a receiver would refuse it (decompress_image)
  out.resize(n);
  return out;
}

Result<std::vector<uint8_t>> decompress_image(const uint8_t* data, size_t size, size_t max_bytes) {
  using Bytes = Result<std::vector<uint8_t>>;
  if (!is_zstd_image(data, size)) return Bytes::fail("compressed image: not a ZSTD frame");
  const size_t frame = ZSTD_findFrameCompressedSize(data, size);
  if (ZSTD_isError(frame)) return Bytes::fail("compressed image: truncated or corrupt frame");
  if (frame != size)
    return Bytes::fail("compressed image: " + std::to_string(size - frame) +
                       " bytes after its frame");
  const unsigned long long content = ZSTD_getFrameContentSize(data, size);
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
    return Bytes::fail("compressed image: the frame does not state its size");
  const uint64_t bound = std::min<uint64_t>(max_bytes, kMaxZstdRatio * size);
  if (content == 0 || content > bound)
    return Bytes::fail("compressed image of " + std::to_string(content) + " bytes from " +
                       std::to_string(size) + " (at most " + std::to_string(bound) + ")");
  std::vector<uint8_t> out(static_cast<size_t>(content));
  const size_t n = ZSTD_decompress(out.data(), out.size(), data, size);
  if (ZSTD_isError(n) || n != out.size())
    return Bytes::fail(std::string("compressed image: ") +
                       (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "shorter than it states"));
  return Bytes(std::move(out));
}

}  // namespace rgpu::image
