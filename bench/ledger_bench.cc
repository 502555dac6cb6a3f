// bench/ledger_bench.cc — figure 8: the pool's ledger (pool_manager/ledger.h). Prints
//   - appends per second through the real Ledger on the SQLite store (each entry hashed,
//     chained, added to the Merkle tree and INSERTed), against bare SQLite INSERTs of the same
//     rows in the same run;
//   - the time to verify N entries offline as `rgpu ledger verify` does (re-hash each entry,
//     check the chain and its inclusion proof), against hashing the same entries once.
// N defaults to 1,000,000 (RGPU_BENCH_LEDGER_N). Ratios only; absolute times are this machine's.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "pool_manager/ledger.h"
#include "pool_manager/store.h"
#include "protocol/control/merkle.h"

using namespace rgpu;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string body(uint64_t i) {
  return "{\"bytes_in\":" + std::to_string(i * 4096) +
         ",\"busy_ns\":123456789,\"calls\":42,\"final\":false,\"lease\":\"l" + std::to_string(i) +
         "\",\"mem_gb_s\":12.5,\"provider\":\"gpu-box-1\",\"seq\":7}";
}

}  // namespace

int main() {
  const uint64_t n = std::getenv("RGPU_BENCH_LEDGER_N")
                         ? std::strtoull(std::getenv("RGPU_BENCH_LEDGER_N"), nullptr, 10)
                         : 1'000'000;
  const uint64_t appends = std::min<uint64_t>(n, 100'000);
  char tmpl[] = "/tmp/rgpu-ledger-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  control::PoolKey key = control::generate_pool_key();

  // Appends through the Ledger (store included), then bare INSERTs of the same shape.
  double t_ledger, t_sqlite;
  {
    auto store = pool::open_sqlite_store(dir + "/a.db");
    pool::Ledger ledger(*store, key);
    auto t = Clock::now();
    for (uint64_t i = 0; i < appends; ++i)
      ledger.append(1800000000, "receipt", body(i), "p1", "t1");
    ledger.head(1800000000);
    t_ledger = since(t);
  }
  {
    sqlite3* db = nullptr;
    sqlite3_open((dir + "/b.db").c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE ledger(idx "
                 "INTEGER PRIMARY KEY, at INTEGER, kind TEXT, provider_id TEXT, token_id TEXT, "
                 "prev TEXT, leaf TEXT, body TEXT);",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO ledger VALUES(?,?,?,?,?,?,?,?)", -1, &s, nullptr);
    const std::string hex(64, 'a');
    auto t = Clock::now();
    for (uint64_t i = 0; i < appends; ++i) {
      const std::string b = body(i);
      sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(i));
      sqlite3_bind_int64(s, 2, 1800000000);
      sqlite3_bind_text(s, 3, "receipt", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, "p1", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 5, "t1", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 6, hex.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 7, hex.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 8, b.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(s);
      sqlite3_reset(s);
    }
    t_sqlite = since(t);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }

  // Offline verification of n entries against one head, as `rgpu ledger verify` does.
  std::vector<pool::LedgerEntry> es(n);
  control::MerkleTree tree;
  control::Hash prev(32, '\0');
  for (uint64_t i = 0; i < n; ++i) {
    pool::LedgerEntry& e = es[i];
    e.index = i, e.time = 1800000000, e.kind = "receipt", e.body = body(i), e.prev = prev;
    e.provider_id = "p1", e.token_id = "t1";
    e.leaf = control::leaf_hash(pool::entry_bytes(e));
    tree.append(e.leaf);
    prev = e.leaf;
  }
  const control::TreeHead head = control::sign_tree_head(n, 1800000000, tree.root(n), key);
  std::vector<std::vector<control::Hash>> proofs(n);
  for (uint64_t i = 0; i < n; ++i) proofs[i] = tree.inclusion(i, n);
  auto t = Clock::now();
  bool ok = control::verify_tree_head(head, key.public_raw);
  control::Hash last(32, '\0');
  for (uint64_t i = 0; i < n && ok; ++i) {
    const control::Hash leaf = control::leaf_hash(pool::entry_bytes(es[i]));
    ok = leaf == es[i].leaf && es[i].prev == last &&
         control::verify_inclusion(leaf, i, n, proofs[i], head.root);
    last = leaf;
  }
  const double t_verify = since(t);
  t = Clock::now();
  size_t sink = 0;
  for (uint64_t i = 0; i < n; ++i)
    sink += static_cast<unsigned char>(control::sha256(pool::entry_bytes(es[i]))[0]);
  const double t_hash = since(t);
  std::filesystem::remove_all(dir);

  std::printf("Figure 8: the ledger (appends through Ledger on SQLite; offline verification)\n");
  std::printf(
      "  appends: %llu in %.3f s = %.0f /s; bare SQLite INSERTs %.0f /s; ratio %.2fx of bare\n",
      static_cast<unsigned long long>(appends), t_ledger, appends / t_ledger, appends / t_sqlite,
      t_sqlite / t_ledger);
  std::printf(
      "  verify %llu entries (hash, chain, inclusion proof): %.2f s%s; hashing them once %.2f s; "
      "ratio %.1fx of that (%zu)\n",
      static_cast<unsigned long long>(n), t_verify, ok ? "" : " (FAILED)", t_hash,
      t_verify / t_hash, sink % 2);
  return ok ? 0 : 1;
}
