// tests/pool/pool_billing_test.cc — receipts, prices, charges, the ledger, balances, credit
// limits, the client's tally and metrics, on a PoolState (pool_billing.cc, pool_metrics.cc).
#include <sqlite3.h>

#include "protocol/health_endpoint.h"
#include "tests/pool/pool_fixture.h"
// Receipts hold cumulative totals: a duplicated, a late (older) or a lost one changes nothing,
// totals never go down, another provider's receipt for the lease is ignored, and the merged
// usage survives a pool restart.
TEST_F(PoolStateTest, UsageReceiptsAreCumulativeAndIdempotent) {
  std::string pid = reg(prov_, info("gpu-a"));
  std::string other = reg(prov2_, info("gpu-b"));
  AcquireIn in;
  in.vram = 2 * GiB;
  in.labels = {};
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  const std::string on = a.grants[0].lease.provider_id;
  const Caller& owner = on == pid ? prov_ : prov2_;
  const Caller& stranger = on == pid ? prov2_ : prov_;
  const std::string stranger_id = on == pid ? other : pid;
  state_->heartbeat(owner, on, {}, {{l, 7, true, "", 0}}, {l});
  auto usage = [&] { return state_->leases(admin_, true)[0]; };
  state_->heartbeat(owner, on, {}, {}, {l}, {receipt(l, 2, 2000, 5000)});
  EXPECT_EQ(usage().usage.wall_ms, 2000u);
  EXPECT_EQ(usage().usage.bytes_in, 5000u);
  // The same receipt again, then an older one (receipt 1, which was lost and resent late).
  state_->heartbeat(owner, on, {}, {}, {l}, {receipt(l, 2, 2000, 5000), receipt(l, 1, 1000, 10)});
  EXPECT_EQ(usage().usage.wall_ms, 2000u);
  EXPECT_EQ(usage().usage.bytes_in, 5000u);
  EXPECT_EQ(usage().usage.bytes_out, 2500u);
  EXPECT_EQ(usage().usage.calls, 20u);
  EXPECT_EQ(usage().usage.seq, 2u);
  EXPECT_EQ(usage().receipts, 3u);
  // Another provider cannot add to this lease's usage.
  state_->heartbeat(stranger, stranger_id, {}, {}, {}, {receipt(l, 9, 999999, 999999, true)});
  EXPECT_EQ(usage().usage.wall_ms, 2000u);
  EXPECT_FALSE(usage().usage.final);
  // The final receipt, then the end: the totals are the final ones, and are kept.
  state_->heartbeat(owner, on, {}, {{l, 7, false, "client exited", 0}}, {},
                    {receipt(l, 4, 4000, 9000, true)});
  EXPECT_EQ(usage().state, LeaseState::kEnded);
  EXPECT_TRUE(usage().usage.final);
  EXPECT_EQ(usage().usage.wall_ms, 4000u);
  reopen();
  const LeaseRecord kept = state_->leases(admin_, true)[0];
  EXPECT_EQ(kept.usage.wall_ms, 4000u);
  EXPECT_EQ(kept.usage.busy_ns, 4000u * 1000);
  EXPECT_DOUBLE_EQ(kept.usage.mem_gb_s, 4.0);
  EXPECT_EQ(kept.usage.bytes_in, 9000u);
  EXPECT_EQ(kept.usage.calls, 40u);
  EXPECT_TRUE(kept.usage.final);
  EXPECT_EQ(kept.receipts, 4u);
}

