#include "protocol/image/fatbin.h"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <memory>

#include <algorithm>
#include <string>

#include "protocol/image/byte_reader.h"
#include "protocol/image/elf.h"
#include "protocol/image/image_span.h"

namespace rgpu::image {

namespace {

constexpr uint32_t kMinEntryHeader = 64;
constexpr uint32_t kMaxEntryHeader = 4096;
constexpr size_t kMaxEntries = 1 << 16;

using Entries = Result<std::vector<FatbinEntry>>;
using Bytes = Result<std::vector<uint8_t>>;

std::string at(size_t offset) {
  return " (entry at offset " + std::to_string(offset) + ")";
}

}  // namespace

Compression FatbinEntry::compression() const {
  if (flags & kFatbinFlagZstd) return Compression::kZstd;
  if (flags & kFatbinFlagLz4) return Compression::kLz4;
  return Compression::kNone;
}

Entries list_fatbin_entries(const uint8_t* data, size_t size) {
  uint32_t magic = 0;
  uint16_t version = 0, header_size = 0;
  uint64_t fat_size = 0;
  if (data == nullptr || !read_le(data, size, 0, &magic) || !read_le(data, size, 4, &version) ||
      !read_le(data, size, 6, &header_size) || !read_le(data, size, 8, &fat_size)) {
    return Entries::fail("fatbin: shorter than its 16-byte header");
  }
  if (magic != kFatbinMagic) return Entries::fail("fatbin: bad magic");
  if (version != 1) return Entries::fail("fatbin: unsupported version " + std::to_string(version));
  if (header_size < 16 || header_size > 4096) return Entries::fail("fatbin: bad header size");
  if (!in_bounds(size, header_size, fat_size)) {
    return Entries::fail("fatbin: declares " + std::to_string(header_size + fat_size) +
                         " bytes but " + std::to_string(size) + " are present");
  }
  const size_t end = header_size + fat_size;
  std::vector<FatbinEntry> entries;
  size_t off = header_size;
  while (off < end) {
    const uint8_t* e = data + off;
    const size_t avail = end - off;
    if (avail < kMinEntryHeader) return Entries::fail("fatbin: truncated entry header" + at(off));
    FatbinEntry fe;
    const uint16_t kind = load_le<uint16_t>(e);
    const uint32_t ehdr = load_le<uint32_t>(e + 4);
    const uint32_t payload_size = load_le<uint32_t>(e + 8);
    const uint32_t compressed_size = load_le<uint32_t>(e + 16);
    fe.sm_version = load_le<uint32_t>(e + 28);
    fe.flags = load_le<uint64_t>(e + 40);
    fe.uncompressed_size = load_le<uint64_t>(e + 56);
    fe.offset = off;
    if (kind != 1 && kind != 2) {
      return Entries::fail("fatbin: unknown entry kind " + std::to_string(kind) + at(off));
    }
    fe.kind = static_cast<FatbinEntryKind>(kind);
    if (ehdr < kMinEntryHeader || ehdr > kMaxEntryHeader || ehdr > avail) {
      return Entries::fail("fatbin: bad entry header size " + std::to_string(ehdr) + at(off));
    }
    const uint64_t stored = fe.compression() == Compression::kNone ? payload_size : compressed_size;
    const uint64_t span = std::max<uint64_t>(payload_size, compressed_size);
    if (!in_bounds(avail, ehdr, span)) {
      return Entries::fail("fatbin: entry payload runs past the container" + at(off));
    }
    fe.payload = e + ehdr;
    fe.payload_size = stored;
    entries.push_back(fe);
    if (entries.size() > kMaxEntries) return Entries::fail("fatbin: too many entries");
    off += ehdr + span;  // ehdr >= 64, so the walk always advances
  }
  return entries;
}

namespace {
// NVIDIA's fatbins compress 3-10x; nothing real comes near this.
constexpr uint64_t kMaxZstdRatio = 256;
}  // namespace

Bytes entry_contents(const FatbinEntry& entry) {
  const std::string where = at(entry.offset);
  std::vector<uint8_t> out;
  switch (entry.compression()) {
    case Compression::kNone:
      out.assign(entry.payload, entry.payload + entry.payload_size);
      break;
    case Compression::kZstd: {
      if (entry.uncompressed_size == 0 || entry.uncompressed_size > kMaxImageBytes) {
        return Bytes::fail("fatbin: bad uncompressed size" + where);
      }
      const unsigned long long frame = ZSTD_getFrameContentSize(entry.payload, entry.payload_size);
      if (frame == ZSTD_CONTENTSIZE_ERROR) return Bytes::fail("fatbin: not a ZSTD frame" + where);
      if (frame != ZSTD_CONTENTSIZE_UNKNOWN && frame != entry.uncompressed_size) {
        return Bytes::fail("fatbin: ZSTD frame size disagrees with the entry header" + where);
      }
      // The sizes are the sender's word: refuse ratios no real image has (as for LZ4 below),
      // and grow the output only as the decompressor produces it, so a small frame that
      // promises much costs what it really yields.
      if (entry.uncompressed_size > uint64_t{entry.payload_size} * kMaxZstdRatio + (1u << 20)) {
        return Bytes::fail("fatbin: ZSTD entry claims more than " +
                           std::to_string(kMaxZstdRatio) + "x its compressed size" + where);
      }
      std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
      if (!dctx) return Bytes::fail("fatbin: ZSTD: out of memory" + where);
      ZSTD_inBuffer in{entry.payload, entry.payload_size, 0};
      size_t produced = 0;
      for (;;) {
        const size_t room = std::min<uint64_t>(entry.uncompressed_size - produced, 1u << 20);
        if (room == 0) break;
        out.resize(produced + room);
        ZSTD_outBuffer ob{out.data() + produced, room, 0};
        const size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &in);
        if (ZSTD_isError(rc)) {
          return Bytes::fail(std::string("fatbin: ZSTD: ") + ZSTD_getErrorName(rc) + where);
        }
        produced += ob.pos;
        if (rc == 0) break;                                     // frame complete
        if (ob.pos == 0 && in.pos == in.size) break;            // input ran out
      }
      out.resize(produced);
      if (produced != entry.uncompressed_size) {
        return Bytes::fail("fatbin: ZSTD output is short" + where);
      }
      break;
    }
    case Compression::kLz4: {
      // LZ4 cannot expand more than 255x; refuse sizes that could only be corruption.
      if (entry.uncompressed_size == 0 || entry.uncompressed_size > kMaxImageBytes ||
          entry.uncompressed_size > uint64_t{entry.payload_size} * 255 + 64 ||
          entry.payload_size > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
        return Bytes::fail("fatbin: bad LZ4 sizes" + where);
      }
      out.resize(entry.uncompressed_size);
      const int n = LZ4_decompress_safe(
          reinterpret_cast<const char*>(entry.payload), reinterpret_cast<char*>(out.data()),
          static_cast<int>(entry.payload_size), static_cast<int>(out.size()));
      if (n < 0) return Bytes::fail("fatbin: corrupt LZ4 payload" + where);
      out.resize(static_cast<size_t>(n));
      break;
    }
  }
  if (entry.is_ptx()) {
    auto nul = std::find(out.begin(), out.end(), uint8_t{0});
    if (nul != out.end())
      out.erase(nul + 1, out.end());
    else
      out.push_back(0);
  }
  return out;
}

}  // namespace rgpu::image
