// tests/pool/rpc_test.cc — a real rgpu-pool process; fake providers (ProviderLink) and users
// (acquire_leases, PoolConnection, the rgpu CLI) talk to it over loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "protocol/control/acquire.h"
#include "protocol/control/control_version.h"
#include "protocol/control/lease.h"
#include "protocol/control/pool_client.h"
#include "protocol/control/provider_link.h"

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

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return f();
}

class Pool {
 public:
  explicit Pool(const std::string& dir) : dir_(dir) { start(); }
  ~Pool() { stop(); }
  void start() {
    std::filesystem::remove(dir_ + "/port");
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/pool.log";
      freopen(log.c_str(), "a", stdout);
      // A restart listens on the same port, as a real pool would.
      std::string listen = "127.0.0.1:" + std::to_string(port_);
      execl(RGPU_POOL_BIN, RGPU_POOL_BIN, "--listen", listen.c_str(), "--data-dir", dir_.c_str(),
            "--port-file", (dir_ + "/port").c_str(), "--heartbeat-ms", "150", "--missing-after-ms",
            "700", nullptr);
      _exit(127);
    }
    ASSERT_TRUE(eventually([&] { return !slurp(dir_ + "/port").empty(); }));
    port_ = std::stoi(slurp(dir_ + "/port"));
    endpoint_ = "127.0.0.1:" + std::to_string(port_);
    admin_ = slurp(dir_ + "/admin.token");
    while (!admin_.empty() && admin_.back() == '\n') admin_.pop_back();
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& admin() const { return admin_; }

  // Runs one admin call on a fresh connection (this thread has no other kj loop).
  template <typename F>
  void with(const std::string& token, F f) {
    PoolConnection c(endpoint_, token, "test");
    ASSERT_EQ(c.open(), "");
    f(c);
  }
  std::string token(const char* role) {
    std::string t;
    with(admin_, [&](PoolConnection& c) {
      auto req = c.session().createTokenRequest();
      rgpu::cp::Role r;
      ASSERT_TRUE(parse_role(role, &r));
      req.setRole(r);
      auto resp = c.wait(req.send());
      ASSERT_EQ(std::string(resp.getError().cStr()), "");
      t = resp.getToken().cStr();
    });
    return t;
  }
  std::string provider_state(const std::string& name) {
    std::string s = "absent";
    with(admin_, [&](PoolConnection& c) {
      auto resp = c.wait(c.session().listProvidersRequest().send());
      for (auto p : resp.getProviders())
        if (p.getName() == name.c_str()) s = p.getState().cStr();
    });
    return s;
  }
  std::string lease_state(const std::string& id) {
    std::string s = "absent";
    with(admin_, [&](PoolConnection& c) {
      auto req = c.session().listLeasesRequest();
      req.setAll(true);
      auto resp = c.wait(req.send());  // keep the response alive while reading it
      for (auto l : resp.getLeases())
        if (l.getLeaseId() == id.c_str()) s = l.getState().cStr();
    });
    return s;
  }

 private:
  std::string dir_, endpoint_, admin_;
  pid_t pid_ = -1;
  int port_ = 0;
};

struct FakeProvider {
  std::unique_ptr<ProviderLink> link;
  std::mutex mu;
  std::vector<KillOrder> kills;

