// tests/pool/pool_state_test.cc — roles, provider health, lease lifecycle, restart survival.
#include "tests/pool/pool_fixture.h"

TEST_F(PoolStateTest, RolesEnforced) {
  std::string id;
  // A user cannot register, drain, create tokens; a provider cannot acquire or drain.
  EXPECT_NE(state_->register_provider(user_, info("x"), &id).find("permission denied"),
            std::string::npos);
  std::string pid = reg(prov_, info("gpu-a"));
  EXPECT_NE(state_->drain(user_, "gpu-a", "maint", 0).find("permission denied"), std::string::npos);
  EXPECT_NE(state_->drain(prov_, "gpu-a", "maint", 0).find("permission denied"), std::string::npos);
  std::string err;
  EXPECT_EQ(state_->create_token(user_, Role::kAdmin, "", &id, &err), "");
  EXPECT_NE(err.find("permission denied"), std::string::npos);
  AcquireIn in;
  in.vram = GiB;
  EXPECT_NE(state_->acquire(prov_, in).error.find("permission denied"), std::string::npos);
  // A provider token only registers (and heartbeats) its own servers.
  EXPECT_NE(state_->register_provider(prov2_, info("gpu-a"), &id).find("another token"),
            std::string::npos);
  EXPECT_NE(state_->heartbeat(prov2_, pid, {}, {}, {}).error.find("another token"),
            std::string::npos);
  EXPECT_EQ(state_->register_provider(prov_, info("gpu-a"), &id), "");
  EXPECT_EQ(id, pid);  // same name, same provider id
  // Admin may drain; drain needs a reason.
  EXPECT_NE(state_->drain(admin_, "gpu-a", "", 0).find("--reason"), std::string::npos);
  EXPECT_EQ(state_->drain(admin_, "gpu-a", "maint", 0), "");
  EXPECT_FALSE(state_->authenticate("rgpu_wrong").has_value());
}

TEST_F(PoolStateTest, AnEndpointBelongsToTheProviderThatServesIt) {
  std::string victim = reg(prov_, info("victim"));
  // Another token's provider claiming the victim's endpoint under a new name is refused, live
  // or missing: its leases would go to the victim's GPU.
  ProviderRecord evil = info("evil");
  evil.endpoint = "VICTIM.gpus.example:7071";  // host names compare without case
  std::string id;
  std::string err = state_->register_provider(prov2_, evil, &id);
  EXPECT_NE(err.find("endpoint victim.gpus.example:7071 is served by provider victim"),
            std::string::npos)
      << err;
  now_ms_ += 60'000;  // the victim goes missing
  EXPECT_NE(state_->register_provider(prov2_, evil, &id).find("served by provider victim"),
            std::string::npos);
  // The same token under another name neither: one endpoint, one provider (one GPU handed out
  // once); the holder keeps its name, or an admin removes it first.
  ProviderRecord renamed = info("renamed");
  renamed.endpoint = evil.endpoint;
  EXPECT_NE(state_->register_provider(prov_, renamed, &id).find("served by provider victim;"),
            std::string::npos);
  EXPECT_EQ(state_->register_provider(prov_, info("victim"), &id), "");
  EXPECT_EQ(id, victim);
  EXPECT_EQ(state_->remove(admin_, "victim", true), "");
  EXPECT_EQ(state_->register_provider(prov_, renamed, &id), "");
}

TEST_F(PoolStateTest, MissingProviderSkippedThenBack) {
  std::string pid = reg(prov_, info("gpu-a"));
  AcquireIn in;
  in.vram = GiB;
  now_ms_ += 7000;  // past missing_after_ms (6000)
  AcquireOut a = state_->acquire(user_, in);
  EXPECT_FALSE(a.grants.size());
  EXPECT_NE(a.error.find("missing"), std::string::npos) << a.error;
  EXPECT_TRUE(a.retryable);
  EXPECT_EQ(state_->heartbeat(prov_, pid, {}, {}, {}).error, "");
  a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  auto check = rgpu::control::verify_lease(a.grants[0].signed_lease, state_->public_key(),
                                           now_ms_ / 1000, a.grants[0].lease.endpoint);
  EXPECT_TRUE(check.ok) << check.error;
  EXPECT_EQ(check.claims.vram_bytes, GiB);
}

