// Transport: endpoints, round trips over TCP and Unix sockets, closed and broken peers.
#include "protocol/transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "socket_pair.h"

namespace rgpu {
namespace {

TEST(Endpoint, ParsesTcpUnixAndV6) {
  auto a = net::Endpoint::parse("gpu-1.example:7071");
  EXPECT_EQ(a.kind, net::Endpoint::kTcp);
  EXPECT_EQ(a.host, "gpu-1.example");
  EXPECT_EQ(a.port, 7071);
  auto b = net::Endpoint::parse("unix:/tmp/rgpu.sock");
  EXPECT_EQ(b.kind, net::Endpoint::kUnix);
  EXPECT_EQ(b.path, "/tmp/rgpu.sock");
  auto c = net::Endpoint::parse("[::1]:80");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.str(), "[::1]:80");
  EXPECT_EQ(net::Endpoint::parse("tcp://h:1").str(), "h:1");
}

TEST(Endpoint, RejectsBadInputWithItsText) {
  for (const char* bad : {"nohost", ":80", "h:", "h:99999", "h:12a", "[::1]80", "unix:"}) {
    try {
      net::Endpoint::parse(bad);
      FAIL() << "accepted " << bad;
    } catch (const net::NetError& e) {
      EXPECT_EQ(e.kind(), net::NetError::kInvalid);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

void round_trip(net::Stream& a, net::Stream& b) {
  std::vector<char> big(3 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  std::thread writer([&] { a.write_all(big.data(), big.size()); });
  std::vector<char> got(big.size());
  b.read_exact(got.data(), got.size());
  writer.join();
  EXPECT_EQ(got, big);
  const char msg[] = "pong";
  b.write_all(msg, sizeof(msg));
  char back[sizeof(msg)];
  a.read_exact(back, sizeof(back));
  EXPECT_STREQ(back, "pong");
}

TEST(Transport, TcpRoundTrip) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  round_trip(*p.client, *p.server);
}

TEST(Transport, UnixRoundTrip) {
  std::string path = "/tmp/rgpu-test-" + std::to_string(getpid()) + ".sock";
  auto p = testing::connect_pair(net::Endpoint::parse("unix:" + path));
  round_trip(*p.client, *p.server);
}

TEST(Transport, CleanCloseIsClosedMidMessageIsBroken) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  p.client.reset();
  char c;
  try {
    p.server->read_exact(&c, 1);
    FAIL();
  } catch (const net::NetError& e) {
    EXPECT_EQ(e.kind(), net::NetError::kClosed);
  }
  auto q = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  q.client->write_all("abc", 3);
  q.client.reset();
  char buf[8];
  try {
    q.server->read_exact(buf, 8);
    FAIL();
  } catch (const net::NetError& e) {
    EXPECT_EQ(e.kind(), net::NetError::kBroken);
  }
}

TEST(Transport, WriteToVanishedPeerThrowsInsteadOfSigpipe) {
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"));
  p.server.reset();
  std::vector<char> data(1 << 20);
  EXPECT_THROW(
      {
        for (int i = 0; i < 64; ++i) p.client->write_all(data.data(), data.size());
      },
      net::NetError);
}

TEST(Transport, ConnectRefusedNamesTheEndpoint) {
  auto l = net::Listener::listen(net::Endpoint::parse("127.0.0.1:0"));
  auto ep = l->local();
  l->close();
  try {
    net::connect(ep, nullptr, 2000);
    FAIL();
  } catch (const net::NetError& e) {
    EXPECT_EQ(e.kind(), net::NetError::kRefused);
    EXPECT_NE(std::string(e.what()).find(ep.str()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rgpu
