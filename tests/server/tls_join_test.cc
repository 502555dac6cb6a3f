// tests/server/tls_join_test.cc — lanes joining a session over TLS (protocol 4): a real
// rgpu-server serving mutual TLS, driven with the protocol library (protocol/lane_preamble.h,
// server/lane_handoff.h).
//
// - LaneJoinsWithPreambleAndKey: the first lane's HelloReply carries a lane key; a second TLS
//   connection that opens with the preamble and presents the key joins the same session.
// - WrongKeyIsRefusedAndTheSessionGoesOn: a lane with the right preamble and a wrong key is
//   refused inside TLS; the session still takes a lane with the right key afterwards.
// - RefusedLanesDoNotUseUpTheSessionsLanes: 70 refused lanes, then a good one still joins.
// - PreambleForAGoneSessionIsRefusedClearly: a preamble naming no live session reaches a fresh
//   worker, which takes the preamble off, completes TLS and refuses the Hello by name.
// - Protocol3ClientKeepsOneLane: a client that speaks only protocol 3 gets no lane key over TLS
//   (it could not send the preamble).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "protocol/handshake.h"
#include "protocol/lane_preamble.h"
#include "protocol/transport.h"
#include "protocol/version.h"
#include "tests/pki.h"
#include "tests/server/test_client.h"

namespace rgpu::test {
namespace {

class TlsJoin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = "/tmp/rgpu-tls-join-" + std::to_string(getpid());
    ASSERT_TRUE(make_pki(dir_, {"server:server", "client:client"}));
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }

  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--tls-cert", dir_ + "/server.pem", "--tls-key",
                                 dir_ + "/server.key", "--tls-ca", dir_ + "/ca.pem"});
    ASSERT_TRUE(server_->started()) << server_->log();
    client_tls_ = {dir_ + "/client.pem", dir_ + "/client.key", dir_ + "/ca.pem", ""};
    ep_ = net::Endpoint::parse("127.0.0.1:" + std::to_string(server_->port()));
  }

  std::unique_ptr<net::Stream> open(const std::string& preamble = "") {
    return net::connect(ep_, &client_tls_, 5000, preamble);
  }

  static std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  net::TlsConfig client_tls_;
  net::Endpoint ep_;
};
std::string TlsJoin::dir_;

TEST_F(TlsJoin, LaneJoinsWithPreambleAndKey) {
  auto first = open();
  HelloAccepted a = client_handshake(*first, HelloParams{});
  EXPECT_EQ(a.version, kProtocolVersion);
  ASSERT_FALSE(a.lane_key.empty()) << "no lane key over TLS at protocol " << a.version;
  auto lane = open(join_preamble(a.session_id));
  HelloParams j;
  j.join_session = a.session_id;
  j.join_key = a.lane_key;
  HelloAccepted b = client_handshake(*lane, j);
  EXPECT_EQ(b.session_id, a.session_id);
}

TEST_F(TlsJoin, WrongKeyIsRefusedAndTheSessionGoesOn) {
  auto first = open();
  HelloAccepted a = client_handshake(*first, HelloParams{});
  ASSERT_FALSE(a.lane_key.empty());
  auto bad = open(join_preamble(a.session_id));
  HelloParams j;
  j.join_session = a.session_id;
  j.join_key = std::string(a.lane_key.size(), 'x');
  try {
    client_handshake(*bad, j);
    ADD_FAILURE() << "a lane with a wrong key was accepted";
  } catch (const HandshakeError& e) {
    EXPECT_NE(std::string(e.what()).find("join key"), std::string::npos) << e.what();
  }
  auto good = open(join_preamble(a.session_id));
  j.join_key = a.lane_key;
  EXPECT_EQ(client_handshake(*good, j).session_id, a.session_id);
}

// Refused lanes do not use up the session's lanes (JoinedLanes::kMaxLanes is 64): after 70
// refused attempts a lane with the right key still joins.
TEST_F(TlsJoin, RefusedLanesDoNotUseUpTheSessionsLanes) {
  auto first = open();
  HelloAccepted a = client_handshake(*first, HelloParams{});
  ASSERT_FALSE(a.lane_key.empty());
  HelloParams j;
  j.join_session = a.session_id;
  j.join_key = std::string(a.lane_key.size(), 'x');
  for (int i = 0; i < 70; ++i) {
    auto bad = open(join_preamble(a.session_id));
    EXPECT_THROW(client_handshake(*bad, j), HandshakeError) << "attempt " << i;
  }
  j.join_key = a.lane_key;
  auto good = open(join_preamble(a.session_id));
  EXPECT_EQ(client_handshake(*good, j).session_id, a.session_id);
}

TEST_F(TlsJoin, PreambleForAGoneSessionIsRefusedClearly) {
  auto lane = open(join_preamble(987654));
  HelloParams j;
  j.join_session = 987654;
  j.join_key = "0123456789abcdef";
  try {
    client_handshake(*lane, j);
    ADD_FAILURE() << "a lane for a session that does not exist was accepted";
  } catch (const HandshakeError& e) {
    EXPECT_NE(std::string(e.what()).find("no session 987654"), std::string::npos) << e.what();
  }
  // The server keeps serving.
  auto next = open();
  EXPECT_NO_THROW(client_handshake(*next, HelloParams{}));
}

TEST_F(TlsJoin, Protocol3ClientKeepsOneLane) {
  auto first = open();
  HelloParams p;
  p.min_version = 3;
  p.max_version = 3;
  HelloAccepted a = client_handshake(*first, p);
  EXPECT_EQ(a.version, 3u);
  EXPECT_TRUE(a.lane_key.empty()) << "a protocol 3 client cannot send the join preamble";
}

}  // namespace
}  // namespace rgpu::test
