// pool_manager/ledger.cc — see ledger.h.
#include "pool_manager/ledger.h"

#include <algorithm>

#include "pool_manager/store.h"

namespace rgpu::pool {

std::string entry_bytes(const LedgerEntry& e) {
  return "rgpu-ledger-entry-1\n" + std::to_string(e.index) + "\n" + std::to_string(e.time) + "\n" +
         e.kind + "\n" + e.provider_id + "\n" + e.token_id + "\n" + control::to_hex(e.prev) + "\n" +
         e.body;
}

namespace {

// "" when entries are whole (indexed from 0, chained, each matching its hash), else why.
std::string check_chain(const std::vector<LedgerEntry>& entries, control::MerkleTree* tree) {
  control::Hash prev(32, '\0');
  for (size_t i = 0; i < entries.size(); ++i) {
    const LedgerEntry& e = entries[i];
    if (e.index != i)
      return "ledger entry " + std::to_string(i) + " is missing (found " + std::to_string(e.index) +
             "): the ledger was altered";
    if (e.prev != prev)
      return "ledger entry " + std::to_string(i) +
             " does not chain to the one before it: the ledger was altered";
    if (control::leaf_hash(entry_bytes(e)) != e.leaf)
      return "ledger entry " + std::to_string(i) +
             " does not match its hash: the ledger was altered";
    if (tree) tree->append(e.leaf);
    prev = e.leaf;
  }
  return "";
}

std::string head_mismatch(uint64_t size) {
  return "the ledger head signed at size " + std::to_string(size) +
         " does not match the stored entries: the ledger was altered";
}

}  // namespace

Ledger::Ledger(Store& store, const control::PoolKey& key) : store_(store), key_(key) {
  reload();
}

void Ledger::reload() {
  entries_ = store_.load_ledger();
  tree_ = control::MerkleTree();
  heads_.clear();
  std::string bad = check_chain(entries_, &tree_);
  if (!bad.empty()) throw StoreError(bad);
  for (auto& h : store_.load_ledger_heads()) {
    if (h.size > entries_.size() || tree_.root(h.size) != h.root)
      throw StoreError(head_mismatch(h.size));
    heads_[h.size] = h;
  }
}

std::vector<const LedgerEntry*> Ledger::adopt(std::vector<LedgerEntry> entries,
                                              const std::vector<control::TreeHead>& heads) {
  const size_t first = entries_.size();
  for (auto& e : entries) {
    if (e.index < entries_.size()) {  // held already (appended here): the same entry
      if (entries_[e.index].leaf != e.leaf)
        throw StoreError("ledger entry " + std::to_string(e.index) +
                         " held here differs from the shared store's");
      continue;
    }
    if (e.index != entries_.size())
      throw StoreError("ledger entry " + std::to_string(entries_.size()) +
                       " is missing from the shared store: the ledger was altered");
    const control::Hash prev = entries_.empty() ? control::Hash(32, '\0') : entries_.back().leaf;
    if (e.prev != prev || control::leaf_hash(entry_bytes(e)) != e.leaf)
      throw StoreError("ledger entry " + std::to_string(e.index) +
                       " from the shared store does not chain or match its hash: the ledger "
                       "was altered");
    tree_.append(e.leaf);
    entries_.push_back(std::move(e));
  }
  for (const auto& h : heads) {
    if (heads_.count(h.size)) continue;
    if (h.size > entries_.size() || tree_.root(h.size) != h.root)
      throw StoreError(head_mismatch(h.size));
    heads_[h.size] = h;
  }
  std::vector<const LedgerEntry*> added;
  for (size_t i = first; i < entries_.size(); ++i) added.push_back(&entries_[i]);
  return added;
}

std::string Ledger::audit(const std::vector<std::string>& pool_keys) const {
  std::string bad = check_chain(entries_, nullptr);
  if (!bad.empty()) return bad;
  for (const auto& [size, h] : heads_) {
    if (size > entries_.size() || tree_.root(size) != h.root) return head_mismatch(size);
    const control::TreeHead& head = h;  // (a structured binding is not captured by clang 14)
    if (std::none_of(pool_keys.begin(), pool_keys.end(),
                     [&](const std::string& k) { return control::verify_tree_head(head, k); }))
      return "the ledger head signed at size " + std::to_string(size) +
             " does not verify with any key the pool has signed with";
  }
  return "";
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
