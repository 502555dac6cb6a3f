// tests/e2e/share_tenant.cu — one tenant of a shared GPU, for compute shares (issue 15 item 4):
// tests/e2e/compute_shares.sh and bench/figure11.sh run several at once on one server.
//
//   share_tenant --mode greedy|sync [--seconds S] [--start-at UNIX_MS] [--iters N] [--think-ms T]
//
// Each kernel is one thread spinning N iterations (the same device time for every tenant).
// greedy: keeps a backlog, launching kernels and synchronizing every 64, for S seconds.
// sync:   a well-behaved tenant: one kernel and a synchronize, then T ms of host work, for S
//         seconds; the launch-to-synchronized latency of each is kept.
// --start-at: wait until that wall-clock time after set-up, so tenants' windows coincide.
// Prints one line: "share_tenant MODE kernels K seconds S p50_ms A p99_ms B" (latencies: sync
// mode only) after checking the kernels' result.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "e2e_check.h"

__global__ void spin(float* out, int iters) {
  float x = 0.f;
  for (int i = 0; i < iters; ++i) x = x * 0.5f + 1.f;  // converges to 2, exactly
  out[0] = x;
}

int main(int argc, char** argv) {
  const char* mode = "greedy";
  double seconds = 5, think_ms = 2;
  long long start_at = 0;
  int iters = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mode"))
      mode = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--start-at"))
      start_at = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--iters"))
      iters = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--think-ms"))
      think_ms = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "share_tenant: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const bool greedy = !std::strcmp(mode, "greedy");
  if (!greedy && std::strcmp(mode, "sync")) {
    std::fprintf(stderr, "share_tenant: --mode is greedy or sync\n");
    return 2;
  }
  float* out;
  CHECK_CUDA(cudaMalloc(&out, sizeof(float)));
  spin<<<1, 1>>>(out, 1);  // module and function loaded before the window
  CHECK_CUDA(cudaDeviceSynchronize());
  using Clock = std::chrono::steady_clock;
  if (start_at) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (start_at > now) std::this_thread::sleep_for(std::chrono::milliseconds(start_at - now));
  }
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration<double>(seconds);
  long kernels = 0;
  std::vector<double> lat_ms;
  while (Clock::now() < until) {
    if (greedy) {
      for (int k = 0; k < 64; ++k) spin<<<1, 1>>>(out, iters);
      CHECK_CUDA(cudaDeviceSynchronize());
      kernels += 64;
    } else {
      const auto a = Clock::now();
      spin<<<1, 1>>>(out, iters);
      CHECK_CUDA(cudaDeviceSynchronize());
      lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      ++kernels;
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(think_ms));
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  float v = 0;
  CHECK_CUDA(cudaMemcpy(&v, out, sizeof v, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(v == 2.0f, "spin left %.9g, want 2", v);
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double p) {
    return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, size_t(p * lat_ms.size()))];
  };
  std::printf("share_tenant %s kernels %ld seconds %.3f p50_ms %.3f p99_ms %.3f\n", mode, kernels,
              took, pct(0.50), pct(0.99));
  CHECK_CUDA(cudaFree(out));
  return 0;
}