// A provider that dies (no heartbeat) loses its sessions once lost_after_ms passes: they end
// when they were last seen running, not when the provider comes back.
TEST_F(PoolStateTest, SessionsOfALostProviderEndWhenLastSeen) {
  std::string pid = reg(prov_, info("gpu-a"));
  AcquireIn in;
  in.vram = 2 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  const int64_t t0 = now_ms_ / 1000;
  state_->heartbeat(prov_, pid, {}, {{l, 3, true, "", t0}}, {l});
  now_ms_ += 10000;
  state_->heartbeat(prov_, pid, {}, {}, {l});  // last seen running: t0 + 10 s
  const int64_t seen = now_ms_ / 1000;
  now_ms_ += 30000;  // missing, not yet lost: the session is still open
  state_->sweep();
  EXPECT_EQ(state_->leases(admin_, true)[0].state, LeaseState::kActive);
  now_ms_ += 31000;  // silent for 61 s
  state_->sweep();
  LeaseRecord ended = state_->leases(admin_, true)[0];
  EXPECT_EQ(ended.state, LeaseState::kEnded);
  EXPECT_EQ(ended.ended, seen);
  EXPECT_NE(ended.end_reason.find("provider lost"), std::string::npos) << ended.end_reason;
  // The provider comes back much later: the recorded end does not move.
  now_ms_ += 100000;
  auto hb = state_->heartbeat(prov_, pid, {}, {}, {});
  EXPECT_EQ(hb.error, "");
  EXPECT_EQ(state_->leases(admin_, true)[0].ended, seen);
}

// Rates are versioned: a session is priced by the version in force when it started, settled
// once (a late receipt changes its usage, never its charge), and the charge survives a restart.
TEST_F(PoolStateTest, SessionsArePricedByTheRatesTheyStartedUnderAndSettledOnce) {
  std::string pid = reg(prov_, info("gpu-a"));
  int64_t v = 0;
  RateChangeIn r1;
  r1.gpu_hour = 3'600'000;  // 1 micro-unit per ms of a whole GPU
  r1.fee_ppm = 100000;      // 10 %
  EXPECT_NE(state_->set_rates(user_, r1, &v).find("permission denied"), std::string::npos);
  ASSERT_EQ(state_->set_rates(admin_, r1, &v), "");
  EXPECT_EQ(v, 1);
  AcquireIn in;  // a whole GPU
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l});
  RateChangeIn r2;  // mid-session: ten times dearer, and a model rate beside it
  r2.gpu_hour = 36'000'000;
  ASSERT_EQ(state_->set_rates(admin_, r2, &v), "");
  EXPECT_EQ(v, 2);
  EXPECT_EQ(state_->rates()[0].gpu_hour, 3'600'000);  // version 1 is unchanged
  EXPECT_EQ(state_->rates()[1].fee_ppm, 100000u);     // kept from version 1
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "client exited", 0}}, {},
                    {receipt(l, 3, 5000, 100, true)});
  LeaseRecord ended = state_->leases(admin_, true)[0];
  EXPECT_EQ(ended.rate_version, 1);
  EXPECT_EQ(ended.charge.rate_version, 1);
  EXPECT_EQ(ended.charge.billed_ms, 5000u);
  EXPECT_EQ(ended.charge.cost, 5000);
  EXPECT_EQ(ended.charge.fee, 500);
  EXPECT_EQ(ended.charge.earnings, 4500);
  EXPECT_GT(ended.charge.settled_unix, 0);
  // A larger late receipt after settlement changes neither the usage nor the charge (they stay
  // what was charged, and the ledger with them).
  const uint64_t entries = state_->ledger().size();
  state_->heartbeat(prov_, pid, {}, {}, {}, {receipt(l, 4, 9000, 100, true)});
  EXPECT_EQ(state_->leases(admin_, true)[0].usage.wall_ms, 5000u);
  EXPECT_EQ(state_->leases(admin_, true)[0].charge.cost, 5000);
  EXPECT_EQ(state_->ledger().size(), entries);
  reopen();
  ended = state_->leases(admin_, true)[0];
  EXPECT_EQ(ended.charge.cost, 5000);
  EXPECT_EQ(ended.charge.earnings, 4500);
  EXPECT_EQ(state_->rates().size(), 2u);
  EXPECT_EQ(state_->current_rates().gpu_hour, 36'000'000);
}

// A session whose final receipt never comes is settled once lost_after_ms has passed.
TEST_F(PoolStateTest, ASessionWithoutAFinalReceiptIsSettledWhenOverdue) {
  std::string pid = reg(prov_, info("gpu-a"));
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 3'600'000;
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireOut a = state_->acquire(user_, AcquireIn{});
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l}, {receipt(l, 1, 2000, 10)});
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "client exited", 0}}, {});
  EXPECT_EQ(state_->leases(admin_, true)[0].charge.settled_unix, 0);  // waiting for the final
  now_ms_ += 61000;
  state_->heartbeat(prov_, pid, {}, {}, {});
  state_->sweep();
  EXPECT_EQ(state_->leases(admin_, true)[0].charge.cost, 2000);
}

