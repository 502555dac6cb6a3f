// tests/sim/ptx_half_test.cc — the 16-bit and tf32 float formats (ptx_half_kernels.cu) on the
// sim executor, bit-exact against the host conversions of cuda_fp16.h / cuda_bf16.h (an
// implementation independent of ours) and integer bit arithmetic for tf32. Inputs are chosen
// so that every exact result is representable in double, which the references round once.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "server/backend/ptx/ptx_parse.h"
#include "tests/sim/ptx_fixture.h"

namespace rgpu::server {
namespace {

class PtxHalf : public PtxFixture {
 protected:
  PtxHalf() : PtxFixture(RGPU_TEST_HALF_PTX) {}
};

uint16_t bits(__half h) {
  return __half_as_ushort(h);
}
uint16_t bits(__nv_bfloat16 h) {
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
__half half_of(double d) {
  return __double2half(d);  // round to nearest even, once
}
double value(__half h) {
  return static_cast<double>(__half2float(h));
}
// Two results agree bit for bit, or are both NaN (NaN payloads are not compared).
::testing::AssertionResult same_half(uint16_t got, __half want) {
  const bool nan_got = (got & 0x7c00) == 0x7c00 && (got & 0x3ff);
  if (nan_got && __hisnan(want)) return ::testing::AssertionSuccess();
  if (got == bits(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got 0x" << std::hex << got << " want 0x" << bits(want) << " (" << value(want) << ")";
}

TEST_F(PtxHalf, F16ArithmeticAndConversionsRoundOnceAsPtxSays) {
  const int n = 96;
  std::vector<__half> a(n), b(n), c(n);
  for (int i = 0; i < n; ++i) {
    a[i] = half_of(((i * 37) % 200 - 100) / 16.0);
    b[i] = half_of(((i * 53) % 150 - 75) / 8.0);
    c[i] = half_of(((i * 29) % 90 - 45) / 32.0);
  }
  a[1] = b[1] = half_of(65504.0);        // the sum overflows to infinity
  a[2] = half_of(std::ldexp(1.0, -20));  // subnormal
  b[3] = __ushort_as_half(0x7e00);       // NaN: compares unordered
  a[4] = half_of(0.5009765625);          // 3.1x rounds differently in each mode
  const uint64_t da = upload(a), db = upload(b), dc = upload(c);
  const uint64_t dout = upload(std::vector<__half>(n * 12));
  const uint64_t df = upload(std::vector<float>(n * 2)), dk = upload(std::vector<int>(n * 3));
  Status st =
      launch("half_ops", Args().add(da).add(db).add(dc).add(dout).add(df).add(dk).add(n), 3, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<uint16_t>(dout, n * 12);
  auto f = download<float>(df, n * 2);
  auto k = download<int>(dk, n * 3);
  for (int i = 0; i < n; ++i) {
    const double x = value(a[i]), y = value(b[i]), z = value(c[i]);
    const uint16_t* o = &out[i * 12];
    EXPECT_TRUE(same_half(o[0], half_of(x + y))) << i << " add";
    EXPECT_TRUE(same_half(o[1], half_of(x - y))) << i << " sub";
    EXPECT_TRUE(same_half(o[2], half_of(x * y))) << i << " mul";
    EXPECT_TRUE(same_half(o[3], half_of(std::fma(x, y, z)))) << i << " fma";
    EXPECT_EQ(o[4], bits(a[i]) ^ 0x8000) << i << " neg";
    if (!std::isnan(y)) {
      EXPECT_TRUE(same_half(o[5], half_of(std::fmin(x, y)))) << i << " min";
      EXPECT_TRUE(same_half(o[6], half_of(std::fmax(x, y)))) << i << " max";
    }
    EXPECT_EQ(o[7], bits(a[i]) & 0x7fff) << i << " abs";
    double sat = std::fma(x, y, z);
    sat = std::isnan(sat) ? 0.0 : std::min(1.0, std::max(0.0, sat));
    EXPECT_TRUE(same_half(o[8], half_of(sat))) << i << " fma.sat";
    const float fx = __half2float(a[i]) * 3.1f;
    EXPECT_TRUE(same_half(o[9], __float2half_rz(fx))) << i << " rz";
    EXPECT_TRUE(same_half(o[10], __float2half_rd(fx))) << i << " rm";
    EXPECT_TRUE(same_half(o[11], __float2half_ru(fx))) << i << " rp";
    EXPECT_EQ(f[i * 2], static_cast<float>(x)) << i;
    EXPECT_EQ(f[i * 2 + 1], std::isnan(y) ? 3.0f : x < y ? 1.0f : 2.0f) << i << " compare";
    EXPECT_EQ(k[i * 3], static_cast<int>(std::nearbyint(x))) << i << " cvt.rni.s32.f16";
    EXPECT_EQ(k[i * 3 + 1], std::isnan(y) ? 0 : static_cast<int>(std::trunc(y)))
        << i << " cvt.rzi.s32.f16";
    EXPECT_EQ(k[i * 3 + 2], bits(__int2half_rn(i * 1001 - 30000))) << i << " cvt.rn.f16.s32";
  }
  EXPECT_EQ(out[1 * 12], 0x7c00) << "65504 + 65504 is +inf";
}

TEST_F(PtxHalf, F16x2WorksElementWiseAndPacksAIntoTheUpperHalf) {
  const int n = 64;
  std::vector<__half2> a(n), b(n);
  std::vector<float> fa(n * 2);
  for (int i = 0; i < n; ++i) {
    a[i] = __halves2half2(half_of((i % 23 - 11) / 4.0), half_of((i % 17 - 8) / 2.0));
    b[i] = __halves2half2(half_of((i % 19 - 9) / 8.0), half_of((i % 13 - 6) / 4.0));
    fa[i * 2] = 0.1f * static_cast<float>(i) - 3.0f;
    fa[i * 2 + 1] = 1000.3f / static_cast<float>(i + 1);
  }
  const uint64_t da = upload(a), db = upload(b), dfa = upload(fa);
  const uint64_t dout = upload(std::vector<__half2>(n * 4)), dflags = upload(std::vector<int>(n));
  Status st =
      launch("half2_ops", Args().add(da).add(db).add(dfa).add(dout).add(dflags).add(n), 2, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<uint16_t>(dout, n * 8);
  auto flags = download<int>(dflags, n);
  for (int i = 0; i < n; ++i) {
    const double xl = value(__low2half(a[i])), xh = value(__high2half(a[i]));
    const double yl = value(__low2half(b[i])), yh = value(__high2half(b[i]));
    const uint16_t* o = &out[i * 8];  // element 0 of each pair first
    EXPECT_TRUE(same_half(o[0], half_of(xl + yl))) << i;
    EXPECT_TRUE(same_half(o[1], half_of(xh + yh))) << i;
    EXPECT_TRUE(same_half(o[2], half_of(xl * yl))) << i;
    EXPECT_TRUE(same_half(o[3], half_of(xh * yh))) << i;
    EXPECT_TRUE(same_half(o[4], half_of(std::fma(xl, yl, xl)))) << i;
    EXPECT_TRUE(same_half(o[5], half_of(std::fma(xh, yh, xh)))) << i;
    EXPECT_TRUE(same_half(o[6], __float2half_rn(fa[i * 2]))) << i << " low = first float";
    EXPECT_TRUE(same_half(o[7], __float2half_rn(fa[i * 2 + 1]))) << i << " high = second";
    EXPECT_EQ(flags[i], (xl < yl ? 1 : 0) | (xh < yh ? 2 : 0)) << i;
  }
}

TEST_F(PtxHalf, Bf16ArithmeticAndConversions) {
  const int n = 64;
  std::vector<__nv_bfloat16> a(n), b(n);
  std::vector<float> fa(n * 2);
  for (int i = 0; i < n; ++i) {
    a[i] = __float2bfloat16_rn(((i * 37) % 200 - 100) / 32.0f);
    b[i] = __float2bfloat16_rn(((i * 53) % 150 - 75) / 16.0f);
    fa[i * 2] = 3.14159265f * static_cast<float>(i) - 50.0f;
    fa[i * 2 + 1] = 1.0f / static_cast<float>(i + 3);
  }
  const uint64_t da = upload(a), db = upload(b), dfa = upload(fa);
  const uint64_t dout = upload(std::vector<__nv_bfloat16>(n * 8));
  const uint64_t df = upload(std::vector<float>(n));
  Status st = launch("bf16_ops", Args().add(da).add(db).add(dfa).add(dout).add(df).add(n), 2, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<uint16_t>(dout, n * 8);
  auto f = download<float>(df, n);
  for (int i = 0; i < n; ++i) {
    const float x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
    const uint16_t* o = &out[i * 8];
    // Sums and products of these values are exact in float, which rounds them once.
    EXPECT_EQ(o[0], bits(__float2bfloat16_rn(x + y))) << i << " add";
    EXPECT_EQ(o[1], bits(__float2bfloat16_rn(x * y))) << i << " mul";
    EXPECT_EQ(o[2], bits(__float2bfloat16_rn(std::fma(x, y, x)))) << i << " fma";
    EXPECT_EQ(o[3], bits(__float2bfloat16_rn(fa[i * 2]))) << i << " cvt.rn";
    EXPECT_EQ(o[4], bits(__float2bfloat16_rz(fa[i * 2]))) << i << " cvt.rz";
    const float p0 = __bfloat162float(__float2bfloat16_rn(fa[i * 2]));
    const float p1 = __bfloat162float(__float2bfloat16_rn(fa[i * 2 + 1]));
    EXPECT_EQ(o[5], bits(__double2bfloat16(static_cast<double>(p0) + x))) << i << " add2 low";
    EXPECT_EQ(o[6], bits(__double2bfloat16(static_cast<double>(p1) + y))) << i << " add2 high";
    EXPECT_EQ(o[7], bits(a[i]) ^ 0x8000) << i << " neg";
    EXPECT_EQ(f[i], x + y) << i;
  }
}

TEST_F(PtxHalf, Tf32RoundsToTenMantissaBits) {
  const int n = 64;
  std::vector<float> a(n);
  for (int i = 0; i < n; ++i) {
    uint32_t b = 0x3f800000u + static_cast<uint32_t>(i) * 0x0123457u;  // many low-bit patterns
    if (i % 8 == 0) b = (b & ~0x1fffu) | 0x1000u;                      // exact ties
    if (i % 8 == 1) b = (b & ~0x3fffu) | 0x3000u;                      // ties, odd kept bit
    std::memcpy(&a[i], &b, 4);
    if (i % 5 == 0) a[i] = -a[i];
  }
  const uint64_t da = upload(a), dout = upload(std::vector<uint32_t>(n * 2));
  Status st = launch("tf32_ops", Args().add(da).add(dout).add(n), 2, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<uint32_t>(dout, n * 2);
  for (int i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, &a[i], 4);
    const uint32_t away = (b + 0x1000u) & ~0x1fffu;                    // ties away from zero
    const uint32_t even = (b + 0xfffu + ((b >> 13) & 1u)) & ~0x1fffu;  // ties to even
    EXPECT_EQ(out[i * 2], away) << i << " cvt.rna.tf32.f32 of 0x" << std::hex << b;
    EXPECT_EQ(out[i * 2 + 1], even) << i << " cvt.rn.tf32.f32 of 0x" << std::hex << b;
  }
}

// 16-bit atomics from every thread of two blocks (the sums are exact in both formats).
TEST_F(PtxHalf, HalfAtomicsAddFromEveryThread) {
  const int n = 64;
  const uint64_t h = upload(std::vector<uint16_t>(1)), h2 = upload(std::vector<uint32_t>(1)),
                 bf = upload(std::vector<uint16_t>(1)), bf2 = upload(std::vector<uint32_t>(1));
  Status st = launch("half_atomics", Args().add(h).add(h2).add(bf).add(bf2).add(n), 2, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto f16 = [](uint16_t b) { return __half2float(__half_raw{b}); };
  auto b16 = [](uint16_t b) {
    uint32_t w = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &w, 4);
    return f;
  };
  EXPECT_EQ(f16(download<uint16_t>(h, 1)[0]), 16.0f);
  const uint32_t p = download<uint32_t>(h2, 1)[0];
  EXPECT_EQ(f16(p & 0xffff), 32.0f);
  EXPECT_EQ(f16(p >> 16), 64.0f);
  EXPECT_EQ(b16(download<uint16_t>(bf, 1)[0]), 16.0f);
  const uint32_t q = download<uint32_t>(bf2, 1)[0];
  EXPECT_EQ(b16(q & 0xffff), 32.0f);
  EXPECT_EQ(b16(q >> 16), 64.0f);
}

// ldmatrix feeding mma.sync, as tensor-core GEMMs use them, gives A*B + C (cuBLAS's own
// tensor-op kernels are the other check: e2e.cublas.tensor_ops).
TEST_F(PtxHalf, LdmatrixAndMmaMultiplyTiles) {
  std::vector<__half> A(256), B(128);
  std::vector<__nv_bfloat16> Ab(256), Bb(128);
  std::vector<float> C(128);
  for (int i = 0; i < 256; ++i) {
    A[i] = half_of(((i * 7) % 17 - 8) / 8.0);
    Ab[i] = __float2bfloat16_rn(((i * 5) % 19 - 9) / 4.0f);
  }
  for (int i = 0; i < 128; ++i) {
    B[i] = half_of(((i * 3) % 13 - 6) / 4.0);
    Bb[i] = __float2bfloat16_rn(((i * 11) % 7 - 3) / 2.0f);
    C[i] = static_cast<float>(i % 5) - 2.0f;
  }
  const uint64_t dA = upload(A), dB = upload(B), dC = upload(C), dAb = upload(Ab), dBb = upload(Bb);
  const uint64_t dD = upload(std::vector<float>(128)), dDh = upload(std::vector<__half>(128)),
                 dDb = upload(std::vector<float>(128)), dD8 = upload(std::vector<float>(128));
  Status st = launch(
      "mma_ops",
      Args().add(dA).add(dB).add(dC).add(dAb).add(dBb).add(dD).add(dDh).add(dDb).add(dD8), 1, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto D = download<float>(dD, 128), Db = download<float>(dDb, 128), D8 = download<float>(dD8, 128);
  auto Dh = download<uint16_t>(dDh, 128);
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 8; ++c) {
      double want = C[r * 8 + c], want_b = want, want8 = want;
      for (int k = 0; k < 16; ++k) {
        want += value(A[r * 16 + k]) * value(B[k * 8 + c]);
        want_b +=
            static_cast<double>(__bfloat162float(Ab[r * 16 + k])) * __bfloat162float(Bb[k * 8 + c]);
        if (k < 8) want8 += value(A[r * 16 + k]) * value(B[k * 8 + c]);
      }
      EXPECT_FLOAT_EQ(D[r * 8 + c], static_cast<float>(want)) << r << "," << c << " f16 m16n8k16";
      EXPECT_TRUE(same_half(Dh[r * 8 + c], half_of(want))) << r << "," << c << " f16 accumulate";
      EXPECT_FLOAT_EQ(Db[r * 8 + c], static_cast<float>(want_b)) << r << "," << c << " bf16";
      EXPECT_FLOAT_EQ(D8[r * 8 + c], static_cast<float>(want8)) << r << "," << c << " m16n8k8";
    }
  }
}

// Formats the executor does not serve are refused by name, never run as something else.
TEST(PtxParse, UnservedFloatFormatsAreRefusedNamingThem) {
  const char* text =
      ".version 9.0\n.target sm_90\n.address_size 64\n"
      ".visible .entry k(.param .u64 p)\n{\n.reg .b32 %r<3>;\n.reg .b16 %rs<2>;\n"
      "cvt.rn.satfinite.e4m3x2.f32 %rs1, %r1, %r2;\n"
      "ret;\n}\n";
  ptx::PtxModule m;
  std::string e = ptx::parse_ptx_module(text, std::strlen(text), &m);
  EXPECT_NE(e.find("PTX line 8: cvt.rn.satfinite.e4m3x2.f32"), std::string::npos) << e;
  const char* atom =
      ".version 9.0\n.target sm_90\n.address_size 64\n"
      ".visible .entry k(.param .u64 p)\n{\n.reg .b64 %rd<2>;\n.reg .b16 %rs<3>;\n"
      "ex2.approx.f16 %rs1, %rs2;\n"
      "ret;\n}\n";
  ptx::PtxModule m2;
  e = ptx::parse_ptx_module(atom, std::strlen(atom), &m2);
  EXPECT_NE(e.find("the .f16 type is not supported by the sim executor yet"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace rgpu::server
