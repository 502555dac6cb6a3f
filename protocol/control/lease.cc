// protocol/control/lease.cc — Ed25519 lease signing and checking (see lease.h).
#include "protocol/control/lease.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "protocol/control/control_plane.capnp.h"

namespace rgpu::control {
namespace {

constexpr char kMagic[4] = {'R', 'G', 'L', '1'};
constexpr size_t kSigLen = 64;
constexpr size_t kMaxClaims = 4096;

struct PkeyDel {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdDel {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioDel {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDel>;

std::string raw_public(EVP_PKEY* k) {
  size_t len = 32;
  std::string raw(32, '\0');
  if (EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != 32)
    throw std::runtime_error("lease: cannot read the Ed25519 public key");
  return raw;
}

std::string encode_claims(const LeaseClaims& c) {
  capnp::MallocMessageBuilder mb;
  auto b = mb.initRoot<cp::LeaseClaims>();
  b.setLeaseId(c.lease_id);
  b.setEndpoint(c.endpoint);
  b.setProviderId(c.provider_id);
  b.setGpuIndex(c.gpu_index);
  b.setVramBytes(c.vram_bytes);
  b.setWholeGpu(c.whole_gpu);
  b.setIssuedUnix(c.issued_unix);
  b.setExpiresUnix(c.expires_unix);
  b.setComputeMilli(c.compute_milli);
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

bool decode_claims(std::string_view bytes, LeaseClaims* out) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) return false;
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 1024;
    opts.nestingLimit = 4;
    capnp::FlatArrayMessageReader mr(words, opts);
    auto r = mr.getRoot<cp::LeaseClaims>();
    out->lease_id = r.getLeaseId().cStr();
    out->endpoint = r.getEndpoint().cStr();
    out->provider_id = r.getProviderId().cStr();
    out->gpu_index = r.getGpuIndex();
    out->vram_bytes = r.getVramBytes();
    out->whole_gpu = r.getWholeGpu();
    out->issued_unix = r.getIssuedUnix();
    out->expires_unix = r.getExpiresUnix();
    out->compute_milli = r.getComputeMilli();
    return true;
  } catch (const kj::Exception&) {
    return false;
  }
}

Pkey public_from_raw(std::string_view raw) {
  if (raw.size() != 32) return nullptr;
  return Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(raw.data()), 32));
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s.push_back(d[c >> 4]);
    s.push_back(d[c & 15]);
  }
  return s;
}

bool from_hex(std::string_view hex, std::string* bytes) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2) return false;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); i++) {
    int hi = val(hex[2 * i]), lo = val(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  *bytes = std::move(out);
  return true;
}

PoolKey generate_pool_key() {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    throw std::runtime_error("lease: Ed25519 key generation failed");
  Pkey k(raw);
  std::unique_ptr<BIO, BioDel> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr))
    throw std::runtime_error("lease: cannot write the private key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  PoolKey key;
  key.private_pem.assign(data, static_cast<size_t>(n));
  key.public_raw = raw_public(k.get());
  return key;
}

bool load_private_key(const std::string& pem, PoolKey* out, std::string* error) {
  std::unique_ptr<BIO, BioDel> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k || EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) {
    if (error) *error = "not an Ed25519 private key in PEM form";
    return false;
  }
  out->private_pem = pem;
  out->public_raw = raw_public(k.get());
  return true;
}

bool parse_public_key(std::string_view text, std::string* raw, std::string* error) {
  std::string t(text);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.find("-----BEGIN") != std::string::npos) {
    std::unique_ptr<BIO, BioDel> bio(BIO_new_mem_buf(t.data(), static_cast<int>(t.size())));
    Pkey k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!k || EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) {
      if (error) *error = "not an Ed25519 public key in PEM form";
      return false;
    }
    *raw = raw_public(k.get());
    return true;
  }
  std::string bytes;
  if (t.size() == 64 && from_hex(t, &bytes)) {
    *raw = bytes;
    return true;
  }
  if (error) *error = "a pool public key is PEM or 64 hex characters";
  return false;
}

bool read_public_key_file(const std::string& path, std::string* raw, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    if (error) *error = "cannot read pool key file " + path;
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string e;
  if (!parse_public_key(ss.str(), raw, &e)) {
    if (error) *error = path + ": " + e;
    return false;
  }
  return true;
}

std::string public_key_pem(const std::string& public_raw) {
  Pkey k = public_from_raw(public_raw);
  if (!k) throw std::runtime_error("lease: bad public key");
  std::unique_ptr<BIO, BioDel> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), k.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string new_lease_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("lease: RNG failed");
  return to_hex(std::string_view(reinterpret_cast<char*>(b), sizeof b));
}

std::string sign_lease(const LeaseClaims& claims, const PoolKey& key) {
  std::string body(kMagic, 4);
  std::string c = encode_claims(claims);
  uint32_t len = static_cast<uint32_t>(c.size());
  body.append(reinterpret_cast<const char*>(&len), 4);
  body += c;
  body += ed25519_sign(body, key);
  return body;
}

