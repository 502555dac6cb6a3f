// protocol/codec: zero detection, LZ4 blocks and the compressibility probe.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/codec/lz4_block.h"
#include "protocol/codec/probe.h"
#include "protocol/codec/zero.h"

namespace rgpu::codec {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(Zero, EveryOffsetLengthAndPosition) {
  std::vector<uint8_t> buf(200, 0);
  EXPECT_TRUE(is_all_zero(nullptr, 0));
  for (size_t off = 0; off < 9; ++off) {
    for (size_t len = 0; len + off <= 120; ++len) {
      ASSERT_TRUE(is_all_zero(buf.data() + off, len)) << off << "+" << len;
      for (size_t pos = 0; pos < len; ++pos) {
        buf[off + pos] = 1;
        ASSERT_FALSE(is_all_zero(buf.data() + off, len)) << off << "+" << len << " @" << pos;
        buf[off + pos] = 0;
      }
      // A non-zero byte just outside the range is not seen.
      buf[off + len] = 0x80;
      ASSERT_TRUE(is_all_zero(buf.data() + off, len));
      buf[off + len] = 0;
    }
  }
}

TEST(Zero, LargeBuffer) {
  std::vector<uint8_t> big(8 << 20, 0);
  EXPECT_TRUE(is_all_zero(big.data(), big.size()));
  big[big.size() - 1] = 1;
  EXPECT_FALSE(is_all_zero(big.data(), big.size()));
  big.back() = 0;
  big[4 << 20] = 0x10;
  EXPECT_FALSE(is_all_zero(big.data(), big.size()));
}

TEST(Lz4Block, RoundTrip) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "kernel parameter " + std::to_string(i % 17) + "\n";
  for (const std::vector<uint8_t>& src :
       {std::vector<uint8_t>(text.begin(), text.end()), random_bytes(100000, 7),
        std::vector<uint8_t>(1, 42), std::vector<uint8_t>(70000, 0)}) {
    auto c = lz4_compress(src.data(), src.size());
    ASSERT_TRUE(c.has_value());
    EXPECT_LE(c->size(), lz4_compress_bound(src.size()));
    auto d = lz4_decompress_exact(c->data(), c->size(), src.size());
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, src);
    // The wrong expected size is refused.
    EXPECT_FALSE(lz4_decompress_exact(c->data(), c->size(), src.size() + 1).has_value());
    if (src.size() > 1) {
      EXPECT_FALSE(lz4_decompress_exact(c->data(), c->size(), src.size() - 1).has_value());
    }
  }
  auto empty = lz4_compress(nullptr, 0);
  ASSERT_TRUE(empty.has_value());
  auto back = lz4_decompress_exact(empty->data(), empty->size(), 0);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->empty());
}

TEST(Lz4Block, BoundsAreEnforced) {
  std::vector<uint8_t> src = random_bytes(4096, 3);
  std::vector<uint8_t> small(100);
  EXPECT_FALSE(lz4_compress(src.data(), src.size(), small.data(), small.size()).has_value());
  EXPECT_FALSE(lz4_compress(src.data(), kMaxLz4Input + 1, small.data(), small.size()));
  EXPECT_EQ(lz4_compress_bound(kMaxLz4Input + 1), 0u);

  std::vector<uint8_t> zeros(4096, 0);
  auto c = lz4_compress(zeros.data(), zeros.size());
  ASSERT_TRUE(c.has_value());
  std::vector<uint8_t> out(4095);  // one byte short
  EXPECT_FALSE(lz4_decompress(c->data(), c->size(), out.data(), out.size()).has_value());
  // Truncated and corrupted blocks.
  for (size_t n = 0; n < c->size(); ++n) {
    std::vector<uint8_t> cut(c->begin(), c->begin() + n);
    std::vector<uint8_t> dst(4096);
    auto r = lz4_decompress(cut.data(), cut.size(), dst.data(), dst.size());
    EXPECT_TRUE(!r.has_value() || *r != 4096) << n;
  }
  std::vector<uint8_t> junk = random_bytes(512, 9);
  std::vector<uint8_t> dst(1 << 16);
  auto r = lz4_decompress(junk.data(), junk.size(), dst.data(), dst.size());
  EXPECT_FALSE(r.has_value() && *r == dst.size());
  EXPECT_FALSE(lz4_decompress(nullptr, 10, dst.data(), dst.size()).has_value());
}

TEST(Probe, DecidesByRatio) {
  std::vector<uint8_t> zeros(1 << 20, 0);
  ProbeResult z = probe_compressible(zeros.data(), zeros.size());
  EXPECT_TRUE(z.worth_it);
  EXPECT_TRUE(z.all_zero);

  std::vector<uint8_t> noise = random_bytes(1 << 20, 11);
  ProbeResult n = probe_compressible(noise.data(), noise.size());
  EXPECT_FALSE(n.worth_it);
  EXPECT_FALSE(n.all_zero);
  EXPECT_EQ(n.probed, kProbeBytes);
  EXPECT_GT(n.compressed, static_cast<size_t>(kWorthRatio * kProbeBytes));

  // Floats with few distinct values compress well.
  std::vector<float> floats(1 << 18);
  for (size_t i = 0; i < floats.size(); ++i) floats[i] = static_cast<float>(i % 8);
  ProbeResult f = probe_compressible(floats.data(), floats.size() * sizeof(float));
  EXPECT_TRUE(f.worth_it);
  EXPECT_FALSE(f.all_zero);
  EXPECT_LE(f.compressed, static_cast<size_t>(kWorthRatio * f.probed));

  // The probe comes from the middle: noise there with zeros around it is not worth it.
  std::vector<uint8_t> mid(1 << 20, 0);
  std::memcpy(mid.data() + (mid.size() - kProbeBytes) / 2, noise.data(), kProbeBytes);
  EXPECT_FALSE(probe_compressible(mid.data(), mid.size()).worth_it);

  std::vector<uint8_t> tiny(kMinProbeBytes - 1, 0);
  EXPECT_FALSE(probe_compressible(tiny.data(), tiny.size()).worth_it);
  EXPECT_FALSE(probe_compressible(nullptr, 4096).worth_it);
}

}  // namespace
}  // namespace rgpu::codec