// Placement honours a provider's minimum and a user's maximum GPU-hour price, and says so.
TEST_F(PoolStateTest, PlacementHonoursMinAndMaxPrices) {
  ProviderRecord p = info("gpu-a");
  p.min_price = 800000;  // lends for 0.80 per GPU-hour or more
  std::string pid = reg(prov_, p);
  state_->heartbeat(prov_, pid, {}, {}, {});
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 500000;
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireOut a = state_->acquire(user_, AcquireIn{});
  EXPECT_TRUE(a.grants.empty());
  EXPECT_NE(a.error.find("--min-price"), std::string::npos) << a.error;
  r.gpu_hour = 900000;
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireIn capped;
  capped.max_price = 850000;
  a = state_->acquire(user_, capped);
  EXPECT_TRUE(a.grants.empty());
  EXPECT_NE(a.error.find("above your --max-price 0.850000"), std::string::npos) << a.error;
  capped.max_price = 900000;
  EXPECT_EQ(state_->acquire(user_, capped).grants.size(), 1u);
}

// The ledger holds rates, receipts, charges and payouts, chained and signed; a database whose
// ledger was altered is refused at load, naming the entry; balances follow charges and payouts.
TEST_F(PoolStateTest, LedgerRecordsMoneyEventsAndRefusesAnAlteredHistory) {
  std::string pid = reg(prov_, info("gpu-a"));
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 3'600'000;
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireOut a = state_->acquire(user_, AcquireIn{});
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l}, {receipt(l, 1, 1000, 10)});
  state_->heartbeat(prov_, pid, {}, {}, {l}, {receipt(l, 1, 1000, 10)});  // a duplicate
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "done", 0}}, {},
                    {receipt(l, 2, 3000, 20, true)});
  EXPECT_NE(state_->record_payout(user_, "gpu-a", 1000, "x").find("permission denied"),
            std::string::npos);
  EXPECT_NE(state_->record_payout(admin_, "gpu-a", 1000, "").find("--ref"), std::string::npos);
  ASSERT_EQ(state_->record_payout(admin_, "gpu-a", 1000, "wire-7"), "");
  std::vector<std::string> kinds;
  for (const auto& e : state_->ledger().entries()) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"rate", "receipt", "receipt", "charge", "payout"}));
  auto head = state_->ledger_head();
  EXPECT_EQ(head.size, 5u);
  EXPECT_TRUE(rgpu::control::verify_tree_head(head, key_.public_raw));
  for (const auto& e : state_->ledger().entries())
    EXPECT_TRUE(rgpu::control::verify_inclusion(
        e.leaf, e.index, head.size, state_->ledger().inclusion(e.index, head.size), head.root));
  auto balances = state_->balances(admin_);
  bool saw_provider = false, saw_user = false;
  for (const auto& b : balances) {
    if (b.kind == "provider" && b.name == "gpu-a") {
      saw_provider = true;
      EXPECT_EQ(b.earned, 3000);
      EXPECT_EQ(b.paid, 1000);
    }
    if (b.kind == "user" && b.id == user_.token_id) {
      saw_user = true;
      EXPECT_EQ(b.spent, 3000);
    }
  }
  EXPECT_TRUE(saw_provider && saw_user);
  // A provider's ledger view holds its own entries and the rates; another provider's, rates only.
  std::vector<const LedgerEntry*> mine, theirs;
  ASSERT_EQ(state_->ledger_entries(prov_, 0, &mine), "");
  ASSERT_EQ(state_->ledger_entries(prov2_, 0, &theirs), "");
  EXPECT_EQ(mine.size(), 5u);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0]->kind, "rate");
  reopen();  // payouts and the ledger come back
  EXPECT_EQ(state_->ledger().size(), 5u);
  for (const auto& b : state_->balances(admin_)) {
    if (b.kind == "provider" && b.name == "gpu-a") {
      EXPECT_EQ(b.paid, 1000);
    }
  }
  // Someone edits the database: the pool refuses to start on it, naming the entry.
  state_.reset();
  store_.reset();
  EXPECT_EQ(exec_sql("UPDATE ledger SET body=replace(body,'3000','30') WHERE idx=3"), 1);
  try {
    reopen();
    FAIL() << "an altered ledger was accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("ledger entry 3"), std::string::npos) << e.what();
  }
}

