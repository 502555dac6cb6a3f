// bench/sim_exec_bench.cc — Figure 7: the sim executor's speed on real nvcc PTX
// (bench/sim_kernels.cu), in thread-instructions per second, and the ratio of its time to the
// same kernels' C++ twins at -O2 measured in the same run. Budget (DESIGN.md): >= 100M
// thread-instructions/s on the 2-core CI machine. Every result is checked against the twin.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "server/backend/sim_backend.h"
#include "server/backend/va_window.h"

using namespace rgpu::server;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Args {
  std::vector<uint8_t> bytes;
  template <typename T>
  Args& add(T v) {
    bytes.resize((bytes.size() + alignof(T) - 1) / alignof(T) * alignof(T));
    const size_t at = bytes.size();
    bytes.resize(at + sizeof v);
    std::memcpy(bytes.data() + at, &v, sizeof v);
    return *this;
  }
};

// The twins (what a GPU would compute), compiled -O2 here.
void twin_vecadd(const float* a, const float* b, float* c, int n) {
  for (int i = 0; i < n; ++i) c[i] = a[i] + b[i];
}
void twin_reduce(const float* in, float* out, int n, int block) {
  std::vector<float> s(block);
  for (int b = 0; b * block * 2 < n; ++b) {
    for (int t = 0; t < block; ++t) {
      int i = b * block * 2 + t;
      float v = 0;
      if (i < n) v = in[i];
      if (i + block < n) v += in[i + block];
      s[t] = v;
    }
    for (int step = block / 2; step > 0; step >>= 1)
      for (int t = 0; t < step; ++t) s[t] += s[t + step];
    out[b] = s[0];
  }
}
void twin_sgemm(const float* A, const float* B, float* C, int n) {
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      float acc = 0;
      for (int k0 = 0; k0 < n; k0 += 16)
        for (int k = 0; k < 16; ++k)
          acc +=
              (k0 + k < n ? A[r * n + k0 + k] : 0.0f) * (k0 + k < n ? B[(k0 + k) * n + c] : 0.0f);
      C[r * n + c] = acc;
    }
}

}  // namespace

int main() {
  std::ifstream in(RGPU_BENCH_SIM_PTX);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string ptx = ss.str();
  SimBackend b(nullptr, 0, SimExec::kPtx);
  if (!b.open({0x300000000000ull, kDefaultVaSize, 1ull << 30}).ok() ||
      !b.module_load(1, reinterpret_cast<const uint8_t*>(ptx.c_str()), ptx.size() + 1).ok()) {
    std::fprintf(stderr, "sim_exec_bench: cannot load %s\n", RGPU_BENCH_SIM_PTX);
    return 1;
  }
  auto alloc = [&](size_t bytes) {
    uint64_t d = 0;
    b.mem_alloc(bytes, 0, &d);
    return d;
  };
  uint64_t next_fn = 10;
  bool all_ok = true;
  std::printf(
      "Figure 7: sim executor on nvcc PTX (thread-instructions/s; time against C++ twins -O2)\n");
  std::printf("%-28s %14s %12s %10s %10s\n", "kernel", "thread-instr", "instr/s", "sim s",
              "x twin");
  auto run = [&](const char* label, const Args& a, uint32_t gx, uint32_t gy, uint32_t bx,
                 uint32_t by, auto twin, auto check) {
    FunctionInfo info;
    const uint64_t fn = next_fn++;
    const std::string name_s(label, std::strchr(label, ' ') - label);
    const char* name = name_s.c_str();
    if (Status g = b.module_get_function(1, fn, name, &info); !g.ok()) {
      std::printf("%s: %s\n", name, g.text.c_str());
      all_ok = false;
      return;
    }
    LaunchConfig c;
    c.function = fn;
    c.grid[0] = gx;
    c.grid[1] = gy;
    c.block[0] = bx;
    c.block[1] = by;
    c.params = a.bytes.data();
    c.param_bytes = static_cast<uint32_t>(a.bytes.size());
    const uint64_t before = b.ptx_instructions();
    auto t0 = Clock::now();
    Status st = b.launch(c);
    const double sim_s = seconds_since(t0);
    const uint64_t n = b.ptx_instructions() - before;
    auto t1 = Clock::now();
    int reps = 0;
    do {
      twin();
      ++reps;
    } while (seconds_since(t1) < 0.2);
    const double twin_s = seconds_since(t1) / reps;
    const bool ok = st.ok() && check();
    all_ok &= ok;
    std::printf("%-28s %14llu %12.3g %10.3f %10.0f%s\n", label, static_cast<unsigned long long>(n),
                n / sim_s, sim_s, sim_s / twin_s, ok ? "" : "  WRONG RESULT");
    if (!st.ok()) std::printf("  %s\n", st.text.c_str());
  };

  const int n = 1 << 20;
  std::vector<float> ha(n), hb(n), hc(n), want(n);
  for (int i = 0; i < n; ++i) {
    ha[i] = static_cast<float>(i % 1000) * 0.5f;
    hb[i] = static_cast<float>(i % 37);
  }
  const uint64_t da = alloc(n * 4), db = alloc(n * 4), dc = alloc(n * 4);
  b.memcpy_htod(da, ha.data(), n * 4, 0);
  b.memcpy_htod(db, hb.data(), n * 4, 0);
  run(
      "bench_vecadd (1M)", Args().add(da).add(db).add(dc).add(n), n / 256, 1, 256, 1,
      [&] { twin_vecadd(ha.data(), hb.data(), want.data(), n); },
      [&] {
        b.memcpy_dtoh(hc.data(), dc, n * 4, 0);
        return hc == want;
      });

  const int blocks = n / 512;
  std::vector<float> hr(blocks), wr(blocks);
  const uint64_t dr = alloc(blocks * 4);
  run(
      "bench_reduce (1M, 256/blk)", Args().add(da).add(dr).add(n), blocks, 1, 256, 1,
      [&] { twin_reduce(ha.data(), wr.data(), n, 256); },
      [&] {
        b.memcpy_dtoh(hr.data(), dr, blocks * 4, 0);
        return hr == wr;
      });

  const int m = 256;
  std::vector<float> A(m * m), B(m * m), C(m * m), WC(m * m);
  for (int i = 0; i < m * m; ++i) {
    A[i] = static_cast<float>(i % 17) * 0.25f;
    B[i] = static_cast<float>(i % 13) - 6.0f;
  }
  const uint64_t dA = alloc(m * m * 4), dB = alloc(m * m * 4), dC = alloc(m * m * 4);
  b.memcpy_htod(dA, A.data(), m * m * 4, 0);
  b.memcpy_htod(dB, B.data(), m * m * 4, 0);
  run(
      "bench_sgemm (256^3, 16x16)", Args().add(dA).add(dB).add(dC).add(m), m / 16, m / 16, 16, 16,
      [&] { twin_sgemm(A.data(), B.data(), WC.data(), m); },
      [&] {
        b.memcpy_dtoh(C.data(), dC, m * m * 4, 0);
        for (int i = 0; i < m * m; ++i)
          if (std::fabs(C[i] - WC[i]) > 1e-3f * (1 + std::fabs(WC[i]))) return false;
        return true;
      });
  std::printf("budget: >= 1e+08 instr/s per kernel (DESIGN.md)\n");
  return all_ok ? 0 : 1;
}
