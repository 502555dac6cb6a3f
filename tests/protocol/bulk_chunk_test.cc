// BulkChunk frames: what write_bulk_chunk() sends read_bulk_chunk() lands byte for byte (zero,
// raw and LZ4 chunks); check() refuses chunks outside the copy or whose payload does not fit
// their encoding; a frame that is not a BulkChunk is refused and the stream stays in step.
#include "protocol/bulk_chunk.h"

#include <gtest/gtest.h>

#include <future>
#include <random>
#include <vector>

#include "socket_pair.h"

namespace rgpu {
namespace {

constexpr uint64_t kChunk = 256 * 1024;

// A copy of three chunks: all zero, random (incompressible), and repetitive (compressible).
std::vector<uint8_t> sample_copy() {
  std::vector<uint8_t> b(3 * kChunk - 1000, 0);
  std::mt19937 rng(7);
  for (uint64_t i = kChunk; i < 2 * kChunk; ++i) b[i] = static_cast<uint8_t>(rng());
  for (uint64_t i = 2 * kChunk; i < b.size(); ++i) b[i] = static_cast<uint8_t>("abcd"[i % 4]);
  return b;
}

struct Seen {
  std::vector<BulkChunkIn> chunks;
  std::vector<uint8_t> back;
};

Seen send_and_land(const std::vector<uint8_t>& copy, bool compress) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  auto writer = std::async(std::launch::async, [&] {
    std::vector<uint8_t> scratch;
    uint64_t sent = 0;
    for (uint64_t off = 0; off < copy.size(); off += kChunk) {
      const uint64_t len = std::min<uint64_t>(kChunk, copy.size() - off);
      sent += write_bulk_chunk(*p.client, copy.data() + off, off, len, off + len == copy.size(),
                               compress, &scratch);
    }
    return sent;
  });
  Seen s;
  s.back.assign(copy.size(), 0xEE);
  std::vector<uint8_t> scratch;
  for (;;) {
    BulkChunkIn c = read_bulk_chunk(*p.server);
    EXPECT_EQ(c.check(copy.size()), "");
    read_bulk_chunk_to_host(*p.server, c, s.back.data(), &scratch);
    s.chunks.push_back(c);
    if (c.last) break;
  }
  uint64_t payload = 0;
  for (auto& c : s.chunks) payload += c.payload_len;
  EXPECT_EQ(writer.get(), payload);
  return s;
}

TEST(BulkChunk, RawZeroAndCompressedChunksLandByteForByte) {
  const std::vector<uint8_t> copy = sample_copy();
  Seen s = send_and_land(copy, true);
  ASSERT_EQ(s.chunks.size(), 3u);
  EXPECT_TRUE(s.chunks[0].zero);
  EXPECT_EQ(s.chunks[0].payload_len, 0u);
  EXPECT_FALSE(s.chunks[1].zero);
  EXPECT_FALSE(s.chunks[1].compressed);  // random bytes stay raw
  EXPECT_EQ(s.chunks[1].payload_len, kChunk);
  EXPECT_TRUE(s.chunks[2].compressed);
  EXPECT_LT(s.chunks[2].payload_len, s.chunks[2].length / 10);
  EXPECT_TRUE(s.back == copy);
}

TEST(BulkChunk, NothingIsCompressedUnlessAsked) {
  const std::vector<uint8_t> copy = sample_copy();
  Seen s = send_and_land(copy, false);
  ASSERT_EQ(s.chunks.size(), 3u);
  EXPECT_TRUE(s.chunks[0].zero);  // zero markers are not compression
  EXPECT_FALSE(s.chunks[2].compressed);
  EXPECT_EQ(s.chunks[2].payload_len, s.chunks[2].length);
  EXPECT_TRUE(s.back == copy);
}

TEST(BulkChunk, CheckRefusesChunksThatDoNotFit) {
  BulkChunkIn c;
  c.offset = 100;
  c.length = 50;
  c.payload_len = 50;
  EXPECT_EQ(c.check(150), "");
  EXPECT_EQ(c.check(149), "bulk chunk outside the copy's range");
  c.offset = ~0ull - 10;  // offset + length wraps around
  EXPECT_EQ(c.check(150), "bulk chunk outside the copy's range");
  c.offset = 0;
  c.payload_len = 49;
  EXPECT_EQ(c.check(150), "bulk chunk length does not match its bytes");
  c.zero = true;  // a zero marker's payload is skipped, whatever its size
  EXPECT_EQ(c.check(150), "");
  c.zero = false;
  c.compressed = true;
  c.payload_len = 1ull << 40;  // would make a reader allocate a terabyte
  EXPECT_EQ(c.check(150), "compressed bulk chunk is too large");
  c.payload_len = 30;
  EXPECT_EQ(c.check(150), "");
}

TEST(BulkChunk, CorruptLz4IsRefused) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  {
    SmallMessage m;
    auto c = m.msg.initRoot<wire::BulkChunk>();
    c.setLength(4096);
    c.setCompressed(true);
    c.setLast(true);
    const uint8_t junk[64] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    write_frame(*p.client, FrameKind::kBulkChunk, m.msg, junk, sizeof junk);
  }
  BulkChunkIn c = read_bulk_chunk(*p.server);
  ASSERT_EQ(c.check(4096), "");
  std::vector<uint8_t> dst(4096), scratch;
  EXPECT_THROW(read_bulk_chunk_to_host(*p.server, c, dst.data(), &scratch), net::NetError);
}

TEST(BulkChunk, OtherFramesAreRefusedAndSkipped) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  {
    SmallMessage m;
    m.msg.initRoot<wire::Goodbye>().setReason("not a chunk");
    const char payload[] = "bytes the reader must skip";
    write_frame(*p.client, FrameKind::kGoodbye, m.msg, payload, sizeof payload);
    const uint8_t one[3] = {1, 2, 3};
    write_bulk_chunk(*p.client, one, 0, sizeof one, true, false, nullptr);
  }
  EXPECT_THROW(read_bulk_chunk(*p.server), net::NetError);
  BulkChunkIn c = read_bulk_chunk(*p.server);  // the stream is still in step
  EXPECT_EQ(c.length, 3u);
  EXPECT_EQ(c.payload_len, 3u);
  EXPECT_TRUE(c.last);
}

}  // namespace
}  // namespace rgpu
