// tests/interpose/integrity_test.cc — the INTEGRITY_CHECK hash: MD2 known answers, agreement
// with the reference states published with the reverse-engineered algorithm, reproducibility,
// and sensitivity to every input cudart checks.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "interpose/integrity.h"
#include "tests/interpose/shim_loader.h"

namespace rgpu {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::string md2(const std::string& msg) {
  Md2 h;
  h.update(msg.data(), msg.size());
  uint8_t out[16];
  h.final(out);
  return hex(out, 16);
}

TEST(Integrity, Md2KnownAnswers) {  // RFC 1319 appendix A.5
  EXPECT_EQ(md2(""), "8350e5a3e24c153df2275c9f80692773");
  EXPECT_EQ(md2("a"), "32ec01ec4a6dac72c0ab96fb34c0b5d1");
  EXPECT_EQ(md2("abc"), "da853b0d3f88d99b30283a69e6ded6bb");
  EXPECT_EQ(md2("message digest"), "ab4f496bfb2a530b219ff33031fe06b0");
  EXPECT_EQ(md2("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "d5976f79d83d3a0dc9806c3c66f3efd8");
}

// The state after hashing the key with the 0x36 mask, as published by the ZLUDA project's
// reverse engineering (its integrity_check_pass2 reference vector).
TEST(Integrity, InnerKeyStateMatchesReference) {
  const uint8_t key[16] = {0x14, 0x6A, 0xDD, 0xAE, 0x53, 0xA9, 0xA7, 0x52,
                           0xAA, 0x08, 0x41, 0x36, 0x0B, 0xF5, 0x5A, 0x9F};
  const uint8_t expected[66] = {0x8b, 0x21, 0x9a, 0x49, 0xe8, 0x6d, 0x1a, 0xee, 0xf2, 0x37, 0xf9,
                                0xb5, 0x4a, 0x8c, 0x3c, 0x75, 0xc7, 0x1e, 0xee, 0x21, 0xcf, 0x29,
                                0x8a, 0xe5, 0x13, 0x83, 0xf4, 0xec, 0x33, 0x04, 0xe2, 0xfd, 0xb0,
                                0x2f, 0x09, 0x01, 0x4f, 0xf7, 0x68, 0x6d, 0x69, 0x46, 0x43, 0x7e,
                                0xb6, 0x2b, 0x21, 0xed, 0x57, 0xa1, 0x10, 0x86, 0x0e, 0x60, 0x44,
                                0x1e, 0x70, 0x5f, 0x67, 0xd1, 0xeb, 0x67, 0xa1, 0x3d, 0x00, 0x3d};
  Md2 h;
  h.update(key, 16, 0x36);
  EXPECT_EQ(hex(h.state(), 66), hex(expected, 66));
  // Then the 48-byte record of the reference's pass-3 vector.
  IntegrityInput in{0x2f30,
                    12082,
                    0x002fa423,
                    0xf79c1000,
                    reinterpret_cast<const void*>(0x00007ffff6958240ull),
                    reinterpret_cast<const void*>(0x00007ffff6958220ull),
                    reinterpret_cast<const void*>(0x00007ffff2aaf4a0ull),
                    0x682b9cee};
  h.update(&in, sizeof in);
  const uint8_t expected3[66] = {0x0a, 0xfd, 0xab, 0xc9, 0xff, 0x9b, 0xa0, 0xbe, 0x4d, 0x30, 0x32,
                                 0x82, 0x74, 0x4f, 0xa7, 0x48, 0x9d, 0x23, 0x82, 0xa3, 0x87, 0xfa,
                                 0x6c, 0xdb, 0x92, 0x49, 0xd9, 0xb5, 0x4b, 0x2b, 0x5e, 0x51, 0x6e,
                                 0xf7, 0xf9, 0x4d, 0x28, 0x8a, 0x64, 0x06, 0x19, 0xb3, 0xe6, 0xbe,
                                 0xa4, 0xec, 0x7e, 0x54, 0x64, 0x28, 0xd9, 0xe1, 0xd4, 0x34, 0xc0,
                                 0xa9, 0x49, 0x88, 0xc9, 0x61, 0x58, 0xdd, 0x66, 0x74, 0x00, 0x74};
  EXPECT_EQ(hex(h.state(), 66), hex(expected3, 66));
}

IntegrityInput sample_input() {
  return IntegrityInput{13000,
                        13002,
                        4242,
                        0x1000,
                        reinterpret_cast<const void*>(0x1000),
                        reinterpret_cast<const void*>(0x2000),
                        reinterpret_cast<const void*>(0x3000),
                        1700000000};
}

std::vector<IntegrityDevice> sample_devices() {
  IntegrityDevice d{};
  for (int i = 0; i < 16; ++i) d.uuid[i] = static_cast<uint8_t>(i * 7);
  d.pci_bus = 2;
  return {d};
}

TEST(Integrity, ReproducibleAndSensitiveToEveryInput) {
  uint64_t a[2], b[2];
  integrity_hash(sample_input(), sample_devices(), a);
  integrity_hash(sample_input(), sample_devices(), b);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(a[1], b[1]);

  auto differs = [&](IntegrityInput in, std::vector<IntegrityDevice> devs) {
    uint64_t c[2];
    integrity_hash(in, devs, c);
    return c[0] != a[0] || c[1] != a[1];
  };
  IntegrityInput in = sample_input();
  in.driver_version = 14000;
  EXPECT_TRUE(differs(in, sample_devices()));
  in = sample_input();
  in.pid++;
  EXPECT_TRUE(differs(in, sample_devices()));
  in = sample_input();
  in.unix_seconds++;
  EXPECT_TRUE(differs(in, sample_devices()));
  auto devs = sample_devices();
  devs[0].uuid[15] ^= 1;
  EXPECT_TRUE(differs(sample_input(), devs));
  devs = sample_devices();
  devs[0].pci_device = 1;
  EXPECT_TRUE(differs(sample_input(), devs));
  EXPECT_TRUE(differs(sample_input(), {}));
}

TEST(Integrity, FixedAnswersForVersionsEndingIn0And1) {
  uint64_t out[2];
  IntegrityInput in = sample_input();
  in.version = 13000;
  integrity_hash(in, sample_devices(), out);
  EXPECT_EQ(out[0], 0x3341181C03CB675CULL);
  in.version = 13001;
  integrity_hash(in, sample_devices(), out);
  EXPECT_EQ(out[0], 0x1841181C03CB675CULL);
}

// Through the exported table: slot [0] holds the size, slot [1] the check, and two calls in the
// same second from the same thread agree.
TEST(Integrity, ExportTableServesTheCheck) {
  auto get = test::sym<PFN_cuGetExportTable_v3000>("cuGetExportTable");
  ASSERT_NE(get, nullptr);
  CUuuid id;
  const uint8_t bytes[16] = {0xD4, 0x08, 0x20, 0x55, 0xBD, 0xE6, 0x70, 0x4B,
                             0x8D, 0x34, 0xBA, 0x12, 0x3C, 0x66, 0xE1, 0xF2};
  memcpy(id.bytes, bytes, 16);
  const void* table = nullptr;
  ASSERT_EQ(get(&table, &id), CUDA_SUCCESS);
  auto slots = static_cast<const void* const*>(table);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(slots[0]), 3 * sizeof(void*));
  auto check =
      reinterpret_cast<CUresult (*)(uint32_t, uint64_t, uint64_t*)>(const_cast<void*>(slots[1]));
  uint64_t x[2], y[2];
  ASSERT_EQ(check(13002, 1700000000, x), CUDA_SUCCESS);
  ASSERT_EQ(check(13002, 1700000000, y), CUDA_SUCCESS);
  EXPECT_EQ(x[0], y[0]);
  EXPECT_EQ(x[1], y[1]);
  ASSERT_EQ(check(13002, 1700000001, y), CUDA_SUCCESS);
  EXPECT_NE(x[0], y[0]);
}

}  // namespace
}  // namespace rgpu