// A user token's credit limit: placement refuses, saying so, once its settled costs reach it.
TEST_F(PoolStateTest, ACreditLimitRefusesPlacementOnceSpent) {
  std::string pid = reg(prov_, info("gpu-a"));
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 3'600'000;  // 1 micro-unit per ms
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  EXPECT_NE(state_->set_credit_limit(user_, user_.token_id, 100).find("permission denied"),
            std::string::npos);
  EXPECT_NE(state_->set_credit_limit(admin_, prov_.token_id, 100).find("user tokens"),
            std::string::npos);
  ASSERT_EQ(state_->set_credit_limit(admin_, user_.token_id, 5000), "");
  AcquireOut a = state_->acquire(user_, AcquireIn{});
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l});
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "done", 0}}, {}, {receipt(l, 1, 6000, 0, true)});
  a = state_->acquire(user_, AcquireIn{});
  EXPECT_TRUE(a.grants.empty());
  EXPECT_NE(a.error.find("credit limit reached"), std::string::npos) << a.error;
  EXPECT_NE(a.error.find("0.006000 of its 0.005000"), std::string::npos) << a.error;
  reopen();  // the limit is kept
  EXPECT_NE(state_->acquire(user_, AcquireIn{}).error.find("credit limit"), std::string::npos);
  ASSERT_EQ(state_->set_credit_limit(admin_, user_.token_id, 0), "");  // lifted
  EXPECT_EQ(state_->acquire(user_, AcquireIn{}).grants.size(), 1u);
}

