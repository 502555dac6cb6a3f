// tests/pool/pool_fixture.h — a PoolState on a fresh SQLite store in a temporary directory,
// with an admin, a user and two provider tokens, and a receipt() helper (pool_*_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

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
    store_ = open_sqlite_store(dir_ + "/pool.db");
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

  std::string dir_;
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
