// tests/pool/pool_fixture.h — a PoolState on a fresh store, with an admin, a user and two
// provider tokens, and a receipt() helper (pool_*_test.cc).
//
// The store is SQLite in a temporary directory; with RGPU_TEST_PG_URL set (the ctest entry
// pool.store_postgresql runs this binary under tests/pool/pg_cluster.sh) it is PostgreSQL, each
// test in a schema of its own: every test here is the shared store suite, run on both stores.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "pool_manager/pool_state.h"

using namespace rgpu::pool;
using rgpu::control::PoolKey;

// Not in an anonymous namespace: both test files' TEST_Fs must share this one fixture type.
inline constexpr uint64_t GiB = 1ull << 30;

class PoolStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
    char tmpl[] = "/tmp/rgpu-pool-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    key_ = rgpu::control::generate_pool_key();
    if (const char* url = getenv("RGPU_TEST_PG_URL")) {
      std::random_device rd;
      schema_ = "t_" + std::to_string(rd()) + std::to_string(rd());
      pg_url_ = std::string(url) + (std::string(url).find('?') == std::string::npos ? "?" : "&") +
                "options=-csearch_path%3D" + schema_;
      exec_sql("CREATE SCHEMA " + schema_, url);
    }
    reopen();
    admin_token_ = state_->bootstrap_admin();
    admin_ = *state_->authenticate(admin_token_);
    std::string id, err;
    user_token_ = state_->create_token(admin_, Role::kUser, "u", &id, &err);
    prov_token_ = state_->create_token(admin_, Role::kProvider, "p", &id, &err);
    prov2_token_ = state_->create_token(admin_, Role::kProvider, "p2", &id, &err);
    user_ = *state_->authenticate(user_token_);
    prov_ = *state_->authenticate(prov_token_);
    prov2_ = *state_->authenticate(prov2_token_);
  }
  void TearDown() override {
    state_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    state_.reset();
    store_.reset();
    store_ = pg_url_.empty() ? open_sqlite_store(dir_ + "/pool.db") : open_pg_store(pg_url_, "t");
    state_ = std::make_unique<PoolState>(*store_, key_, PoolConfig{}, [this] { return now_ms_; });
  }
  ProviderRecord info(const std::string& name, uint64_t lent = 16 * GiB) {
    ProviderRecord p;
    p.name = name;
    p.endpoint = name + ".gpus.example:7071";  // one endpoint per provider name
    GpuRecord g;
    g.name = "sim";
    g.memory_total = 24 * GiB;
    g.memory_lent = lent;
    p.gpus.push_back(g);
    return p;
  }
  std::string reg(const Caller& c, ProviderRecord p) {
    std::string id;
    std::string err = state_->register_provider(c, std::move(p), &id);
    EXPECT_EQ(err, "");
    return id;
  }

  // Runs `sql` on the test's database behind the pool's back (tampering, inspection); returns
  // the rows it changed.
  int exec_sql(const std::string& sql, const char* url = nullptr) {
    if (pg_url_.empty() && !url) {
      sqlite3* db = nullptr;
      EXPECT_EQ(sqlite3_open((dir_ + "/pool.db").c_str(), &db), SQLITE_OK);
      EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
      int n = sqlite3_changes(db);
      sqlite3_close(db);
      return n;
    }
    PGconn* c = PQconnectdb(url ? url : pg_url_.c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    PGresult* r = PQexec(c, sql.c_str());
    EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(c);
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    PQfinish(c);
    return n;
  }
  bool on_pg() const { return !pg_url_.empty(); }

  std::string dir_;
  std::string schema_, pg_url_;  // PostgreSQL: the test's own schema, and a URL that uses it
  PoolKey key_;
  int64_t now_ms_ = 1'800'000'000'000;  // a fixed UTC instant: 2027-01-15 08:00:00
  std::unique_ptr<Store> store_;
  std::unique_ptr<PoolState> state_;
  std::string admin_token_, user_token_, prov_token_, prov2_token_;
  Caller admin_, user_, prov_, prov2_;
};

inline rgpu::control::UsageReceipt receipt(const std::string& lease, uint64_t seq, uint64_t wall_ms,
                                           uint64_t bytes_in, bool final = false) {
  rgpu::control::UsageReceipt r;
  r.lease_id = lease;
  r.session_id = 7;
  r.seq = seq;
  r.final = final;
  r.wall_ms = wall_ms;
  r.busy_ns = wall_ms * 1000;
  r.mem_gb_s = wall_ms / 1000.0;
  r.mem_peak = 1 << 20;
  r.bytes_in = bytes_in;
  r.bytes_out = bytes_in / 2;
  r.calls = seq * 10;
  return r;
}