// The client's own count is held against the receipts: agreeing counts raise nothing, counts
// off by more than 1 % (and 16 KiB) or 2 s are flagged with both sides' numbers; only the
// lease's own user may report, once.
TEST_F(PoolStateTest, TheClientsTallyFlagsReceiptsThatDisagree) {
  std::string pid = reg(prov_, info("gpu-a"));
  auto session = [&](uint64_t wall_ms, uint64_t bytes) {
    AcquireOut a = state_->acquire(user_, AcquireIn{});
    EXPECT_EQ(a.grants.size(), 1u) << a.error;
    const std::string l = a.grants[0].lease.id;
    state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l});
    auto r = receipt(l, 1, wall_ms, bytes, true);
    r.bytes_out = bytes;
    state_->heartbeat(prov_, pid, {}, {{l, 9, false, "done", 0}}, {}, {r});
    return l;
  };
  auto lease = [&](const std::string& id) {
    for (const auto& l : state_->leases(admin_, true))
      if (l.id == id) return l;
    return LeaseRecord{};
  };
  const std::string fair = session(10'000, 10'000'000);
  EXPECT_NE(state_->report_tally(prov_, fair, 1, 1, 1).find("permission denied"),
            std::string::npos);
  ASSERT_EQ(state_->report_tally(user_, fair, 10'400, 10'050'000, 10'020'000), "");
  EXPECT_EQ(lease(fair).dispute, "");
  EXPECT_TRUE(lease(fair).tally_reported);
  // Receipts claiming 3 % more bytes and 5 s more than the client saw.
  const std::string inflated = session(15'000, 10'300'000);
  ASSERT_EQ(state_->report_tally(user_, inflated, 10'000, 10'000'000, 10'000'000), "");
  const std::string d = lease(inflated).dispute;
  EXPECT_NE(d.find("bytes"), std::string::npos) << d;
  EXPECT_NE(d.find("wall time: receipts 15000 ms, client 10000 ms"), std::string::npos) << d;
  ASSERT_EQ(state_->report_tally(user_, inflated, 15'000, 10'300'000, 10'300'000), "");
  EXPECT_EQ(lease(inflated).tally_wall_ms, 10'000u);  // once: a second report changes nothing
  reopen();
  EXPECT_EQ(lease(inflated).dispute, d);
  EXPECT_EQ(lease(fair).tally_bytes_in, 10'050'000u);
}

// Store::atomically: all of it or none of it, nested calls included (a charge and its ledger
// entry are written this way).
TEST_F(PoolStateTest, StoreWritesAtomicallyAllOrNothing) {
  EXPECT_THROW(store_->atomically([&] {
    store_->put_meta("t-a", "1");
    store_->atomically([&] { store_->put_meta("t-b", "2"); });
    throw std::runtime_error("a failure after both writes");
  }),
               std::runtime_error);
  EXPECT_EQ(store_->get_meta("t-a"), "");
  EXPECT_EQ(store_->get_meta("t-b"), "");
  store_->atomically([&] {
    store_->put_meta("t-a", "1");
    store_->atomically([&] { store_->put_meta("t-b", "2"); });
  });
  reopen();
  EXPECT_EQ(store_->get_meta("t-a"), "1");
  EXPECT_EQ(store_->get_meta("t-b"), "2");
}

// The pool's Prometheus text: conventional names and types, the numbers the state holds, no
// per-lease label; the health endpoint serves what the pool published at GET /metrics.
TEST_F(PoolStateTest, MetricsTextShowsTheStateAndTheEndpointServesIt) {
  std::string pid = reg(prov_, info("gpu-a", 8 * GiB));
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 3'600'000;
  r.fee_ppm = 500000;
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireIn in;
  in.vram = 2 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  in.vram = 64 * GiB;
  EXPECT_TRUE(state_->acquire(user_, in).grants.empty());  // refused
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l});
  auto rc = receipt(l, 1, 4000, 1000, true);
  rc.busy_ns = 1'500'000'000;
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "done", 0}}, {}, {rc});
  const std::string m = state_->metrics_text();
  auto has = [&](const std::string& line) {
    EXPECT_NE(m.find(line + "\n"), std::string::npos) << line << "\n" << m;
  };
  has("# TYPE rgpu_providers gauge");
  has("rgpu_providers{state=\"active\"} 1");
  has("rgpu_gpu_memory_lent_bytes 8589934592");
  has("rgpu_gpu_memory_leased_bytes 0");
  has("rgpu_vgpu_sessions 0");
  has("# TYPE rgpu_placements_total counter");
  has("rgpu_placements_total{result=\"placed\"} 1");
  has("rgpu_placements_total{result=\"refused\"} 1");
  has("rgpu_gpu_busy_seconds_total 1.5");
  has("rgpu_transfer_bytes_total{direction=\"in\"} 1000");
  // 4 s at 1 micro-unit per ms for a slice of 2 of 8 GiB: 0.001 charged, half to the pool.
  has("rgpu_provider_earnings_total{provider=\"gpu-a\"} 0.000500");
  has("rgpu_user_spend_total 0.001000");
  EXPECT_EQ(m.find(l.substr(0, 12)), std::string::npos);  // no per-lease label
  rgpu::net::HealthEndpoint h("127.0.0.1:0");
  h.publish_metrics(m);
  auto get = [&](const char* path) {
    std::unique_ptr<rgpu::net::Stream> s = rgpu::net::connect(
        rgpu::net::Endpoint::parse("127.0.0.1:" + std::to_string(h.port())), nullptr, 2000);
    const std::string req = std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    s->write_all(req.data(), req.size());
    std::string resp;
    char buf[4096];
    try {
      for (size_t n; (n = s->read_some(buf, sizeof buf)) > 0;) resp.append(buf, n);
    } catch (const std::exception&) {
    }
    return resp;
  };
  const std::string resp = get("/metrics");
  EXPECT_NE(resp.find("200 OK"), std::string::npos);
  EXPECT_NE(resp.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(resp.find("rgpu_user_spend_total 0.001000\n"), std::string::npos) << resp;
  EXPECT_NE(get("/healthz").find("\r\n\r\nok\n"), std::string::npos);
}

// A provider that registered a receipt key vouches for its receipts: only ones that verify
// under that key count, and the ledger entry carries the signature of exactly its totals.
TEST_F(PoolStateTest, ReceiptsMustVerifyUnderTheProvidersRegisteredKey) {
  const PoolKey pkey = rgpu::control::generate_pool_key();
  ProviderRecord p = info("gpu-signed");
  p.receipt_key = pkey.public_raw;
  std::string pid = reg(prov_, p);
  ProviderRecord bad = info("gpu-badkey");
  bad.receipt_key = "short";
  std::string id;
  EXPECT_NE(state_->register_provider(prov_, bad, &id).find("32 bytes"), std::string::npos);
  AcquireIn in;
  in.vram = 2 * GiB;
  AcquireOut a = state_->acquire(user_, in);
  ASSERT_EQ(a.grants.size(), 1u);
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 7, true, "", 0}}, {l});
  auto usage = [&] { return state_->leases(admin_, true)[0].usage; };
  auto signed_by = [&](rgpu::control::UsageReceipt r, const PoolKey& k) {
    r.signature = rgpu::control::ed25519_sign(rgpu::control::receipt_message(r), k);
    return r;
  };
  // Unsigned, signed by another key, and altered after signing: none counts.
  state_->heartbeat(prov_, pid, {}, {}, {l}, {receipt(l, 1, 1000, 100)});
  state_->heartbeat(prov_, pid, {}, {}, {l},
                    {signed_by(receipt(l, 1, 1000, 100), rgpu::control::generate_pool_key())});
  auto altered = signed_by(receipt(l, 1, 1000, 100), pkey);
  altered.bytes_in *= 10;
  state_->heartbeat(prov_, pid, {}, {}, {l}, {altered});
  EXPECT_EQ(usage().wall_ms, 0u);
  EXPECT_NE(state_->metrics_text().find("rgpu_receipts_refused_total 3"), std::string::npos);
  // Signed by its key: counted, and its ledger entry carries that signature.
  const auto good = signed_by(receipt(l, 2, 2000, 5000), pkey);
  state_->heartbeat(prov_, pid, {}, {}, {l}, {good});
  EXPECT_EQ(usage().wall_ms, 2000u);
  const LedgerEntry& e = state_->ledger().entries().back();
  ASSERT_EQ(e.kind, "receipt");
  EXPECT_NE(e.body.find("\"provider_signature\":\"" + rgpu::control::to_hex(good.signature)),
            std::string::npos)
      << e.body;
  // The key survives a restart.
  reopen();
  ASSERT_EQ(state_->providers().size(), 1u);
  EXPECT_EQ(state_->providers()[0].receipt_key, pkey.public_raw);
}

// A provider an admin removes is still owed what it earned: its balance stays (admins see it)
// and a payout can be recorded to it by id, also after a restart.
TEST_F(PoolStateTest, ARemovedProvidersEarningsStayOwedAndPayable) {
  std::string pid = reg(prov_, info("gpu-gone"));
  int64_t v = 0;
  RateChangeIn r;
  r.gpu_hour = 3'600'000;  // 1 micro-unit per ms
  ASSERT_EQ(state_->set_rates(admin_, r, &v), "");
  AcquireOut a = state_->acquire(user_, AcquireIn{});
  ASSERT_EQ(a.grants.size(), 1u) << a.error;
  const std::string l = a.grants[0].lease.id;
  state_->heartbeat(prov_, pid, {}, {{l, 9, true, "", 0}}, {l});
  state_->heartbeat(prov_, pid, {}, {{l, 9, false, "client exited", 0}}, {},
                    {receipt(l, 2, 5000, 100, true)});
  ASSERT_EQ(state_->remove(admin_, "gpu-gone", false), "");
  auto owed = [&]() -> PoolState::Balance {
    for (const auto& b : state_->balances(admin_))
      if (b.kind == "provider" && b.id == pid) return b;
    return {};
  };
  EXPECT_EQ(owed().earned, 5000);
  EXPECT_EQ(owed().name, "gpu-gone (removed)");
  EXPECT_TRUE(state_->balances(prov2_).empty());  // another provider token sees nothing of it
  ASSERT_EQ(state_->record_payout(admin_, pid, 3000, "wire-9"), "");
  EXPECT_EQ(owed().paid, 3000);
  reopen();
  EXPECT_EQ(owed().earned, 5000);
  EXPECT_EQ(owed().paid, 3000);
  EXPECT_NE(state_->record_payout(admin_, "no-such", 1, "x").find("no provider"),
            std::string::npos);
}
