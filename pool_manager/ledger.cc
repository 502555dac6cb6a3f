// pool_manager/ledger.cc — see ledger.h.
#include "pool_manager/ledger.h"

#include "pool_manager/store.h"

namespace rgpu::pool {

std::string entry_bytes(const LedgerEntry& e) {
  return "rgpu-ledger-entry-1\n" + std::to_string(e.index) + "\n" + std::to_string(e.time) + "\n" +
         e.kind + "\n" + e.provider_id + "\n" + e.token_id + "\n" + control::to_hex(e.prev) + "\n" +
         e.body;
}

Ledger::Ledger(Store& store, const control::PoolKey& key) : store_(store), key_(key) {
  entries_ = store_.load_ledger();
  control::Hash prev(32, '\0');
  for (size_t i = 0; i < entries_.size(); ++i) {
    const LedgerEntry& e = entries_[i];
    if (e.index != i)
      throw StoreError("ledger entry " + std::to_string(i) + " is missing (found " +
                       std::to_string(e.index) + "): the ledger was altered");
    if (e.prev != prev)
      throw StoreError("ledger entry " + std::to_string(i) +
                       " does not chain to the one before it: the ledger was altered");
    if (control::leaf_hash(entry_bytes(e)) != e.leaf)
      throw StoreError("ledger entry " + std::to_string(i) +
                       " does not match its hash: the ledger was altered");
    tree_.append(e.leaf);
    prev = e.leaf;
  }
  for (auto& h : store_.load_ledger_heads()) {
    if (h.size > entries_.size() || tree_.root(h.size) != h.root)
      throw StoreError("the ledger head signed at size " + std::to_string(h.size) +
                       " does not match the stored entries: the ledger was altered");
    heads_[h.size] = h;
  }
}

uint64_t Ledger::append(int64_t time, const std::string& kind, const std::string& body,
                        const std::string& provider_id, const std::string& token_id) {
  LedgerEntry e;
  e.index = entries_.size();
  e.time = time;
  e.kind = kind;
  e.body = body;
  e.provider_id = provider_id;
  e.token_id = token_id;
  e.prev = entries_.empty() ? control::Hash(32, '\0') : entries_.back().leaf;
  e.leaf = control::leaf_hash(entry_bytes(e));
  store_.append_ledger(e);
  tree_.append(e.leaf);
  entries_.push_back(std::move(e));
  return entries_.back().index;
}

control::TreeHead Ledger::head(int64_t now) {
  auto it = heads_.find(entries_.size());
  if (it != heads_.end()) return it->second;
  control::TreeHead h =
      control::sign_tree_head(entries_.size(), now, tree_.root(entries_.size()), key_);
  store_.put_ledger_head(h);
  heads_[h.size] = h;
  return h;
}

control::TreeHead Ledger::head_at(uint64_t size) const {
  auto it = heads_.find(size);
  return it == heads_.end() ? control::TreeHead{} : it->second;
}

}  // namespace rgpu::pool
