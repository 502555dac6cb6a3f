// tests/pool/rpc_tls_test.cc — the control plane over mutual TLS (protocol/control/rpc_tls.h):
// a real rgpu-pool with --tls-cert/--tls-key/--tls-ca; clients with and without certificates.
//
// - AdminProviderAndUserOverMutualTls: an admin connection, a provider registering through
//   ProviderLink with its --pool-tls certificate, and a user's acquire_leases configured by
//   RGPU_POOL_TLS_* all work over TLS, and the lease names the provider.
// - PlainClientIsRefusedAndToldWhy: a client without TLS cannot talk to the pool, and the error
//   names the variables that would fix it.
// - MissingClientCertificateIsNamed: TLS without a client certificate fails, and the error
//   says to set the certificate.
// - CertificateFromAnotherCaIsRefused: a client certificate from another CA fails the handshake;
//   the error says it was TLS. The pool keeps serving good clients afterwards.
// - ImpostorPoolIsRefusedBeforeTheToken: a "pool" serving a user's certificate (right CA, even
//   the dialled IP in its SAN, but clientAuth only) is refused in the handshake, before the
//   admin token is sent; a client with a certificate but no CA is refused and told to set it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "protocol/control/acquire.h"
#include "protocol/control/pool_client.h"
#include "protocol/control/provider_link.h"
#include "tests/pki.h"

using namespace rgpu::control;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t GiB = 1ull << 30;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class PoolTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rgpu-pool-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(rgpu::test::make_pki(dir_, {"pool:pool", "client:admin", "server:provider"}));
    ASSERT_TRUE(rgpu::test::make_pki(dir_ + "/other", {"client:intruder"}));
    // A user's certificate that even names the pool's address, but is no server's.
    ASSERT_TRUE(rgpu::test::make_certs(dir_, "client alice --san IP:127.0.0.1"));
    pid_ = fork();
    if (pid_ == 0) {
      freopen((dir_ + "/pool.log").c_str(), "a", stdout);
      freopen((dir_ + "/pool.err").c_str(), "a", stderr);
      execl(RGPU_POOL_BIN, RGPU_POOL_BIN, "--listen", "127.0.0.1:0", "--data-dir",
            (dir_ + "/data").c_str(), "--port-file", (dir_ + "/port").c_str(), "--heartbeat-ms",
            "150", "--tls-cert", (dir_ + "/pool.pem").c_str(), "--tls-key",
            (dir_ + "/pool.key").c_str(), "--tls-ca", (dir_ + "/ca.pem").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && slurp(dir_ + "/port").empty(); ++i)
      std::this_thread::sleep_for(50ms);
    ASSERT_FALSE(slurp(dir_ + "/port").empty()) << slurp(dir_ + "/pool.err");
    endpoint_ = "127.0.0.1:" + std::to_string(std::stoi(slurp(dir_ + "/port")));
    admin_ = slurp(dir_ + "/data/admin.token");
    while (!admin_.empty() && admin_.back() == '\n') admin_.pop_back();
    unsetenv("RGPU_POOL_TLS_CA");
    unsetenv("RGPU_POOL_TLS_CERT");
    unsetenv("RGPU_POOL_TLS_KEY");
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  rgpu::net::TlsConfig as(const std::string& who) const {
    const std::string d = who == "intruder" ? dir_ + "/other/" : dir_ + "/";
    return {d + who + ".pem", d + who + ".key", dir_ + "/ca.pem", ""};
  }
  std::string admin_token(const char* role) {
    auto tls = as("admin");
    PoolConnection c(endpoint_, admin_, "test", 5000, &tls);
    EXPECT_EQ(c.open(), "");
    auto req = c.session().createTokenRequest();
    rgpu::cp::Role r;
    EXPECT_TRUE(parse_role(role, &r));
    req.setRole(r);
    auto resp = c.wait(req.send());
    return resp.getToken().cStr();
  }

  std::string dir_, endpoint_, admin_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_F(PoolTls, AdminProviderAndUserOverMutualTls) {
  std::string ptok = admin_token("provider"), utok = admin_token("user");
  ASSERT_FALSE(ptok.empty());
  ProviderLink::Options o;
  o.pool_endpoint = endpoint_;
  o.join_token = ptok;
  o.pool_tls = as("provider");
  o.info.name = "tls-gpu";
  o.info.endpoint = "127.0.0.1:7999";
  o.info.server_version = "test";
  GpuLend g;
  g.name = "rgpu sim";
  g.memory_total = 16 * GiB;
  g.cc_major = 9;
  o.info.gpus.push_back(g);
  o.usage = [] { return std::vector<GpuUseSample>{}; };
  ProviderLink link(std::move(o));
  ASSERT_EQ(link.start(), "");

  setenv("RGPU_POOL_TLS_CA", (dir_ + "/ca.pem").c_str(), 1);
  setenv("RGPU_POOL_TLS_CERT", (dir_ + "/admin.pem").c_str(), 1);
  setenv("RGPU_POOL_TLS_KEY", (dir_ + "/admin.key").c_str(), 1);
  AcquireResult r = acquire_leases(endpoint_, utok, 1, GiB, {}, 5.0, "", "tls test");
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.grants.size(), 1u);
  EXPECT_EQ(r.grants[0].endpoint, "127.0.0.1:7999");
  EXPECT_EQ(r.grants[0].provider_name, "tls-gpu");
  link.stop();
}

