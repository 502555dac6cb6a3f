// tests/pool/dashboard_api_test.cc — the dashboard's JSON API (pool_manager/dashboard_api.h)
// and the utilisation history behind its charts (pool_manager/utilisation.h): who sees what,
// the errors a browser gets, and busy time sampled from receipts.
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "pool_fixture.h"
#include "pool_manager/dashboard_api.h"
#include "pool_manager/utilisation.h"

using nlohmann::json;

namespace {

class DashboardApiTest : public PoolStateTest {
 protected:
  // A session of the user's on gpu-a (registered by prov_), 8 s of receipts with 2 s busy.
  void SetUp() override {
    PoolStateTest::SetUp();
    a_ = reg(prov_, info("gpu-a"));
    b_ = reg(prov2_, info("gpu-b"));
    history_.sample(*state_, now_ms_);  // primes each GPU's series
    AcquireIn in;
    in.vram = 2 * GiB;
    in.labels = {};
    AcquireOut got = state_->acquire(user_, in);
    ASSERT_EQ(got.grants.size(), 1u);
    lease_ = got.grants[0].lease.id;
    on_ = got.grants[0].lease.provider_id;
    const Caller& owner = on_ == a_ ? prov_ : prov2_;
    state_->heartbeat(owner, on_, {}, {{lease_, 7, true, "", 0}}, {lease_});
    now_ms_ += 10'000;
    auto r = receipt(lease_, 1, 8000, 4096);
    r.busy_ns = 2'000'000'000;
    state_->heartbeat(owner, on_, {}, {}, {lease_}, {r});
    history_.sample(*state_, now_ms_);
  }
  json get(const std::string& token, const std::string& path, int want_status,
           std::map<std::string, std::string> q = {}) {
    ApiReply r = dashboard_get(*state_, history_, token, path, q);
    EXPECT_EQ(r.status, want_status) << path << ": " << r.body;
    return json::parse(r.body);
  }
  UtilisationHistory history_{10};
  std::string a_, b_, lease_, on_;
};

TEST_F(DashboardApiTest, EachRoleSeesOnlyWhatItMay) {
  json me = get(user_token_, "whoami", 200);
  EXPECT_EQ(me["role"], "user");
  EXPECT_EQ(me["name"], "u");
  // A user: its own session, its cost and no earnings; providers' data refused.
  json s = get(user_token_, "sessions", 200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["lease_id"], lease_);
  EXPECT_TRUE(s[0].contains("cost"));
  EXPECT_FALSE(s[0].contains("earnings"));
  EXPECT_FALSE(s[0].contains("user"));
  EXPECT_NE(get(user_token_, "providers", 403)["error"].get<std::string>().find("permission"),
            std::string::npos);
  get(user_token_, "utilisation", 403);
  // The provider whose GPU served it: the session with earnings, not the user's cost; only its
  // own provider in providers and balances.
  const std::string& owner_token = on_ == a_ ? prov_token_ : prov2_token_;
  const std::string& other_token = on_ == a_ ? prov2_token_ : prov_token_;
  s = get(owner_token, "sessions", 200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].contains("earnings"));
  EXPECT_FALSE(s[0].contains("cost"));
  json p = get(owner_token, "providers", 200);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0]["id"], on_);
  EXPECT_EQ(p[0]["gpus"][0]["memory_leased"], 2 * GiB);
  EXPECT_EQ(p[0]["gpus"][0]["sessions"], 1);
  json bal = get(owner_token, "balances", 200);
  ASSERT_EQ(bal.size(), 1u);
  EXPECT_EQ(bal[0]["id"], on_);
  // The other provider: none of it.
  EXPECT_TRUE(get(other_token, "sessions", 200).empty());
  json u = get(other_token, "utilisation", 200);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_NE(u[0]["provider_id"], on_);
  // An admin: everything, with the user's name.
  s = get(admin_token_, "sessions", 200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["user"], "u");
  EXPECT_EQ(get(admin_token_, "providers", 200).size(), 2u);
}

