// Hello: versions are negotiated; a mismatch is refused with both versions named.
#include "protocol/handshake.h"

#include <gtest/gtest.h>

#include <future>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/lane_preamble.h"
#include "socket_pair.h"

namespace rgpu {
namespace {

TEST(Negotiate, PicksNewestCommonVersion) {
  auto n = negotiate(1, 5, 3, 4);
  EXPECT_TRUE(n.ok);
  EXPECT_EQ(n.version, 4u);
  auto m = negotiate(5, 6, 1, 4);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("5..6"), std::string::npos) << m.error;
  EXPECT_NE(m.error.find("1..4"), std::string::npos) << m.error;
}

HelloAccepted serve_one(net::Stream& s, uint32_t our_min, uint32_t our_max) {
  HelloReceived h = read_hello(s, our_min, our_max);
  if (!h.negotiated.ok) {
    refuse_hello(s, h.negotiated.error, our_max);
    return {};
  }
  HelloAccepted a;
  a.version = h.negotiated.version;
  a.session_id = 42;
  a.device_props = "props:" + h.params.client_name;
  a.vram_limit = h.params.va_base;
  send_hello_reply(s, a);
  return a;
}

TEST(Handshake, AcceptedHelloCarriesSessionAndProps) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  auto server =
      std::async(std::launch::async, [&] { return serve_one(*p.server, 1, kProtocolVersion); });
  HelloParams hp;
  hp.client_name = "vecadd";
  hp.va_base = 0x200000000000;
  HelloAccepted a = client_handshake(*p.client, hp);
  server.get();
  EXPECT_EQ(a.version, kProtocolVersion);
  EXPECT_EQ(a.session_id, 42u);
  EXPECT_EQ(a.device_props, "props:vecadd");
  EXPECT_EQ(a.vram_limit, 0x200000000000u);
}

TEST(Handshake, NewerClientIsRefusedWithBothVersionsNamed) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  auto server = std::async(std::launch::async, [&] { return serve_one(*p.server, 1, 1); });
  HelloParams hp;
  hp.min_version = 7;
  hp.max_version = 9;
  try {
    client_handshake(*p.client, hp);
    FAIL();
  } catch (const HandshakeError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("7..9"), std::string::npos) << w;
    EXPECT_NE(w.find("1..1"), std::string::npos) << w;
  }
  server.get();
}

TEST(Handshake, FirstFrameThatIsNotHelloIsRefused) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  const char req[] = "GET / HTTP/1.1\r\nHost: rgpu.example\r\n\r\n";
  p.client->write_all(req, sizeof(req) - 1);
  EXPECT_THROW(read_hello(*p.server), net::NetError);
}

// A well-framed first frame that is not a Hello: the server side gets a HandshakeError it can
// answer, and the client sees that answer as a refusal naming it.
TEST(Handshake, WellFramedNonHelloIsAnsweredWithARefusal) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  auto server = std::async(std::launch::async, [&] {
    try {
      read_hello(*p.server);
      return std::string("accepted");
    } catch (const HandshakeError& e) {
      refuse_hello(*p.server, e.what());
      return std::string(e.what());
    }
  });
  {
    capnp::MallocMessageBuilder mb;
    mb.initRoot<wire::Goodbye>().setReason("not a hello");
    const char payload[] = "payload bytes the server must skip";
    write_frame(*p.client, FrameKind::kGoodbye, mb, payload, sizeof payload);
  }
  EXPECT_EQ(server.get(), "expected a Hello frame first");
  InFrame f = read_frame(*p.client);
  ASSERT_EQ(f.kind, FrameKind::kHelloReply);
  auto r = f.reader();
  auto reply = r.getRoot<wire::HelloReply>();
  EXPECT_FALSE(reply.getOk());
  EXPECT_EQ(reply.getProtocolVersion(), kProtocolVersion);
  EXPECT_EQ(std::string(reply.getError().cStr()), "expected a Hello frame first");
}

// A Hello that names no minimum speaks only its protocolVersion.
TEST(Handshake, HelloWithoutMinimumSpeaksOneVersion) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  {
    capnp::MallocMessageBuilder mb;
    mb.initRoot<wire::Hello>().setProtocolVersion(kProtocolVersion + 5);
    write_frame(*p.client, FrameKind::kHello, mb);
  }
  HelloReceived h = read_hello(*p.server);
  EXPECT_EQ(h.params.min_version, kProtocolVersion + 5);
  EXPECT_FALSE(h.negotiated.ok);
}

// protocol/lane_preamble.h: what a TLS lane sends before its handshake round-trips, and
// anything else (a TLS ClientHello, another version, other magic) is not a preamble.
TEST(LanePreamble, RoundTripsAndRejectsEverythingElse) {
  std::string p = join_preamble(0x0102030405060708ull);
  ASSERT_EQ(p.size(), kJoinPreambleBytes);
  EXPECT_EQ(parse_join_preamble(reinterpret_cast<const uint8_t*>(p.data())), 0x0102030405060708ull);
  const uint8_t tls_hello[kJoinPreambleBytes] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
                                                 0xfc, 0x03, 0x03, 'a',  'b',  'c',  'd',  'e'};
  EXPECT_EQ(parse_join_preamble(tls_hello), 0u);
  std::string other_version = p;
  other_version[4] = 2;
  EXPECT_EQ(parse_join_preamble(reinterpret_cast<const uint8_t*>(other_version.data())), 0u);
  std::string other_magic = p;
  other_magic[3] = 'X';
  EXPECT_EQ(parse_join_preamble(reinterpret_cast<const uint8_t*>(other_magic.data())), 0u);
}

}  // namespace
}  // namespace rgpu
