// tests/image/compress_policy_test.cc — protocol/codec/compress_policy.h: modes, the threshold,
// the link meter and the per-chunk decision.
#include "protocol/codec/compress_policy.h"

#include <gtest/gtest.h>

namespace rgpu::codec {
namespace {

constexpr double kSlow = 2e9 / 8;  // the default threshold in bytes per second

TEST(CompressPolicy, ParsesModes) {
  EXPECT_EQ(parse_compress_mode(nullptr), CompressMode::kAuto);
  EXPECT_EQ(parse_compress_mode(""), CompressMode::kAuto);
  EXPECT_EQ(parse_compress_mode("auto"), CompressMode::kAuto);
  EXPECT_EQ(parse_compress_mode("on"), CompressMode::kOn);
  EXPECT_EQ(parse_compress_mode("1"), CompressMode::kOn);
  EXPECT_EQ(parse_compress_mode("off"), CompressMode::kOff);
  EXPECT_EQ(parse_compress_mode("0"), CompressMode::kOff);
  EXPECT_FALSE(parse_compress_mode("yes").has_value());
  EXPECT_FALSE(parse_compress_mode("ON ").has_value());
}

TEST(CompressPolicy, ParsesThreshold) {
  EXPECT_DOUBLE_EQ(*parse_slow_threshold(nullptr), kSlow);
  EXPECT_DOUBLE_EQ(*parse_slow_threshold(""), kSlow);
  EXPECT_DOUBLE_EQ(*parse_slow_threshold("10"), 10e9 / 8);
  EXPECT_DOUBLE_EQ(*parse_slow_threshold("0.5"), 0.5e9 / 8);
  EXPECT_FALSE(parse_slow_threshold("0").has_value());
  EXPECT_FALSE(parse_slow_threshold("-1").has_value());
  EXPECT_FALSE(parse_slow_threshold("fast").has_value());
  EXPECT_FALSE(parse_slow_threshold("2x").has_value());
}

TEST(CompressPolicy, MeterNeedsEnoughBytes) {
  LinkMeter m;
  EXPECT_FALSE(m.estimate().has_value());
  m.add(LinkMeter::kMinBytes / 2, 1'000'000);
  EXPECT_FALSE(m.estimate().has_value());
  m.add(LinkMeter::kMinBytes / 2, 1'000'000);  // kMinBytes in 2 ms
  ASSERT_TRUE(m.estimate().has_value());
  EXPECT_NEAR(*m.estimate(), LinkMeter::kMinBytes / 2e-3, 1.0);
}

TEST(CompressPolicy, MeterFollowsALinkThatSlowsDown) {
  LinkMeter m;
  // 1 GiB at 5 GB/s, then 1 GiB at 100 MB/s: the estimate must fall below the threshold.
  for (int i = 0; i < 256; ++i) m.add(4 << 20, (4 << 20) / 5);  // ns = bytes / 5 GB/s
  ASSERT_TRUE(m.estimate().has_value());
  EXPECT_GT(*m.estimate(), kSlow);
  for (int i = 0; i < 256; ++i) m.add(4 << 20, (4ull << 20) * 10);  // 100 MB/s
  EXPECT_LT(*m.estimate(), kSlow);
  EXPECT_GT(*m.estimate(), 90e6);  // and close to the new speed, not the average
}

TEST(CompressPolicy, Decision) {
  const std::optional<double> fast = 5e9, slow = 100e6, unknown;
  // off: never, whatever the link and the probe.
  EXPECT_FALSE(should_compress(CompressMode::kOff, slow, kSlow, true));
  // on: whenever the probe says yes.
  EXPECT_TRUE(should_compress(CompressMode::kOn, fast, kSlow, true));
  EXPECT_TRUE(should_compress(CompressMode::kOn, unknown, kSlow, true));
  EXPECT_FALSE(should_compress(CompressMode::kOn, slow, kSlow, false));
  // auto: only a measured slow link and a compressible probe.
  EXPECT_TRUE(should_compress(CompressMode::kAuto, slow, kSlow, true));
  EXPECT_FALSE(should_compress(CompressMode::kAuto, slow, kSlow, false));
  EXPECT_FALSE(should_compress(CompressMode::kAuto, fast, kSlow, true));
  EXPECT_FALSE(should_compress(CompressMode::kAuto, unknown, kSlow, true));
  // The threshold is strict and configurable.
  EXPECT_FALSE(should_compress(CompressMode::kAuto, kSlow, kSlow, true));
  EXPECT_TRUE(should_compress(CompressMode::kAuto, 1e9, 10e9 / 8 * 1.0, true));
  EXPECT_TRUE(link_is_slow(CompressMode::kAuto, slow, kSlow));
  EXPECT_FALSE(link_is_slow(CompressMode::kAuto, unknown, kSlow));
}

}  // namespace
}  // namespace rgpu::codec