TEST_F(PoolStateTest, ScheduleWindowHonoured) {
  // now is 08:00 UTC: a 22:00-07:00 provider is off, a 07:30-09:00 one is on.
  auto night = info("night");
  night.schedule = "22:00-07:00";
  reg(prov_, night);
  AcquireIn in;
  in.vram = GiB;
  AcquireOut a = state_->acquire(user_, in);
  EXPECT_NE(a.error.find("outside their lending schedule"), std::string::npos) << a.error;
  auto day = info("day-provider");
  day.schedule = "07:30-09:00";
  reg(prov_, day);
  a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  EXPECT_EQ(a.grants[0].lease.provider_name, "day-provider");
  now_ms_ += 15ll * 3600 * 1000;  // 23:00 UTC: night lends
  state_->heartbeat(prov_, state_->providers()[0].id, {}, {}, {});
  a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  EXPECT_EQ(a.grants[0].lease.provider_name, "night");
  std::string id;
  auto bad = info("bad");
  bad.schedule = "25:00-01:00";
  EXPECT_NE(state_->register_provider(prov_, bad, &id).find("bad schedule"), std::string::npos);
}

TEST_F(PoolStateTest, LeaseLifecycleKillAndDrainDeadline) {
  std::string pid = reg(prov_, info("gpu-a"));
  AcquireIn in;
  in.count = 2;
  in.vram = 4 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 2u) << a.error;
  std::string l1 = a.grants[0].lease.id, l2 = a.grants[1].lease.id;
  // Session starts on l1; l2 is released unused.
  auto hb = state_->heartbeat(prov_, pid, {}, {{l1, 11, true, "", 0}}, {l1});
  EXPECT_TRUE(hb.kills.empty());
  EXPECT_EQ(state_->release(user_, {l1, l2}), "");
  auto open = state_->leases(admin_, false);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].state, LeaseState::kActive);
  EXPECT_EQ(open[0].session_id, 11u);
  // Kill by session id: the next heartbeat carries the order; the end report closes it.
  std::string lid;
  EXPECT_EQ(state_->kill(admin_, "11", "test", &lid), "");
  EXPECT_EQ(lid, l1);
  hb = state_->heartbeat(prov_, pid, {}, {}, {l1});
  ASSERT_EQ(hb.kills.size(), 1u);
  EXPECT_EQ(hb.kills[0].session_id, 11u);
  state_->heartbeat(prov_, pid, {}, {{l1, 11, false, "killed", 0}}, {});
  auto all = state_->leases(admin_, true);
  EXPECT_EQ(all[0].state, LeaseState::kKilled);
  EXPECT_EQ(all[1].state, LeaseState::kReleased);
  // Drain with a deadline: no new leases; running sessions are ended once it passes.
  in.count = 1;
  a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  std::string l3 = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l3, 12, true, "", 0}}, {l3});
  EXPECT_EQ(state_->drain(admin_, pid, "maintenance", now_ms_ / 1000 + 60), "");
  EXPECT_NE(state_->acquire(user_, in).error.find("drained"), std::string::npos);
  hb = state_->heartbeat(prov_, pid, {}, {}, {l3});
  EXPECT_TRUE(hb.drained);
  EXPECT_TRUE(hb.kills.empty());
  // The server is told the reason and the deadline, to warn its running programs.
  EXPECT_EQ(hb.drain_reason, "maintenance");
  EXPECT_EQ(hb.drain_deadline, now_ms_ / 1000 + 60);
  now_ms_ += 61000;
  hb = state_->heartbeat(prov_, pid, {}, {}, {l3});
  ASSERT_EQ(hb.kills.size(), 1u);
  EXPECT_NE(hb.kills[0].reason.find("drain deadline"), std::string::npos);
  // A session the server stops listing is ended.
  state_->heartbeat(prov_, pid, {}, {}, {});
  EXPECT_TRUE(state_->leases(admin_, false).empty());
  EXPECT_EQ(state_->undrain(admin_, "gpu-a"), "");
  hb = state_->heartbeat(prov_, pid, {}, {}, {});
  EXPECT_FALSE(hb.drained);
  EXPECT_EQ(hb.drain_deadline, 0);
  EXPECT_TRUE(state_->acquire(user_, in).error.empty());
}

