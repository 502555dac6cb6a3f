// tests/sim/ptx_exec_test.cc — real nvcc PTX (ptx_kernels.cu) executed by the sim backend with
// no host twin, each result against a CPU reference (exact for integers, within PTX's bounds
// for approximate float functions), and faults reported as CUDA reports them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "server/backend/ptx/ptx_parse.h"
#include "server/backend/sim_backend.h"
#include "server/backend/va_window.h"
#include "tests/sim/ptx_fixture.h"

namespace rgpu::server {
namespace {

class PtxExec : public PtxFixture {
 protected:
  PtxExec() : PtxFixture(RGPU_TEST_PTX) {}
};

TEST_F(PtxExec, IntegerOps) {
  const int n = 70;
  std::vector<long long> a(n), b(n);
  for (int i = 0; i < n; ++i) {
    a[i] = (i * 0x9E3779B97F4A7C15ll) ^ (i * 12345);
    b[i] = i % 5 == 0 ? 0 : (i * 7919ll - 300) * (i % 2 ? -1 : 1);
  }
  const uint64_t da = upload(a), db = upload(b), dout = upload(std::vector<long long>(n * 12));
  Status st = launch("int_ops", Args().add(da).add(db).add(dout).add(n), 3, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<long long>(dout, n * 12);
  for (int i = 0; i < n; ++i) {
    const long long x = a[i], y = b[i];
    const unsigned ux = static_cast<unsigned>(x), uy = static_cast<unsigned>(y);
    const long long* o = &out[i * 12];
    EXPECT_EQ(o[0], x / (y == 0 ? 1 : y)) << i;
    EXPECT_EQ(o[1], x % (y == 0 ? 1 : y)) << i;
    EXPECT_EQ(o[2], static_cast<long long>(static_cast<unsigned long long>(x) /
                                           (static_cast<unsigned long long>(y) | 1)))
        << i;
    EXPECT_EQ(o[3],
              static_cast<int>(
                  (static_cast<long long>(static_cast<int>(ux)) * static_cast<int>(uy)) >> 32))
        << i;
    EXPECT_EQ(static_cast<unsigned long long>(o[4]),
              static_cast<unsigned long long>(
                  (static_cast<unsigned __int128>(static_cast<unsigned long long>(x)) *
                   static_cast<unsigned long long>(y)) >>
                  64))
        << i;
    EXPECT_EQ(o[5], __builtin_popcount(ux) + (ux ? __builtin_clz(ux) : 32) * 100) << i;
    unsigned rev = 0;
    for (int k = 0; k < 32; ++k) rev |= ((ux >> k) & 1u) << (31 - k);
    EXPECT_EQ(static_cast<unsigned>(o[6]), rev) << i;
    const uint64_t both = ux | (static_cast<uint64_t>(uy) << 32);
    unsigned perm = 0;
    const unsigned sel[4] = {0, 4, 1, 5};
    for (int k = 0; k < 4; ++k) perm |= ((both >> (8 * sel[k])) & 0xff) << (8 * k);
    EXPECT_EQ(static_cast<unsigned>(o[7]), perm) << i;
    const unsigned sh = i & 31;
    EXPECT_EQ(static_cast<unsigned>(o[8]),
              static_cast<unsigned>(((static_cast<uint64_t>(uy) << 32 | ux) << sh) >> 32))
        << i;
    EXPECT_EQ(o[9], (ux >> 3) & 0x1f) << i;
    EXPECT_EQ(o[10], static_cast<long long>(static_cast<int>(ux)) * static_cast<int>(uy)) << i;
    EXPECT_EQ(o[11], static_cast<long long>(static_cast<unsigned long long>(x) << (i & 63)) ^
                         (x >> (i & 15)))
        << i;
  }
}

TEST_F(PtxExec, FloatOpsAndConversions) {
  const int n = 64;
  std::vector<float> a(n), b(n);
  for (int i = 0; i < n; ++i) {
    a[i] = (i - 30) * 0.37f;
    b[i] = 1.5f + i * 0.11f;
  }
  const uint64_t da = upload(a), db = upload(b);
  const uint64_t df = upload(std::vector<float>(n * 8)), dk = upload(std::vector<int>(n * 4));
  Status st = launch("float_ops", Args().add(da).add(db).add(df).add(dk).add(n), 2, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto f = download<float>(df, n * 8);
  auto k = download<int>(dk, n * 4);
  for (int i = 0; i < n; ++i) {
    const float x = a[i], y = b[i];
    EXPECT_EQ(f[i * 8 + 0], std::fma(x, y, 1.0f)) << i;
    EXPECT_EQ(f[i * 8 + 1], x / y) << i;  // div.rn: correctly rounded
    EXPECT_EQ(f[i * 8 + 2], std::sqrt(std::fabs(x))) << i;
    EXPECT_EQ(f[i * 8 + 3], std::fmin(x, y) + std::fmax(x, y) * 2.0f) << i;
    EXPECT_EQ(f[i * 8 + 4], x < 0 ? 0.0f : x > 1 ? 1.0f : x) << i;
    EXPECT_EQ(f[i * 8 + 5], static_cast<float>(static_cast<double>(x)) * 3.0f) << i;
    // ex2.approx: 2 ulp in PTX's full range.
    EXPECT_NEAR(f[i * 8 + 6], std::exp2(x * 0.25f), 4 * std::exp2(x * 0.25f) * 1.2e-7) << i;
    EXPECT_NEAR(f[i * 8 + 7], x / 2.0f + 1.0f / std::sqrt(std::fabs(y) + 1.0f), 1e-5) << i;
    EXPECT_EQ(k[i * 4 + 0], static_cast<int>(std::nearbyint(x * 10.0f))) << i;
    EXPECT_EQ(k[i * 4 + 1], static_cast<int>(x * 10.0f)) << i;
    EXPECT_EQ(k[i * 4 + 2], static_cast<int>(std::floor(x * 10.0f))) << i;
    const double big = std::nearbyint(static_cast<double>(x * 1e10f));
    const unsigned want = big <= 0              ? 0u
                          : big >= 4294967295.0 ? 4294967295u
                                                : static_cast<unsigned>(big);
    EXPECT_EQ(static_cast<unsigned>(k[i * 4 + 3]), want) << i;
  }
}

TEST_F(PtxExec, SharedMemoryReductionWithBarriers) {
  const int blocks = 5, threads = 256;
  std::vector<int> in(blocks * threads);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i * 37 % 101) - 40;
  const uint64_t din = upload(in), dout = upload(std::vector<int>(blocks)),
                 dpos = upload(std::vector<int>(blocks));
  Status st = launch("block_sum", Args().add(din).add(dout).add(dpos), blocks, threads);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, blocks);
  auto pos = download<int>(dpos, blocks);
  for (int b = 0; b < blocks; ++b) {
    int sum = 0, positives = 0;
    for (int t = 0; t < threads; ++t) {
      sum += in[b * threads + t];
      positives += in[b * threads + t] > 0;
    }
    EXPECT_EQ(out[b], sum) << b;
    EXPECT_EQ(pos[b], positives) << b;  // __syncthreads_count: bar.red.popc
  }
}

// Lanes of a warp that agree execute each instruction together: the classic warp-synchronous
// reduction (every lane loads before any stores) and an exchange after the lanes' paths
// rejoined both give a GPU's answer, which running lanes one after another does not.
TEST_F(PtxExec, WarpLanesRunInLockstepAndRejoinAfterDiverging) {
  std::vector<int> in(64);
  for (int i = 0; i < 64; ++i) in[i] = i * 7 % 23 - 5;
  const uint64_t din = upload(in), dout = upload(std::vector<int>(33));
  Status st = launch("warp_synchronous", Args().add(din).add(dout), 1, 64);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, 33);
  int sum = 0;
  for (int v : in) sum += v;
  EXPECT_EQ(out[0], sum);
  for (int t = 0; t < 32; ++t) {
    const int l = t ^ 1;
    int v = in[l];
    for (int i = 0; i < l % 5; ++i) v = v * 3 + i;
    EXPECT_EQ(out[1 + t], v) << "lane " << t << " read lane " << l << "'s value";
  }
}

TEST_F(PtxExec, WarpShufflesAndVotes) {
  std::vector<int> in(64);
  for (int i = 0; i < 64; ++i) in[i] = i * 3 + (i == 40 ? 200 : 0);
  const uint64_t din = upload(in), dout = upload(std::vector<int>(128));
  Status st = launch("warp_ops", Args().add(din).add(dout), 1, 64);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, 128);
  for (int w = 0; w < 2; ++w) {
    int sum = 0;
    unsigned ballot = 0;
    bool any = false;
    for (int l = 0; l < 32; ++l) {
      const int v = in[w * 32 + l];
      sum += v;
      ballot |= static_cast<unsigned>(v & 1) << l;
      any |= v > 100;
    }
    EXPECT_EQ(out[w * 4 + 0], sum) << w;
    EXPECT_EQ(static_cast<unsigned>(out[w * 4 + 1]), ballot) << w;
    EXPECT_EQ(out[w * 4 + 2], any ? 1 : 0) << w;
    EXPECT_EQ(out[w * 4 + 3], 1) << w;
    for (int l = 0; l < 32; ++l)
      EXPECT_EQ(out[64 + w * 32 + l], in[w * 32 + (l ^ 1)] + in[w * 32 + 3] * 1000) << l;
  }
}

