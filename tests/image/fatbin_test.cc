// list_fatbin_entries()/entry_contents() on nvcc's fatbins, and on an LZ4 fatbin built here.
#include "protocol/image/fatbin.h"

#include <gtest/gtest.h>
#include <lz4.h>
#include <zstd.h>

#include <cstring>
#include <string>

#include "artifacts.h"
#include "protocol/image/byte_reader.h"
#include "protocol/image/kernel_table.h"

namespace rgpu::image::test {
namespace {

std::vector<FatbinEntry> entries_of(const std::vector<uint8_t>& bytes) {
  Result<std::vector<FatbinEntry>> r = list_fatbin_entries(bytes.data(), bytes.size());
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? *r : std::vector<FatbinEntry>{};
}

const FatbinEntry* find(const std::vector<FatbinEntry>& e, FatbinEntryKind kind) {
  for (const FatbinEntry& x : e) {
    if (x.kind == kind) return &x;
  }
  return nullptr;
}

TEST(Fatbin, DefaultHasPlainElfAndZstdPtx) {
  std::vector<uint8_t> bytes = load_artifact("kernels.fatbin");
  auto e = entries_of(bytes);
  ASSERT_EQ(e.size(), 2u);
  const FatbinEntry* elf = find(e, FatbinEntryKind::kElf);
  const FatbinEntry* ptx = find(e, FatbinEntryKind::kPtx);
  ASSERT_TRUE(elf && ptx);
  EXPECT_EQ(elf->sm_version, 90u);
  EXPECT_EQ(ptx->sm_version, 90u);
  EXPECT_EQ(elf->compression(), Compression::kNone);
  EXPECT_EQ(ptx->compression(), Compression::kZstd);
  EXPECT_TRUE(elf->flags & kFatbinFlag64Bit);
  EXPECT_TRUE(ptx->flags & kFatbinFlagZstd);

  // The ELF entry is the same cubin nvcc -cubin writes.
  Result<std::vector<uint8_t>> elf_bytes = entry_contents(*elf);
  ASSERT_TRUE(elf_bytes.ok()) << elf_bytes.error();
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  ASSERT_GE(elf_bytes->size(), cubin.size());
  EXPECT_EQ(0, std::memcmp(elf_bytes->data(), cubin.data(), cubin.size()));

  Result<std::vector<uint8_t>> ptx_text = entry_contents(*ptx);
  ASSERT_TRUE(ptx_text.ok()) << ptx_text.error();
  // The stored text ends with its NUL (nvcc counts it in uncompressed_size); contents end at
  // the first NUL in any case.
  EXPECT_LE(ptx_text->size(), ptx->uncompressed_size + 1);
  ASSERT_EQ(ptx_text->back(), 0);
  std::string text(reinterpret_cast<const char*>(ptx_text->data()));
  EXPECT_EQ(text.size() + 1, ptx_text->size());
  EXPECT_NE(text.find(".entry vectorAdd"), std::string::npos);
}

TEST(Fatbin, CompressAllAndNoCompress) {
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  for (const char* name : {"kernels_compress_all.fatbin", "kernels_no_compress.fatbin"}) {
    SCOPED_TRACE(name);
    const bool compressed = std::string(name).find("compress_all") != std::string::npos;
    std::vector<uint8_t> bytes = load_artifact(name);
    auto e = entries_of(bytes);
    ASSERT_EQ(e.size(), 2u);
    for (const FatbinEntry& x : e) {
      EXPECT_EQ(x.compression(), compressed ? Compression::kZstd : Compression::kNone);
    }
    Result<std::vector<uint8_t>> elf = entry_contents(*find(e, FatbinEntryKind::kElf));
    ASSERT_TRUE(elf.ok()) << elf.error();
    ASSERT_GE(elf->size(), cubin.size());
    EXPECT_EQ(0, std::memcmp(elf->data(), cubin.data(), cubin.size()));
  }
}

TEST(Fatbin, PtxOnly) {
  auto e = entries_of(load_artifact("kernels_ptx_only.fatbin"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].is_ptx());
  EXPECT_EQ(e[0].sm_version, 90u);
}

// Rebuilds the --no-compress fatbin with the ELF entry LZ4-compressed (flag 0x2000), the way
// older toolchains wrote them.
std::vector<uint8_t> make_lz4_fatbin(const std::vector<uint8_t>& plain) {
  auto e = entries_of(plain);
  std::vector<uint8_t> body;
  for (const FatbinEntry& x : e) {
    const uint8_t* hdr = plain.data() + x.offset;
    const uint32_t hsize = load_le<uint32_t>(hdr + 4);
    std::vector<uint8_t> h(hdr, hdr + hsize);
    std::vector<uint8_t> payload(x.payload, x.payload + x.payload_size);
    if (x.is_elf()) {
      std::vector<char> out(LZ4_compressBound(static_cast<int>(payload.size())));
      int n = LZ4_compress_default(reinterpret_cast<const char*>(payload.data()), out.data(),
                                   static_cast<int>(payload.size()), static_cast<int>(out.size()));
      EXPECT_GT(n, 0);
      const uint32_t padded = (static_cast<uint32_t>(n) + 7) & ~7u;
      const uint64_t flags = x.flags | kFatbinFlagLz4;
      const uint64_t usize = payload.size();
      const uint32_t csize = static_cast<uint32_t>(n);
      std::memcpy(&h[8], &padded, 4);
      std::memcpy(&h[16], &csize, 4);
      std::memcpy(&h[40], &flags, 8);
      std::memcpy(&h[56], &usize, 8);
      payload.assign(out.begin(), out.begin() + n);
      payload.resize(padded, 0);
    }
    body.insert(body.end(), h.begin(), h.end());
    body.insert(body.end(), payload.begin(), payload.end());
  }
  std::vector<uint8_t> out(plain.begin(), plain.begin() + 16);
  const uint64_t fat_size = body.size();
  std::memcpy(&out[8], &fat_size, 8);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

TEST(Fatbin, Lz4Entries) {
  std::vector<uint8_t> fat = make_lz4_fatbin(load_artifact("kernels_no_compress.fatbin"));
  auto e = entries_of(fat);
  ASSERT_EQ(e.size(), 2u);
  const FatbinEntry* elf = find(e, FatbinEntryKind::kElf);
  ASSERT_NE(elf, nullptr);
  EXPECT_EQ(elf->compression(), Compression::kLz4);
  Result<std::vector<uint8_t>> contents = entry_contents(*elf);
  ASSERT_TRUE(contents.ok()) << contents.error();
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  ASSERT_GE(contents->size(), cubin.size());
  EXPECT_EQ(0, std::memcmp(contents->data(), cubin.data(), cubin.size()));

  Result<ModuleInfo> mod = parse_kernels(fat.data(), fat.size());
  ASSERT_TRUE(mod.ok()) << mod.error();
  EXPECT_EQ(mod->parsed_kind, ImageKind::kElf);
  EXPECT_EQ(mod->find_kernel(kMixedName)->layout, mixed_layout());

  // A corrupted LZ4 stream is an error, not garbage.
  FatbinEntry bad = *elf;
  std::vector<uint8_t> junk(bad.payload, bad.payload + bad.payload_size);
  for (size_t i = 0; i < junk.size(); i += 3) junk[i] = 0xff;
  bad.payload = junk.data();
  EXPECT_FALSE(entry_contents(bad).ok());
  // An uncompressed size LZ4 could never reach is refused before allocating.
  bad = *elf;
  bad.uncompressed_size = uint64_t{bad.payload_size} * 1000;
  EXPECT_FALSE(entry_contents(bad).ok());
}

TEST(Fatbin, ZstdSizeMismatchIsAnError) {
  std::vector<uint8_t> bytes = load_artifact("kernels.fatbin");
  auto e = entries_of(bytes);
  FatbinEntry ptx = *find(e, FatbinEntryKind::kPtx);
  ptx.uncompressed_size += 1;
  Result<std::vector<uint8_t>> r = entry_contents(ptx);
  EXPECT_FALSE(r.ok());
  ptx.uncompressed_size = 0;
  EXPECT_FALSE(entry_contents(ptx).ok());
}

// A ZSTD frame written without its content size (as a streaming compressor does).
std::vector<uint8_t> zstd_without_size(const std::vector<uint8_t>& plain) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
  std::vector<uint8_t> out(ZSTD_compressBound(plain.size()) + 64);
  ZSTD_inBuffer in{plain.data(), plain.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  size_t rc;
  do {
    rc = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_end);
  } while (rc != 0 && !ZSTD_isError(rc));
  ZSTD_freeCCtx(c);
  out.resize(ob.pos);
  return out;
}

// A fatbin's sizes are the sender's word. Before: a 96-byte entry whose frame had no content
// size made the worker allocate the 2 GiB its header claimed.
TEST(Fatbin, ZstdEntryCannotClaimMoreThanItYields) {
  std::vector<FatbinEntry> e = entries_of(load_artifact("kernels.fatbin"));
  FatbinEntry ptx = *find(e, FatbinEntryKind::kPtx);
  std::vector<uint8_t> zeros(8u << 20, 0);
  std::vector<uint8_t> bomb = zstd_without_size(zeros);
  ASSERT_EQ(ZSTD_getFrameContentSize(bomb.data(), bomb.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  ASSERT_LT(bomb.size(), 4096u);
  ptx.payload = bomb.data();
  ptx.payload_size = bomb.size();
  ptx.uncompressed_size = uint64_t{2} << 30;
  Result<std::vector<uint8_t>> r = entry_contents(ptx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("claims more than"), std::string::npos) << r.error();
  // Within the ratio but more than the frame holds: short, and never the claimed size.
  std::vector<uint8_t> text(256 * 1024);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>("ptx "[i % 4] + i % 7);
  std::vector<uint8_t> frame = zstd_without_size(text);
  ptx.payload = frame.data();
  ptx.payload_size = frame.size();
  ptx.uncompressed_size = text.size() * 2;
  EXPECT_FALSE(entry_contents(ptx).ok());
  // The honest size decompresses, through the streaming path.
  ptx.uncompressed_size = text.size();
  Result<std::vector<uint8_t>> ok = entry_contents(ptx);
  ASSERT_TRUE(ok.ok()) << ok.error();
  ASSERT_GE(ok->size(), text.size());  // PTX contents gain a terminating NUL
  EXPECT_LE(ok->size(), text.size() + 1);
  EXPECT_EQ(0, std::memcmp(ok->data(), text.data(), text.size()));
}

TEST(Fatbin, HeaderChecks) {
  std::vector<uint8_t> bytes = load_artifact("kernels.fatbin");
  EXPECT_FALSE(list_fatbin_entries(nullptr, 0).ok());
  EXPECT_FALSE(list_fatbin_entries(bytes.data(), 15).ok());
  EXPECT_FALSE(list_fatbin_entries(bytes.data(), bytes.size() - 1).ok());
  std::vector<uint8_t> v = bytes;
  v[4] = 2;  // version
  EXPECT_FALSE(list_fatbin_entries(v.data(), v.size()).ok());
  v = bytes;
  v[16] = 7;  // entry kind
  Result<std::vector<FatbinEntry>> r = list_fatbin_entries(v.data(), v.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("kind"), std::string::npos) << r.error();
  v = bytes;
  v[16 + 4] = 8;  // entry header size below 64
  EXPECT_FALSE(list_fatbin_entries(v.data(), v.size()).ok());
  v = bytes;
  v[16 + 11] = 0x7f;  // payload size far past the end
  EXPECT_FALSE(list_fatbin_entries(v.data(), v.size()).ok());
}

}  // namespace
}  // namespace rgpu::image::test