TEST_F(PoolStateTest, GrantedLeaseExpires) {
  reg(prov_, info("gpu-a", 4 * GiB));
  AcquireIn in;
  in.vram = 4 * GiB;
  ASSERT_EQ(state_->acquire(user_, in).grants.size(), 1u);
  EXPECT_FALSE(state_->acquire(user_, in).error.empty());  // full
  now_ms_ += 301000;
  state_->heartbeat(prov_, state_->providers()[0].id, {}, {}, {});
  state_->sweep();
  EXPECT_EQ(state_->acquire(user_, in).grants.size(), 1u);
}

TEST_F(PoolStateTest, StoreSurvivesRestart) {
  std::string pid = reg(prov_, info("gpu-a"));
  AcquireIn in;
  in.vram = 2 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  std::string l1 = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l1, 5, true, "", 0}}, {l1});
  EXPECT_EQ(state_->drain(admin_, "gpu-a", "disk swap", 0), "");
  reopen();                                  // a pool restart on the same database
  EXPECT_EQ(state_->bootstrap_admin(), "");  // tokens kept: no second admin token
  ASSERT_TRUE(state_->authenticate(user_token_).has_value());
  EXPECT_EQ(state_->authenticate(prov_token_)->role, Role::kProvider);
  ASSERT_EQ(state_->providers().size(), 1u);
  const auto& p = state_->providers()[0];
  EXPECT_EQ(p.id, pid);
  EXPECT_TRUE(p.drained);
  EXPECT_EQ(p.drain_reason, "disk swap");
  EXPECT_EQ(p.gpus.size(), 1u);
  EXPECT_EQ(p.gpus[0].memory_lent, 16 * GiB);
  EXPECT_TRUE(state_->provider_active(p));  // grace period after restart
  auto ls = state_->leases(admin_, false);
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0].id, l1);
  EXPECT_EQ(ls[0].state, LeaseState::kActive);  // running session not interrupted
  EXPECT_EQ(ls[0].session_id, 5u);
  // The provider's heartbeat after the restart still works with the kept id.
  EXPECT_EQ(state_->heartbeat(prov_, pid, {}, {}, {l1}).error, "");
  EXPECT_EQ(state_->leases(admin_, false).size(), 1u);
}

TEST_F(PoolStateTest, RemoveAndUsage) {
  std::string pid = reg(prov_, info("gpu-a"));
  AcquireIn in;
  in.vram = 2 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  std::string l1 = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l1, 5, true, "", now_ms_ / 1000}}, {l1});
  now_ms_ += 3600 * 1000;
  state_->heartbeat(prov_, pid, {}, {{l1, 5, false, "exit", now_ms_ / 1000}}, {});
  std::string err;
  auto u = state_->usage(admin_, 0, "", &err);
  ASSERT_EQ(u.size(), 2u);
  for (auto& r : u) {
    EXPECT_EQ(r.sessions, 1u);
    EXPECT_NEAR(r.gpu_seconds, 3600, 1);
    EXPECT_NEAR(r.gib_seconds, 7200, 2);
  }
  EXPECT_EQ(u[0].kind, "provider");
  EXPECT_EQ(u[0].name, "gpu-a");  // rows by name, not only id
  EXPECT_EQ(u[1].kind, "user");
  EXPECT_EQ(u[1].name, "u");
  // A user sees its own sessions, one row each; another user sees none of them.
  auto mine = state_->usage(user_, 0, "", &err);
  ASSERT_EQ(mine.size(), 1u) << err;
  EXPECT_EQ(mine[0].kind, "session");
  EXPECT_EQ(mine[0].name, "gpu-a / u");
  std::string id, e2;
  const std::string other = state_->create_token(admin_, Role::kUser, "other", &id, &e2);
  EXPECT_TRUE(state_->usage(*state_->authenticate(other), 0, "", &err).empty());
  // --since after the session: nothing; --by day: one row for its day.
  EXPECT_TRUE(state_->usage(admin_, now_ms_ / 1000 + 10, "", &err).empty());
  auto days = state_->usage(admin_, 0, "day", &err);
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].key, "2027-01-15");
  state_->usage(admin_, 0, "week", &err);
  EXPECT_NE(err.find("--by wants"), std::string::npos);
  EXPECT_EQ(state_->remove(admin_, "gpu-a", false), "");
  EXPECT_TRUE(state_->providers().empty());
  EXPECT_NE(state_->heartbeat(prov_, pid, {}, {}, {}).error.find("removed"), std::string::npos);
}
