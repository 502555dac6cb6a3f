// pool_manager/sqlite_store.cc — the default Store: one SQLite file in WAL mode (see store.h).
#include <sqlite3.h>

#include <cstdlib>
#include <functional>
#include <map>

#include "pool_manager/store.h"
#include "protocol/control/lease.h"

namespace rgpu::pool {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role INTEGER,
  name TEXT, created INTEGER);
CREATE TABLE IF NOT EXISTS providers(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, endpoint TEXT,
  owner TEXT, schedule TEXT, server_version TEXT, drained INTEGER, drain_reason TEXT,
  drain_deadline INTEGER, registered INTEGER);
CREATE TABLE IF NOT EXISTS labels(provider_id TEXT, key TEXT, value TEXT);
CREATE TABLE IF NOT EXISTS gpus(provider_id TEXT, idx INTEGER, name TEXT, memory_total INTEGER,
  memory_lent INTEGER, cc_major INTEGER, cc_minor INTEGER, driver TEXT, uuid TEXT);
CREATE TABLE IF NOT EXISTS leases(id TEXT PRIMARY KEY, provider_id TEXT, provider_name TEXT,
  endpoint TEXT, gpu_index INTEGER, vram INTEGER, whole INTEGER, state TEXT, session_id INTEGER,
  token_id TEXT, client_name TEXT, created INTEGER, expires INTEGER, started INTEGER,
  ended INTEGER, end_reason TEXT, kill_requested INTEGER, kill_reason TEXT);
CREATE TABLE IF NOT EXISTS lease_tally(lease_id TEXT PRIMARY KEY, wall_ms INTEGER,
  bytes_in INTEGER, bytes_out INTEGER, dispute TEXT);
CREATE TABLE IF NOT EXISTS revoked_tokens(id TEXT PRIMARY KEY, at INTEGER);
CREATE TABLE IF NOT EXISTS credit_limits(token_id TEXT PRIMARY KEY, credit_limit INTEGER);
CREATE TABLE IF NOT EXISTS rates(version INTEGER PRIMARY KEY, set_unix INTEGER, set_by TEXT,
  gpu_hour INTEGER, gib_hour INTEGER, gb_moved INTEGER, bill_busy INTEGER, fee_ppm INTEGER);
CREATE TABLE IF NOT EXISTS rate_overrides(version INTEGER, kind TEXT, key TEXT, gpu_hour INTEGER);
CREATE TABLE IF NOT EXISTS ledger(idx INTEGER PRIMARY KEY, at INTEGER, kind TEXT,
  provider_id TEXT, token_id TEXT, prev TEXT, leaf TEXT, body TEXT);
CREATE TABLE IF NOT EXISTS ledger_heads(size INTEGER PRIMARY KEY, at INTEGER, root TEXT,
  sig TEXT);
CREATE TABLE IF NOT EXISTS charges(lease_id TEXT PRIMARY KEY, rate_version INTEGER,
  billed_ms INTEGER, cost INTEGER, fee INTEGER, earnings INTEGER, settled_unix INTEGER);
CREATE TABLE IF NOT EXISTS lease_usage(lease_id TEXT PRIMARY KEY, seq INTEGER, final INTEGER,
  wall_ms INTEGER, busy_ns INTEGER, mem_gb_s REAL, mem_peak INTEGER, bytes_in INTEGER,
  bytes_out INTEGER, calls INTEGER, receipts INTEGER, last_receipt_ms INTEGER);
)sql";

