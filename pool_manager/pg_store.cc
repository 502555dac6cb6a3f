// pool_manager/pg_store.cc — the Store several rgpu-pool replicas share: one PostgreSQL database
// through libpq (see store.h for the contract and the write lock; docs/architecture.md,
// "Replicas").
//
// Every transaction takes pg_advisory_xact_lock(kWriteLock) right after BEGIN, so transactions
// that write commit one after another, and each names what it wrote in `changes` (rev BIGSERIAL):
// rev order is commit order, and a replica that read up to rev N has missed nothing below N.
// Ledger entries, heads and rate versions are append-only and are caught up by index instead.
//
// Statements travel pipelined (pg_conn.h): a transaction is two round trips, BEGIN + lock +
// every catch-up read, then every write + its feed rows (one statement, each record once) +
// COMMIT. Liveness has a connection of its own whose answers are read a period later, so a
// heartbeat flush never holds up a placement.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "pool_manager/pg_conn.h"
#include "pool_manager/pg_rows.h"
#include "pool_manager/store.h"
#include "protocol/control/lease.h"

namespace rgpu::pool {
namespace {

constexpr int64_t kWriteLock = 0x7267707501;   // "rgpu" 1: the cluster-wide write lock
constexpr int64_t kLeaderLock = 0x7267707502;  // held by the replica doing once-only work
constexpr int64_t kSchemaLock = 0x7267707503;  // creating or migrating the schema

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role BIGINT,
  name TEXT, created BIGINT);
CREATE TABLE IF NOT EXISTS revoked_tokens(id TEXT PRIMARY KEY, at BIGINT);
CREATE TABLE IF NOT EXISTS credit_limits(token_id TEXT PRIMARY KEY, credit_limit BIGINT);
CREATE TABLE IF NOT EXISTS providers(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  endpoint TEXT, owner TEXT, schedule TEXT, server_version TEXT, drained BIGINT,
  drain_reason TEXT, drain_deadline BIGINT, registered BIGINT, min_price BIGINT,
  receipt_key TEXT);
CREATE TABLE IF NOT EXISTS labels(provider_id TEXT, key TEXT, value TEXT);
CREATE TABLE IF NOT EXISTS gpus(provider_id TEXT, idx BIGINT, name TEXT, memory_total BIGINT,
  memory_lent BIGINT, cc_major BIGINT, cc_minor BIGINT, driver TEXT, uuid TEXT);
CREATE TABLE IF NOT EXISTS leases(id TEXT PRIMARY KEY, provider_id TEXT, provider_name TEXT,
  endpoint TEXT, gpu_index BIGINT, vram BIGINT, whole BIGINT, state TEXT, session_id BIGINT,
  token_id TEXT, client_name TEXT, created BIGINT, expires BIGINT, started BIGINT,
  ended BIGINT, end_reason TEXT, kill_requested BIGINT, kill_reason TEXT, rate_version BIGINT,
  gpu_model TEXT, gpu_lent BIGINT, request_id TEXT);
CREATE TABLE IF NOT EXISTS lease_usage(lease_id TEXT PRIMARY KEY, seq BIGINT, final BIGINT,
  wall_ms BIGINT, busy_ns BIGINT, mem_gb_s DOUBLE PRECISION, mem_peak BIGINT, bytes_in BIGINT,
  bytes_out BIGINT, calls BIGINT, receipts BIGINT, last_receipt_ms BIGINT);
CREATE TABLE IF NOT EXISTS lease_tally(lease_id TEXT PRIMARY KEY, wall_ms BIGINT,
  bytes_in BIGINT, bytes_out BIGINT, dispute TEXT);
CREATE TABLE IF NOT EXISTS charges(lease_id TEXT PRIMARY KEY, rate_version BIGINT,
  billed_ms BIGINT, cost BIGINT, fee BIGINT, earnings BIGINT, settled_unix BIGINT);
CREATE TABLE IF NOT EXISTS rates(version BIGINT PRIMARY KEY, set_unix BIGINT, set_by TEXT,
  gpu_hour BIGINT, gib_hour BIGINT, gb_moved BIGINT, bill_busy BIGINT, fee_ppm BIGINT);
CREATE TABLE IF NOT EXISTS rate_overrides(version BIGINT, kind TEXT, key TEXT, gpu_hour BIGINT);
CREATE TABLE IF NOT EXISTS ledger(idx BIGINT PRIMARY KEY, at BIGINT, kind TEXT,
  provider_id TEXT, token_id TEXT, prev TEXT, leaf TEXT, body TEXT);
CREATE TABLE IF NOT EXISTS ledger_heads(size BIGINT PRIMARY KEY, at BIGINT, root TEXT, sig TEXT);
CREATE TABLE IF NOT EXISTS changes(rev BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL,
  key TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS liveness(provider_id TEXT PRIMARY KEY, ms BIGINT NOT NULL,
  replica TEXT NOT NULL);
)sql";

// kMigrations[i] takes schema version i + 1 to i + 2; a newer database is refused, untouched.
const char* kMigrations[] = {
    // 2: what the hot paths look up: a provider's leases, the newest liveness.
    "CREATE INDEX IF NOT EXISTS leases_by_provider ON leases(provider_id);"
    "CREATE INDEX IF NOT EXISTS liveness_by_ms ON liveness(ms);"
    "CREATE INDEX IF NOT EXISTS changes_by_at ON changes(at);",
    // 3: liveness dated by the database's clock, which every replica shares.
    "ALTER TABLE liveness ADD COLUMN IF NOT EXISTS at TIMESTAMPTZ NOT NULL DEFAULT "
    "clock_timestamp();"
    "CREATE INDEX IF NOT EXISTS liveness_by_at ON liveness(at);",
    // 4: the feed analysed as it grows (a catch-up scanned it whole while its statistics were
    // missing); liveness' old index on ms, which nothing reads, no longer updated.
    "ALTER TABLE changes SET (autovacuum_analyze_scale_factor = 0, "
    "autovacuum_analyze_threshold = 1000);"
    "DROP INDEX IF EXISTS liveness_by_ms;",
    // 5: compute shares: a lease's, and what a provider lends of each GPU's device time.
    ("ALTER TABLE leases ADD COLUMN IF NOT EXISTS compute BIGINT NOT NULL DEFAULT 0;"
     "ALTER TABLE gpus ADD COLUMN IF NOT EXISTS compute_lent BIGINT NOT NULL DEFAULT 0;"),
};
constexpr int kSchemaVersion = 1 + static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

class PgStore : public Store {
 public:
  PgStore(const std::string& url, const std::string& replica)
      : c_(url), live_(url), replica_(replica) {
    c_.q("SELECT pg_advisory_lock($1)", {pg_num(kSchemaLock)});
    try {
      check_and_migrate();
    } catch (...) {
      c_.rollback_quietly();
      c_.q("SELECT pg_advisory_unlock($1)", {pg_num(kSchemaLock)});
      throw;
    }
    c_.q("SELECT pg_advisory_unlock($1)", {pg_num(kSchemaLock)});
    configure_session(c_, false);
    configure_session(live_, true);
  }