TEST_F(PtxExec, AtomicsOnGlobalAndSharedMemory) {
  const int blocks = 4, threads = 96;
  const uint64_t counter = upload(std::vector<int>(3)), fsum = upload(std::vector<float>(1)),
                 maxv = upload(std::vector<unsigned>(1)),
                 cas = upload(std::vector<int>(blocks, -1));
  Status st = launch("atomics", Args().add(counter).add(fsum).add(maxv).add(cas), blocks, threads);
  ASSERT_TRUE(st.ok()) << st.text;
  auto c = download<int>(counter, 3);
  EXPECT_EQ(c[0], blocks * threads);
  EXPECT_EQ(c[1], blocks * threads);  // each block's shared count, added once per block
  EXPECT_EQ(download<float>(fsum, 1)[0], blocks * threads * 0.5f);
  EXPECT_EQ(download<unsigned>(maxv, 1)[0], (blocks - 1) * 1000u + threads - 1);
  // Blocks run in any order (in parallel on the host's threads): exactly one block's CAS found 0
  // and stored its blockIdx + 7; every other block saw that value.
  auto old = download<int>(cas, blocks);
  int winner = -1;
  for (int b = 0; b < blocks; ++b) {
    if (old[b] != 0) continue;
    EXPECT_EQ(winner, -1) << "two CAS found 0: blocks " << winner << " and " << b;
    winner = b;
  }
  ASSERT_NE(winner, -1) << "no CAS found 0";
  EXPECT_EQ(c[2], winner + 7);
  for (int b = 0; b < blocks; ++b) {
    if (b == winner) continue;
    EXPECT_EQ(old[b], winner + 7) << b;
  }
}

