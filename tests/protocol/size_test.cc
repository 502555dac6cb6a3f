// One size parser for every component (protocol/size.h): the shim's RGPU_VRAM, rgpu run --vram
// and rgpu-server's --vram/--lend-mem read the same text as the same number of bytes.
#include "protocol/size.h"

#include <gtest/gtest.h>

namespace rgpu {
namespace {

uint64_t size_of(const char* s) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size(s, &v)) << s;
  return v;
}

bool refused(const char* s) {
  uint64_t v = 7;
  bool ok = parse_size(s, &v);
  EXPECT_EQ(v, 7u) << s << " changed the output although it was refused";
  return !ok;
}

TEST(Size, BinaryUnitsArePowersOf1024) {
  EXPECT_EQ(size_of("16GiB"), 16ull << 30);
  EXPECT_EQ(size_of("16G"), 16ull << 30);
  EXPECT_EQ(size_of("16gib"), 16ull << 30);
  EXPECT_EQ(size_of("512m"), 512ull << 20);
  EXPECT_EQ(size_of("4K"), 4096u);
  EXPECT_EQ(size_of("2TiB"), 2ull << 40);
}

TEST(Size, SiUnitsArePowersOf1000) {
  EXPECT_EQ(size_of("16GB"), 16000000000ull);
  EXPECT_EQ(size_of("16gb"), 16000000000ull);
  EXPECT_EQ(size_of("40MB"), 40000000ull);
  EXPECT_EQ(size_of("1kB"), 1000u);
  EXPECT_EQ(size_of("3TB"), 3000000000000ull);
}

TEST(Size, BytesAndFractions) {
  EXPECT_EQ(size_of("4096"), 4096u);
  EXPECT_EQ(size_of("4096B"), 4096u);
  EXPECT_EQ(size_of("1.5G"), 3ull << 29);
  EXPECT_EQ(size_of("0.5KiB"), 512u);
  EXPECT_EQ(size_of("1.0000001KB"), 1000u);  // rounds down to whole bytes
  EXPECT_EQ(size_of("18446744073709551615"), UINT64_MAX);
}

TEST(Size, RefusesWhatIsNotASize) {
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("0"));
  EXPECT_TRUE(refused("0GiB"));
  EXPECT_TRUE(refused("GiB"));
  EXPECT_TRUE(refused("-1G"));
  EXPECT_TRUE(refused("12XB"));
  EXPECT_TRUE(refused("16 GiB"));
  EXPECT_TRUE(refused("1."));
  EXPECT_TRUE(refused(".5G"));
  EXPECT_TRUE(refused("lots"));
  EXPECT_TRUE(refused("18446744073709551616"));
  EXPECT_TRUE(refused("20000000TiB"));
}

}  // namespace
}  // namespace rgpu
