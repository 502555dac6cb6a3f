// protocol/image_digest.h — the SHA-256 a module image is named by across sessions: the shim
// offers it (ModuleLoadCached, ops.def) before sending the bytes, and the provider's image cache
// (server/worker/image_cache.h) files images under the digest it computes itself. 32 raw bytes.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace rgpu {

// The shim offers an image by digest from this size on (smaller ones cost less to send than the
// round trip of a miss on most links); the provider's cache keeps only these.
inline constexpr size_t kImageOfferBytes = 16 << 10;

inline std::string image_sha256(const uint8_t* data, size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) != 1 || len != 32) return "";
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace rgpu
