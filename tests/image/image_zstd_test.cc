// tests/image/image_zstd_test.cc — module images sent compressed (protocol/image/image_zstd.h):
// a real image survives the round trip and still parses; an image that does not shrink is sent
// as it is; a receiver refuses every malformed or oversized frame with a message.
#include <gtest/gtest.h>

#include <zstd.h>

#include <vector>

#include "protocol/image/image_zstd.h"
#include "protocol/image/kernel_table.h"
#include "tests/image/artifacts.h"

namespace rgpu::image {
namespace {

TEST(ImageZstd, ARealImageComesBackByteForByteAndParses) {
  for (const char* name : {"kernels.ptx", "kernels_no_compress.fatbin", "kernels.cubin"}) {
    std::vector<uint8_t> img = test::load_image(name);
    ASSERT_FALSE(img.empty()) << name;
    EXPECT_FALSE(is_zstd_image(img.data(), img.size())) << name << " looks compressed as it is";
    std::vector<uint8_t> z = compress_image(img.data(), img.size());
    ASSERT_FALSE(z.empty()) << name << " did not shrink by 10 %";
    EXPECT_LE(z.size(), img.size() * 9 / 10) << name;
    EXPECT_TRUE(is_zstd_image(z.data(), z.size()));
    auto back = decompress_image(z.data(), z.size(), img.size());
    ASSERT_TRUE(back.ok()) << name << ": " << back.error();
    EXPECT_EQ(back.value(), img) << name;
    EXPECT_TRUE(parse_kernels(back->data(), back->size(), 90).ok()) << name;
  }
}

TEST(ImageZstd, AnImageThatDoesNotShrinkIsSentAsItIs) {
  std::vector<uint8_t> noise(64 * 1024);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& b : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  EXPECT_TRUE(compress_image(noise.data(), noise.size()).empty());
}

TEST(ImageZstd, MalformedFramesAreRefusedWithAMessage) {
  std::vector<uint8_t> img = test::load_image("kernels.ptx");
  std::vector<uint8_t> z = compress_image(img.data(), img.size());
  ASSERT_FALSE(z.empty());
  // Over the receiver's bound.
  auto r = decompress_image(z.data(), z.size(), img.size() - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("at most"), std::string::npos) << r.error();
  // A small frame that would unpack to far more than its ratio allows (a bomb): refused before
  // anything is allocated, whatever the receiver's own bound.
  std::vector<uint8_t> zeros(4u << 20, 0);
  // compress_image() makes no such frame (the image would go as it is) ...
  EXPECT_TRUE(compress_image(zeros.data(), zeros.size()).empty());
  // ... but a peer may.
  std::vector<uint8_t> bomb(ZSTD_compressBound(zeros.size()));
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 3));
  ASSERT_LT(bomb.size() * kMaxZstdRatio, zeros.size());
  r = decompress_image(bomb.data(), bomb.size(), 1ull << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("at most"), std::string::npos) << r.error();
  // Truncated, with trailing bytes, corrupt, not a frame at all.
  EXPECT_FALSE(decompress_image(z.data(), z.size() - 1, img.size()).ok());
  std::vector<uint8_t> longer = z;
  longer.push_back(0);
  r = decompress_image(longer.data(), longer.size(), img.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("after its frame"), std::string::npos) << r.error();
  std::vector<uint8_t> bad = z;
  for (size_t i = 8; i < bad.size(); i += 7) bad[i] ^= 0x5A;
  EXPECT_FALSE(decompress_image(bad.data(), bad.size(), img.size()).ok());
  EXPECT_FALSE(decompress_image(img.data(), img.size(), img.size()).ok());
  EXPECT_FALSE(decompress_image(z.data(), 3, img.size()).ok());
  // A frame that does not state its size (streamed) is refused: the bound is checked first.
  std::vector<uint8_t> streamed(ZSTD_compressBound(img.size()));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  const size_t n = ZSTD_compress2(cctx, streamed.data(), streamed.size(), img.data(), img.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_FALSE(ZSTD_isError(n));
  r = decompress_image(streamed.data(), n, img.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("does not state its size"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace rgpu::image
