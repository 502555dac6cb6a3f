#include "protocol/image/image_span.h"

#include <cstring>

#include "protocol/image/byte_reader.h"
#include "protocol/image/elf.h"

namespace rgpu::image {

namespace {

constexpr uint16_t kMinFatbinHeader = 16;
constexpr uint16_t kMaxFatbinHeader = 4096;

// Wrapper layout on LP64: u32 magic, u32 version, const void* data, void* filename_or_fatbins.
struct FatbinWrapper {
  uint32_t magic;
  uint32_t version;
  const void* data;
  const void* filename_or_fatbins;
};

std::optional<ImageSpan> fatbin_span(const uint8_t* p, uint64_t limit) {
  if (!in_bounds(limit, 0, 16)) return std::nullopt;
  const uint32_t magic = load_le<uint32_t>(p);
  const uint16_t version = load_le<uint16_t>(p + 4);
  const uint16_t header_size = load_le<uint16_t>(p + 6);
  const uint64_t fat_size = load_le<uint64_t>(p + 8);
  if (magic != kFatbinMagic || version != 1) return std::nullopt;
  if (header_size < kMinFatbinHeader || header_size > kMaxFatbinHeader) return std::nullopt;
  if (fat_size > kMaxImageBytes) return std::nullopt;
  const uint64_t total = header_size + fat_size;
  if (total > limit) return std::nullopt;
  return ImageSpan{ImageKind::kFatbin, p, static_cast<size_t>(total), false};
}

bool is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// PTX: after whitespace and comments the first token is a directive ('.version', '.target').
// Reads byte by byte and stops at the first NUL or at `limit`; with a known size, text that
// fills the buffer without a NUL is accepted whole.
std::optional<ImageSpan> ptx_span(const uint8_t* p, uint64_t limit, bool known_size) {
  uint64_t i = 0;
  bool saw_directive = false;
  while (i < limit && p[i] != 0) {
    const uint8_t c = p[i];
    if (is_space(c)) {
      ++i;
    } else if (c == '/' && i + 1 < limit && p[i + 1] == '/') {
      while (i < limit && p[i] != 0 && p[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < limit && p[i + 1] == '*') {
      i += 2;
      while (i < limit && p[i] != 0 && !(p[i] == '*' && i + 1 < limit && p[i + 1] == '/')) ++i;
      if (i < limit && p[i] == '*') i += 2;
    } else {
      saw_directive = c == '.';
      break;
    }
  }
  if (!saw_directive) return std::nullopt;
  // Text up to the NUL: printable ASCII and whitespace only.
  for (; i < limit; ++i) {
    const uint8_t c = p[i];
    if (c == 0) return ImageSpan{ImageKind::kPtx, p, static_cast<size_t>(i + 1), false};
    if ((c < 0x20 && !is_space(c)) || c >= 0x7f) return std::nullopt;
  }
  if (known_size) return ImageSpan{ImageKind::kPtx, p, static_cast<size_t>(limit), false};
  return std::nullopt;  // no NUL within the limit
}

std::optional<ImageSpan> locate(const uint8_t* p, uint64_t limit, bool client) {
  if (p == nullptr || limit < 4) return std::nullopt;
  const uint32_t magic = load_le<uint32_t>(p);
  if (magic == kFatbinWrapperMagic && client) {
    if (limit < sizeof(FatbinWrapper)) return std::nullopt;
    FatbinWrapper w;
    std::memcpy(&w, p, sizeof w);
    if (w.version != 1 && w.version != 2) return std::nullopt;
    if (w.data == nullptr) return std::nullopt;
    // The wrapped header lies elsewhere in the process; only the client (unbounded) case may
    // follow it.
    auto span = fatbin_span(static_cast<const uint8_t*>(w.data), kMaxImageBytes + 4096);
    if (span) span->via_wrapper = true;
    return span;
  }
  if (magic == kFatbinMagic) return fatbin_span(p, limit);
  if (looks_like_elf(p, limit >= 16 ? 16 : 0)) {
    Result<uint64_t> size = elf_image_size(p, limit);
    if (!size) return std::nullopt;
    return ImageSpan{ImageKind::kElf, p, static_cast<size_t>(*size), false};
  }
  return ptx_span(p, limit, !client);
}

}  // namespace

std::optional<ImageSpan> locate_image(const void* code) {
  return locate(static_cast<const uint8_t*>(code), kMaxImageBytes + 4096, true);
}

std::optional<ImageSpan> locate_image_in(const void* data, size_t size) {
  return locate(static_cast<const uint8_t*>(data), size, false);
}

}  // namespace rgpu::image
