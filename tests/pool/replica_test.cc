// tests/pool/replica_test.cc — several PoolStates (replicas) on one PostgreSQL database
// (pool_manager/store.h, pg_store.cc): placement through several at once never over-commits a
// GPU, each sees what the others wrote, a repeated acquire id gets the same leases, one leads.
// Runs in pool.store_postgresql (tests/pool/pg_cluster.sh); on SQLite there is nothing to share.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "pool_manager/signing_keys.h"
#include "tests/pool/pool_fixture.h"

namespace {

class ReplicaTest : public PoolStateTest {
 protected:
  void SetUp() override {
    PoolStateTest::SetUp();
    if (!on_pg()) GTEST_SKIP() << "replicas share a PostgreSQL store: pool.store_postgresql";
  }
  struct Replica {
    std::unique_ptr<Store> store;
    std::unique_ptr<PoolState> state;
  };
  Replica replica(const std::string& name) {
    Replica r;
    r.store = open_pg_store(pg_url_, name);
    r.state = std::make_unique<PoolState>(*r.store, key_, PoolConfig{}, [this] { return now_ms_; });
    return r;
  }
};

TEST_F(ReplicaTest, ConcurrentPlacementsThroughThreeReplicasNeverOverCommit) {
  for (int i = 0; i < 4; ++i) reg(prov_, info("gpu-" + std::to_string(i)));  // 4 x 16 GiB
  std::vector<Replica> rs;
  for (int i = 0; i < 3; ++i) rs.push_back(replica("r" + std::to_string(i)));
  std::atomic<int> granted{0}, refused{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k) {
        AcquireIn in;
        in.vram = 2 * GiB;
        in.request_id = "r" + std::to_string(i) + "-" + std::to_string(k);
        AcquireOut out = rs[i].state->acquire(user_, in);
        (out.error.empty() ? granted : refused)++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(granted.load(), 32);  // 4 GPUs x 16 GiB / 2 GiB, each slot once
  EXPECT_EQ(refused.load(), 60 - 32);
  // The database: every lease once, no GPU past what it lends.
  auto leases = store_->load_leases();
  std::map<std::string, uint64_t> leased;
  std::set<std::string> ids;
  for (auto& l : leases) {
    ids.insert(l.id);
    if (lease_open(l.state)) leased[l.provider_id] += l.vram;
  }
  EXPECT_EQ(ids.size(), 32u);
  EXPECT_EQ(leased.size(), 4u);
  for (auto& [p, b] : leased) EXPECT_LE(b, 16 * GiB) << p;
  // And every replica, caught up, agrees.
  for (auto& r : rs) {
    r.state->refresh();
    EXPECT_EQ(r.state->leases(admin_, true).size(), 32u);
  }
}

TEST_F(ReplicaTest, EachReplicaSeesWhatTheOthersWrote) {
  Replica b = replica("b");
  // A token made through one replica authenticates through the other once it caught up; a
  // revocation there reaches this one.
  std::string id, err;
  const std::string secret = state_->create_token(admin_, Role::kUser, "carol", &id, &err);
  ASSERT_EQ(err, "");
  b.state->refresh();
  ASSERT_TRUE(b.state->authenticate(secret).has_value());
  std::string name;
  ASSERT_EQ(b.state->revoke_token(admin_, id, &name), "");
  state_->refresh();
  EXPECT_FALSE(state_->authenticate(secret).has_value());
  // A provider registered through one replica heartbeats through the other; a drain made
  // through the first is in the answer the second gives.
  const std::string pid = reg(prov_, info("gpu-a"));
  EXPECT_FALSE(b.state->heartbeat(prov_, pid, {}, {}, {}).reregister);
  ASSERT_EQ(state_->drain(admin_, "gpu-a", "maintenance", 0), "");
  b.state->refresh();
  HeartbeatOut hb = b.state->heartbeat(prov_, pid, {}, {}, {});
  EXPECT_TRUE(hb.drained);
  EXPECT_EQ(hb.drain_reason, "maintenance");
  ASSERT_EQ(b.state->undrain(admin_, "gpu-a"), "");
  // A lease granted through one is released through the other, and started, ended and billed
  // through heartbeats to either: the ledger stays one chain both audit.
  AcquireOut a = state_->acquire(user_, {});
  ASSERT_EQ(a.error, "");
  const std::string lease = a.grants[0].lease.id;
  b.state->heartbeat(prov_, pid, {}, {{lease, 7, true, "", 0}}, {lease});
  state_->heartbeat(prov_, pid, {}, {}, {lease}, {receipt(lease, 1, 1000, 10)});
  b.state->heartbeat(prov_, pid, {}, {{lease, 7, false, "done", 0}}, {},
                     {receipt(lease, 2, 2000, 20, true)});
  state_->refresh();
  auto ls = state_->leases(admin_, true);
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0].state, LeaseState::kEnded);
  EXPECT_EQ(ls[0].usage.bytes_in, 20u);
  EXPECT_NE(ls[0].charge.settled_unix, 0);
  EXPECT_EQ(state_->ledger().size(), b.state->ledger().size());
  EXPECT_EQ(state_->ledger().audit({key_.public_raw}), "");
  EXPECT_EQ(b.state->ledger().audit({key_.public_raw}), "");
  EXPECT_EQ(state_->ledger_head().root, b.state->ledger_head().root);
}