TEST_F(PoolTls, PlainClientIsRefusedAndToldWhy) {
  PoolConnection c(endpoint_, admin_, "test", 3000);  // no TLS in the environment
  std::string e = c.open();
  EXPECT_FALSE(e.empty());
  EXPECT_NE(e.find("RGPU_POOL_TLS_CA"), std::string::npos) << e;
}

TEST_F(PoolTls, MissingClientCertificateIsNamed) {
  rgpu::net::TlsConfig ca_only{"", "", dir_ + "/ca.pem", ""};
  PoolConnection c(endpoint_, admin_, "test", 3000, &ca_only);
  std::string e = c.open();
  EXPECT_NE(e.find("RGPU_POOL_TLS_CERT"), std::string::npos) << e;
}

TEST_F(PoolTls, CertificateFromAnotherCaIsRefused) {
  auto bad = as("intruder");
  PoolConnection c(endpoint_, admin_, "test", 3000, &bad);
  std::string e = c.open();
  EXPECT_FALSE(e.empty());
  EXPECT_NE(e.find("TLS"), std::string::npos) << e;
  auto good = as("admin");
  PoolConnection ok(endpoint_, admin_, "test", 5000, &good);
  EXPECT_EQ(ok.open(), "");
}

TEST_F(PoolTls, ImpostorPoolIsRefusedBeforeTheToken) {
  // A second pool, run by a user with their own (client) certificate.
  const std::string idir = dir_ + "/impostor";
  pid_t ipid = fork();
  if (ipid == 0) {
    freopen((dir_ + "/impostor.err").c_str(), "a", stderr);
    execl(RGPU_POOL_BIN, RGPU_POOL_BIN, "--listen", "127.0.0.1:0", "--data-dir", idir.c_str(),
          "--port-file", (dir_ + "/impostor.port").c_str(), "--tls-cert",
          (dir_ + "/alice.pem").c_str(), "--tls-key", (dir_ + "/alice.key").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100 && slurp(dir_ + "/impostor.port").empty(); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_FALSE(slurp(dir_ + "/impostor.port").empty()) << slurp(dir_ + "/impostor.err");
  const std::string impostor =
      "127.0.0.1:" + std::to_string(std::stoi(slurp(dir_ + "/impostor.port")));
  auto admin = as("admin");
  PoolConnection c(impostor, admin_, "test", 3000, &admin);
  std::string e = c.open();
  EXPECT_NE(e.find("(CN=alice) is not a server certificate"), std::string::npos) << e;
  // The same client certificate with no CA: refused before connecting, naming the fix.
  rgpu::net::TlsConfig no_ca = as("admin");
  no_ca.ca_file.clear();
  PoolConnection n(endpoint_, admin_, "test", 3000, &no_ca);
  e = n.open();
  EXPECT_NE(e.find("no CA"), std::string::npos) << e;
  EXPECT_NE(e.find("RGPU_POOL_TLS_CA"), std::string::npos) << e;
  kill(ipid, SIGTERM);
  waitpid(ipid, nullptr, 0);
}
