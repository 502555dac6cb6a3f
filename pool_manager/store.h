// pool_manager/store.h — where the pool keeps its state.
//
// Contract: every put_* is durable when it returns, or when the transaction it is part of
// commits (a restart's load_* sees it). The pool holds the working copy in memory and writes
// through; a Store never decides anything. Methods throw StoreError on I/O failure with a
// message naming the database and the operation.
// - SqliteStore (open_sqlite_store): one file in WAL mode, one pool process (the data
//   directory's lock says so). The default, and the demo's.
// - PgStore (open_pg_store, pg_store.cc): a PostgreSQL database that any number of pools
//   (replicas) serve at once. Every transaction holds one cluster-wide write lock
//   (pg_advisory_xact_lock) from begin() to commit, and every row it writes is named in a change
//   feed numbered in commit order; changes_since() hands a replica what the others wrote, so a
//   replica that begins a transaction and catches up decides on the whole truth (placement never
//   over-commits a GPU, a ledger index is never taken twice).
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pool_manager/ledger.h"
#include "pool_manager/records.h"

namespace rgpu::pool {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What other pools sharing the store wrote since a replica last looked (changes_since).
struct StoreChanges {
  uint64_t rev = 0;  // the newest change included: pass it next time
  std::vector<TokenRecord> tokens;
  std::vector<ProviderRecord> providers;
  std::vector<std::string> removed_providers;  // ids
  std::vector<LeaseRecord> leases;             // with their usage, tally and charge
  std::vector<LedgerEntry> ledger;             // from the asked size on, by index
  std::vector<control::TreeHead> heads;        // larger than the asked size, by size
  std::vector<RateCard> rates;                 // newer than the asked version
  bool empty() const {
    return tokens.empty() && providers.empty() && removed_providers.empty() && leases.empty() &&
           ledger.empty() && heads.empty() && rates.empty();
  }
};

// A provider's last heartbeat as one replica saw it: `ms` (unix ms, that replica's clock) when
// written; when read, `age_ms`: how long ago, by the database's clock (replicas' clocks may
// disagree; the database's is one).
struct Liveness {
  std::string provider_id;
  int64_t ms = 0;
  int64_t age_ms = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual void put_token(const TokenRecord& t) = 0;
  virtual std::vector<TokenRecord> load_tokens() = 0;  // with their revocations
  virtual void revoke_token(const std::string& id, int64_t at_unix) = 0;
  virtual void put_credit_limit(const std::string& token_id, int64_t limit) = 0;
  virtual void put_provider(const ProviderRecord& p) = 0;
  virtual void delete_provider(const std::string& id) = 0;
  virtual std::vector<ProviderRecord> load_providers() = 0;
  virtual void put_lease(const LeaseRecord& l) = 0;
  virtual std::vector<LeaseRecord> load_leases() = 0;  // with their usage
  // A lease's usage (usage, receipts, last_receipt_ms), kept beside the lease.
  virtual void put_lease_usage(const LeaseRecord& l) = 0;
  // The client's tally and the dispute, kept beside the lease.
  virtual void put_lease_tally(const LeaseRecord& l) = 0;
  // A session's settled charge: written once; a second one for the lease throws.
  virtual void put_charge(const std::string& lease_id, const Charge& c) = 0;
  // A new rate version: written once; a version that exists throws.
  virtual void put_rates(const RateCard& r) = 0;
  virtual std::vector<RateCard> load_rates() = 0;  // by version
  // The ledger (ledger.h): entries are INSERTed once, by index; heads one per size.
  virtual void append_ledger(const LedgerEntry& e) = 0;
  virtual std::vector<LedgerEntry> load_ledger() = 0;  // by index
  virtual void put_ledger_head(const control::TreeHead& h) = 0;
  virtual std::vector<control::TreeHead> load_ledger_heads() = 0;  // by size
  virtual void put_meta(const std::string& key, const std::string& value) = 0;
  virtual std::string get_meta(const std::string& key) = 0;  // "" if absent

  // Transactions. Everything written between begin() and commit() is durable together, or
  // (rollback()) none of it is. They nest: only the outermost commit() commits; rollback() at
  // any depth rolls the whole transaction back and leaves no transaction open. A write outside
  // one is its own transaction.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  // Everything `fn` writes is one transaction (joining an open one). Money and its ledger
  // entry go together.
  void atomically(const std::function<void()>& fn) {
    begin();
    try {
      fn();
    } catch (...) {
      rollback();
      throw;
    }
    commit();
  }

  // Replicas. A store several pools share says so; the rest answer as a store one pool owns.
  virtual bool shared() const { return false; }
  // What was written since change `rev`, plus ledger entries from `ledger_size`, heads above
  // `head_size`, rate versions above `rate_version`. False (and *out untouched) when nothing
  // but this pool writes the store.
  virtual bool changes_since(uint64_t /*rev*/, uint64_t /*ledger_size*/, uint64_t /*head_size*/,
                             int64_t /*rate_version*/, StoreChanges* /*out*/) {
    return false;
  }
  virtual uint64_t current_rev() { return 0; }  // the change feed's newest number
  // The newest change feed row the last transaction wrote (0: none). Once it committed, every
  // row up to it is either its own or was caught up before it began (writers hold the lock),
  // so the replica need not read its own writes back.
  virtual uint64_t last_own_rev() { return 0; }
  // Heartbeats seen here, and those other replicas wrote since *watermark (an opaque position,
  // "" at first, advanced by each call; none when unshared). Neither waits for the database:
  // a write is sent and its failure reported by the next call; load_liveness() answers what
  // the previous call asked for (ages as of then; nothing at the first call) and sends the
  // next read.
  // Liveness is not money: it is written without the write lock and may lose its last second
  // in a crash.
  virtual void put_liveness(const std::vector<Liveness>& /*seen*/) {}
  virtual std::vector<Liveness> load_liveness(std::string* /*watermark*/) { return {}; }
  // Whether this pool is the one that does the once-only periodic work (sweeps, expiry): true
  // for an unshared store; for a shared one, the replica holding the leader lock, which passes
  // to another replica when its holder's connection ends.
  virtual bool lead() { return true; }
};

// Opens (creating if needed) `path` as an SQLite database in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);
// Connects to a PostgreSQL database (a libpq URL, postgresql://…), creating or migrating its
// schema. `replica` names this pool in the database (liveness rows, logs).
std::unique_ptr<Store> open_pg_store(const std::string& url, const std::string& replica);
// The store `spec` names: a postgresql:// or postgres:// URL, else an SQLite file path.
std::unique_ptr<Store> open_store(const std::string& spec, const std::string& replica);

}  // namespace rgpu::pool