// Schema versions: the tables above are version 1; kMigrations[i] takes version i + 1 to
// i + 2. A database newer than this binary knows is refused, never written.
const char* kMigrations[] = {
    // 2: the rate version a session started under; a provider's minimum price.
    "ALTER TABLE leases ADD COLUMN rate_version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN min_price INTEGER NOT NULL DEFAULT 0;",
    // 3: the GPU a lease was placed on, as it was then (model, lent memory): what it is billed by.
    "ALTER TABLE leases ADD COLUMN gpu_model TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE leases ADD COLUMN gpu_lent INTEGER NOT NULL DEFAULT 0;",
    // 4: the key a provider's receipts are signed with (hex; '' : unsigned).
    "ALTER TABLE providers ADD COLUMN receipt_key TEXT NOT NULL DEFAULT '';",
    // 5: the client's request id an acquire carried (a retry gets the same leases).
    "ALTER TABLE leases ADD COLUMN request_id TEXT NOT NULL DEFAULT '';",
    // 6: compute shares: a lease's, and what a provider lends of each GPU's device time.
    ("ALTER TABLE leases ADD COLUMN compute INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE gpus ADD COLUMN compute_lent INTEGER NOT NULL DEFAULT 0;"),
};
constexpr int kSchemaVersion = 1 + static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

