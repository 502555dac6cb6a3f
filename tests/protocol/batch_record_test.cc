// Batch records: what one end appends the other reads back; truncated, overlong and garbage
// batches are refused with a reason and never read outside their bytes.
#include "protocol/batch_record.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "protocol/ops.h"

namespace rgpu {
namespace {

// A batch of three records: a launch with 12 payload bytes, a record with no payload and one
// whose args+payload are already a multiple of 8.
std::vector<uint8_t> sample_batch() {
  std::vector<uint8_t> b;
  op::LaunchKernel::Args launch{};
  launch.function = 77;
  launch.param_bytes = 12;
  const uint8_t params[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  EXPECT_TRUE(append_batch_record(&b, static_cast<uint16_t>(Op::LaunchKernel), &launch,
                                  sizeof launch, params, sizeof params));
  op::ModuleUnload::Args unload{5};
  EXPECT_TRUE(append_batch_record(&b, static_cast<uint16_t>(Op::ModuleUnload), &unload,
                                  sizeof unload, nullptr, 0));
  op::MemcpyHtoD::Args copy{0x1000, 16, 0, 0};
  uint8_t* dst =
      append_batch_record(&b, static_cast<uint16_t>(Op::MemcpyHtoD), &copy, sizeof copy, 16);
  EXPECT_NE(dst, nullptr);
  for (int i = 0; i < 16; ++i) dst[i] = static_cast<uint8_t>(0xA0 + i);
  return b;
}

// Reads a batch from its own heap block, so ASan sees any read past its end.
std::string check_exact(const std::vector<uint8_t>& b, uint32_t count) {
  auto copy = std::make_unique<uint8_t[]>(b.size() ? b.size() : 1);
  if (!b.empty()) std::memcpy(copy.get(), b.data(), b.size());
  return check_batch(b.empty() ? nullptr : copy.get(), b.size(), count);
}

TEST(BatchRecord, AppendedRecordsReadBack) {
  std::vector<uint8_t> b = sample_batch();
  EXPECT_EQ(b.size() % 8, 0u);
  EXPECT_EQ(b.size(), batch_record_size(sizeof(op::LaunchKernel::Args), 12) +
                          batch_record_size(sizeof(op::ModuleUnload::Args), 0) +
                          batch_record_size(sizeof(op::MemcpyHtoD::Args), 16));
  EXPECT_EQ(check_batch(b.data(), b.size(), 3), "");

  BatchReader r(b.data(), b.size(), 3);
  BatchRecord rec;
  ASSERT_TRUE(r.next(&rec));
  EXPECT_EQ(rec.op, static_cast<uint16_t>(Op::LaunchKernel));
  op::LaunchKernel::Args launch{};
  ASSERT_TRUE(decode_record(rec.args, rec.args_len, &launch));
  EXPECT_EQ(launch.function, 77u);
  ASSERT_EQ(rec.payload_len, 12u);
  EXPECT_EQ(rec.payload[0], 1);
  EXPECT_EQ(rec.payload[11], 12);

  ASSERT_TRUE(r.next(&rec));
  EXPECT_EQ(rec.op, static_cast<uint16_t>(Op::ModuleUnload));
  op::ModuleUnload::Args unload{};
  ASSERT_TRUE(decode_record(rec.args, rec.args_len, &unload));
  EXPECT_EQ(unload.module, 5u);
  EXPECT_EQ(rec.payload_len, 0u);

  ASSERT_TRUE(r.next(&rec));
  EXPECT_EQ(rec.op, static_cast<uint16_t>(Op::MemcpyHtoD));
  ASSERT_EQ(rec.payload_len, 16u);
  EXPECT_EQ(rec.payload[0], 0xA0);
  EXPECT_EQ(rec.payload[15], 0xAF);

  EXPECT_FALSE(r.next(&rec));
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(BatchRecord, PaddingIsZero) {
  std::vector<uint8_t> b;
  const uint8_t args[3] = {0xFF, 0xFF, 0xFF};
  ASSERT_TRUE(append_batch_record(&b, 1, args, sizeof args, nullptr, 0));
  ASSERT_EQ(b.size(), 24u);  // 16 + 3, padded to 8
  for (size_t i = 16 + 3; i < b.size(); ++i) EXPECT_EQ(b[i], 0) << i;
}

TEST(BatchRecord, EmptyBatchIsWellFormed) {
  EXPECT_EQ(check_batch(nullptr, 0, 0), "");
}

TEST(BatchRecord, EveryTruncationIsRefused) {
  const std::vector<uint8_t> b = sample_batch();
  for (size_t cut = 0; cut < b.size(); ++cut) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<long>(cut));
    EXPECT_NE(check_exact(t, 3), "") << "cut at " << cut;
  }
}

TEST(BatchRecord, FewerRecordsThanTheCountAreRefused) {
  const std::vector<uint8_t> b = sample_batch();
  EXPECT_EQ(check_exact(b, 4), "batch is shorter than its record count");
}

TEST(BatchRecord, BytesAfterTheLastRecordAreRefused) {
  const std::vector<uint8_t> b = sample_batch();
  EXPECT_EQ(check_exact(b, 2), "batch holds bytes after its last record");
  std::vector<uint8_t> longer = b;
  longer.resize(b.size() + 8, 0);
  EXPECT_EQ(check_exact(longer, 3), "batch holds bytes after its last record");
}

TEST(BatchRecord, LengthsPastTheEndAreRefused) {
  std::vector<uint8_t> b = sample_batch();
  BatchRecordHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  for (uint32_t args_len : {0x7FFFFFFFu, 0xFFFFFFFFu, static_cast<uint32_t>(b.size())}) {
    BatchRecordHeader bad = h;
    bad.args_len = args_len;
    std::vector<uint8_t> t = b;
    std::memcpy(t.data(), &bad, sizeof bad);
    EXPECT_EQ(check_exact(t, 3), "batch record runs past the batch's end") << args_len;
  }
  // args_len + payload_len overflowing 32 bits must not wrap around.
  BatchRecordHeader wrap = h;
  wrap.args_len = 0xFFFFFFF8u;
  wrap.payload_len = 0x10u;
  std::memcpy(b.data(), &wrap, sizeof wrap);
  EXPECT_EQ(check_exact(b, 3), "batch record runs past the batch's end");
}

TEST(BatchRecord, MissingPaddingIsRefused) {
  std::vector<uint8_t> b;
  const uint8_t args[3] = {1, 2, 3};
  ASSERT_TRUE(append_batch_record(&b, 1, args, sizeof args, nullptr, 0));
  b.resize(16 + 3);  // the record's bytes are there, its padding is not
  EXPECT_EQ(check_exact(b, 1), "batch record's padding runs past the batch's end");
}

TEST(BatchRecord, ReaderStopsAtTheFirstFault) {
  std::vector<uint8_t> b = sample_batch();
  b.resize(b.size() - 8);  // the third record loses its last bytes
  BatchReader r(b.data(), b.size(), 3);
  BatchRecord rec;
  EXPECT_TRUE(r.next(&rec));
  EXPECT_TRUE(r.next(&rec));
  EXPECT_FALSE(r.next(&rec));
  EXPECT_NE(r.error(), "");
  EXPECT_FALSE(r.next(&rec));  // stays stopped
}

TEST(BatchRecord, GarbageNeverReadsOutsideTheBatch) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> g(rng() % 200);
    for (auto& x : g) x = static_cast<uint8_t>(rng());
    // Small lengths now and then, so some garbage parses for a record or two.
    if (g.size() >= 16 && rng() % 2) {
      uint32_t small = rng() % 64;
      std::memcpy(g.data() + 4, &small, 4);
      uint32_t none = 0;
      std::memcpy(g.data() + 8, &none, 4);
    }
    const uint32_t count = rng() % 6;
    auto copy = std::make_unique<uint8_t[]>(g.size() ? g.size() : 1);
    if (!g.empty()) std::memcpy(copy.get(), g.data(), g.size());
    BatchReader r(copy.get(), g.size(), count);
    BatchRecord rec;
    uint32_t n = 0;
    while (r.next(&rec)) {
      ++n;
      ASSERT_GE(rec.args, copy.get());
      ASSERT_LE(rec.payload + rec.payload_len, copy.get() + g.size());
    }
    ASSERT_LE(n, count);
    if (n < count) {
      EXPECT_NE(r.error(), "");
    }
    EXPECT_EQ(check_batch(copy.get(), g.size(), count).empty(),
              n == count && r.error().empty() && r.remaining() == 0);
  }
}

TEST(BatchRecord, LengthsOver32BitsAreNotAppended) {
  std::vector<uint8_t> b;
  const uint64_t big = uint64_t{1} << 32;
  EXPECT_EQ(append_batch_record(&b, 1, nullptr, 0, static_cast<size_t>(big)), nullptr);
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace rgpu