  bool shared() const override { return true; }

  // BEGIN and the write lock are queued: they travel with the catch-up reads that follow.
  void begin() override {
    if (depth_ > 0) {
      ++depth_;
      return;
    }
    ensure_connected();
    c_.send("BEGIN");
    depth_ = 1;
    fed_.clear();
    own_rev_ = 0;
    c_.send("SELECT pg_advisory_xact_lock($1)", {pg_num(kWriteLock)});
  }
  // The outermost commit is one round trip with every write queued since begin(). When one of
  // them failed, nothing of the transaction stays (it is rolled back here) and StoreError says
  // which.
  void commit() override {
    if (depth_ == 0) throw StoreError(c_.name() + ": commit without a transaction");
    if (--depth_ > 0) return;
    try {
      PgConn::Ticket rev = 0;
      if (!fed_.empty()) {  // every record it wrote, once, in one statement
        std::vector<std::string> kinds, keys;
        for (auto& [kind, key] : fed_) kinds.push_back(kind), keys.push_back(key);
        c_.send("INSERT INTO changes(kind, key) SELECT * FROM unnest($1::text[], $2::text[])",
                {pg_text_array(kinds), pg_text_array(keys)});
        rev = c_.ask("SELECT currval(pg_get_serial_sequence('changes', 'rev'))");
      }
      fed_.clear();
      c_.send("COMMIT");
      c_.sync();
      if (rev) own_rev_ = uint64_t(c_.take(rev).i(0, 0));
    } catch (...) {
      fed_.clear();
      c_.rollback_quietly();
      throw;
    }
  }
  void rollback() override {
    if (depth_ == 0) return;
    depth_ = 0;
    fed_.clear();
    c_.rollback_quietly();  // a lost connection has nothing left to roll back
  }