// A bound statement; bind values by position with b(), read columns with the getters.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw StoreError(path_ + ": " + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& b(const std::string& v) {
    sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& b(int64_t v) {
    sqlite3_bind_int64(s_, ++n_, v);
    return *this;
  }
  Stmt& b(double v) {
    sqlite3_bind_double(s_, ++n_, v);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError(path_ + ": " + sqlite3_errmsg(db_));
  }
  std::string t(int i) {
    auto p = sqlite3_column_text(s_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t i(int c) { return sqlite3_column_int64(s_, c); }
  double d(int c) { return sqlite3_column_double(s_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  std::string path_;
  int n_ = 0;
};

class SqliteStore : public Store {
 public:
  explicit SqliteStore(const std::string& path) : path_(path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      std::string e = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("cannot open the pool database " + path + ": " + e);
    }
    sqlite3_busy_timeout(db_, 5000);
    check_version();  // before anything is written: a newer database stays untouched
    exec("PRAGMA journal_mode=WAL;");
    exec("PRAGMA synchronous=NORMAL;");
    exec(kSchema);
    migrate();
  }
  ~SqliteStore() override { sqlite3_close(db_); }

  void put_token(const TokenRecord& t) override {
    Stmt(db_, "INSERT OR REPLACE INTO tokens VALUES(?,?,?,?,?)", path_)
        .b(t.id)
        .b(t.hash)
        .b(int64_t(t.role))
        .b(t.name)
        .b(t.created)
        .step();
  }
  std::vector<TokenRecord> load_tokens() override {
    std::vector<TokenRecord> out;
    Stmt s(db_, "SELECT id,hash,role,name,created FROM tokens", path_);
    while (s.step()) out.push_back({s.t(0), s.t(1), Role(s.i(2)), s.t(3), s.i(4)});
    Stmt r(db_, "SELECT id,at FROM revoked_tokens", path_);
    while (r.step())
      for (auto& t : out)
        if (t.id == r.t(0)) t.revoked = r.i(1);
    Stmt cl(db_, "SELECT token_id,credit_limit FROM credit_limits", path_);
    while (cl.step())
      for (auto& t : out)
        if (t.id == cl.t(0)) t.credit_limit = cl.i(1);
    return out;
  }
  void put_credit_limit(const std::string& token_id, int64_t limit) override {
    Stmt(db_, "INSERT OR REPLACE INTO credit_limits VALUES(?,?)", path_)
        .b(token_id)
        .b(limit)
        .step();
  }
  void revoke_token(const std::string& id, int64_t at_unix) override {
    Stmt(db_, "INSERT OR IGNORE INTO revoked_tokens VALUES(?,?)", path_).b(id).b(at_unix).step();
  }

  void put_provider(const ProviderRecord& p) override {
    tx([&] {
      Stmt(db_, "INSERT OR REPLACE INTO providers VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", path_)
          .b(p.id)
          .b(p.name)
          .b(p.endpoint)
          .b(p.owner_token)
          .b(p.schedule)
          .b(p.server_version)
          .b(int64_t(p.drained))
          .b(p.drain_reason)
          .b(p.drain_deadline)
          .b(p.registered)
          .b(p.min_price)
          .b(control::to_hex(p.receipt_key))
          .step();
      Stmt(db_, "DELETE FROM labels WHERE provider_id=?", path_).b(p.id).step();
      Stmt(db_, "DELETE FROM gpus WHERE provider_id=?", path_).b(p.id).step();
      for (auto& [k, v] : p.labels)
        Stmt(db_, "INSERT INTO labels VALUES(?,?,?)", path_).b(p.id).b(k).b(v).step();
      for (auto& g : p.gpus)
        Stmt(db_, "INSERT INTO gpus VALUES(?,?,?,?,?,?,?,?,?,?)", path_)
            .b(p.id)
            .b(int64_t(g.index))
            .b(g.name)
            .b(int64_t(g.memory_total))
            .b(int64_t(g.memory_lent))
            .b(int64_t(g.cc_major))
            .b(int64_t(g.cc_minor))
            .b(g.driver_version)
            .b(g.uuid)
            .b(int64_t(g.compute_lent))
            .step();
    });
  }
  void delete_provider(const std::string& id) override {
    tx([&] {
      Stmt(db_, "DELETE FROM providers WHERE id=?", path_).b(id).step();
      Stmt(db_, "DELETE FROM labels WHERE provider_id=?", path_).b(id).step();
      Stmt(db_, "DELETE FROM gpus WHERE provider_id=?", path_).b(id).step();
    });
  }
  std::vector<ProviderRecord> load_providers() override {
    std::vector<ProviderRecord> out;
    Stmt s(db_,
           "SELECT id,name,endpoint,owner,schedule,server_version,drained,drain_reason,"
           "drain_deadline,registered,min_price,receipt_key FROM providers ORDER BY registered, id",
           path_);
    while (s.step()) {
      ProviderRecord p;
      p.id = s.t(0), p.name = s.t(1), p.endpoint = s.t(2), p.owner_token = s.t(3);
      p.schedule = s.t(4), p.server_version = s.t(5), p.drained = s.i(6) != 0;
      p.drain_reason = s.t(7), p.drain_deadline = s.i(8), p.registered = s.i(9);
      p.min_price = s.i(10);
      if (!control::from_hex(s.t(11), &p.receipt_key))
        throw StoreError(path_ + ": provider " + p.id + " has a malformed receipt key");
      Stmt l(db_, "SELECT key,value FROM labels WHERE provider_id=?", path_);
      l.b(p.id);
      while (l.step()) p.labels[l.t(0)] = l.t(1);
      Stmt g(db_,
             "SELECT idx,name,memory_total,memory_lent,cc_major,cc_minor,driver,uuid,compute_lent "
             "FROM gpus "
             "WHERE provider_id=? ORDER BY idx",
             path_);
      g.b(p.id);
      while (g.step()) {
        GpuRecord r;
        r.index = uint32_t(g.i(0)), r.name = g.t(1), r.memory_total = uint64_t(g.i(2));
        r.memory_lent = uint64_t(g.i(3)), r.cc_major = uint32_t(g.i(4));
        r.cc_minor = uint32_t(g.i(5)), r.driver_version = g.t(6), r.uuid = g.t(7);
        r.compute_lent = uint32_t(g.i(8));
        p.gpus.push_back(r);
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  void put_lease(const LeaseRecord& l) override {
    Stmt(db_, "INSERT OR REPLACE INTO leases VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
         path_)
        .b(l.id)
        .b(l.provider_id)
        .b(l.provider_name)
        .b(l.endpoint)
        .b(int64_t(l.gpu_index))
        .b(int64_t(l.vram))
        .b(int64_t(l.whole_gpu))
        .b(std::string(lease_state_text(l.state)))
        .b(int64_t(l.session_id))
        .b(l.token_id)
        .b(l.client_name)
        .b(l.created)
        .b(l.expires)
        .b(l.started)
        .b(l.ended)
        .b(l.end_reason)
        .b(int64_t(l.kill_requested))
        .b(l.kill_reason)
        .b(l.rate_version)
        .b(l.gpu_model)
        .b(int64_t(l.gpu_lent))
        .b(l.request_id)
        .b(int64_t(l.compute_milli))
        .step();
  }
  std::vector<LeaseRecord> load_leases() override {
    std::vector<LeaseRecord> out;
    Stmt s(db_, "SELECT * FROM leases ORDER BY created, id", path_);
    while (s.step()) {
      LeaseRecord l;
      l.id = s.t(0), l.provider_id = s.t(1), l.provider_name = s.t(2), l.endpoint = s.t(3);
      l.gpu_index = uint32_t(s.i(4)), l.vram = uint64_t(s.i(5)), l.whole_gpu = s.i(6) != 0;
      if (!parse_lease_state(s.t(7), &l.state))
        throw StoreError(path_ + ": lease " + l.id + " has unknown state " + s.t(7));
      l.session_id = uint64_t(s.i(8)), l.token_id = s.t(9), l.client_name = s.t(10);
      l.created = s.i(11), l.expires = s.i(12), l.started = s.i(13), l.ended = s.i(14);
      l.end_reason = s.t(15), l.kill_requested = s.i(16) != 0, l.kill_reason = s.t(17);
      l.rate_version = s.i(18), l.gpu_model = s.t(19), l.gpu_lent = uint64_t(s.i(20));
      l.request_id = s.t(21), l.compute_milli = uint32_t(s.i(22));
      out.push_back(std::move(l));
    }
    Stmt u(db_, "SELECT * FROM lease_usage", path_);
    std::map<std::string, size_t> at;
    for (size_t k = 0; k < out.size(); ++k) at[out[k].id] = k;
    while (u.step()) {
      auto it = at.find(u.t(0));
      if (it == at.end()) continue;
      LeaseRecord& l = out[it->second];
      control::UsageReceipt& r = l.usage;
      r.lease_id = l.id, r.session_id = l.session_id;
      r.seq = uint64_t(u.i(1)), r.final = u.i(2) != 0, r.wall_ms = uint64_t(u.i(3));
      r.busy_ns = uint64_t(u.i(4)), r.mem_gb_s = u.d(5), r.mem_peak = uint64_t(u.i(6));
      r.bytes_in = uint64_t(u.i(7)), r.bytes_out = uint64_t(u.i(8)), r.calls = uint64_t(u.i(9));
      l.receipts = uint32_t(u.i(10)), l.last_receipt_ms = u.i(11);
    }
    Stmt ta(db_, "SELECT * FROM lease_tally", path_);
    while (ta.step()) {
      auto it = at.find(ta.t(0));
      if (it == at.end()) continue;
      LeaseRecord& l = out[it->second];
      l.tally_reported = true;
      l.tally_wall_ms = uint64_t(ta.i(1)), l.tally_bytes_in = uint64_t(ta.i(2));
      l.tally_bytes_out = uint64_t(ta.i(3)), l.dispute = ta.t(4);
    }
    Stmt ch(db_, "SELECT * FROM charges", path_);
    while (ch.step()) {
      auto it = at.find(ch.t(0));
      if (it == at.end()) continue;
      Charge& c = out[it->second].charge;
      c.rate_version = ch.i(1), c.billed_ms = uint64_t(ch.i(2)), c.cost = ch.i(3);
      c.fee = ch.i(4), c.earnings = ch.i(5), c.settled_unix = ch.i(6);
    }
    return out;
  }

  void put_lease_tally(const LeaseRecord& l) override {
    Stmt(db_, "INSERT OR REPLACE INTO lease_tally VALUES(?,?,?,?,?)", path_)
        .b(l.id)
        .b(int64_t(l.tally_wall_ms))
        .b(int64_t(l.tally_bytes_in))
        .b(int64_t(l.tally_bytes_out))
        .b(l.dispute)
        .step();
  }
  void put_charge(const std::string& lease_id, const Charge& c) override {
    // Plain INSERT: a settled charge is never rewritten (a second one is an error).
    Stmt(db_, "INSERT INTO charges VALUES(?,?,?,?,?,?,?)", path_)
        .b(lease_id)
        .b(c.rate_version)
        .b(int64_t(c.billed_ms))
        .b(c.cost)
        .b(c.fee)
        .b(c.earnings)
        .b(c.settled_unix)
        .step();
  }

  void append_ledger(const LedgerEntry& e) override {
    Stmt(db_, "INSERT INTO ledger VALUES(?,?,?,?,?,?,?,?)", path_)
        .b(int64_t(e.index))
        .b(e.time)
        .b(e.kind)
        .b(e.provider_id)
        .b(e.token_id)
        .b(control::to_hex(e.prev))
        .b(control::to_hex(e.leaf))
        .b(e.body)
        .step();
  }
  std::vector<LedgerEntry> load_ledger() override {
    std::vector<LedgerEntry> out;
    Stmt s(db_, "SELECT * FROM ledger ORDER BY idx", path_);
    while (s.step()) {
      LedgerEntry e;
      e.index = uint64_t(s.i(0)), e.time = s.i(1), e.kind = s.t(2), e.provider_id = s.t(3);
      e.token_id = s.t(4), e.body = s.t(7);
      if (!control::from_hex(s.t(5), &e.prev) || !control::from_hex(s.t(6), &e.leaf))
        throw StoreError(path_ + ": ledger entry " + std::to_string(e.index) +
                         " has a malformed hash");
      out.push_back(std::move(e));
    }
    return out;
  }
  void put_ledger_head(const control::TreeHead& h) override {
    Stmt(db_, "INSERT OR IGNORE INTO ledger_heads VALUES(?,?,?,?)", path_)
        .b(int64_t(h.size))
        .b(h.time)
        .b(control::to_hex(h.root))
        .b(control::to_hex(h.signature))
        .step();
  }
  std::vector<control::TreeHead> load_ledger_heads() override {
    std::vector<control::TreeHead> out;
    Stmt s(db_, "SELECT * FROM ledger_heads ORDER BY size", path_);
    while (s.step()) {
      control::TreeHead h;
      h.size = uint64_t(s.i(0)), h.time = s.i(1);
      if (!control::from_hex(s.t(2), &h.root) || !control::from_hex(s.t(3), &h.signature))
        throw StoreError(path_ + ": a ledger head has a malformed hash");
      out.push_back(std::move(h));
    }
    return out;
  }

  void put_rates(const RateCard& r) override {
    tx([&] {  // plain INSERT: a version, once set, never changes
      Stmt(db_, "INSERT INTO rates VALUES(?,?,?,?,?,?,?,?)", path_)
          .b(r.version)
          .b(r.set_unix)
          .b(r.set_by)
          .b(r.gpu_hour)
          .b(r.gib_hour)
          .b(r.gb_moved)
          .b(int64_t(r.bill_busy))
          .b(int64_t(r.fee_ppm))
          .step();
      for (auto& [k, v] : r.gpu_hour_by_model)
        Stmt(db_, "INSERT INTO rate_overrides VALUES(?,'model',?,?)", path_)
            .b(r.version)
            .b(k)
            .b(v)
            .step();
      for (auto& [k, v] : r.gpu_hour_by_provider)
        Stmt(db_, "INSERT INTO rate_overrides VALUES(?,'provider',?,?)", path_)
            .b(r.version)
            .b(k)
            .b(v)
            .step();
    });
  }
  std::vector<RateCard> load_rates() override {
    std::vector<RateCard> out;
    Stmt s(db_, "SELECT * FROM rates ORDER BY version", path_);
    while (s.step()) {
      RateCard r;
      r.version = s.i(0), r.set_unix = s.i(1), r.set_by = s.t(2), r.gpu_hour = s.i(3);
      r.gib_hour = s.i(4), r.gb_moved = s.i(5), r.bill_busy = s.i(6) != 0;
      r.fee_ppm = uint32_t(s.i(7));
      Stmt o(db_, "SELECT kind,key,gpu_hour FROM rate_overrides WHERE version=?", path_);
      o.b(r.version);
      while (o.step())
        (o.t(0) == "model" ? r.gpu_hour_by_model : r.gpu_hour_by_provider)[o.t(1)] = o.i(2);
      out.push_back(std::move(r));
    }
    return out;
  }

  void put_lease_usage(const LeaseRecord& l) override {
    const control::UsageReceipt& r = l.usage;
    Stmt(db_, "INSERT OR REPLACE INTO lease_usage VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", path_)
        .b(l.id)
        .b(int64_t(r.seq))
        .b(int64_t(r.final))
        .b(int64_t(r.wall_ms))
        .b(int64_t(r.busy_ns))
        .b(r.mem_gb_s)
        .b(int64_t(r.mem_peak))
        .b(int64_t(r.bytes_in))
        .b(int64_t(r.bytes_out))
        .b(int64_t(r.calls))
        .b(int64_t(l.receipts))
        .b(l.last_receipt_ms)
        .step();
  }

  void begin() override {
    if (depth_++ == 0) try {
        exec("BEGIN IMMEDIATE");
      } catch (...) {
        depth_ = 0;
        throw;
      }
  }
  void commit() override {
    if (depth_ == 0) throw StoreError(path_ + ": commit without a transaction");
    if (--depth_ == 0) exec("COMMIT");
  }
  void rollback() override {
    if (depth_ == 0) return;
    depth_ = 0;
    exec("ROLLBACK");
  }
  void put_meta(const std::string& key, const std::string& value) override {
    Stmt(db_, "INSERT OR REPLACE INTO meta VALUES(?,?)", path_).b(key).b(value).step();
  }
  std::string get_meta(const std::string& key) override {
    Stmt s(db_, "SELECT value FROM meta WHERE key=?", path_);
    s.b(key);
    return s.step() ? s.t(0) : "";
  }

 private:
  // The schema version the file says (1 when it has none), refusing newer or malformed ones.
  int stored_version() {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema_version'", -1, &s,
                           nullptr) != SQLITE_OK) {
      sqlite3_finalize(s);
      return 1;  // no meta table yet: a fresh file, or one from before versions
    }
    std::string v;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (v.empty()) return 1;
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (*end || n < 1)
      throw StoreError(path_ + " has a malformed schema version '" + v + "'; not touching it");
    return static_cast<int>(n);
  }
  void check_version() {
    const int have = stored_version();
    if (have > kSchemaVersion)
      throw StoreError(path_ + " is pool schema version " + std::to_string(have) +
                       "; this rgpu-pool knows up to version " + std::to_string(kSchemaVersion) +
                       " (upgrade rgpu-pool; the database was left untouched)");
  }
  void migrate() {
    std::string v = get_meta("schema_version");
    int have = stored_version();
    for (; have < kSchemaVersion; ++have)
      tx([&] {
        exec(kMigrations[have - 1]);
        put_meta("schema_version", std::to_string(have + 1));
      });
    if (v.empty()) put_meta("schema_version", std::to_string(kSchemaVersion));
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string e = err ? err : "unknown error";
      sqlite3_free(err);
      throw StoreError(path_ + ": " + e);
    }
  }
  void tx(const std::function<void()>& fn) { atomically(fn); }

  std::string path_;
  sqlite3* db_ = nullptr;
  int depth_ = 0;  // begin() nesting
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace rgpu::pool