  FakeProvider(const std::string& pool, const std::string& token, const std::string& name,
               uint16_t port, std::map<std::string, std::string> labels = {}) {
    ProviderLink::Options o;
    o.pool_endpoint = pool;
    o.join_token = token;
    o.info.name = name;
    o.info.endpoint = "127.0.0.1:" + std::to_string(port);
    o.info.labels = std::move(labels);
    o.info.server_version = "test";
    GpuLend g;
    g.name = "rgpu sim";
    g.memory_total = 16 * GiB;
    g.cc_major = 9;
    o.info.gpus.push_back(g);
    o.usage = [] { return std::vector<GpuUseSample>{{0, GiB, 1, 0.5f}}; };
    o.on_kill = [this](const KillOrder& k) {
      std::lock_guard<std::mutex> l(mu);
      kills.push_back(k);
    };
    o.log = [](const std::string& m) { fprintf(stderr, "link: %s\n", m.c_str()); };
    link = std::make_unique<ProviderLink>(std::move(o));
  }
  size_t kill_count() {
    std::lock_guard<std::mutex> l(mu);
    return kills.size();
  }
};

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rgpu-pool-rpc-XXXXXX";
    dir_ = mkdtemp(tmpl);
    pool_ = std::make_unique<Pool>(dir_);
  }
  void TearDown() override {
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace

TEST_F(RpcTest, ProvidersRegisterUsersGetVerifiableLeasesKillFlows) {
  std::string ptok = pool_->token("provider"), utok = pool_->token("user");
  FakeProvider a(pool_->endpoint(), ptok, "gpu-a", 7001, {{"zone", "a"}});
  FakeProvider b(pool_->endpoint(), ptok, "gpu-b", 7002, {{"zone", "b"}});
  ASSERT_EQ(a.link->start(), "");
  ASSERT_EQ(b.link->start(), "");
  // The key the pool hands out at registration is the one in DIR/pool.pub.
  std::string pub, err;
  ASSERT_TRUE(read_public_key_file(dir_ + "/pool.pub", &pub, &err)) << err;
  EXPECT_EQ(a.link->pool_public_key(), pub);

  auto r = acquire_leases(pool_->endpoint(), utok, 2, 4 * GiB, {{"zone", "b"}});
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.grants.size(), 2u);
  for (auto& g : r.grants) {
    EXPECT_EQ(g.endpoint, "127.0.0.1:7002");
    auto chk = verify_lease(g.lease, b.link->pool_public_key(), time(nullptr), g.endpoint);
    ASSERT_TRUE(chk.ok) << chk.error;
    EXPECT_EQ(chk.claims.lease_id, g.lease_id);
    EXPECT_EQ(chk.claims.vram_bytes, 4 * GiB);
  }
  // Labels nobody has: a clear reason, after waiting.
  auto none = acquire_leases(pool_->endpoint(), utok, 1, GiB, {{"zone", "z"}}, 1.0);
  EXPECT_FALSE(none.ok);
  EXPECT_NE(none.error.find("without labels zone=z"), std::string::npos) << none.error;
  EXPECT_NE(none.error.find("waited"), std::string::npos);
  // A provider token cannot acquire.
  EXPECT_NE(acquire_leases(pool_->endpoint(), ptok, 1, GiB).error.find("permission denied"),
            std::string::npos);

  const std::string l0 = r.grants[0].lease_id, l1 = r.grants[1].lease_id;
  b.link->session_started(l0, 101);
  ASSERT_TRUE(eventually([&] { return pool_->lease_state(l0) == "active"; }));
  EXPECT_EQ(release_leases(pool_->endpoint(), utok, {l0, l1}), "");
  EXPECT_EQ(pool_->lease_state(l1), "released");
  EXPECT_EQ(pool_->lease_state(l0), "active");  // a running session is not cut by release

  pool_->with(pool_->admin(), [&](PoolConnection& c) {
    auto req = c.session().killSessionRequest();
    req.setId("101");
    req.setReason("test kill");
    EXPECT_EQ(std::string(c.wait(req.send()).getError().cStr()), "");
  });
  ASSERT_TRUE(eventually([&] { return b.kill_count() == 1; }));
  {
    std::lock_guard<std::mutex> l(b.mu);
    EXPECT_EQ(b.kills[0].lease_id, l0);
    EXPECT_EQ(b.kills[0].session_id, 101u);
    EXPECT_EQ(b.kills[0].reason, "by an admin (bootstrap admin): test kill");
  }
  b.link->session_ended(l0, 101, "killed");
  ASSERT_TRUE(eventually([&] { return pool_->lease_state(l0) == "killed"; }));
}

TEST_F(RpcTest, MissingProviderThenBackAndPoolRestartKeepsState) {
  std::string ptok = pool_->token("provider"), utok = pool_->token("user");
  auto a = std::make_unique<FakeProvider>(pool_->endpoint(), ptok, "gpu-a", 7001);
  ASSERT_EQ(a->link->start(), "");
  EXPECT_EQ(pool_->provider_state("gpu-a"), "active");
  a->link->stop();
  ASSERT_TRUE(eventually([&] { return pool_->provider_state("gpu-a") == "missing"; }));
  auto r = acquire_leases(pool_->endpoint(), utok, 1, GiB);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("1 missing"), std::string::npos) << r.error;
  a = std::make_unique<FakeProvider>(pool_->endpoint(), ptok, "gpu-a", 7001);
  ASSERT_EQ(a->link->start(), "");
  EXPECT_EQ(pool_->provider_state("gpu-a"), "active");
  r = acquire_leases(pool_->endpoint(), utok, 1, GiB);
  ASSERT_TRUE(r.ok) << r.error;
  a->link->session_started(r.grants[0].lease_id, 7);
  ASSERT_TRUE(eventually([&] { return pool_->lease_state(r.grants[0].lease_id) == "active"; }));

  // Restart the pool: tokens, providers and the running lease survive; the link re-registers.
  pool_->stop();
  pool_->start();
  EXPECT_EQ(pool_->lease_state(r.grants[0].lease_id), "active");
  ASSERT_TRUE(eventually([&] { return a->link->connected(); }, 10000ms));
  EXPECT_EQ(pool_->provider_state("gpu-a"), "active");
  auto r2 = acquire_leases(pool_->endpoint(), utok, 1, GiB);
  EXPECT_TRUE(r2.ok) << r2.error;
  a->link->session_ended(r.grants[0].lease_id, 7, "exit");
  ASSERT_TRUE(eventually([&] { return pool_->lease_state(r.grants[0].lease_id) == "ended"; }))
      << pool_->lease_state(r.grants[0].lease_id);
}

