// protocol/control/merkle.h — an append-only Merkle tree with RFC 6962 hashing, and the
// checks a pool's ledger is held to: inclusion and consistency proofs, signed tree heads.
//
// Contract:
// - Hashes are SHA-256, 32 bytes. leaf_hash(d) = H(0x00 || d); a node is H(0x01 || l || r);
//   the tree of n leaves splits at the largest power of two below n (RFC 6962 section 2.1); the
//   empty tree's root is H("").
// - MerkleTree holds the leaf hashes and every complete aligned subtree, so root(n), an
//   inclusion proof (the audit path of leaf m in the tree of its first n leaves) and a
//   consistency proof (tree of m leaves -> tree of n) each cost O(log^2 n) hashes; append is
//   amortised O(1). Proofs are for any earlier size, so a provider holding an old head can ask
//   for its consistency with a new one.
// - verify_inclusion / verify_consistency need only the hashes and sizes (RFC 9162 2.1.3.2 and
//   2.1.4.2): they are what a provider or an auditor runs offline.
// - A tree head (size, unix time, root) is signed with the pool's Ed25519 key over
//   tree_head_message(); verify_tree_head checks it with only the public key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/control/lease.h"

namespace rgpu::control {

using Hash = std::string;  // 32 raw bytes

Hash sha256(std::string_view data);
Hash leaf_hash(std::string_view entry);
Hash node_hash(const Hash& left, const Hash& right);

class MerkleTree {
 public:
  void append(const Hash& leaf);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  Hash root(uint64_t n) const;                                  // n <= size()
  std::vector<Hash> inclusion(uint64_t m, uint64_t n) const;    // m < n <= size()
  std::vector<Hash> consistency(uint64_t m, uint64_t n) const;  // 0 < m <= n <= size()

 private:
  Hash subtree(uint64_t lo, uint64_t n) const;  // the root of leaves [lo, lo + n)
  void path(uint64_t m, uint64_t lo, uint64_t n, std::vector<Hash>* out) const;
  void subproof(uint64_t m, uint64_t lo, uint64_t n, bool whole, std::vector<Hash>* out) const;
  // levels_[k][i]: the root of leaves [i * 2^k, (i + 1) * 2^k), for every complete one.
  std::vector<std::vector<Hash>> levels_;
};

bool verify_inclusion(const Hash& leaf, uint64_t index, uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root);
bool verify_consistency(uint64_t m, uint64_t n, const Hash& root_m, const Hash& root_n,
                        const std::vector<Hash>& proof);

struct TreeHead {
  uint64_t size = 0;
  int64_t time = 0;  // unix s
  Hash root;
  std::string signature;  // 64 bytes, Ed25519
};
std::string tree_head_message(const TreeHead& h);  // "rgpu-ledger-head-1", size, time, root
TreeHead sign_tree_head(uint64_t size, int64_t time, const Hash& root, const PoolKey& key);
bool verify_tree_head(const TreeHead& h, std::string_view pool_public_raw);

}  // namespace rgpu::control
