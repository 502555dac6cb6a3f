// BufferedReader: small frames from one refill, payloads in place, a reply coalesced with the
// first bulk chunk (encode_frame as a lead), and spinning reads that fall back to blocking.
#include "protocol/buffered_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "protocol/bulk_chunk.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/small_message.h"
#include "socket_pair.h"

namespace rgpu {
namespace {

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 1);
  return v;
}

TEST(BufferedReader, ReplyLeadingABulkChunkReadsBackInOrderIntoPlace) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  const auto data = pattern(1 << 20);
  std::thread writer([&] {
    SmallMessage m;
    auto rep = m.msg.initRoot<wire::Reply>();
    rep.setStatus(0);
    rep.setErrorText("announce");
    std::vector<uint8_t> lead = encode_frame(FrameKind::kReply, m.msg);
    std::vector<uint8_t> scratch;
    write_bulk_chunk(*p.server, data.data(), 0, data.size(), true, false, &scratch, &lead);
  });
  net::BufferedReader in(*p.client, 4096);
  InFrame r = read_frame(in);
  ASSERT_EQ(r.kind, FrameKind::kReply);
  EXPECT_EQ(r.payload_len, 0u);
  EXPECT_STREQ(r.reader().getRoot<wire::Reply>().getErrorText().cStr(), "announce");
  BulkChunkIn c = read_bulk_chunk(in);
  ASSERT_EQ(c.check(data.size()), "");
  std::vector<uint8_t> got(data.size());
  read_payload(in, got.data(), got.size());
  EXPECT_EQ(got, data);
  EXPECT_EQ(in.buffered(), 0u);
  writer.join();
}

TEST(BufferedReader, SpinningReadFallsBackToBlockingForLateBytes) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  net::BufferedReader in(*p.client, 4096);
  in.set_spin_ns(200 * 1000);  // 0.2 ms of polling, then the kernel wait
  const auto data = pattern(100000);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    p.server->write_all(data.data(), data.size());
  });
  std::vector<uint8_t> got(data.size());
  in.read_exact(got.data(), got.size());
  EXPECT_EQ(got, data);
  writer.join();
}

TEST(BufferedReader, SpinningReadSeesThePeerClose) {
  auto p = testing::connect_pair(
      net::Endpoint::parse("unix:/tmp/rgpu-bufspin-" + std::to_string(getpid()) + ".sock"));
  net::BufferedReader in(*p.client, 4096);
  in.set_spin_ns(50 * 1000 * 1000);  // longer than the test: the close must end the spin
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    p.server.reset();
  });
  char b[8];
  try {
    in.read_exact(b, sizeof b);
    ADD_FAILURE() << "read_exact returned after the peer closed";
  } catch (const net::NetError& e) {
    EXPECT_EQ(e.kind(), net::NetError::kClosed) << e.what();
  }
  closer.join();
}

TEST(BufferedReader, TryReadSomeSaysWhenNothingIsThere) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  char b[16];
  size_t got = 99;
  EXPECT_FALSE(p.client->try_read_some(b, sizeof b, &got));
  p.server->write_all("hello", 5);
  for (int i = 0; i < 2000 && !p.client->try_read_some(b, sizeof b, &got); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(got, 5u);
  EXPECT_EQ(std::string(b, 5), "hello");
}

}  // namespace
}  // namespace rgpu