  void put_token(const TokenRecord& t) override {
    atomically([&] {
      c_.send(
          "INSERT INTO tokens VALUES($1,$2,$3,$4,$5) ON CONFLICT(id) DO UPDATE SET hash=$2,"
          "role=$3,name=$4,created=$5",
          {t.id, t.hash, pg_num(int64_t(t.role)), t.name, pg_num(t.created)});
      feed("token", t.id);
    });
  }
  std::vector<TokenRecord> load_tokens() override {
    return pg::read_tokens(c_, pg::ask_tokens(c_, nullptr));
  }
  void revoke_token(const std::string& id, int64_t at) override {
    atomically([&] {
      c_.send("INSERT INTO revoked_tokens VALUES($1,$2) ON CONFLICT DO NOTHING", {id, pg_num(at)});
      feed("token", id);
    });
  }
  void put_credit_limit(const std::string& id, int64_t limit) override {
    atomically([&] {
      c_.send(
          "INSERT INTO credit_limits VALUES($1,$2) ON CONFLICT(token_id) DO UPDATE SET "
          "credit_limit=$2",
          {id, pg_num(limit)});
      feed("token", id);
    });
  }

  void put_provider(const ProviderRecord& p) override {
    atomically([&] {
      c_.send(
          "INSERT INTO providers VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT(id) "
          "DO UPDATE SET name=$2,endpoint=$3,owner=$4,schedule=$5,server_version=$6,drained=$7,"
          "drain_reason=$8,drain_deadline=$9,registered=$10,min_price=$11,receipt_key=$12",
          {p.id, p.name, p.endpoint, p.owner_token, p.schedule, p.server_version, pg_num(p.drained),
           p.drain_reason, pg_num(p.drain_deadline), pg_num(p.registered), pg_num(p.min_price),
           control::to_hex(p.receipt_key)});
      c_.send("DELETE FROM labels WHERE provider_id=$1", {p.id});
      c_.send("DELETE FROM gpus WHERE provider_id=$1", {p.id});
      for (auto& [k, v] : p.labels) c_.send("INSERT INTO labels VALUES($1,$2,$3)", {p.id, k, v});
      for (auto& g : p.gpus)
        c_.send("INSERT INTO gpus VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                {p.id, pg_num(g.index), g.name, pg_num(int64_t(g.memory_total)),
                 pg_num(int64_t(g.memory_lent)), pg_num(g.cc_major), pg_num(g.cc_minor),
                 g.driver_version, g.uuid, pg_num(g.compute_lent)});
      feed("provider", p.id);
    });
  }
  void delete_provider(const std::string& id) override {
    atomically([&] {
      c_.send("DELETE FROM providers WHERE id=$1", {id});
      c_.send("DELETE FROM labels WHERE provider_id=$1", {id});
      c_.send("DELETE FROM gpus WHERE provider_id=$1", {id});
      feed("provider", id);
    });
  }
  std::vector<ProviderRecord> load_providers() override {
    return pg::read_providers(c_, pg::ask_providers(c_, nullptr));
  }