TEST_F(RpcTest, VersionMismatchAndBadTokenRefused) {
  {
    capnp::EzRpcClient client(pool_->endpoint());
    auto req = client.getMain<rgpu::cp::Pool>().connectRequest();
    req.setToken(pool_->admin());
    req.setControlVersion(99);
    req.setMinControlVersion(98);
    auto resp = req.send().wait(client.getWaitScope());
    std::string e = resp.getError().cStr();
    EXPECT_NE(e.find("control plane"), std::string::npos) << e;
    EXPECT_NE(e.find("98..99"), std::string::npos) << e;
    const std::string ours = std::to_string(rgpu::control::kMinControlVersion) + ".." +
                             std::to_string(rgpu::control::kControlVersion);
    EXPECT_NE(e.find(ours), std::string::npos) << e;
  }
  {  // A version-1 caller (no usage receipts) is still served, at version 1.
    capnp::EzRpcClient client(pool_->endpoint());
    auto req = client.getMain<rgpu::cp::Pool>().connectRequest();
    req.setToken(pool_->admin());
    req.setControlVersion(1);
    req.setMinControlVersion(1);
    auto resp = req.send().wait(client.getWaitScope());
    EXPECT_EQ(std::string(resp.getError().cStr()), "");
    EXPECT_EQ(resp.getControlVersion(), 1u);
  }
  PoolConnection c(pool_->endpoint(), "rgpu_nope", "test");
  EXPECT_NE(c.open().find("token refused"), std::string::npos);
  ProviderLink::Options o;
  o.pool_endpoint = pool_->endpoint();
  o.join_token = pool_->token("user");
  o.info.name = "x";
  o.info.endpoint = "127.0.0.1:1";
  o.info.gpus.push_back({0, "g", GiB, 0, 8, 0, "", ""});
  ProviderLink link(o);
  EXPECT_NE(link.start().find("provider token"), std::string::npos);
}

TEST_F(RpcTest, CliListsAndEnforcesRoles) {
  std::string ptok = pool_->token("provider"), utok = pool_->token("user");
  FakeProvider a(pool_->endpoint(), ptok, "gpu-cli", 7005, {{"k", "v"}});
  ASSERT_EQ(a.link->start(), "");
  auto run = [&](const std::string& args, int* rc) {
    std::string cmd =
        std::string(RGPU_CLI_BIN) + " --pool " + pool_->endpoint() + " " + args + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    *rc = WEXITSTATUS(pclose(f));
    return out;
  };
  int rc = 0;
  std::string out = run("--token " + pool_->admin() + " server list --json", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"name\":\"gpu-cli\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"labels\":{\"k\":\"v\"}"), std::string::npos) << out;
  out = run("--token " + pool_->admin() + " server list", &rc);
  EXPECT_NE(out.find("ENDPOINT"), std::string::npos);
  EXPECT_NE(out.find("127.0.0.1:7005"), std::string::npos);
  out = run("--token " + utok + " server drain gpu-cli --reason x", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("permission denied"), std::string::npos) << out;
  out = run("--token " + pool_->admin() + " server drain gpu-cli --reason maintenance", &rc);
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(eventually([&] { return a.link->drained(); }));
  out = run("--token " + pool_->admin() + " server drain gpu-cli", &rc);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("--reason"), std::string::npos);
  out = run("session list --help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("usage: rgpu session"), std::string::npos);
  out = run("--token " + pool_->admin() + " vgpu list --json", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "[]\n");
}

// A revoked token authenticates nothing again: new connections are refused, and a connection
// opened before the revocation is refused at its next call.
TEST_F(RpcTest, RevokedTokenIsRefusedAlsoOnAnOpenConnection) {
  const std::string utok = pool_->token("user");
  PoolConnection open_before(pool_->endpoint(), utok, "test");
  ASSERT_EQ(open_before.open(), "");
  auto listed = open_before.wait(open_before.session().listLeasesRequest().send());
  EXPECT_EQ(std::string(listed.getError().cStr()), "");
  std::string id;
  pool_->with(pool_->admin(), [&](PoolConnection& c) {
    auto resp = c.wait(c.session().listTokensRequest().send());
    for (auto t : resp.getTokens())
      if (t.getRole() == rgpu::cp::Role::USER) id = t.getId().cStr();
    auto req = c.session().revokeTokenRequest();
    req.setId(id);
    auto r = c.wait(req.send());
    EXPECT_EQ(std::string(r.getError().cStr()), "");
    // Its own token: refused, so an admin cannot lock itself out.
    auto mine = c.session().revokeTokenRequest();
    for (auto t : resp.getTokens())
      if (t.getRole() == rgpu::cp::Role::ADMIN) mine.setId(t.getId().cStr());
    EXPECT_NE(std::string(c.wait(mine.send()).getError().cStr()).find("you are using"),
              std::string::npos);
  });
  ASSERT_FALSE(id.empty());
  auto after = open_before.wait(open_before.session().listLeasesRequest().send());
  EXPECT_NE(std::string(after.getError().cStr()).find("revoked"), std::string::npos);
  PoolConnection fresh(pool_->endpoint(), utok, "test");
  EXPECT_NE(fresh.open().find("token refused"), std::string::npos);
}