TEST_F(DashboardApiTest, RefusesWithoutAValidTokenAndNamesBadRequests) {
  EXPECT_NE(get("", "whoami", 401)["error"].get<std::string>().find("log in"), std::string::npos);
  get("rgpu_not-a-token", "sessions", 401);
  std::string name;
  get(user_token_, "whoami", 200);  // valid until revoked
  std::string id = state_->authenticate(user_token_)->token_id;
  ASSERT_EQ(state_->revoke_token(admin_, id, &name), "");
  EXPECT_NE(get(user_token_, "whoami", 401)["error"].get<std::string>().find("revoked"),
            std::string::npos);
  get(admin_token_, "nothing", 404);
  get(admin_token_, "usage", 400, {{"since", "yesterday"}});
  get(admin_token_, "usage", 400, {{"by", "week"}});
}

TEST_F(DashboardApiTest, UtilisationIsBusyTimeFromReceiptsOverTheSamplePeriod) {
  json u = get(admin_token_, "utilisation", 200, {{"provider", on_}});
  ASSERT_EQ(u.size(), 1u);
  json pts = u[0]["points"];
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0][1], 0.0);                       // the priming point
  EXPECT_DOUBLE_EQ(pts[1][1].get<double>(), 0.2);  // 2 s busy in 10 s
  EXPECT_EQ(pts[1][2], 2 * GiB);                   // leased
  EXPECT_EQ(pts[1][3], 1);                         // one session running
  // Nothing new within the period; a receipt that grows busy time by more than the period
  // (receipts come late) is held to 100 %.
  now_ms_ += 5'000;
  history_.sample(*state_, now_ms_);
  EXPECT_EQ(history_.series(on_, 0).size(), 2u);
  now_ms_ += 5'000;
  const Caller& owner = on_ == a_ ? prov_ : prov2_;
  auto r = receipt(lease_, 2, 18000, 4096);
  r.busy_ns = 30'000'000'000;
  state_->heartbeat(owner, on_, {}, {}, {lease_}, {r});
  history_.sample(*state_, now_ms_);
  ASSERT_EQ(history_.series(on_, 0).size(), 3u);
  EXPECT_EQ(history_.series(on_, 0).back().busy, 1.0);
}

TEST_F(DashboardApiTest, HistoryKeepsABoundedNumberOfPoints) {
  UtilisationHistory small(1, 5);
  for (int i = 0; i < 20; i++) {
    now_ms_ += 1000;
    small.sample(*state_, now_ms_);
  }
  EXPECT_EQ(small.series(on_, 0).size(), 5u);
  EXPECT_EQ(small.series(on_, 0).back().t, now_ms_ / 1000);
  EXPECT_TRUE(small.series("no-such-provider", 0).empty());
}

TEST_F(DashboardApiTest, TheLedgerHeadIsSignedAndAdminsGetItAudited) {
  json l = get(admin_token_, "ledger", 200);
  EXPECT_EQ(l["signature_ok"], true);
  EXPECT_EQ(l["audit"], "ok");
  EXPECT_GT(l["size"].get<uint64_t>(), 0u);  // the receipt above is an entry
  json lu = get(user_token_, "ledger", 200);
  EXPECT_FALSE(lu.contains("audit"));
  // A head whose signature was changed in the database: the audit names it.
  const uint64_t size = l["size"].get<uint64_t>();
  state_.reset();
  store_.reset();
  EXPECT_EQ(exec_sql("UPDATE ledger_heads SET sig='" + std::string(128, '0') +
                     "' WHERE size=" + std::to_string(size)),
            1);
  reopen();
  const std::string audit = get(admin_token_, "ledger", 200)["audit"];
  EXPECT_NE(audit.find("head signed at size " + std::to_string(size) + " does not verify"),
            std::string::npos)
      << audit;
}

}  // namespace