  void put_lease(const LeaseRecord& l) override {
    atomically([&] {
      c_.send(
          "INSERT INTO leases VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
          "$18,$19,$20,$21,$22,$23) ON CONFLICT(id) DO UPDATE SET provider_id=$2,provider_name=$3,"
          "endpoint=$4,gpu_index=$5,vram=$6,whole=$7,state=$8,session_id=$9,token_id=$10,"
          "client_name=$11,created=$12,expires=$13,started=$14,ended=$15,end_reason=$16,"
          "kill_requested=$17,kill_reason=$18,rate_version=$19,gpu_model=$20,gpu_lent=$21,"
          "request_id=$22,compute=$23",
          {l.id,
           l.provider_id,
           l.provider_name,
           l.endpoint,
           pg_num(l.gpu_index),
           pg_num(int64_t(l.vram)),
           pg_num(l.whole_gpu),
           lease_state_text(l.state),
           pg_num(int64_t(l.session_id)),
           l.token_id,
           l.client_name,
           pg_num(l.created),
           pg_num(l.expires),
           pg_num(l.started),
           pg_num(l.ended),
           l.end_reason,
           pg_num(l.kill_requested),
           l.kill_reason,
           pg_num(l.rate_version),
           l.gpu_model,
           pg_num(int64_t(l.gpu_lent)),
           l.request_id,
           pg_num(l.compute_milli)});
      feed("lease", l.id);
    });
  }
  std::vector<LeaseRecord> load_leases() override {
    return pg::read_leases(c_, pg::ask_leases(c_, nullptr));
  }
  void put_lease_usage(const LeaseRecord& l) override {
    const control::UsageReceipt& r = l.usage;
    atomically([&] {
      c_.send(
          "INSERT INTO lease_usage VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) "
          "ON CONFLICT(lease_id) DO UPDATE SET seq=$2,final=$3,wall_ms=$4,busy_ns=$5,"
          "mem_gb_s=$6,mem_peak=$7,bytes_in=$8,bytes_out=$9,calls=$10,receipts=$11,"
          "last_receipt_ms=$12",
          {l.id, pg_num(int64_t(r.seq)), pg_num(r.final), pg_num(int64_t(r.wall_ms)),
           pg_num(int64_t(r.busy_ns)), pg_real(r.mem_gb_s), pg_num(int64_t(r.mem_peak)),
           pg_num(int64_t(r.bytes_in)), pg_num(int64_t(r.bytes_out)), pg_num(int64_t(r.calls)),
           pg_num(l.receipts), pg_num(l.last_receipt_ms)});
      feed("lease", l.id);
    });
  }
  void put_lease_tally(const LeaseRecord& l) override {
    atomically([&] {
      c_.send(
          "INSERT INTO lease_tally VALUES($1,$2,$3,$4,$5) ON CONFLICT(lease_id) DO UPDATE SET "
          "wall_ms=$2,bytes_in=$3,bytes_out=$4,dispute=$5",
          {l.id, pg_num(int64_t(l.tally_wall_ms)), pg_num(int64_t(l.tally_bytes_in)),
           pg_num(int64_t(l.tally_bytes_out)), l.dispute});
      feed("lease", l.id);
    });
  }
  void put_charge(const std::string& lease_id, const Charge& c) override {
    atomically([&] {  // plain INSERT: a settled charge is never rewritten
      c_.send("INSERT INTO charges VALUES($1,$2,$3,$4,$5,$6,$7)",
              {lease_id, pg_num(c.rate_version), pg_num(int64_t(c.billed_ms)), pg_num(c.cost),
               pg_num(c.fee), pg_num(c.earnings), pg_num(c.settled_unix)});
      feed("lease", lease_id);
    });
  }

  void put_rates(const RateCard& r) override {
    atomically([&] {  // plain INSERT: a version, once set, never changes
      c_.send("INSERT INTO rates VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
              {pg_num(r.version), pg_num(r.set_unix), r.set_by, pg_num(r.gpu_hour),
               pg_num(r.gib_hour), pg_num(r.gb_moved), pg_num(r.bill_busy), pg_num(r.fee_ppm)});
      for (auto& [k, v] : r.gpu_hour_by_model)
        c_.send("INSERT INTO rate_overrides VALUES($1,'model',$2,$3)",
                {pg_num(r.version), k, pg_num(v)});
      for (auto& [k, v] : r.gpu_hour_by_provider)
        c_.send("INSERT INTO rate_overrides VALUES($1,'provider',$2,$3)",
                {pg_num(r.version), k, pg_num(v)});
    });
  }
  std::vector<RateCard> load_rates() override {
    return pg::read_rates(c_, pg::ask_rates_after(c_, 0));
  }