TEST_F(PtxExec, GeometryDynamicSharedAndModuleVariables) {
  const float coef[4] = {1, 2, 3, 4};
  uint64_t cdev = 0, cbytes = 0;
  ASSERT_TRUE(backend.module_get_global(1, "c_coef", &cdev, &cbytes).ok());
  ASSERT_EQ(cbytes, sizeof coef);
  ASSERT_TRUE(backend.memcpy_htod(cdev, coef, sizeof coef, 0).ok());
  const uint32_t bx = 4, by = 3, bz = 2, gx = 2, gy = 2, gz = 3;
  const int threads = bx * by * bz, n = threads * gx * gy * gz;
  const uint64_t dout = upload(std::vector<int>(n));
  Status st = launch("geometry", Args().add(dout).add(n), gx, bx, threads * 4, gy, gz, by, bz);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, n);
  const int g_init[4] = {10, 20, 30, 40};
  for (int b = 0; b < static_cast<int>(gx * gy * gz); ++b)
    for (int t = 0; t < threads; ++t)
      EXPECT_EQ(out[b * threads + t],
                (threads - 1 - t) * 3 + b * 100000 + g_init[t & 3] + static_cast<int>(coef[b & 3]))
          << b << "/" << t;
}

TEST_F(PtxExec, LocalMemoryArrays) {
  std::vector<int> idx(40);
  for (int i = 0; i < 40; ++i) idx[i] = i * 5 + 1;
  const uint64_t di = upload(idx), dout = upload(std::vector<int>(40));
  Status st = launch("local_array", Args().add(di).add(dout), 1, 40);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, 40);
  for (int t = 0; t < 40; ++t) {
    const int i = idx[t] & 7;
    EXPECT_EQ(out[t], i * i + t) << t;
  }
}