std::string ed25519_sign(std::string_view msg, const PoolKey& key) {
  std::unique_ptr<BIO, BioDel> bio(
      BIO_new_mem_buf(key.private_pem.data(), static_cast<int>(key.private_pem.size())));
  Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) throw std::runtime_error("ed25519: unusable private key");
  std::unique_ptr<EVP_MD_CTX, MdDel> md(EVP_MD_CTX_new());
  unsigned char sig[kSigLen];
  size_t siglen = sizeof sig;
  if (EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, k.get()) != 1 ||
      EVP_DigestSign(md.get(), sig, &siglen, reinterpret_cast<const unsigned char*>(msg.data()),
                     msg.size()) != 1 ||
      siglen != kSigLen)
    throw std::runtime_error("ed25519: signing failed");
  return std::string(reinterpret_cast<char*>(sig), kSigLen);
}

bool ed25519_verify(std::string_view msg, std::string_view sig, std::string_view public_raw) {
  Pkey pub = public_from_raw(public_raw);
  if (!pub || sig.size() != kSigLen) return false;
  std::unique_ptr<EVP_MD_CTX, MdDel> md(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, pub.get()) == 1 &&
         EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), kSigLen,
                          reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
}

LeaseCheck verify_lease(std::string_view bytes, std::string_view pool_public_raw, int64_t now_unix,
                        std::string_view expect_endpoint) {
  LeaseCheck r;
  if (bytes.size() < 8 + kSigLen || memcmp(bytes.data(), kMagic, 4) != 0) {
    r.error = "lease refused: malformed (not an rgpu lease)";
    return r;
  }
  uint32_t len;
  memcpy(&len, bytes.data() + 4, 4);
  if (len > kMaxClaims || bytes.size() != 8 + size_t{len} + kSigLen) {
    r.error = "lease refused: malformed (bad length)";
    return r;
  }
  Pkey pub = public_from_raw(pool_public_raw);
  if (!pub) {
    r.error = "lease refused: this server has no valid pool public key";
    return r;
  }
  std::unique_ptr<EVP_MD_CTX, MdDel> md(EVP_MD_CTX_new());
  size_t signed_len = 8 + len;
  if (EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, pub.get()) != 1 ||
      EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(bytes.data() + signed_len),
                       kSigLen, reinterpret_cast<const unsigned char*>(bytes.data()),
                       signed_len) != 1) {
    r.error = "lease refused: bad signature (forged, altered, or signed by another pool)";
    return r;
  }
  r.signed_by_key = true;
  if (!decode_claims(bytes.substr(8, len), &r.claims)) {
    r.error = "lease refused: malformed claims";
    return r;
  }
  if (now_unix >= r.claims.expires_unix) {
    r.error = "lease refused: expired " + std::to_string(now_unix - r.claims.expires_unix) +
              " s ago; ask the pool for a new one (rgpu run)";
    return r;
  }
  if (!expect_endpoint.empty() && r.claims.endpoint != expect_endpoint) {
    r.error = "lease refused: issued for server " + r.claims.endpoint + ", not this one (" +
              std::string(expect_endpoint) + ")";
    return r;
  }
  r.ok = true;
  return r;
}

std::string lease_to_text(std::string_view b) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s;
  size_t i = 0;
  for (; i + 2 < b.size(); i += 3) {
    uint32_t v =
        uint32_t(uint8_t(b[i])) << 16 | uint32_t(uint8_t(b[i + 1])) << 8 | uint8_t(b[i + 2]);
    s += a[v >> 18];
    s += a[(v >> 12) & 63];
    s += a[(v >> 6) & 63];
    s += a[v & 63];
  }
  if (b.size() - i == 1) {
    uint32_t v = uint32_t(uint8_t(b[i])) << 16;
    s += a[v >> 18];
    s += a[(v >> 12) & 63];
  } else if (b.size() - i == 2) {
    uint32_t v = uint32_t(uint8_t(b[i])) << 16 | uint32_t(uint8_t(b[i + 1])) << 8;
    s += a[v >> 18];
    s += a[(v >> 12) & 63];
    s += a[(v >> 6) & 63];
  }
  return s;
}

bool lease_from_text(std::string_view t, std::string* bytes) {
  while (!t.empty() && (t.back() == '=' || t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  if (t.empty()) return false;
  // Hex: a lease is at least 72 bytes, and its magic "RGL1" is 52474c31 in hex.
  if (t.size() % 2 == 0 && t.substr(0, 8) == "52474c31" && from_hex(t, bytes)) return true;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  if (t.size() % 4 == 1) return false;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : t) {
    int v = val(c);
    if (v < 0) return false;
    acc = acc << 6 | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  *bytes = std::move(out);
  return true;
}

}  // namespace rgpu::control