  void append_ledger(const LedgerEntry& e) override {
    atomically([&] {
      c_.send("INSERT INTO ledger VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
              {pg_num(int64_t(e.index)), pg_num(e.time), e.kind, e.provider_id, e.token_id,
               control::to_hex(e.prev), control::to_hex(e.leaf), e.body});
    });
  }
  std::vector<LedgerEntry> load_ledger() override {
    return pg::read_ledger(c_, pg::ask_ledger_from(c_, 0));
  }
  void put_ledger_head(const control::TreeHead& h) override {
    atomically([&] {
      c_.send("INSERT INTO ledger_heads VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING",
              {pg_num(int64_t(h.size)), pg_num(h.time), control::to_hex(h.root),
               control::to_hex(h.signature)});
    });
  }
  std::vector<control::TreeHead> load_ledger_heads() override {
    return pg::read_heads(c_, pg::ask_heads_above(c_, -1));
  }

  void put_meta(const std::string& key, const std::string& value) override {
    atomically([&] {
      c_.send("INSERT INTO meta VALUES($1,$2) ON CONFLICT(key) DO UPDATE SET value=$2",
              {key, value});
    });
  }
  std::string get_meta(const std::string& key) override {
    PgRes r = c_.q("SELECT value FROM meta WHERE key=$1", {key});
    return r.rows() ? r.t(0, 0) : "";
  }

