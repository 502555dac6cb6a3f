// pool_manager/store.h — where the pool keeps its state.
//
// Contract: every put_* is durable when it returns (a restart's load_* sees it). The pool holds
// the working copy in memory and writes through; a Store never decides anything. SqliteStore is
// the default (one file, WAL); a clustered store implements the same interface. Methods throw
// StoreError on I/O failure with a message naming the file and the operation.
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
  // Everything `fn` writes is one transaction: all of it is durable, or (fn threw) none of it.
  // Nests: an inner call joins the outer transaction. Money and its ledger entry go together.
  virtual void atomically(const std::function<void()>& fn) = 0;
  virtual std::string get_meta(const std::string& key) = 0;  // "" if absent
};

// Opens (creating if needed) `path` as an SQLite database in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);

}  // namespace rgpu::pool
