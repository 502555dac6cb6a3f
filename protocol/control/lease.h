// protocol/control/lease.h — leases: what the pool signs and a server checks at Hello.
//
// Contract:
// - A lease is the pool's Ed25519 signature (OpenSSL EVP) over a claims record: lease id (a
//   random nonce, 32 hex chars), server endpoint, provider id, GPU index, vRAM limit in bytes,
//   whole-GPU flag, issue and expiry times (Unix seconds), compute share. Wire bytes = magic
//   "RGL1", u32 claims length, claims bytes (a Cap'n Proto flat message), 64-byte signature. Every
//   byte is covered.
// - verify_lease() refuses, with a message saying which: malformed bytes, a bad signature (forged
//   or signed by another pool), an expired lease (now >= expires), a lease for another endpoint
//   when `expect_endpoint` is given. It never throws and never crashes on any input.
// - Replay (a lease id already used for a session) is checked by LeaseReplayGuard
//   (replay_guard.h), which the server holds; verify_lease() is stateless.
// - Keys: the private key is a PEM file (PKCS#8), the public key either PEM (SubjectPublicKeyInfo)
//   or 64 hex chars of the raw 32-byte key. In memory a public key is the raw 32 bytes.
// - Text form (RGPU_LEASE, comma separated for several): base64url without padding;
//   lease_from_text() also accepts hex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rgpu::control {

struct LeaseClaims {
  std::string lease_id;  // 32 hex chars, unique per lease
  std::string endpoint;  // host:port of the server that must accept it
  std::string provider_id;
  uint32_t gpu_index = 0;
  uint64_t vram_bytes = 0;  // the vGPU's memory cap
  bool whole_gpu = false;
  int64_t issued_unix = 0;
  int64_t expires_unix = 0;  // the Hello must arrive before this
  // Thousandths of the GPU's device time guaranteed under contention (protocol/control/
  // compute_share.h); 0: none stated. A server from before compute shares ignores it.
  uint32_t compute_milli = 0;
};

struct LeaseCheck {
  bool ok = false;
  LeaseClaims claims;          // valid when ok
  std::string error;           // why refused when !ok
  bool signed_by_key = false;  // the signature verified under the key given (whatever came after)
};

// An Ed25519 key pair. private_pem is empty for a verify-only key.
struct PoolKey {
  std::string private_pem;
  std::string public_raw;  // 32 bytes
};

// Makes a fresh key pair. Throws std::runtime_error if OpenSSL fails.
PoolKey generate_pool_key();
// Loads a private key PEM (and derives the public half). Returns false with *error on failure.
bool load_private_key(const std::string& pem, PoolKey* out, std::string* error);
// Parses a public key given as PEM or 64 hex chars into raw 32 bytes.
bool parse_public_key(std::string_view text, std::string* raw, std::string* error);
// Reads a public key file (PEM or hex).
bool read_public_key_file(const std::string& path, std::string* raw, std::string* error);
std::string public_key_pem(const std::string& public_raw);

// Random lease id (32 hex chars) from the OS RNG.
std::string new_lease_id();

// Signs claims with the private key. Throws std::runtime_error if the key is unusable.
std::string sign_lease(const LeaseClaims& claims, const PoolKey& key);

// Checks signature and expiry. `expect_endpoint` empty: endpoint not checked.
LeaseCheck verify_lease(std::string_view lease_bytes, std::string_view pool_public_raw,
                        int64_t now_unix, std::string_view expect_endpoint = {});

std::string lease_to_text(std::string_view lease_bytes);          // base64url, no padding
bool lease_from_text(std::string_view text, std::string* bytes);  // base64url/base64 or hex

// Hex helpers shared by the control plane.
// Ed25519 over `msg` with the pool's key (64 bytes; throws std::runtime_error if the key is
// unusable) and its check against a raw 32-byte public key.
std::string ed25519_sign(std::string_view msg, const PoolKey& key);
bool ed25519_verify(std::string_view msg, std::string_view sig, std::string_view public_raw);

std::string to_hex(std::string_view bytes);
bool from_hex(std::string_view hex, std::string* bytes);

}  // namespace rgpu::control