  // Inside a transaction, one round trip when nothing changed: the feed and every append-only
  // table are asked at once, with BEGIN and the lock; a second one only for the records the feed
  // names. Outside one, the snapshot's COMMIT is one more.
  bool changes_since(uint64_t rev, uint64_t ledger_size, uint64_t head_size, int64_t rate_version,
                     StoreChanges* out) override {
    // Outside a write transaction the reads below are one snapshot (a head committed between
    // two of them would look like an altered ledger).
    const bool own_snapshot = depth_ == 0;
    if (own_snapshot) {
      ensure_connected();
      c_.send("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    }
    try {
      read_changes(rev, ledger_size, head_size, rate_version, out);
      if (own_snapshot) {
        c_.send("COMMIT");
        c_.sync();
      }
    } catch (...) {
      if (own_snapshot) c_.rollback_quietly();
      throw;
    }
    return true;
  }
  void read_changes(uint64_t rev, uint64_t ledger_size, uint64_t head_size, int64_t rate_version,
                    StoreChanges* out) {
    const PgConn::Ticket feed = c_.ask(
        "SELECT kind, key, rev FROM changes WHERE rev > $1 ORDER BY rev", {pg_num(int64_t(rev))});
    const PgConn::Ticket ledger = pg::ask_ledger_from(c_, ledger_size);
    const PgConn::Ticket heads = pg::ask_heads_above(c_, int64_t(head_size));
    const pg::RateQuery rates = pg::ask_rates_after(c_, rate_version);
    PgRes c = c_.take(feed);
    out->ledger = pg::read_ledger(c_, ledger);
    out->heads = pg::read_heads(c_, heads);
    out->rates = pg::read_rates(c_, rates);
    std::set<std::string> tokens, providers, leases;
    out->rev = rev;
    for (int i = 0; i < c.rows(); ++i) {
      const std::string kind = c.t(i, 0), key = c.t(i, 1);
      (kind == "token" ? tokens : kind == "provider" ? providers : leases).insert(key);
      out->rev = std::max(out->rev, uint64_t(c.i(i, 2)));
    }
    auto list = [](const std::set<std::string>& s) {
      return pg_text_array(std::vector<std::string>(s.begin(), s.end()));
    };
    const std::string token_ids = list(tokens), provider_ids = list(providers),
                      lease_ids = list(leases);
    PgConn::Ticket tt = 0, lt = 0;
    pg::ProviderQuery pq{};
    if (!tokens.empty()) tt = pg::ask_tokens(c_, &token_ids);
    if (!providers.empty()) pq = pg::ask_providers(c_, &provider_ids);
    if (!leases.empty()) lt = pg::ask_leases(c_, &lease_ids);
    if (!tokens.empty()) out->tokens = pg::read_tokens(c_, tt);
    if (!providers.empty()) {
      out->providers = pg::read_providers(c_, pq);
      for (auto& p : out->providers) providers.erase(p.id);
      out->removed_providers.assign(providers.begin(), providers.end());
    }
    if (!leases.empty()) out->leases = pg::read_leases(c_, lt);
  }
  uint64_t last_own_rev() override { return own_rev_; }
  uint64_t current_rev() override {
    PgRes r = c_.q("SELECT coalesce(max(rev), 0) FROM changes");
    return uint64_t(r.i(0, 0));
  }

  // Liveness travels on a connection of its own and never blocks the pool: each period's write
  // and read are posted, and their answers are read at the next period (see store.h).
  void put_liveness(const std::vector<Liveness>& seen) override {
    settle_liveness();
    if (seen.empty()) return;
    // In id order: two replicas upserting the same providers lock their rows in one order.
    std::vector<const Liveness*> order;
    for (auto& l : seen) order.push_back(&l);
    std::sort(order.begin(), order.end(),
              [](const Liveness* a, const Liveness* b) { return a->provider_id < b->provider_id; });
    std::vector<std::string> ids, ms;
    for (const Liveness* l : order) ids.push_back(l->provider_id), ms.push_back(pg_num(l->ms));
    // Without the write lock, in a transaction of its own (a sync point ends it), committed
    // without waiting for the disk (the session says so): heartbeats never wait for placements.
    live_.send(
        "INSERT INTO liveness SELECT u.id, u.ms, $3 FROM unnest($1::text[], $2::bigint[]) AS "
        "u(id, ms) ON CONFLICT(provider_id) DO UPDATE SET ms = GREATEST(liveness.ms, "
        "EXCLUDED.ms), replica = EXCLUDED.replica, at = clock_timestamp()",
        {pg_text_array(ids), pg_text_array(ms), replica_});
    live_.post();
  }
  std::vector<Liveness> load_liveness(std::string* watermark) override {
    if (live_rows_ != 0) settle_liveness();  // (put_liveness settled it, unless not called)
    std::vector<Liveness> out = std::move(live_read_);
    live_read_.clear();
    if (!live_mark_.empty()) *watermark = live_mark_;
    live_mark_.clear();
    // Rows written since the last read (less 3 s: a flush that began before it committed
    // after), with their age by the database's clock; that read's time is the next watermark.
    live_clock_ = live_.ask("SELECT clock_timestamp()::text");
    live_rows_ = live_.ask(
        "SELECT provider_id, (extract(epoch FROM clock_timestamp() - at) * 1000)::bigint "
        "FROM liveness WHERE at > $1::timestamptz - interval '3 s' AND replica <> $2",
        {watermark->empty() ? "-infinity" : *watermark, replica_});
    live_.post();
    return out;
  }
  bool lead() override {
    if (!leader_ && depth_ == 0 && c_.ok()) {
      PgRes r = c_.q("SELECT pg_try_advisory_lock($1)", {pg_num(kLeaderLock)});
      leader_ = r.t(0, 0) == "t";
    }
    return leader_;
  }

 private:
  // Bounds on what one replica can do to the others: a lock waited for 15 s at most, a
  // statement 30 s, a transaction left idle (a stopped or partitioned replica) ended after 30 s,
  // and the server probing a silent client's TCP connection after 10 s (dead after ~25 s), so
  // the write lock of a replica that vanished is freed. The liveness connection also commits
  // without waiting for the disk. Sent on their own: queued with a BEGIN, a rollback would undo
  // them.
  static void configure_session(PgConn& c, bool liveness) {
    c.send("SET lock_timeout = '15s'");
    c.send("SET statement_timeout = '30s'");
    c.send("SET idle_in_transaction_session_timeout = '30s'");
    c.send("SET tcp_keepalives_idle = 10");
    c.send("SET tcp_keepalives_interval = 5");
    c.send("SET tcp_keepalives_count = 3");
    if (liveness) c.send("SET synchronous_commit = off");
    c.sync();
  }
  // Between transactions: a lost connection is made again, once.
  void ensure_connected() {
    if (c_.ok()) return;
    leader_ = false;  // a session lock does not survive its connection
    c_.reset();
    configure_session(c_, false);
  }
  // Reads the answers of what the last period posted on the liveness connection (usually in
  // already), keeping the rows read for load_liveness; a lost connection is made again.
  void settle_liveness() {
    if (!live_.ok()) {
      live_rows_ = live_clock_ = 0;
      live_.reset();
      configure_session(live_, true);
    }
    try {
      live_.sync();
      if (live_rows_ == 0) return;
      PgRes r = live_.take(live_rows_);
      live_mark_ = live_.take(live_clock_).t(0, 0);
      for (int i = 0; i < r.rows(); ++i) {
        Liveness l;
        l.provider_id = r.t(i, 0);
        l.age_ms = std::max<int64_t>(0, r.i(i, 1));
        live_read_.push_back(std::move(l));
      }
    } catch (...) {
      live_rows_ = live_clock_ = 0;
      throw;
    }
    live_rows_ = live_clock_ = 0;
  }
  // Names a record this transaction wrote; commit() writes the feed rows and learns the newest
  // number.
  void feed(const char* kind, const std::string& key) { fed_.emplace(kind, key); }

  void check_and_migrate() {
    PgRes has = c_.q("SELECT to_regclass('meta') IS NOT NULL");
    int have = 1;
    std::string v;
    if (has.t(0, 0) == "t") {
      v = get_meta("schema_version");
      if (!v.empty()) {
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (*end || n < 1)
          throw StoreError(c_.name() + " has a malformed schema version '" + v +
                           "'; not touching it");
        have = static_cast<int>(n);
      }
    }
    if (have > kSchemaVersion)
      throw StoreError(c_.name() + " is pool schema version " + std::to_string(have) +
                       "; this rgpu-pool knows up to version " + std::to_string(kSchemaVersion) +
                       " (upgrade rgpu-pool; the database was left untouched)");
    atomically([&] {
      c_.send("SET LOCAL client_min_messages = warning");
      try {
        c_.script(kSchema);
      } catch (const StoreError& e) {
        throw StoreError(std::string("cannot create the schema: ") + e.what());
      }
      if (v.empty() && has.t(0, 0) != "t") put_meta("schema_version", "1");
    });
    for (; have < kSchemaVersion; ++have)
      atomically([&] {
        try {
          c_.script(kMigrations[have - 1]);
        } catch (const StoreError& e) {
          throw StoreError("migration to schema version " + std::to_string(have + 1) +
                           " failed: " + e.what());
        }
        put_meta("schema_version", std::to_string(have + 1));
      });
  }

  PgConn c_;
  PgConn live_;                                    // liveness only (put_liveness, load_liveness)
  PgConn::Ticket live_clock_ = 0, live_rows_ = 0;  // the read posted last period, if any
  std::vector<Liveness> live_read_;                // its rows, once settled
  std::string live_mark_;                          // its time, the next watermark
  std::string replica_;                            // this pool's name in liveness rows
  int depth_ = 0;                                  // begin() nesting
  std::set<std::pair<std::string, std::string>> fed_;  // (kind, key) this transaction wrote
  bool leader_ = false;                                // holds kLeaderLock on this connection
  uint64_t own_rev_ = 0;  // the newest change feed row the last transaction wrote
};

}  // namespace

std::unique_ptr<Store> open_pg_store(const std::string& url, const std::string& replica) {
  return std::make_unique<PgStore>(url, replica);
}

std::unique_ptr<Store> open_store(const std::string& spec, const std::string& replica) {
  if (spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0)
    return open_pg_store(spec, replica);
  return open_sqlite_store(spec);
}

}  // namespace rgpu::pool
