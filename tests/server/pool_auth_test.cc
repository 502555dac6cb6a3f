// tests/server/pool_auth_test.cc — a pool server's lease checks (server/worker/lease_auth.h) and
// its pool flags (server/config.h), in-process. The supervisor's end of the worker channel is a
// small fake here that answers claims from a real LeaseReplayGuard; the real one
// (server/pool_membership.h) runs in tests/pool/e2e_pool.sh.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "protocol/control/lease.h"
#include "protocol/control/replay_guard.h"
#include "server/config.h"
#include "server/worker/lease_auth.h"

namespace rgpu::server {
namespace {

constexpr const char* kEndpoint = "127.0.0.1:7071";

// The supervisor's side: answers "C id exp" with Y/N from one replay guard, records S/E.
class FakeSupervisor {
 public:
  FakeSupervisor() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds_), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeSupervisor() {
    ::shutdown(fds_[0], SHUT_RDWR);
    ::shutdown(fds_[1], SHUT_RDWR);
    thread_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int worker_fd() const { return fds_[1]; }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> g(mu_);
    return messages_;
  }

 private:
  void serve() {
    char buf[1024];
    for (;;) {
      ssize_t n = ::recv(fds_[0], buf, sizeof buf, 0);
      if (n <= 0) return;
      std::string m(buf, static_cast<size_t>(n));
      if (m[0] == 'C') {
        auto sp = m.find(' ', 2);
        bool fresh =
            guard_.claim(m.substr(2, sp - 2), std::atoll(m.c_str() + sp + 1), std::time(nullptr));
        char r = fresh ? 'Y' : 'N';
        ::send(fds_[0], &r, 1, 0);
      } else {
        std::lock_guard<std::mutex> g(mu_);
        messages_.push_back(m);
      }
    }
  }
  int fds_[2] = {-1, -1};
  control::LeaseReplayGuard guard_;
  std::mutex mu_;
  std::vector<std::string> messages_;
  std::thread thread_;
};

control::LeaseClaims claims_for(const std::string& endpoint, int64_t ttl = 60) {
  control::LeaseClaims c;
  c.lease_id = control::new_lease_id();
  c.endpoint = endpoint;
  c.provider_id = "p-test";
  c.gpu_index = 0;
  c.vram_bytes = 1ull << 30;
  c.issued_unix = std::time(nullptr);
  c.expires_unix = c.issued_unix + ttl;
  return c;
}

HelloCredentials with_lease(const std::string& lease) {
  HelloCredentials h;
  h.lease = lease;
  h.client_name = "test";
  return h;
}

struct PoolAuth : ::testing::Test {
  control::PoolKey key = control::generate_pool_key();
  FakeSupervisor sup;
  SupervisorChannel channel{sup.worker_fd()};
  LeaseAuthenticator auth{{key.public_raw}, kEndpoint, "p-test", 0, &channel, nullptr};
};

TEST_F(PoolAuth, AcceptsAValidLeaseWithItsCapAndId) {
  auto c = claims_for(kEndpoint);
  AuthResult r = auth.check(with_lease(control::sign_lease(c, key)));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.vram_limit, c.vram_bytes);
  EXPECT_EQ(r.lease_id, c.lease_id);
}

