// TLS: mutual certificate checks; a client without a certificate or from another CA is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>

#include "protocol/frame.h"
#include "protocol/handshake.h"
#include "protocol/transport.h"
#include "socket_pair.h"

namespace rgpu {
namespace {

// Makes a CA and a certificate signed by it with the openssl CLI, into dir.
void make_pki(const std::string& dir, const std::string& ca, const std::string& name) {
  std::string cmd = "cd " + dir + " && (test -f " + ca +
                    ".key || openssl req -x509 -newkey ec -pkeyopt "
                    "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" +
                    ca + " -keyout " + ca + ".key -out " + ca +
                    ".pem) && openssl req -newkey ec -pkeyopt "
                    "ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
                    name + " -keyout " + name + ".key -out " + name +
                    ".csr && printf 'subjectAltName=DNS:" + name + "\\n' > " + name +
                    ".ext && openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " +
                    ca + ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name +
                    ".pem 2>/dev/null";
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = "/tmp/rgpu-tls-" + std::to_string(getpid());
    std::system(("mkdir -p " + dir_).c_str());
    make_pki(dir_, "poolca", "server");
    make_pki(dir_, "poolca", "client");
    make_pki(dir_, "otherca", "intruder");
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }
  static net::TlsConfig cfg(const std::string& name, const std::string& ca) {
    return {dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key", dir_ + "/" + ca + ".pem", ""};
  }
  static std::string dir_;
};
std::string Tls::dir_;

TEST_F(Tls, MutualRoundTrip) {
  auto s = cfg("server", "poolca");
  auto c = cfg("client", "poolca");
  c.server_name = "server";
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"), &s, &c);
  ASSERT_TRUE(p.client->is_tls());
  EXPECT_NE(p.server->peer_certificate_subject().find("CN=client"), std::string::npos)
      << p.server->peer_certificate_subject();
  std::string big(2 << 20, 'x');
  auto w = std::async(std::launch::async, [&] { p.client->write_all(big.data(), big.size()); });
  std::string got(big.size(), '\0');
  p.server->read_exact(got.data(), got.size());
  w.get();
  EXPECT_EQ(got, big);
}

void expect_refused(const net::TlsConfig& server, const net::TlsConfig* client) {
  auto l = net::Listener::listen(net::Endpoint::parse("127.0.0.1:0"), &server);
  auto ep = l->local();
  auto acc = std::async(std::launch::async, [&]() -> std::string {
    try {
      auto s = l->accept();
      char c;
      s->read_exact(&c, 1);
      return "accepted";
    } catch (const net::NetError& e) {
      return e.what();
    }
  });
  bool client_failed = false;
  try {
    auto s = net::connect(ep, client, 5000);
    const char req[] = "GET / HTTP/1.1\r\nHost: rgpu.example\r\n\r\n";
    s->write_all(req, sizeof(req) - 1);
    char c;
    s->read_exact(&c, 1);
  } catch (const net::NetError&) {
    client_failed = true;
  }
  EXPECT_TRUE(client_failed);
  EXPECT_NE(acc.get(), "accepted");
}

TEST_F(Tls, ClientFromAnotherCaIsRefused) {
  auto s = cfg("server", "poolca");
  auto c = cfg("intruder", "poolca");
  expect_refused(s, &c);
}

TEST_F(Tls, ClientWithoutCertificateIsRefused) {
  auto s = cfg("server", "poolca");
  net::TlsConfig c{"", "", dir_ + "/poolca.pem", ""};
  expect_refused(s, &c);
}

TEST_F(Tls, PlainClientAgainstTlsServerFails) {
  auto s = cfg("server", "poolca");
  expect_refused(s, nullptr);
}

TEST_F(Tls, HandshakeOverTls) {
  auto s = cfg("server", "poolca");
  auto c = cfg("client", "poolca");
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"), &s, &c);
  auto server = std::async(std::launch::async, [&] {
    auto h = read_hello(*p.server);
    HelloAccepted a;
    a.version = h.negotiated.version;
    a.session_id = 7;
    send_hello_reply(*p.server, a);
  });
  auto a = client_handshake(*p.client, HelloParams{});
  server.get();
  EXPECT_EQ(a.session_id, 7u);
}

}  // namespace
}  // namespace rgpu

namespace rgpu {
namespace {

// A sync reader polls a TLS stream too (BufferedReader spinning): try_read_some() says "not yet"
// without blocking, then returns the decrypted bytes once they come.
TEST_F(Tls, TryReadSomePollsWithoutBlocking) {
  auto s = cfg("server", "poolca");
  auto c = cfg("client", "poolca");
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"), &s, &c);
  char b[32];
  size_t got = 99;
  EXPECT_FALSE(p.client->try_read_some(b, sizeof b, &got));  // a blocking read would hang here
  p.server->write_all("over tls", 8);
  bool ok = false;
  for (int i = 0; i < 2000 && !(ok = p.client->try_read_some(b, sizeof b, &got)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(ok);
  ASSERT_EQ(got, 8u);
  EXPECT_EQ(std::string(b, 8), "over tls");
}

// transport.h: no call raises SIGPIPE. OpenSSL writes with plain write(), so a TLS stream whose
// peer has gone must not kill the process (the shim lives inside someone else's program).
TEST_F(Tls, WriteToVanishedPeerThrowsInsteadOfSigpipe) {
  ASSERT_EQ(signal(SIGPIPE, SIG_DFL), SIG_DFL) << "test needs the default SIGPIPE action";
  auto s = cfg("server", "poolca");
  auto c = cfg("client", "poolca");
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"), &s, &c);
  p.server.reset();
  std::string data(1 << 20, 'x');
  EXPECT_THROW(
      {
        for (int i = 0; i < 64; ++i) p.client->write_all(data.data(), data.size());
      },
      net::NetError);
}

}  // namespace
}  // namespace rgpu
