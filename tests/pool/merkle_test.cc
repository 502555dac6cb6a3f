// tests/pool/merkle_test.cc — the ledger's Merkle tree (protocol/control/merkle.h) against
// RFC 6962's reference vectors, and every inclusion and consistency proof for small trees.
#include <gtest/gtest.h>

#include "protocol/control/merkle.h"

using namespace rgpu::control;

namespace {

// The eight leaves of the Certificate Transparency reference tests and the roots of their
// first 1..8 (RFC 6962 hashing).
const std::vector<std::string> kLeaves = {"",
                                          std::string(1, '\0'),
                                          "\x10",
                                          "\x20\x21",
                                          "\x30\x31",
                                          "\x40\x41\x42\x43",
                                          "\x50\x51\x52\x53\x54\x55\x56\x57",
                                          "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d"
                                          "\x6e\x6f"};
const char* kRoots[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

MerkleTree tree_of(uint64_t n, std::vector<Hash>* leaves) {
  MerkleTree t;
  for (uint64_t i = 0; i < n; ++i) {
    leaves->push_back(leaf_hash("entry " + std::to_string(i)));
    t.append(leaves->back());
  }
  return t;
}

}  // namespace

TEST(Merkle, RootsMatchTheRfc6962ReferenceVectors) {
  MerkleTree t;
  EXPECT_EQ(to_hex(t.root(0)), to_hex(sha256("")));
  for (size_t i = 0; i < kLeaves.size(); ++i) {
    t.append(leaf_hash(kLeaves[i]));
    EXPECT_EQ(to_hex(t.root(i + 1)), kRoots[i]) << i + 1 << " leaves";
  }
  for (size_t n = 1; n <= kLeaves.size(); ++n) EXPECT_EQ(to_hex(t.root(n)), kRoots[n - 1]);
}

TEST(Merkle, EveryInclusionProofChecksAndAnyChangeFails) {
  std::vector<Hash> leaves;
  MerkleTree t = tree_of(40, &leaves);
  for (uint64_t n = 1; n <= 40; ++n) {
    const Hash root = t.root(n);
    for (uint64_t m = 0; m < n; ++m) {
      auto proof = t.inclusion(m, n);
      ASSERT_TRUE(verify_inclusion(leaves[m], m, n, proof, root)) << m << " in " << n;
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion(leaves[(m + 1) % n], m, n, proof, root));
        EXPECT_FALSE(verify_inclusion(leaves[m], (m + 1) % n, n, proof, root));
      }
      if (!proof.empty()) {
        proof[proof.size() / 2][5] ^= 1;
        EXPECT_FALSE(verify_inclusion(leaves[m], m, n, proof, root)) << m << " in " << n;
        proof.pop_back();
        EXPECT_FALSE(verify_inclusion(leaves[m], m, n, proof, root));
      }
    }
    EXPECT_FALSE(verify_inclusion(leaves[0], n, n, t.inclusion(0, n), root));  // index >= size
  }
}

TEST(Merkle, EveryConsistencyProofChecksAndAnyChangeFails) {
  std::vector<Hash> leaves;
  MerkleTree t = tree_of(40, &leaves);
  for (uint64_t n = 1; n <= 40; ++n)
    for (uint64_t m = 1; m <= n; ++m) {
      auto proof = t.consistency(m, n);
      ASSERT_TRUE(verify_consistency(m, n, t.root(m), t.root(n), proof)) << m << " -> " << n;
      if (m == n) continue;
      EXPECT_FALSE(verify_consistency(m, n, t.root(m - 1 ? m - 1 : m + 1), t.root(n), proof));
      EXPECT_FALSE(verify_consistency(m, n, t.root(m), t.root(n - 1), proof));
      proof[0][0] ^= 1;
      EXPECT_FALSE(verify_consistency(m, n, t.root(m), t.root(n), proof)) << m << " -> " << n;
      EXPECT_FALSE(verify_consistency(m, n, t.root(m), t.root(n), {}));
    }
  // A rewritten history: the same size and a different leaf is not consistent.
  MerkleTree other;
  for (uint64_t i = 0; i < 40; ++i) other.append(i == 3 ? leaf_hash("forged") : leaves[i]);
  EXPECT_FALSE(verify_consistency(10, 40, other.root(10), t.root(40), t.consistency(10, 40)));
  EXPECT_FALSE(verify_consistency(10, 40, t.root(10), other.root(40), other.consistency(10, 40)));
}

TEST(Merkle, TreeHeadsAreSignedAndCheckedWithThePublicKeyOnly) {
  PoolKey key = generate_pool_key(), other = generate_pool_key();
  TreeHead h = sign_tree_head(7, 1800000000, sha256("root"), key);
  EXPECT_TRUE(verify_tree_head(h, key.public_raw));
  EXPECT_FALSE(verify_tree_head(h, other.public_raw));
  TreeHead bigger = h;
  bigger.size = 8;
  EXPECT_FALSE(verify_tree_head(bigger, key.public_raw));
  TreeHead later = h;
  later.time += 1;
  EXPECT_FALSE(verify_tree_head(later, key.public_raw));
}
