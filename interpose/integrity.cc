// interpose/integrity.cc — see integrity.h. MD2 written from RFC 1319.
#include "interpose/integrity.h"

#include <cstring>

namespace rgpu {
namespace {

// RFC 1319's permutation of 0..255 built from the digits of pi.
constexpr uint8_t kPiSubst[256] = {
    41,  46,  67,  201, 162, 216, 124, 1,   61,  54,  84,  161, 236, 240, 6,   19,  98,  167, 5,
    243, 192, 199, 115, 140, 152, 147, 43,  217, 188, 76,  130, 202, 30,  155, 87,  60,  253, 212,
    224, 22,  103, 66,  111, 24,  138, 23,  229, 18,  190, 78,  196, 214, 218, 158, 222, 73,  160,
    251, 245, 142, 187, 47,  238, 122, 169, 104, 121, 145, 21,  178, 7,   63,  148, 194, 16,  137,
    11,  34,  95,  33,  128, 127, 93,  154, 90,  144, 50,  39,  53,  62,  204, 231, 191, 247, 151,
    3,   255, 25,  48,  179, 72,  165, 181, 209, 215, 94,  146, 42,  172, 86,  170, 198, 79,  184,
    56,  210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116, 4,   241, 69,  157, 112, 89,  100,
    113, 135, 32,  134, 91,  207, 101, 230, 45,  168, 2,   27,  96,  37,  173, 174, 176, 185, 246,
    28,  70,  97,  105, 52,  64,  126, 15,  85,  71,  163, 35,  221, 81,  175, 58,  195, 92,  249,
    206, 186, 197, 234, 38,  44,  83,  13,  110, 133, 40,  132, 9,   211, 223, 205, 244, 65,  129,
    77,  82,  106, 220, 55,  200, 108, 193, 171, 250, 36,  225, 123, 8,   12,  189, 177, 74,  120,
    136, 149, 139, 227, 99,  232, 109, 233, 203, 213, 254, 59,  0,   29,  57,  242, 239, 183, 14,
    102, 88,  208, 228, 166, 119, 114, 248, 235, 117, 75,  10,  49,  68,  80,  180, 143, 237, 31,
    26,  219, 153, 141, 51,  159, 17,  131, 20};

// The HMAC key cudart uses.
constexpr uint8_t kKey[16] = {0x14, 0x6A, 0xDD, 0xAE, 0x53, 0xA9, 0xA7, 0x52,
                              0xAA, 0x08, 0x41, 0x36, 0x0B, 0xF5, 0x5A, 0x9F};

}  // namespace

void Md2::reset() {
  memset(x_, 0, sizeof x_);
}

void Md2::compress() {
  uint8_t t = 0;
  for (int round = 0; round < 18; ++round) {
    for (int k = 0; k < 48; ++k) t = x_[k] ^= kPiSubst[t];
    t = static_cast<uint8_t>(t + round);
  }
}

void Md2::byte(uint8_t b) {
  uint8_t i = x_[64];
  x_[16 + i] = b;
  x_[32 + i] = static_cast<uint8_t>(x_[i] ^ b);
  // Checksum: C[i] ^= S[b ^ L]; L = C[i].
  x_[65] = x_[48 + i] ^= kPiSubst[b ^ x_[65]];
  x_[64] = (i + 1) & 15;
  if (x_[64] == 0) compress();
}

void Md2::update(const void* data, size_t len, uint8_t xor_mask) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < len; ++i) byte(p[i] ^ xor_mask);
}

void Md2::final(uint8_t out[16]) {
  uint8_t pad = static_cast<uint8_t>(16 - x_[64]);
  for (int i = 0; i < pad; ++i) byte(pad);
  uint8_t checksum[16];
  memcpy(checksum, x_ + 48, 16);
  for (int i = 0; i < 16; ++i) byte(checksum[i]);
  memcpy(out, x_, 16);
}

void integrity_hash(const IntegrityInput& in, const std::vector<IntegrityDevice>& devices,
                    uint64_t out[2]) {
  switch (in.version % 10) {
    case 0:
      out[0] = 0x3341181C03CB675CULL;
      out[1] = 0x8ED383AA1F4CD1E8ULL;
      return;
    case 1:
      out[0] = 0x1841181C03CB675CULL;
      out[1] = 0x8ED383AA1F4CD1E8ULL;
      return;
    default:
      break;
  }
  Md2 inner;
  inner.update(kKey, sizeof kKey, 0x36);
  inner.update(&in, sizeof in);
  for (const IntegrityDevice& d : devices) inner.update(&d, sizeof d);
  uint8_t inner_digest[16];
  inner.final(inner_digest);
  Md2 outer;
  outer.update(kKey, sizeof kKey, 0x5c);
  outer.update(inner_digest, sizeof inner_digest);
  uint8_t digest[16];
  outer.final(digest);
  memcpy(out, digest, 16);
}

}  // namespace rgpu
