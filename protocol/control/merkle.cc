// protocol/control/merkle.cc — see merkle.h.
#include "protocol/control/merkle.h"

#include <openssl/sha.h>

namespace rgpu::control {
namespace {

uint64_t largest_pow2_below(uint64_t n) {  // n >= 2
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

}  // namespace

Hash sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return Hash(reinterpret_cast<char*>(out), sizeof out);
}

Hash leaf_hash(std::string_view entry) {
  std::string b(1, '\0');
  b.append(entry);
  return sha256(b);
}

Hash node_hash(const Hash& left, const Hash& right) {
  std::string b(1, '\1');
  b += left;
  b += right;
  return sha256(b);
}

void MerkleTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  for (size_t k = 0; levels_[k].size() % 2 == 0; ++k) {  // complete a subtree per level
    if (levels_.size() == k + 1) levels_.emplace_back();
    const auto& lv = levels_[k];
    levels_[k + 1].push_back(node_hash(lv[lv.size() - 2], lv[lv.size() - 1]));
  }
}

Hash MerkleTree::subtree(uint64_t lo, uint64_t n) const {
  if (n == 0) return sha256("");
  if ((n & (n - 1)) == 0 && lo % n == 0) {  // a complete aligned subtree: stored
    size_t k = 0;
    while ((uint64_t{1} << k) < n) ++k;
    return levels_[k][lo >> k];
  }
  const uint64_t k = largest_pow2_below(n);
  return node_hash(subtree(lo, k), subtree(lo + k, n - k));
}

Hash MerkleTree::root(uint64_t n) const {
  return subtree(0, n);
}

// PATH(m, D[lo:lo+n]) of RFC 6962 2.1.1, the sibling nearest the leaf first.
void MerkleTree::path(uint64_t m, uint64_t lo, uint64_t n, std::vector<Hash>* out) const {
  if (n <= 1) return;
  const uint64_t k = largest_pow2_below(n);
  if (m < k) {
    path(m, lo, k, out);
    out->push_back(subtree(lo + k, n - k));
  } else {
    path(m - k, lo + k, n - k, out);
    out->push_back(subtree(lo, k));
  }
}

std::vector<Hash> MerkleTree::inclusion(uint64_t m, uint64_t n) const {
  std::vector<Hash> out;
  path(m, 0, n, &out);
  return out;
}

// SUBPROOF(m, D[lo:lo+n], whole) of RFC 6962 2.1.2.
void MerkleTree::subproof(uint64_t m, uint64_t lo, uint64_t n, bool whole,
                          std::vector<Hash>* out) const {
  if (m == n) {
    if (!whole) out->push_back(subtree(lo, n));
    return;
  }
  const uint64_t k = largest_pow2_below(n);
  if (m <= k) {
    subproof(m, lo, k, whole, out);
    out->push_back(subtree(lo + k, n - k));
  } else {
    subproof(m - k, lo + k, n - k, false, out);
    out->push_back(subtree(lo, k));
  }
}

std::vector<Hash> MerkleTree::consistency(uint64_t m, uint64_t n) const {
  std::vector<Hash> out;
  if (m > 0 && m < n) subproof(m, 0, n, true, &out);
  return out;
}

// RFC 9162 2.1.3.2.
bool verify_inclusion(const Hash& leaf, uint64_t index, uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (p.size() != 32 || sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1)) fn >>= 1, sn >>= 1;
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

// RFC 9162 2.1.4.2.
bool verify_consistency(uint64_t m, uint64_t n, const Hash& root_m, const Hash& root_n,
                        const std::vector<Hash>& proof) {
  if (m == 0 || m > n) return false;
  if (m == n) return proof.empty() && root_m == root_n;
  if (proof.empty()) return false;
  std::vector<Hash> p = proof;
  if ((m & (m - 1)) == 0) p.insert(p.begin(), root_m);  // m a power of two: root_m starts it
  for (const Hash& h : p)
    if (h.size() != 32) return false;
  uint64_t fn = m - 1, sn = n - 1;
  while (fn & 1) fn >>= 1, sn >>= 1;
  Hash fr = p[0], sr = p[0];
  for (size_t i = 1; i < p.size(); ++i) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = node_hash(p[i], fr);
      sr = node_hash(p[i], sr);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1)) fn >>= 1, sn >>= 1;
    } else {
      sr = node_hash(sr, p[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == root_m && sr == root_n;
}

std::string tree_head_message(const TreeHead& h) {
  std::string m = "rgpu-ledger-head-1";
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>(h.size >> (8 * i)));
  for (int i = 7; i >= 0; --i)
    m.push_back(static_cast<char>(static_cast<uint64_t>(h.time) >> (8 * i)));
  m += h.root;
  return m;
}

TreeHead sign_tree_head(uint64_t size, int64_t time, const Hash& root, const PoolKey& key) {
  TreeHead h{size, time, root, ""};
  h.signature = ed25519_sign(tree_head_message(h), key);
  return h;
}

bool verify_tree_head(const TreeHead& h, std::string_view pool_public_raw) {
  return h.root.size() == 32 && ed25519_verify(tree_head_message(h), h.signature, pool_public_raw);
}

}  // namespace rgpu::control