TEST_F(PtxExec, OutOfBoundsIsAnIllegalAddressNamingKernelAndLine) {
  const uint64_t d = upload(std::vector<int>(1024));
  Status st = launch("out_of_bounds", Args().add(d).add(static_cast<long long>(1 << 20)), 1, 1);
  EXPECT_EQ(st.code, CUDA_ERROR_ILLEGAL_ADDRESS) << st.text;
  EXPECT_NE(st.text.find("kernel out_of_bounds, PTX line "), std::string::npos) << st.text;
  EXPECT_NE(st.text.find("outside the session's memory"), std::string::npos) << st.text;
  // A wild pointer far from any allocation, and one into the worker's own memory.
  int on_the_stack = 0;
  st =
      launch("out_of_bounds", Args().add(reinterpret_cast<uint64_t>(&on_the_stack)).add(0ll), 1, 1);
  EXPECT_EQ(st.code, CUDA_ERROR_ILLEGAL_ADDRESS) << st.text;
  EXPECT_EQ(on_the_stack, 0);
  st = launch("misaligned", Args().add(d), 1, 1);
  EXPECT_EQ(st.code, CUDA_ERROR_MISALIGNED_ADDRESS) << st.text;
  st = launch("trap_if", Args().add(1), 1, 32);
  EXPECT_EQ(st.code, CUDA_ERROR_LAUNCH_FAILED) << st.text;
  EXPECT_TRUE(launch("trap_if", Args().add(0), 1, 32).ok());
}