TEST_F(PoolAuth, RefusesAReplayedLease) {
  std::string lease = control::sign_lease(claims_for(kEndpoint), key);
  ASSERT_TRUE(auth.check(with_lease(lease)).ok);
  AuthResult r = auth.check(with_lease(lease));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("already used"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, RefusesALeaseSignedByAnotherPool) {
  control::PoolKey other = control::generate_pool_key();
  AuthResult r = auth.check(with_lease(control::sign_lease(claims_for(kEndpoint), other)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("bad signature"), std::string::npos) << r.error;
}

// During a key rotation the pool publishes the old key and the new: a lease signed with either
// is accepted, one signed with neither is refused with the reason the current key gives.
TEST_F(PoolAuth, DuringARotationLeasesOfTheOldAndTheNewKeyAreAccepted) {
  control::PoolKey next = control::generate_pool_key();
  LeaseAuthenticator both({next.public_raw, key.public_raw}, kEndpoint, "p-test", 0, &channel,
                          nullptr);
  AuthResult old_one = both.check(with_lease(control::sign_lease(claims_for(kEndpoint), key)));
  EXPECT_TRUE(old_one.ok) << old_one.error;
  AuthResult new_one = both.check(with_lease(control::sign_lease(claims_for(kEndpoint), next)));
  EXPECT_TRUE(new_one.ok) << new_one.error;
  control::PoolKey stranger = control::generate_pool_key();
  AuthResult foreign = both.check(with_lease(control::sign_lease(claims_for(kEndpoint), stranger)));
  EXPECT_FALSE(foreign.ok);
  EXPECT_NE(foreign.error.find("bad signature"), std::string::npos) << foreign.error;
  // An expired lease of the old key says it expired, not that its signature is bad.
  auto c = claims_for(kEndpoint);
  c.issued_unix -= 7200;
  c.expires_unix = c.issued_unix + 60;
  AuthResult expired = both.check(with_lease(control::sign_lease(c, key)));
  EXPECT_FALSE(expired.ok);
  EXPECT_EQ(expired.error.find("bad signature"), std::string::npos) << expired.error;
}

TEST_F(PoolAuth, RefusesAnAlteredLease) {
  std::string lease = control::sign_lease(claims_for(kEndpoint), key);
  lease[lease.size() / 2] ^= 1;
  AuthResult r = auth.check(with_lease(lease));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("lease refused"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, RefusesAnExpiredLease) {
  auto c = claims_for(kEndpoint);
  c.issued_unix -= 120;
  c.expires_unix = std::time(nullptr) - 5;
  AuthResult r = auth.check(with_lease(control::sign_lease(c, key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("expired"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, RefusesALeaseForAnotherServerOrGpu) {
  AuthResult r = auth.check(with_lease(control::sign_lease(claims_for("10.0.0.9:7071"), key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("issued for server"), std::string::npos) << r.error;
  auto c = claims_for(kEndpoint);
  c.gpu_index = 3;
  r = auth.check(with_lease(control::sign_lease(c, key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("GPU 3"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, RefusesALeasePlacedOnAnotherProviderForThisEndpoint) {
  // Another provider advertised this server's endpoint and got a lease for it: it names that
  // provider, and this server is not it.
  auto c = claims_for(kEndpoint);
  c.provider_id = "p-evil";
  AuthResult r = auth.check(with_lease(control::sign_lease(c, key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("placed on provider p-evil, this server is provider p-test"),
            std::string::npos)
      << r.error;
  LeaseAuthenticator unregistered{{key.public_raw}, kEndpoint, "", 0, &channel, nullptr};
  r = unregistered.check(with_lease(control::sign_lease(claims_for(kEndpoint), key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not registered"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, RefusesGarbageAndAMissingLease) {
  AuthResult r = auth.check(with_lease("RGL1 not a lease at all"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("malformed"), std::string::npos) << r.error;
  r = auth.check(with_lease(""));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("lease is required"), std::string::npos) << r.error;
}

TEST_F(PoolAuth, ALeaselessHelloGoesToTheFallback) {
  LeaseAuthenticator with_secret({key.public_raw}, kEndpoint, "p-test", 0, &channel,
                                 std::make_unique<SecretAuthenticator>("s3cret", false));
  HelloCredentials h;
  h.secret = "s3cret";
  EXPECT_TRUE(with_secret.check(h).ok);
  h.secret = "wrong";
  EXPECT_FALSE(with_secret.check(h).ok);
}

TEST_F(PoolAuth, ReportsSessionStartAndEnd) {
  channel.session_started("abc", 42);
  channel.session_ended("peer closed the connection");
  for (int i = 0; i < 200 && sup.messages().size() < 2; ++i) usleep(5000);
  auto m = sup.messages();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], "S abc 42");
  EXPECT_EQ(m[1], "E peer closed the connection");
}

TEST(PoolAuthNoSupervisor, ClaimsFailWithoutAChannel) {
  control::PoolKey key = control::generate_pool_key();
  SupervisorChannel none(-1);
  LeaseAuthenticator auth({key.public_raw}, kEndpoint, "p-test", 0, &none, nullptr);
  AuthResult r = auth.check(with_lease(control::sign_lease(claims_for(kEndpoint), key)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("supervisor"), std::string::npos) << r.error;
}

TEST(PoolAuthFactory, PicksLeasesInAPoolAndRejectsABadKey) {
  ServerOptions o;
  o.insecure = true;
  SupervisorChannel none(-1);
  std::string err;
  auto plain = make_authenticator(o, &none, &err);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->check(HelloCredentials{}).ok);  // insecure, no pool
  o.insecure = false;
  o.pool_pubkey_hex = "zz";
  EXPECT_FALSE(make_authenticator(o, &none, &err));
  EXPECT_FALSE(err.empty());
  o.pool_pubkey_hex = control::to_hex(control::generate_pool_key().public_raw);
  auto leased = make_authenticator(o, &none, &err);
  ASSERT_TRUE(leased) << err;
  EXPECT_FALSE(leased->check(HelloCredentials{}).ok);  // no lease, no fallback
}

bool parse(std::vector<std::string> args, ServerOptions* o, std::string* err) {
  args.insert(args.begin(), "rgpu-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), o, err);
}

TEST(PoolFlags, ParseAndCheck) {
  ::unsetenv("RGPU_JOIN_TOKEN");
  ServerOptions o;
  std::string err;
  ASSERT_TRUE(parse({"--pool",      "p:7070",      "--join-token",
                     "t",           "--name",      "n1",
                     "--label",     "a=b",         "--label",
                     "c=d",         "--schedule",  "22:00-07:00",
                     "--lend-mem",  "2GiB",        "--pool-key",
                     "/k",          "--advertise", "gpu1",
                     "--min-price", "0.40",        "--receipt-interval",
                     "0.5"},
                    &o, &err))
      << err;
  EXPECT_EQ(o.pool, "p:7070");
  EXPECT_EQ(o.join_token, "t");
  EXPECT_EQ(o.name, "n1");
  EXPECT_EQ(o.labels, (std::vector<std::string>{"a=b", "c=d"}));
  EXPECT_EQ(o.schedule, "22:00-07:00");
  EXPECT_EQ(o.lend_mem, 2ull << 30);
  EXPECT_EQ(o.pool_key_file, "/k");
  EXPECT_EQ(o.advertise, "gpu1");
  EXPECT_EQ(o.min_price_micro, 400000);
  EXPECT_EQ(o.receipt_interval_ms, 500u);

  ServerOptions bad;
  EXPECT_FALSE(parse({"--pool", "p:7070"}, &bad, &err));  // no token
  EXPECT_NE(err.find("--join-token"), std::string::npos) << err;
  ServerOptions bad2;
  EXPECT_FALSE(parse({"--name", "x", "--insecure"}, &bad2, &err));  // pool flag without --pool
  EXPECT_NE(err.find("need --pool"), std::string::npos) << err;
  ServerOptions bad3;
  EXPECT_FALSE(parse({"--pool", "p", "--join-token", "t", "--label", "novalue"}, &bad3, &err));
  ServerOptions bad4;
  EXPECT_FALSE(parse({"--pool", "p", "--join-token", "t", "--lend-mem", "lots"}, &bad4, &err));
  for (const char* price : {"-1", "cheap", "0.1234567"}) {
    ServerOptions bad5;
    EXPECT_FALSE(parse({"--pool", "p", "--join-token", "t", "--min-price", price}, &bad5, &err));
    EXPECT_NE(err.find("--min-price"), std::string::npos) << err;
  }
  for (const char* every : {"0", "61", "0.01", "soon"}) {
    ServerOptions bad6;
    EXPECT_FALSE(
        parse({"--pool", "p", "--join-token", "t", "--receipt-interval", every}, &bad6, &err));
    EXPECT_NE(err.find("--receipt-interval"), std::string::npos) << err;
  }

  ::setenv("RGPU_JOIN_TOKEN", "from-env", 1);
  ServerOptions env;
  EXPECT_TRUE(parse({"--pool", "p:7070"}, &env, &err)) << err;
  EXPECT_EQ(env.join_token, "from-env");
  ServerOptions no_pool;  // the variable alone does not make a plain server a provider
  EXPECT_TRUE(parse({"--insecure"}, &no_pool, &err)) << err;
  EXPECT_TRUE(no_pool.join_token.empty());
  ::unsetenv("RGPU_JOIN_TOKEN");
}

}  // namespace
}  // namespace rgpu::server