TEST_F(ReplicaTest, ARepeatedAcquireIdGetsTheSameLeasesThroughAnyReplica) {
  reg(prov_, info("gpu-a"));
  Replica b = replica("b");
  AcquireIn in;
  in.count = 2;
  in.vram = 4 * GiB;
  in.request_id = "rq-1";
  AcquireOut first = state_->acquire(user_, in);
  ASSERT_EQ(first.error, "");
  AcquireOut again = b.state->acquire(user_, in);  // the answer was lost: the client retries
  ASSERT_EQ(again.error, "");
  ASSERT_EQ(again.grants.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(again.grants[i].lease.id, first.grants[i].lease.id);
    EXPECT_EQ(again.grants[i].signed_lease, first.grants[i].signed_lease);
  }
  EXPECT_EQ(store_->load_leases().size(), 2u);
  // Another token's request with the same id is its own.
  std::string id, err;
  const std::string other = state_->create_token(admin_, Role::kUser, "dave", &id, &err);
  b.state->refresh();
  AcquireOut theirs = b.state->acquire(*b.state->authenticate(other), in);
  ASSERT_EQ(theirs.error, "");
  EXPECT_NE(theirs.grants[0].lease.id, first.grants[0].lease.id);
  EXPECT_EQ(store_->load_leases().size(), 4u);
}

TEST_F(ReplicaTest, OneReplicaLeadsAndAnotherTakesOverWhenItDies) {
  Replica a = replica("a"), b = replica("b");
  const bool a_leads = a.state->leads(), b_leads = b.state->leads();
  EXPECT_NE(a_leads, b_leads);
  const bool fixture_leads = state_->leads();
  EXPECT_FALSE(fixture_leads);  // a third asks after: one leader only
  Replica& leader = a_leads ? a : b;
  Replica& other = a_leads ? b : a;
  leader.state.reset();
  leader.store.reset();  // its connection closes, as when its process dies
  // The server frees the lock when the dead connection's backend exits, a moment later: the
  // other replica takes it at one of its next periods.
  bool took = false;
  for (int i = 0; i < 100 && !took; ++i) {
    took = other.state->leads();
    if (!took) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(took);
}

TEST_F(ReplicaTest, HeartbeatsThroughOneReplicaKeepTheProviderActiveOnTheOthers) {
  const std::string pid = reg(prov_, info("gpu-a"));
  Replica b = replica("b");
  for (int i = 0; i < 5; ++i) {  // 10 s of heartbeats, all to the fixture's replica
    now_ms_ += 1000;
    state_->heartbeat(prov_, pid, {}, {}, {});
    now_ms_ += 1000;  // two between refreshes: written as one row, the newest
    state_->heartbeat(prov_, pid, {}, {}, {});
    state_->refresh();
    b.state->refresh();
  }
  ASSERT_EQ(b.state->providers().size(), 1u);
  EXPECT_TRUE(b.state->provider_active(b.state->providers()[0]));
  AcquireOut out = b.state->acquire(user_, {});
  EXPECT_EQ(out.error, "");
  // Then silence: missing on both. A refresh re-reads the rows written up to 3 s before the
  // last one (by the database's clock, which this test cannot advance: wait those out); a row
  // read again says how old it really is.
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  b.state->refresh();
  now_ms_ += 10000;
  b.state->refresh();
  EXPECT_FALSE(b.state->provider_active(b.state->providers()[0]));
}

}  // namespace