TEST_F(PtxExec, DeviceFunctionCallsAndBoundedRecursion) {
  std::vector<int> in(32);
  for (int i = 0; i < 32; ++i) in[i] = i * 7 + 2;
  const uint64_t din = upload(in), dout = upload(std::vector<int>(32 * 4));
  Status st = launch("calls", Args().add(din).add(dout).add(20), 1, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<int>(dout, 32 * 4);
  auto fib = [](int n) {
    int a = 0, b = 1;
    for (int i = 0; i < n; ++i) {
      const int c = a + b;
      a = b;
      b = c;
    }
    return a;
  };
  for (int t = 0; t < 32; ++t) {
    EXPECT_EQ(out[t * 4 + 0], in[t] * 3 + 1) << t;
    EXPECT_EQ(out[t * 4 + 1], fib(in[t] % 12)) << t;
    int s = 0;
    for (int i = 0; i < 1 + (in[t] & 3); ++i) s += in[t] + i;
    EXPECT_EQ(out[t * 4 + 2], s) << t;
    EXPECT_EQ(out[t * 4 + 3], 20) << t;
  }
  // Recursion deeper than the executor's 64 frames fails the launch, naming the function.
  st = launch("calls", Args().add(din).add(dout).add(1000), 1, 1);
  EXPECT_EQ(st.code, CUDA_ERROR_LAUNCH_FAILED) << st.text;
  EXPECT_NE(st.text.find("call stack overflow"), std::string::npos) << st.text;
}

TEST_F(PtxExec, MatchReduxElectAndTestp) {
  std::vector<int> in(32);
  std::vector<float> f(32);
  for (int l = 0; l < 32; ++l) {
    in[l] = (l * 37) % 101;
    f[l] = l % 3 == 0 ? 1.0f / 0.0f : l % 3 == 1 ? std::nanf("") : static_cast<float>(l);
  }
  const uint64_t din = upload(in), df = upload(f), dout = upload(std::vector<unsigned>(32 * 8));
  Status st = launch("warp_extras", Args().add(din).add(dout).add(df), 1, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  auto out = download<unsigned>(dout, 32 * 8);
  unsigned sum = 0, mx = 0, orr = 0;
  int mn = 1 << 30;
  for (int l = 0; l < 32; ++l) {
    sum += in[l];
    mn = std::min(mn, in[l] - 50);
    mx = std::max<unsigned>(mx, in[l]);
    orr |= 1u << (l % 8);
  }
  for (int l = 0; l < 32; ++l) {
    const unsigned* o = &out[l * 8];
    unsigned same = 0;
    for (int u = 0; u < 32; ++u)
      if (in[u] % 4 == in[l] % 4) same |= 1u << u;
    EXPECT_EQ(o[0], same) << l << " match.any";
    if (l < 16) {
      EXPECT_EQ(o[1], 0xffffu) << l << " match.all: lanes 0-15 all pass 5";
      EXPECT_EQ(o[2], 1u) << l;
    }
    EXPECT_EQ(o[3], sum) << l << " redux.add";
    EXPECT_EQ(static_cast<int>(o[4]), mn) << l << " redux.min.s32";
    EXPECT_EQ(o[5], mx | orr) << l << " redux.max.u32 | redux.or";
    EXPECT_EQ(o[6], 4u * 2 + (l == 4 ? 1u : 0u)) << l << " elect.sync (lanes 4-31)";
    const unsigned want = (std::isfinite(f[l]) ? 1u : 0u) | (std::isnan(f[l]) ? 2u : 0u);
    EXPECT_EQ(o[7], want) << l << " testp";
  }
}

TEST_F(PtxExec, DevicePrintfFormatsEachCallWhole) {
  const char tag[] = "ptx";
  const uint64_t dtag = upload(std::vector<char>(tag, tag + sizeof tag));
  const uint64_t dret = upload(std::vector<int>(4, -9));
  Status st = launch("device_printf", Args().add(dtag).add(dret).add(uint64_t{0}), 1, 32);
  ASSERT_TRUE(st.ok()) << st.text;
  std::string want;
  for (int t = 0; t < 3; ++t) {
    char line[256];
    std::snprintf(line, sizeof line, "t%d [%5.2f] %s %c %lld %#x %-3d| %e%%\n", t, t * 1.5, tag,
                  'A' + t, 1ll << 40, 255u + t, t, 1e-3 * t);
    want += line;
  }
  want += "no arguments\n";
  EXPECT_EQ(backend.take_device_output(), want);
  EXPECT_EQ(backend.take_device_output(), "") << "taken once";
  auto ret = download<int>(dret, 4);
  EXPECT_EQ(ret, (std::vector<int>{8, 8, 8, 0})) << "printf returns the number of arguments";
  // A %s of a pointer outside the session's memory is an illegal address, named.
  st = launch("device_printf", Args().add(dtag).add(dret).add(uint64_t{0x10}), 1, 32);
  EXPECT_EQ(st.code, CUDA_ERROR_ILLEGAL_ADDRESS) << st.text;
  EXPECT_NE(st.text.find("kernel device_printf"), std::string::npos) << st.text;
}

TEST(PtxParse, UnsupportedInstructionsAreNamedWithKernelAndLine) {
  const char* text =
      ".version 9.0\n.target sm_90\n.address_size 64\n"
      ".visible .entry k(.param .u64 p)\n{\n.reg .b32 %r<3>;\n"
      "mov.u32 %r1, 1;\n"
      "tex.1d.v4.f32.s32 {%r1, %r1, %r1, %r1}, [t, {%r2}];\n"
      "ret;\n}\n";
  ptx::PtxModule m;
  std::string e = ptx::parse_ptx_module(text, std::strlen(text), &m);
  EXPECT_NE(e.find("kernel k, PTX line 8: tex.1d.v4.f32.s32 is not supported by the sim executor"),
            std::string::npos)
      << e;
  // Under --sim-exec ptx the module load fails saying so.
  SimBackend b(nullptr, 0, SimExec::kPtx);
  ASSERT_TRUE(b.open({0x300000000000ull, kDefaultVaSize, 64ull << 20}).ok());
  Status st = b.module_load(1, reinterpret_cast<const uint8_t*>(text), std::strlen(text));
  EXPECT_EQ(st.code, CUDA_ERROR_NOT_SUPPORTED) << st.text;
  EXPECT_NE(st.text.find("tex.1d"), std::string::npos) << st.text;
}

}  // namespace
}  // namespace rgpu::server
