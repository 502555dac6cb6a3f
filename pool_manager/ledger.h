// pool_manager/ledger.h — the pool's append-only ledger of what money depends on.
//
// Contract:
// - Every usage receipt that changes a session's totals, every settled charge, every rate
//   version and every payout is one entry, in the order it happened: index 0, 1, ...; an
//   entry is never changed or removed (the store only INSERTs).
// - Entries are hash-chained (each carries the leaf hash of the one before; the first carries
//   32 zero bytes) and are the leaves of a Merkle tree with RFC 6962 hashing
//   (protocol/control/merkle.h) over entry_bytes(). Tree heads are signed with the pool's
//   Ed25519 key; head() signs the current size (kept, one per size).
// - Loading re-hashes every stored entry and re-checks the chain: a database whose ledger was
//   altered is refused (StoreError naming the first bad entry), never served.
// - An entry names the provider and the token it concerns ("" when none), so each can be given
//   its own entries with proofs against the same signed head.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/control/merkle.h"

namespace rgpu::pool {

class Store;

struct LedgerEntry {
  uint64_t index = 0;
  int64_t time = 0;  // unix s
  std::string kind;  // receipt | charge | rate | payout
  std::string body;  // a JSON object, written once
  control::Hash prev, leaf;
  std::string provider_id, token_id;  // whom it concerns
};

// The bytes a leaf hashes: "rgpu-ledger-entry-1", index, time, kind, provider, token, the
// previous leaf (hex) and the body, one per line.
std::string entry_bytes(const LedgerEntry& e);

class Ledger {
 public:
  Ledger(Store& store, const control::PoolKey& key);
  uint64_t append(int64_t time, const std::string& kind, const std::string& body,
                  const std::string& provider_id, const std::string& token_id);
  const std::vector<LedgerEntry>& entries() const { return entries_; }
  uint64_t size() const { return entries_.size(); }
  control::TreeHead head(int64_t now);  // the current size, signed (a new head when it grew)
  bool has_head(uint64_t size) const { return heads_.count(size) != 0; }
  // Entries and heads another replica appended (Store::changes_since), checked as load checks
  // them: each must chain onto the last one held. Returns the entries that were new.
  std::vector<const LedgerEntry*> adopt(std::vector<LedgerEntry> entries,
                                        const std::vector<control::TreeHead>& heads);
  uint64_t last_head_size() const { return heads_.empty() ? 0 : heads_.rbegin()->first; }
  void reload();  // everything from the store again
  // The head signed for `size`, if one was (size 0 in the result when not).
  control::TreeHead head_at(uint64_t size) const;
  std::vector<control::Hash> inclusion(uint64_t index, uint64_t size) const {
    return tree_.inclusion(index, size);
  }
  std::vector<control::Hash> consistency(uint64_t m, uint64_t n) const {
    return tree_.consistency(m, n);
  }
  control::Hash root(uint64_t n) const { return tree_.root(n); }
  // Checks again what load checked (every entry's index, chain and hash; every signed head's
  // root) plus each head's signature with one of `pool_keys` (raw public keys: every key the
  // pool signed with, signing_keys.h ledger_keys()): "" when all hold, else what is wrong,
  // naming the first bad entry or head.
  std::string audit(const std::vector<std::string>& pool_keys) const;

 private:
  Store& store_;
  const control::PoolKey& key_;
  std::vector<LedgerEntry> entries_;
  control::MerkleTree tree_;
  std::map<uint64_t, control::TreeHead> heads_;  // every head signed, by size
};

}  // namespace rgpu::pool