namespace {

// Signing keys (pool_manager/signing_keys.h), on either store: the first replica's key becomes
// the store's, another is refused unless it rotates, and a rotation publishes the old key until
// the last lease it could have signed expired.
TEST_F(PoolStateTest, ARotationPublishesTheOldKeyUntilItsLeasesExpire) {
  const PoolKey old_key = key_, new_key = rgpu::control::generate_pool_key();
  std::string note;
  const int64_t now = now_ms_ / 1000;
  EXPECT_EQ(adopt_signing_key(*store_, old_key.public_raw, false, now, 300, &note), "");
  EXPECT_EQ(adopt_signing_key(*store_, old_key.public_raw, false, now, 300, &note), "");
  EXPECT_EQ(note, "");
  const std::string refused =
      adopt_signing_key(*store_, new_key.public_raw, false, now, 300, &note);
  EXPECT_NE(refused.find("not the one the other replicas"), std::string::npos) << refused;
  EXPECT_EQ(published_keys(*store_, old_key.public_raw, now),
            std::vector<std::string>{old_key.public_raw});
  ASSERT_EQ(adopt_signing_key(*store_, new_key.public_raw, true, now, 300, &note), "");
  EXPECT_NE(note.find("stays published"), std::string::npos) << note;
  // A replica on the new key and one still on the old publish both, each its own first.
  EXPECT_EQ(published_keys(*store_, new_key.public_raw, now),
            (std::vector<std::string>{new_key.public_raw, old_key.public_raw}));
  EXPECT_EQ(published_keys(*store_, old_key.public_raw, now),
            (std::vector<std::string>{old_key.public_raw, new_key.public_raw}));
  EXPECT_EQ(published_keys(*store_, new_key.public_raw, now + 360),
            (std::vector<std::string>{new_key.public_raw, old_key.public_raw}));
  // Past the TTL and a minute, the old key is no longer published by the new key's replicas.
  EXPECT_EQ(published_keys(*store_, new_key.public_raw, now + 361),
            std::vector<std::string>{new_key.public_raw});
  // A replica still on the old key past the window publishes only the new one, not its own.
  EXPECT_EQ(published_keys(*store_, old_key.public_raw, now + 361),
            std::vector<std::string>{new_key.public_raw});
  // The new key is the store's now: the old one, without --new-key, is refused.
  EXPECT_NE(adopt_signing_key(*store_, old_key.public_raw, false, now, 300, &note), "");
}

}  // namespace

namespace {

// Heads signed before two rotations still audit as the pool's (pool_ledger_keys), though the
// first key left the published set long ago; a head signed by a key the pool never used does not.
TEST_F(PoolStateTest, TheLedgerAuditsAcrossRotations) {
  const PoolKey a = key_, b = rgpu::control::generate_pool_key(),
                c = rgpu::control::generate_pool_key(),
                stranger = rgpu::control::generate_pool_key();
  std::string note;
  const int64_t now = now_ms_ / 1000;
  ASSERT_EQ(adopt_signing_key(*store_, a.public_raw, false, now, 300, &note), "");
  Ledger la(*store_, a);
  la.append(now, "test", "one", "", "");
  la.head(now);
  ASSERT_EQ(adopt_signing_key(*store_, b.public_raw, true, now, 300, &note), "");
  Ledger lb(*store_, b);
  lb.append(now, "test", "two", "", "");
  lb.head(now);
  // a's window passed before the next rotation: it is no longer published, nor retired.
  ASSERT_EQ(adopt_signing_key(*store_, c.public_raw, true, now + 1000, 300, &note), "");
  EXPECT_EQ(published_keys(*store_, c.public_raw, now + 1000).size(), 2u);  // c and b
  Ledger lc(*store_, c);
  lc.append(now + 1000, "test", "three", "", "");
  lc.head(now + 1000);
  const std::vector<std::string> keys = ledger_keys(*store_, c.public_raw);
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(lc.audit(keys), "");
  EXPECT_NE(lc.audit({c.public_raw}), "");  // the heads before c are not c's
  Ledger ls(*store_, stranger);
  ls.append(now + 1000, "test", "four", "", "");
  ls.head(now + 1000);
  EXPECT_NE(Ledger(*store_, c).audit(keys).find("size 4"), std::string::npos);
}

}  // namespace
