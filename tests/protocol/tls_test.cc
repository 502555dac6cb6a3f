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
#include "tests/pki.h"

namespace rgpu {
namespace {

class Tls : public ::testing::Test {
 protected:
  // dir_/a: our CA with a server (named for loopback), a client, a pool certificate, a server
  // certificate that names another host, and an old-style certificate with no role (no EKU);
  // dir_/b: another CA with its own client.
  static void SetUpTestSuite() {
    dir_ = "/tmp/rgpu-tls-" + std::to_string(getpid());
    ASSERT_TRUE(test::make_pki(dir_ + "/a", {"server:server", "client:client", "pool:pool"}));
    ASSERT_TRUE(
        test::make_certs(dir_ + "/a", "server elsewhere --san DNS:gpu1.example,IP:10.9.9.9"));
    ASSERT_TRUE(test::make_pki(dir_ + "/b", {"client:intruder"}));
    const std::string a = dir_ + "/a";
    std::string cmd = "cd " + a + " && printf 'subjectAltName=IP:127.0.0.1\\n' > noeku.ext" +
                      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                      " -subj /CN=alice -keyout noeku.key -out noeku.csr && openssl x509 -req"
                      " -in noeku.csr -CA ca.pem -CAkey ca.key -CAserial ca.srl -days 1"
                      " -extfile noeku.ext -out noeku.pem";
    ASSERT_EQ(std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }
  // name's certificate and key in CA directory `ca` ("a" or "b"), trusting that CA.
  static net::TlsConfig cfg(const std::string& name, const std::string& ca = "a") {
    const std::string d = dir_ + "/" + ca + "/";
    return {d + name + ".pem", d + name + ".key", d + "ca.pem", ""};
  }
  static std::string dir_;
};
std::string Tls::dir_;

TEST_F(Tls, MutualRoundTrip) {
  auto s = cfg("server");
  auto c = cfg("client");
  c.server_name = "server";  // a DNS name in its subjectAltName; connect() would check 127.0.0.1
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

// What each end said when a connection was refused.
struct Refusal {
  std::string client, server;
};

// Both ends fail the handshake (or the client cannot even start it).
Refusal expect_refused(const net::TlsConfig& server, const net::TlsConfig* client) {
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
  std::string client_error;
  try {
    auto s = net::connect(ep, client, 5000);
    const char req[] = "GET / HTTP/1.1\r\nHost: rgpu.example\r\n\r\n";
    s->write_all(req, sizeof(req) - 1);
    char c;
    s->read_exact(&c, 1);
  } catch (const net::NetError& e) {
    client_failed = true;
    client_error = e.what();
  }
  EXPECT_TRUE(client_failed);
  if (!client_error.empty() && client_error.find("without a CA") != std::string::npos) {
    // The client refused before connecting: nothing to hear on the server's side.
    // A plain connection that closes at once ends the server's wait.
    net::connect(ep, nullptr, 1000).reset();
  }
  std::string server_error = acc.get();
  EXPECT_NE(server_error, "accepted");
  return {client_error, server_error};
}

TEST_F(Tls, ClientFromAnotherCaIsRefused) {
  auto s = cfg("server");
  auto c = cfg("intruder", "b");
  c.ca_file = cfg("server").ca_file;
  expect_refused(s, &c);
}

TEST_F(Tls, ClientWithoutCertificateIsRefused) {
  auto s = cfg("server");
  net::TlsConfig c{"", "", cfg("server").ca_file, ""};
  expect_refused(s, &c);
}

TEST_F(Tls, PlainClientAgainstTlsServerFails) {
  auto s = cfg("server");
  expect_refused(s, nullptr);
}

TEST_F(Tls, ServerThatDoesNotCarryTheDialledNameIsRefused) {
  auto s = cfg("elsewhere");
  auto c = cfg("client");
  std::string e = expect_refused(s, &c).client;
  EXPECT_NE(e.find("does not name '127.0.0.1'"), std::string::npos) << e;
  // Named in its SAN, the same certificate is accepted.
  c.server_name = "gpu1.example";
  auto p = testing::connect_pair(net::Endpoint::parse("127.0.0.1:0"), &s, &c);
  EXPECT_TRUE(p.client->is_tls());
}

TEST_F(Tls, ClientWithoutCaIsRefusedSayingWhatToSet) {
  auto s = cfg("server");
  auto c = cfg("client");
  c.ca_file.clear();
  std::string e = expect_refused(s, &c).client;
  EXPECT_NE(e.find("TLS without a CA would trust anyone"), std::string::npos) << e;
  EXPECT_NE(e.find("RGPU_TLS_CA"), std::string::npos) << e;
}

TEST_F(Tls, ServerCertificateWithoutServerRoleIsRefused) {
  // CN=alice, no extended key usage: OpenSSL alone would accept it in any role.
  auto s = cfg("noeku");
  auto c = cfg("client");
  std::string e = expect_refused(s, &c).client;
  EXPECT_NE(e.find("(CN=alice) is not a server certificate"), std::string::npos) << e;
  EXPECT_NE(e.find("serverAuth"), std::string::npos) << e;
}

TEST_F(Tls, ClientCertificateWithoutClientRoleIsRefused) {
  auto s = cfg("server");
  for (const char* who : {"noeku", "pool"}) {
    auto c = cfg(who);
    std::string e = expect_refused(s, &c).server;
    EXPECT_NE(e.find("not a client certificate"), std::string::npos) << who << ": " << e;
  }
}

TEST_F(Tls, HandshakeOverTls) {
  auto s = cfg("server");
  auto c = cfg("client");
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
  auto s = cfg("server");
  auto c = cfg("client");
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
  auto s = cfg("server");
  auto c = cfg("client");
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
