// pool_manager/pg_store.cc — the Store several rgpu-pool replicas share: one PostgreSQL database
// through libpq (see store.h for the contract and the write lock; docs/architecture.md,
// "Replicas").
//
// Every transaction takes pg_advisory_xact_lock(kWriteLock) right after BEGIN, so transactions
// that write commit one after another, and each names what it wrote in `changes` (rev BIGSERIAL):
// rev order is commit order, and a replica that read up to rev N has missed nothing below N.
// Ledger entries, heads and rate versions are append-only and are caught up by index instead.
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

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
};
constexpr int kSchemaVersion = 1 + static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

std::string num(int64_t v) {
  return std::to_string(v);
}
std::string real(double v) {
  char b[40];
  snprintf(b, sizeof b, "%.17g", v);
  return b;
}
// A text[] literal of `v` ('{"a","b"}'), every element quoted.
std::string text_array(const std::vector<std::string>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    s += i ? ",\"" : "\"";
    for (char c : v[i]) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  return s + "}";
}

// One result; rows and columns read as text, integers or reals.
class Res {
 public:
  explicit Res(PGresult* r) : r_(r) {}
  Res(Res&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  ~Res() { PQclear(r_); }
  int rows() const { return PQntuples(r_); }
  std::string t(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t i(int row, int col) const { return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10); }
  double d(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  const PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

class PgStore : public Store {
 public:
  PgStore(const std::string& url, const std::string& replica) : replica_(replica) {
    conn_ = PQconnectdb(url.c_str());
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string e = conn_ ? PQerrorMessage(conn_) : "out of memory";
      PQfinish(conn_);
      conn_ = nullptr;
      while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
      throw StoreError("cannot connect to the pool database: " + e);
    }
    name_ = std::string("postgresql ") + PQdb(conn_) + " on " + PQhost(conn_) + ":" + PQport(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);  // IF NOT EXISTS chatter
    q("SELECT pg_advisory_lock($1)", {num(kSchemaLock)});
    try {
      check_and_migrate();
    } catch (...) {
      q("SELECT pg_advisory_unlock($1)", {num(kSchemaLock)});
      throw;
    }
    q("SELECT pg_advisory_unlock($1)", {num(kSchemaLock)});
  }
  ~PgStore() override { PQfinish(conn_); }

  bool shared() const override { return true; }

  void begin() override {
    if (depth_ > 0) {
      ++depth_;
      return;
    }
    ensure_connected();
    q("BEGIN");
    depth_ = 1;
    own_rev_ = 0;
    try {
      q("SELECT pg_advisory_xact_lock($1)", {num(kWriteLock)});
    } catch (...) {
      rollback();
      throw;
    }
  }
  void commit() override {
    if (depth_ == 0) throw StoreError(name_ + ": commit without a transaction");
    if (--depth_ == 0) q("COMMIT");
  }
  void rollback() override {
    if (depth_ == 0) return;
    depth_ = 0;
    PQclear(PQexec(conn_, "ROLLBACK"));  // a lost connection has nothing left to roll back
  }

  void put_token(const TokenRecord& t) override {
    atomically([&] {
      q("INSERT INTO tokens VALUES($1,$2,$3,$4,$5) ON CONFLICT(id) DO UPDATE SET hash=$2,"
        "role=$3,name=$4,created=$5",
        {t.id, t.hash, num(int64_t(t.role)), t.name, num(t.created)});
      feed("token", t.id);
    });
  }
  std::vector<TokenRecord> load_tokens() override { return tokens_where("", {}); }
  void revoke_token(const std::string& id, int64_t at) override {
    atomically([&] {
      q("INSERT INTO revoked_tokens VALUES($1,$2) ON CONFLICT DO NOTHING", {id, num(at)});
      feed("token", id);
    });
  }
  void put_credit_limit(const std::string& id, int64_t limit) override {
    atomically([&] {
      q("INSERT INTO credit_limits VALUES($1,$2) ON CONFLICT(token_id) DO UPDATE SET "
        "credit_limit=$2",
        {id, num(limit)});
      feed("token", id);
    });
  }

  void put_provider(const ProviderRecord& p) override {
    atomically([&] {
      q("INSERT INTO providers VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT(id) "
        "DO UPDATE SET name=$2,endpoint=$3,owner=$4,schedule=$5,server_version=$6,drained=$7,"
        "drain_reason=$8,drain_deadline=$9,registered=$10,min_price=$11,receipt_key=$12",
        {p.id, p.name, p.endpoint, p.owner_token, p.schedule, p.server_version, num(p.drained),
         p.drain_reason, num(p.drain_deadline), num(p.registered), num(p.min_price),
         control::to_hex(p.receipt_key)});
      q("DELETE FROM labels WHERE provider_id=$1", {p.id});
      q("DELETE FROM gpus WHERE provider_id=$1", {p.id});
      for (auto& [k, v] : p.labels) q("INSERT INTO labels VALUES($1,$2,$3)", {p.id, k, v});
      for (auto& g : p.gpus)
        q("INSERT INTO gpus VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)",
          {p.id, num(g.index), g.name, num(int64_t(g.memory_total)), num(int64_t(g.memory_lent)),
           num(g.cc_major), num(g.cc_minor), g.driver_version, g.uuid});
      feed("provider", p.id);
    });
  }
  void delete_provider(const std::string& id) override {
    atomically([&] {
      q("DELETE FROM providers WHERE id=$1", {id});
      q("DELETE FROM labels WHERE provider_id=$1", {id});
      q("DELETE FROM gpus WHERE provider_id=$1", {id});
      feed("provider", id);
    });
  }
  std::vector<ProviderRecord> load_providers() override { return providers_where(nullptr); }

  void put_lease(const LeaseRecord& l) override {
    atomically([&] {
      q("INSERT INTO leases VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
        "$18,$19,$20,$21,$22) ON CONFLICT(id) DO UPDATE SET provider_id=$2,provider_name=$3,"
        "endpoint=$4,gpu_index=$5,vram=$6,whole=$7,state=$8,session_id=$9,token_id=$10,"
        "client_name=$11,created=$12,expires=$13,started=$14,ended=$15,end_reason=$16,"
        "kill_requested=$17,kill_reason=$18,rate_version=$19,gpu_model=$20,gpu_lent=$21,"
        "request_id=$22",
        {l.id,
         l.provider_id,
         l.provider_name,
         l.endpoint,
         num(l.gpu_index),
         num(int64_t(l.vram)),
         num(l.whole_gpu),
         lease_state_text(l.state),
         num(int64_t(l.session_id)),
         l.token_id,
         l.client_name,
         num(l.created),
         num(l.expires),
         num(l.started),
         num(l.ended),
         l.end_reason,
         num(l.kill_requested),
         l.kill_reason,
         num(l.rate_version),
         l.gpu_model,
         num(int64_t(l.gpu_lent)),
         l.request_id});
      feed("lease", l.id);
    });
  }
  std::vector<LeaseRecord> load_leases() override { return leases_where(nullptr); }
  void put_lease_usage(const LeaseRecord& l) override {
    const control::UsageReceipt& r = l.usage;
    atomically([&] {
      q("INSERT INTO lease_usage VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) "
        "ON CONFLICT(lease_id) DO UPDATE SET seq=$2,final=$3,wall_ms=$4,busy_ns=$5,"
        "mem_gb_s=$6,mem_peak=$7,bytes_in=$8,bytes_out=$9,calls=$10,receipts=$11,"
        "last_receipt_ms=$12",
        {l.id, num(int64_t(r.seq)), num(r.final), num(int64_t(r.wall_ms)), num(int64_t(r.busy_ns)),
         real(r.mem_gb_s), num(int64_t(r.mem_peak)), num(int64_t(r.bytes_in)),
         num(int64_t(r.bytes_out)), num(int64_t(r.calls)), num(l.receipts),
         num(l.last_receipt_ms)});
      feed("lease", l.id);
    });
  }
  void put_lease_tally(const LeaseRecord& l) override {
    atomically([&] {
      q("INSERT INTO lease_tally VALUES($1,$2,$3,$4,$5) ON CONFLICT(lease_id) DO UPDATE SET "
        "wall_ms=$2,bytes_in=$3,bytes_out=$4,dispute=$5",
        {l.id, num(int64_t(l.tally_wall_ms)), num(int64_t(l.tally_bytes_in)),
         num(int64_t(l.tally_bytes_out)), l.dispute});
      feed("lease", l.id);
    });
  }
  void put_charge(const std::string& lease_id, const Charge& c) override {
    atomically([&] {  // plain INSERT: a settled charge is never rewritten
      q("INSERT INTO charges VALUES($1,$2,$3,$4,$5,$6,$7)",
        {lease_id, num(c.rate_version), num(int64_t(c.billed_ms)), num(c.cost), num(c.fee),
         num(c.earnings), num(c.settled_unix)});
      feed("lease", lease_id);
    });
  }

  void put_rates(const RateCard& r) override {
    atomically([&] {  // plain INSERT: a version, once set, never changes
      q("INSERT INTO rates VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
        {num(r.version), num(r.set_unix), r.set_by, num(r.gpu_hour), num(r.gib_hour),
         num(r.gb_moved), num(r.bill_busy), num(r.fee_ppm)});
      for (auto& [k, v] : r.gpu_hour_by_model)
        q("INSERT INTO rate_overrides VALUES($1,'model',$2,$3)", {num(r.version), k, num(v)});
      for (auto& [k, v] : r.gpu_hour_by_provider)
        q("INSERT INTO rate_overrides VALUES($1,'provider',$2,$3)", {num(r.version), k, num(v)});
    });
  }
  std::vector<RateCard> load_rates() override { return rates_after(0); }

  void append_ledger(const LedgerEntry& e) override {
    atomically([&] {
      q("INSERT INTO ledger VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
        {num(int64_t(e.index)), num(e.time), e.kind, e.provider_id, e.token_id,
         control::to_hex(e.prev), control::to_hex(e.leaf), e.body});
    });
  }
  std::vector<LedgerEntry> load_ledger() override { return ledger_from(0); }
  void put_ledger_head(const control::TreeHead& h) override {
    atomically([&] {
      q("INSERT INTO ledger_heads VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING",
        {num(int64_t(h.size)), num(h.time), control::to_hex(h.root), control::to_hex(h.signature)});
    });
  }
  std::vector<control::TreeHead> load_ledger_heads() override { return heads_above(-1); }

  void put_meta(const std::string& key, const std::string& value) override {
    atomically([&] {
      q("INSERT INTO meta VALUES($1,$2) ON CONFLICT(key) DO UPDATE SET value=$2", {key, value});
    });
  }
  std::string get_meta(const std::string& key) override {
    Res r = q("SELECT value FROM meta WHERE key=$1", {key});
    return r.rows() ? r.t(0, 0) : "";
  }

  bool changes_since(uint64_t rev, uint64_t ledger_size, uint64_t head_size, int64_t rate_version,
                     StoreChanges* out) override {
    // Outside a write transaction the reads below are one snapshot (a head committed between
    // two of them would look like an altered ledger).
    const bool own_snapshot = depth_ == 0;
    if (own_snapshot) {
      ensure_connected();
      q("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    }
    try {
      read_changes(rev, ledger_size, head_size, rate_version, out);
    } catch (...) {
      if (own_snapshot) PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
    if (own_snapshot) q("COMMIT");
    return true;
  }
  void read_changes(uint64_t rev, uint64_t ledger_size, uint64_t head_size, int64_t rate_version,
                    StoreChanges* out) {
    Res c =
        q("SELECT kind, key, rev FROM changes WHERE rev > $1 ORDER BY rev", {num(int64_t(rev))});
    std::set<std::string> tokens, providers, leases;
    out->rev = rev;
    for (int i = 0; i < c.rows(); ++i) {
      const std::string kind = c.t(i, 0), key = c.t(i, 1);
      (kind == "token" ? tokens : kind == "provider" ? providers : leases).insert(key);
      out->rev = std::max(out->rev, uint64_t(c.i(i, 2)));
    }
    auto list = [](const std::set<std::string>& s) {
      return text_array(std::vector<std::string>(s.begin(), s.end()));
    };
    if (!tokens.empty()) out->tokens = tokens_where("WHERE t.id = ANY($1::text[])", {list(tokens)});
    if (!providers.empty()) {
      const std::string ids = list(providers);
      out->providers = providers_where(&ids);
      for (auto& p : out->providers) providers.erase(p.id);
      out->removed_providers.assign(providers.begin(), providers.end());
    }
    if (!leases.empty()) {
      const std::string ids = list(leases);
      out->leases = leases_where(&ids);
    }
    out->ledger = ledger_from(ledger_size);
    out->heads = heads_above(int64_t(head_size));
    out->rates = rates_after(rate_version);
  }
  uint64_t last_own_rev() override { return own_rev_; }
  uint64_t current_rev() override {
    Res r = q("SELECT coalesce(max(rev), 0) FROM changes");
    return uint64_t(r.i(0, 0));
  }

  void put_liveness(const std::vector<Liveness>& seen) override {
    if (seen.empty()) return;
    ensure_connected();
    std::vector<std::string> ids, ms;
    for (auto& l : seen) ids.push_back(l.provider_id), ms.push_back(num(l.ms));
    // Its own transaction without the write lock: heartbeats never wait for placements.
    q("BEGIN");
    try {
      q("SET LOCAL synchronous_commit = off");
      q("INSERT INTO liveness SELECT u.id, u.ms, $3 FROM unnest($1::text[], $2::bigint[]) AS "
        "u(id, ms) ON CONFLICT(provider_id) DO UPDATE SET ms = GREATEST(liveness.ms, "
        "EXCLUDED.ms), replica = EXCLUDED.replica, at = clock_timestamp()",
        {text_array(ids), text_array(ms), replica_});
      q("COMMIT");
    } catch (...) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }
  std::vector<Liveness> load_liveness(std::string* watermark) override {
    // Rows written since the last read (less 3 s: a flush that began before it committed
    // after), with their age by the database's clock; the next read starts from now.
    Res now = q("SELECT clock_timestamp()::text");
    Res r =
        q("SELECT provider_id, (extract(epoch FROM clock_timestamp() - at) * 1000)::bigint "
          "FROM liveness WHERE at > $1::timestamptz - interval '3 s' AND replica <> $2",
          {watermark->empty() ? "-infinity" : *watermark, replica_});
    *watermark = now.t(0, 0);
    std::vector<Liveness> out;
    for (int i = 0; i < r.rows(); ++i) {
      Liveness l;
      l.provider_id = r.t(i, 0);
      l.age_ms = std::max<int64_t>(0, r.i(i, 1));
      out.push_back(std::move(l));
    }
    return out;
  }
  bool lead() override {
    if (!leader_ && depth_ == 0 && PQstatus(conn_) == CONNECTION_OK) {
      Res r = q("SELECT pg_try_advisory_lock($1)", {num(kLeaderLock)});
      leader_ = r.t(0, 0) == "t";
    }
    return leader_;
  }

 private:
  Res q(const char* sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> v;
    for (auto& p : params) v.push_back(p.c_str());
    PGresult* r = PQexecParams(conn_, sql, static_cast<int>(v.size()), nullptr, v.data(), nullptr,
                               nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string e = PQresultErrorMessage(r);
      if (e.empty()) e = PQerrorMessage(conn_);
      PQclear(r);
      while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
      std::string what(sql);
      if (what.size() > 60) what = what.substr(0, 60) + "…";
      throw StoreError(name_ + ": " + e + " (in: " + what + ")");
    }
    return Res(r);
  }
  // Bounds on what one replica can do to the others: a lock waited for 15 s at most, a
  // statement 30 s, a transaction left idle (a stopped or partitioned replica) ended after 30 s,
  // and the server probing a silent client's TCP connection after 10 s (dead after ~25 s), so
  // the write lock of a replica that vanished is freed.
  void configure_session() {
    q("SET lock_timeout = '15s'");
    q("SET statement_timeout = '30s'");
    q("SET idle_in_transaction_session_timeout = '30s'");
    q("SET tcp_keepalives_idle = 10");
    q("SET tcp_keepalives_interval = 5");
    q("SET tcp_keepalives_count = 3");
  }
  // Between transactions: a lost connection is made again, once.
  void ensure_connected() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    leader_ = false;  // a session lock does not survive its connection
    if (PQstatus(conn_) != CONNECTION_OK)
      throw StoreError(name_ + ": connection lost: " + PQerrorMessage(conn_));
    configure_session();
  }
  void feed(const char* kind, const std::string& key) {
    Res r = q("INSERT INTO changes(kind, key) VALUES($1,$2) RETURNING rev", {kind, key});
    own_rev_ = std::max(own_rev_, uint64_t(r.i(0, 0)));
  }

  void check_and_migrate() {
    Res has = q("SELECT to_regclass('meta') IS NOT NULL");
    int have = 1;
    std::string v;
    if (has.t(0, 0) == "t") {
      v = get_meta("schema_version");
      if (!v.empty()) {
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (*end || n < 1)
          throw StoreError(name_ + " has a malformed schema version '" + v + "'; not touching it");
        have = static_cast<int>(n);
      }
    }
    if (have > kSchemaVersion)
      throw StoreError(name_ + " is pool schema version " + std::to_string(have) +
                       "; this rgpu-pool knows up to version " + std::to_string(kSchemaVersion) +
                       " (upgrade rgpu-pool; the database was left untouched)");
    atomically([&] {
      PQclear(PQexec(conn_, "SET LOCAL client_min_messages = warning"));
      Res r(PQexec(conn_, kSchema));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw StoreError(name_ + ": cannot create the schema: " + PQerrorMessage(conn_));
      if (v.empty() && has.t(0, 0) != "t") put_meta("schema_version", "1");
    });
    for (; have < kSchemaVersion; ++have)
      atomically([&] {
        Res r(PQexec(conn_, kMigrations[have - 1]));
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
          throw StoreError(name_ + ": migration to schema version " + std::to_string(have + 1) +
                           " failed: " + PQerrorMessage(conn_));
        put_meta("schema_version", std::to_string(have + 1));
      });
  }

  std::vector<TokenRecord> tokens_where(const char* where, const std::vector<std::string>& p) {
    Res r = q((std::string("SELECT t.id,t.hash,t.role,t.name,t.created,coalesce(v.at,0),"
                           "coalesce(c.credit_limit,0) FROM tokens t LEFT JOIN revoked_tokens v "
                           "ON v.id=t.id LEFT JOIN credit_limits c ON c.token_id=t.id ") +
               where + " ORDER BY t.created, t.id")
                  .c_str(),
              p);
    std::vector<TokenRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      TokenRecord t{r.t(i, 0), r.t(i, 1), Role(r.i(i, 2)), r.t(i, 3), r.i(i, 4)};
      t.revoked = r.i(i, 5), t.credit_limit = r.i(i, 6);
      out.push_back(std::move(t));
    }
    return out;
  }

  // Every provider, or those whose ids `ids` (a text[] literal) lists.
  std::vector<ProviderRecord> providers_where(const std::string* ids) {
    const std::string w = ids ? " WHERE id = ANY($1::text[])" : "";
    const std::string wp = ids ? " WHERE provider_id = ANY($1::text[])" : "";
    std::vector<std::string> p;
    if (ids) p.push_back(*ids);
    Res s = q(("SELECT id,name,endpoint,owner,schedule,server_version,drained,drain_reason,"
               "drain_deadline,registered,min_price,receipt_key FROM providers" +
               w + " ORDER BY registered, id")
                  .c_str(),
              p);
    std::vector<ProviderRecord> out;
    std::map<std::string, size_t> at;
    for (int i = 0; i < s.rows(); ++i) {
      ProviderRecord r;
      r.id = s.t(i, 0), r.name = s.t(i, 1), r.endpoint = s.t(i, 2), r.owner_token = s.t(i, 3);
      r.schedule = s.t(i, 4), r.server_version = s.t(i, 5), r.drained = s.i(i, 6) != 0;
      r.drain_reason = s.t(i, 7), r.drain_deadline = s.i(i, 8), r.registered = s.i(i, 9);
      r.min_price = s.i(i, 10);
      if (!control::from_hex(s.t(i, 11), &r.receipt_key))
        throw StoreError(name_ + ": provider " + r.id + " has a malformed receipt key");
      at[r.id] = out.size();
      out.push_back(std::move(r));
    }
    Res l = q(("SELECT provider_id,key,value FROM labels" + wp).c_str(), p);
    for (int i = 0; i < l.rows(); ++i)
      if (auto it = at.find(l.t(i, 0)); it != at.end())
        out[it->second].labels[l.t(i, 1)] = l.t(i, 2);
    Res g = q(("SELECT provider_id,idx,name,memory_total,memory_lent,cc_major,cc_minor,driver,uuid "
               "FROM gpus" +
               wp + " ORDER BY provider_id, idx")
                  .c_str(),
              p);
    for (int i = 0; i < g.rows(); ++i) {
      auto it = at.find(g.t(i, 0));
      if (it == at.end()) continue;
      GpuRecord r;
      r.index = uint32_t(g.i(i, 1)), r.name = g.t(i, 2), r.memory_total = uint64_t(g.i(i, 3));
      r.memory_lent = uint64_t(g.i(i, 4)), r.cc_major = uint32_t(g.i(i, 5));
      r.cc_minor = uint32_t(g.i(i, 6)), r.driver_version = g.t(i, 7), r.uuid = g.t(i, 8);
      out[it->second].gpus.push_back(r);
    }
    return out;
  }

  // Every lease with its usage, tally and charge, or those whose ids `ids` lists.
  std::vector<LeaseRecord> leases_where(const std::string* ids) {
    std::vector<std::string> p;
    if (ids) p.push_back(*ids);
    Res s =
        q((std::string("SELECT l.id,l.provider_id,l.provider_name,l.endpoint,l.gpu_index,l.vram,"
                       "l.whole,l.state,l.session_id,l.token_id,l.client_name,l.created,l.expires,"
                       "l.started,l.ended,l.end_reason,l.kill_requested,l.kill_reason,"
                       "l.rate_version,l.gpu_model,l.gpu_lent,l.request_id,"
                       "u.lease_id IS NOT NULL,u.seq,u.final,u.wall_ms,u.busy_ns,u.mem_gb_s,"
                       "u.mem_peak,u.bytes_in,u.bytes_out,u.calls,u.receipts,u.last_receipt_ms,"
                       "t.lease_id IS NOT NULL,t.wall_ms,t.bytes_in,t.bytes_out,t.dispute,"
                       "c.rate_version,c.billed_ms,c.cost,c.fee,c.earnings,c.settled_unix "
                       "FROM leases l LEFT JOIN lease_usage u ON u.lease_id=l.id "
                       "LEFT JOIN lease_tally t ON t.lease_id=l.id "
                       "LEFT JOIN charges c ON c.lease_id=l.id") +
           (ids ? " WHERE l.id = ANY($1::text[])" : "") + " ORDER BY l.created, l.id")
              .c_str(),
          p);
    std::vector<LeaseRecord> out;
    for (int i = 0; i < s.rows(); ++i) {
      LeaseRecord l;
      l.id = s.t(i, 0), l.provider_id = s.t(i, 1), l.provider_name = s.t(i, 2);
      l.endpoint = s.t(i, 3), l.gpu_index = uint32_t(s.i(i, 4)), l.vram = uint64_t(s.i(i, 5));
      l.whole_gpu = s.i(i, 6) != 0;
      if (!parse_lease_state(s.t(i, 7), &l.state))
        throw StoreError(name_ + ": lease " + l.id + " has unknown state " + s.t(i, 7));
      l.session_id = uint64_t(s.i(i, 8)), l.token_id = s.t(i, 9), l.client_name = s.t(i, 10);
      l.created = s.i(i, 11), l.expires = s.i(i, 12), l.started = s.i(i, 13);
      l.ended = s.i(i, 14), l.end_reason = s.t(i, 15), l.kill_requested = s.i(i, 16) != 0;
      l.kill_reason = s.t(i, 17), l.rate_version = s.i(i, 18), l.gpu_model = s.t(i, 19);
      l.gpu_lent = uint64_t(s.i(i, 20)), l.request_id = s.t(i, 21);
      if (s.t(i, 22) == "t") {
        control::UsageReceipt& r = l.usage;
        r.lease_id = l.id, r.session_id = l.session_id;
        r.seq = uint64_t(s.i(i, 23)), r.final = s.i(i, 24) != 0;
        r.wall_ms = uint64_t(s.i(i, 25)), r.busy_ns = uint64_t(s.i(i, 26));
        r.mem_gb_s = s.d(i, 27), r.mem_peak = uint64_t(s.i(i, 28));
        r.bytes_in = uint64_t(s.i(i, 29)), r.bytes_out = uint64_t(s.i(i, 30));
        r.calls = uint64_t(s.i(i, 31)), l.receipts = uint32_t(s.i(i, 32));
        l.last_receipt_ms = s.i(i, 33);
      }
      if (s.t(i, 34) == "t") {
        l.tally_reported = true;
        l.tally_wall_ms = uint64_t(s.i(i, 35)), l.tally_bytes_in = uint64_t(s.i(i, 36));
        l.tally_bytes_out = uint64_t(s.i(i, 37)), l.dispute = s.t(i, 38);
      }
      if (!s.null(i, 39)) {
        Charge& c = l.charge;
        c.rate_version = s.i(i, 39), c.billed_ms = uint64_t(s.i(i, 40)), c.cost = s.i(i, 41);
        c.fee = s.i(i, 42), c.earnings = s.i(i, 43), c.settled_unix = s.i(i, 44);
      }
      out.push_back(std::move(l));
    }
    return out;
  }

  std::vector<RateCard> rates_after(int64_t version) {
    Res s =
        q("SELECT version,set_unix,set_by,gpu_hour,gib_hour,gb_moved,bill_busy,fee_ppm "
          "FROM rates WHERE version > $1 ORDER BY version",
          {num(version)});
    Res o = q("SELECT version,kind,key,gpu_hour FROM rate_overrides WHERE version > $1",
              {num(version)});
    std::vector<RateCard> out;
    for (int i = 0; i < s.rows(); ++i) {
      RateCard r;
      r.version = s.i(i, 0), r.set_unix = s.i(i, 1), r.set_by = s.t(i, 2);
      r.gpu_hour = s.i(i, 3), r.gib_hour = s.i(i, 4), r.gb_moved = s.i(i, 5);
      r.bill_busy = s.i(i, 6) != 0, r.fee_ppm = uint32_t(s.i(i, 7));
      for (int k = 0; k < o.rows(); ++k)
        if (o.i(k, 0) == r.version)
          (o.t(k, 1) == "model" ? r.gpu_hour_by_model : r.gpu_hour_by_provider)[o.t(k, 2)] =
              o.i(k, 3);
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<LedgerEntry> ledger_from(uint64_t index) {
    Res s =
        q("SELECT idx,at,kind,provider_id,token_id,prev,leaf,body FROM ledger WHERE idx >= $1 "
          "ORDER BY idx",
          {num(int64_t(index))});
    std::vector<LedgerEntry> out;
    for (int i = 0; i < s.rows(); ++i) {
      LedgerEntry e;
      e.index = uint64_t(s.i(i, 0)), e.time = s.i(i, 1), e.kind = s.t(i, 2);
      e.provider_id = s.t(i, 3), e.token_id = s.t(i, 4), e.body = s.t(i, 7);
      if (!control::from_hex(s.t(i, 5), &e.prev) || !control::from_hex(s.t(i, 6), &e.leaf))
        throw StoreError(name_ + ": ledger entry " + std::to_string(e.index) +
                         " has a malformed hash");
      out.push_back(std::move(e));
    }
    return out;
  }
  std::vector<control::TreeHead> heads_above(int64_t size) {
    Res s =
        q("SELECT size,at,root,sig FROM ledger_heads WHERE size > $1 ORDER BY size", {num(size)});
    std::vector<control::TreeHead> out;
    for (int i = 0; i < s.rows(); ++i) {
      control::TreeHead h;
      h.size = uint64_t(s.i(i, 0)), h.time = s.i(i, 1);
      if (!control::from_hex(s.t(i, 2), &h.root) || !control::from_hex(s.t(i, 3), &h.signature))
        throw StoreError(name_ + ": a ledger head has a malformed hash");
      out.push_back(std::move(h));
    }
    return out;
  }

  PGconn* conn_ = nullptr;
  std::string name_;      // "postgresql DB on HOST:PORT", for messages (never the password)
  std::string replica_;   // this pool's name in liveness rows
  int depth_ = 0;         // begin() nesting
  bool leader_ = false;   // holds kLeaderLock on this connection
  uint64_t own_rev_ = 0;  // the newest change feed row this transaction wrote
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
