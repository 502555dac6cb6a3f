// locate_image()/locate_image_in(): the byte count the client ships for each image kind.
#include "protocol/image/image_span.h"

#include <gtest/gtest.h>

#include <cstring>

#include "artifacts.h"
#include "protocol/image/elf.h"

namespace rgpu::image::test {
namespace {

struct Wrapper {
  uint32_t magic;
  uint32_t version;
  const void* data;
  const void* filename_or_fatbins;
};

TEST(ImageSpan, SizesEqualFileSizes) {
  for (const std::string& name : all_artifacts()) {
    SCOPED_TRACE(name);
    const bool is_ptx = is_ptx_name(name);
    std::vector<uint8_t> bytes = load_image(name);
    const size_t file_size = is_ptx ? bytes.size() - 1 : bytes.size();
    // Trailing bytes after the image must not change the answer.
    std::vector<uint8_t> padded = bytes;
    padded.resize(padded.size() + 256, 0xab);
    std::optional<ImageSpan> span = locate_image(padded.data());
    ASSERT_TRUE(span.has_value());
    EXPECT_EQ(span->data, padded.data());
    EXPECT_FALSE(span->via_wrapper);
    if (is_ptx) {
      EXPECT_EQ(span->kind, ImageKind::kPtx);
      EXPECT_EQ(span->size, file_size + 1);  // strlen + 1
    } else {
      EXPECT_EQ(span->kind, name.ends_with(".cubin") ? ImageKind::kElf : ImageKind::kFatbin);
      EXPECT_EQ(span->size, file_size);
    }
    std::optional<ImageSpan> known = locate_image_in(bytes.data(), bytes.size());
    ASSERT_TRUE(known.has_value());
    EXPECT_EQ(known->size, span->size);
    EXPECT_EQ(known->kind, span->kind);
  }
}

TEST(ImageSpan, CubinSizeIsNotTheSectionTableEnd) {
  // Cubins place the program headers after the section headers (dark-api.md section 5).
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  uint64_t shoff;
  uint16_t shnum;
  std::memcpy(&shoff, cubin.data() + 40, 8);
  std::memcpy(&shnum, cubin.data() + 60, 2);
  EXPECT_LT(shoff + shnum * 64u, cubin.size());
  Result<uint64_t> size = elf_image_size(cubin.data(), cubin.size());
  ASSERT_TRUE(size.ok()) << size.error();
  EXPECT_EQ(*size, cubin.size());
}

TEST(ImageSpan, FollowsFatbinWrapper) {
  std::vector<uint8_t> fat = load_artifact("kernels.fatbin");
  Wrapper w{kFatbinWrapperMagic, 1, fat.data(), nullptr};
  std::optional<ImageSpan> span = locate_image(&w);
  ASSERT_TRUE(span.has_value());
  EXPECT_TRUE(span->via_wrapper);
  EXPECT_EQ(span->kind, ImageKind::kFatbin);
  EXPECT_EQ(span->data, fat.data());
  EXPECT_EQ(span->size, fat.size());

  // The known-size form never follows the pointer out of its buffer.
  EXPECT_FALSE(locate_image_in(&w, sizeof w).has_value());
  // A wrapper to something that is not a fatbin, or to nothing.
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  Wrapper to_elf{kFatbinWrapperMagic, 1, cubin.data(), nullptr};
  EXPECT_FALSE(locate_image(&to_elf).has_value());
  Wrapper null_data{kFatbinWrapperMagic, 1, nullptr, nullptr};
  EXPECT_FALSE(locate_image(&null_data).has_value());
  Wrapper bad_version{kFatbinWrapperMagic, 77, fat.data(), nullptr};
  EXPECT_FALSE(locate_image(&bad_version).has_value());
}

TEST(ImageSpan, RejectsBadHeaders) {
  EXPECT_FALSE(locate_image(nullptr).has_value());
  std::vector<uint8_t> fat = load_artifact("kernels.fatbin");
  std::vector<uint8_t> v = fat;
  v[6] = 4;  // header_size 4 < 16
  v[7] = 0;
  EXPECT_FALSE(locate_image(v.data()).has_value());
  v = fat;
  v[15] = 0x10;  // fat_size far beyond any sane image
  EXPECT_FALSE(locate_image(v.data()).has_value());
  EXPECT_FALSE(locate_image_in(fat.data(), fat.size() - 1).has_value());

  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  EXPECT_FALSE(locate_image_in(cubin.data(), cubin.size() - 1).has_value());
  v = cubin;
  v[18] = 62;  // e_machine x86-64
  EXPECT_FALSE(locate_image(v.data()).has_value());
  v = cubin;
  v[47] = 0x40;  // e_shoff huge
  EXPECT_FALSE(locate_image(v.data()).has_value());

  const char binary[] = {'.', 'v', 1, 2, 3, 0};
  EXPECT_FALSE(locate_image(binary).has_value());
  const char prose[] = "hello";
  EXPECT_FALSE(locate_image(prose).has_value());
  const char ptx[] = "  // comment\n/* block */ .version 9.0\n";
  std::optional<ImageSpan> span = locate_image(ptx);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->kind, ImageKind::kPtx);
  EXPECT_EQ(span->size, sizeof ptx);
}

}  // namespace
}  // namespace rgpu::image::test
