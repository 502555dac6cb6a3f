// tests/pool/pg_store_test.cc — what the pipelined PostgreSQL store (pool_manager/pg_store.cc,
// pg_conn.h) promises beyond the shared store suite: a write that fails inside a transaction
// surfaces at its commit, naming the statement, and leaves nothing behind, nor a connection
// that refuses the next transaction; a transaction names each record once in the change feed;
// liveness is answered one call later. Runs in pool.store_postgresql (tests/pool/pg_cluster.sh).
#include "tests/pool/pool_fixture.h"

namespace {

class PgStoreTest : public PoolStateTest {
 protected:
  void SetUp() override {
    PoolStateTest::SetUp();
    if (!on_pg()) GTEST_SKIP() << "PostgreSQL only: pool.store_postgresql";
  }
  static LeaseRecord lease(const std::string& id) {
    LeaseRecord l;
    l.id = id;
    l.provider_id = "p";
    l.state = LeaseState::kGranted;
    l.vram = GiB;
    return l;
  }
};

TEST_F(PgStoreTest, AFailedWriteSurfacesAtCommitAndLeavesNothing) {
  Charge c;
  c.cost = 100;
  store_->put_charge("settled", c);  // a settled charge is never rewritten: a second INSERT fails
  store_->begin();
  store_->put_lease(lease("a"));
  store_->put_charge("settled", c);
  try {
    store_->commit();
    ADD_FAILURE() << "the commit of a transaction with a failed write succeeded";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("INSERT INTO charges"), std::string::npos) << e.what();
  }
  for (auto& l : store_->load_leases()) EXPECT_NE(l.id, "a") << "a rolled-back write stayed";
  // The connection takes the next transaction.
  store_->atomically([&] { store_->put_lease(lease("b")); });
  auto leases = store_->load_leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].id, "b");
}

TEST_F(PgStoreTest, ATransactionNamesEachRecordOnceInTheFeed) {
  const uint64_t before = store_->current_rev();
  store_->atomically([&] {
    LeaseRecord l = lease("a");
    store_->put_lease(l);
    store_->put_lease_usage(l);
    store_->put_lease_tally(l);
    store_->put_lease(lease("b"));
  });
  EXPECT_EQ(store_->current_rev(), before + 2);  // a and b
  EXPECT_EQ(store_->last_own_rev(), before + 2);
  StoreChanges ch;
  ASSERT_TRUE(store_->changes_since(before, 0, 0, 0, &ch));
  EXPECT_EQ(ch.rev, before + 2);
  EXPECT_EQ(ch.leases.size(), 2u);
}

TEST_F(PgStoreTest, LivenessIsAnsweredOneCallLater) {
  auto other = open_pg_store(pg_url_, "other");
  other->put_liveness({{"p1", 1000, 0}});
  std::string mark;
  EXPECT_TRUE(store_->load_liveness(&mark).empty());  // asks; nothing was asked before
  other->put_liveness({});                            // settles its write
  std::vector<Liveness> seen;
  for (int i = 0; i < 50 && seen.empty(); ++i) {  // the read asked above saw the row, unless
    seen = store_->load_liveness(&mark);          // it ran before the write committed
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].provider_id, "p1");
  EXPECT_FALSE(mark.empty());
  EXPECT_TRUE(other->load_liveness(&mark).empty());  // a replica's own rows are not read back
}

}  // namespace
