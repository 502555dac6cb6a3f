// Frames: meta + payload round trips; malformed, truncated and oversized frames are rejected.
#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "protocol/data_plane.capnp.h"
#include "protocol/ops.h"
#include "socket_pair.h"

namespace rgpu {
namespace {

TEST(Frame, RequestWithPayloadRoundTrips) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  op::MemcpyHtoD::Args args{0x200000001000, 5000, 0, 0};
  std::vector<uint8_t> payload(5000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  capnp::MallocMessageBuilder mb;
  auto req = mb.initRoot<wire::Request>();
  req.setOp(static_cast<uint16_t>(Op::MemcpyHtoD));
  req.setArgs(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&args), sizeof(args)));
  write_frame(*p.client, FrameKind::kRequest, mb, payload.data(), payload.size());

  InFrame f = read_frame(*p.server);
  ASSERT_EQ(f.kind, FrameKind::kRequest);
  ASSERT_EQ(f.payload_len, payload.size());
  std::vector<uint8_t> got(f.payload_len);
  read_payload(*p.server, got.data(), got.size());
  EXPECT_EQ(got, payload);
  auto reader = f.reader();
  auto r = reader.getRoot<wire::Request>();
  EXPECT_EQ(r.getOp(), static_cast<uint16_t>(Op::MemcpyHtoD));
  op::MemcpyHtoD::Args back{};
  ASSERT_TRUE(decode_record(r.getArgs().begin(), r.getArgs().size(), &back));
  EXPECT_EQ(back.dst, args.dst);
  EXPECT_EQ(back.bytes, args.bytes);
  // A record of the wrong size is refused.
  op::MemAlloc::Args wrong{};
  EXPECT_FALSE(decode_record(r.getArgs().begin(), r.getArgs().size(), &wrong));
}

// A meta too big for InFrame's inline words comes from the heap; both kinds read back the same,
// also after the InFrame has been moved.
TEST(Frame, SmallAndLargeMetasRoundTripAndSurviveAMove) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  for (size_t text : {8u, 4000u}) {
    capnp::MallocMessageBuilder mb;
    auto rep = mb.initRoot<wire::Reply>();
    rep.setStatus(7);
    rep.setErrorText(std::string(text, 'e'));
    write_frame(*p.client, FrameKind::kReply, mb);
    InFrame f = read_frame(*p.server);
    EXPECT_EQ(f.meta().size() > InFrame::kInlineWords, text > 1000);
    InFrame moved;
    moved = std::move(f);
    auto r = moved.reader().getRoot<wire::Reply>();
    EXPECT_EQ(r.getStatus(), 7u);
    EXPECT_EQ(std::string(r.getErrorText().cStr()), std::string(text, 'e'));
  }
}

TEST(Frame, OpTableNamesAndClasses) {
  EXPECT_EQ(op_name(Op::LaunchKernel), "LaunchKernel");
  EXPECT_EQ(op_class(static_cast<uint16_t>(Op::LaunchKernel)), OpClass::kAsync);
  EXPECT_EQ(op_class(static_cast<uint16_t>(Op::MemAlloc)), OpClass::kSync);
  EXPECT_FALSE(op_class(9999).has_value());
}

net::NetError::Kind read_error_kind(const std::vector<uint8_t>& bytes, bool close_after = true) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  p.client->write_all(bytes.data(), bytes.size());
  if (close_after) p.client.reset();
  try {
    InFrame f = read_frame(*p.server);
    std::vector<uint8_t> sink(f.payload_len);
    read_payload(*p.server, sink.data(), sink.size());
    auto reader = f.reader();
    reader.getRoot<wire::Request>().getArgs();
  } catch (const net::NetError& e) {
    return e.kind();
  } catch (const kj::Exception&) {
    return net::NetError::kInvalid;  // the reader refused a malformed meta
  }
  return static_cast<net::NetError::Kind>(-1);
}

std::vector<uint8_t> header(uint32_t magic, uint16_t kind, uint32_t meta_len, uint64_t payload) {
  FrameHeader h{magic, kind, 0, meta_len, 0, payload};
  std::vector<uint8_t> v(sizeof(h));
  std::memcpy(v.data(), &h, sizeof(h));
  return v;
}

TEST(Frame, BadMagicUnknownKindAndOversizedLengthsAreProtocolErrors) {
  EXPECT_EQ(read_error_kind(header(0xdeadbeef, 3, 8, 0)), net::NetError::kProtocol);
  EXPECT_EQ(read_error_kind(header(kFrameMagic, 99, 8, 0)), net::NetError::kProtocol);
  EXPECT_EQ(read_error_kind(header(kFrameMagic, 3, 0xfffffff8u, 0)), net::NetError::kProtocol);
  EXPECT_EQ(read_error_kind(header(kFrameMagic, 3, 12, 0)), net::NetError::kProtocol);
  EXPECT_EQ(read_error_kind(header(kFrameMagic, 3, 8, 1ull << 40)), net::NetError::kProtocol);
}

TEST(Frame, SegmentTableThatOverrunsIsRejected) {
  auto h = header(kFrameMagic, 3, 16, 0);
  uint32_t table[4] = {0, 1000, 0, 0};  // one segment claiming 1000 words in a 2-word meta
  h.insert(h.end(), reinterpret_cast<uint8_t*>(table), reinterpret_cast<uint8_t*>(table) + 16);
  EXPECT_EQ(read_error_kind(h), net::NetError::kProtocol);
}

TEST(Frame, PeerVanishingMidFrameIsBroken) {
  auto h = header(kFrameMagic, 3, 64, 0);
  h.resize(h.size() + 10);  // 10 of 64 meta bytes, then the peer goes away
  EXPECT_EQ(read_error_kind(h), net::NetError::kBroken);
  auto half = header(kFrameMagic, 3, 8, 0);
  half.resize(10);  // not even a whole header
  EXPECT_EQ(read_error_kind(half), net::NetError::kBroken);
}

TEST(Frame, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> bytes;
    if (i % 2) bytes = header(kFrameMagic, 1 + rng() % 7, 8 * (1 + rng() % 8), rng() % 64);
    size_t n = rng() % 200;
    for (size_t k = 0; k < n; ++k) bytes.push_back(static_cast<uint8_t>(rng()));
    auto kind = read_error_kind(bytes);
    (void)kind;  // any error is fine; crashing or hanging is not
  }
  SUCCEED();
}

}  // namespace
}  // namespace rgpu
