// tests/e2e/pool_job.cu — the CUDA program the pool end-to-end test (tests/pool/e2e_pool.sh)
// and scripts/demo.sh run through `rgpu run`.
//
// Usage: pool_job [--cap BYTES] [sleep]
// On every device it sees (one per vGPU) it prints the device's name and memory, runs
// y = a*x + b over many blocks and checks every element. --cap BYTES also checks that the
// device reports exactly BYTES of memory (the lease's cap) and that the cap holds: an allocation
// of more than BYTES fails with cudaErrorMemoryAllocation while one of half of it succeeds.
// A last argument `sleep` then keeps the session busy (a kernel and a copy back every 50 ms)
// for up to RGPU_JOB_SLEEP_S seconds (default 30) and fails, exit 1, as soon as a call fails:
// what a killed session looks like to its program. It prints "running" once it is busy.
// Host implementation of the kernel for the sim backend: pool_job_plugin.cc.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "e2e_check.h"

__global__ void poolJobAxpb(const float* x, float* y, float a, float b, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + b;
}

namespace {

const int kN = 50021;

// Runs the kernel once on the current device and checks it; returns the first CUDA error.
cudaError_t axpb_round(float* dx, float* dy, std::vector<float>& x, std::vector<float>& y, float a,
                       float b, bool check) {
  const size_t bytes = kN * sizeof(float);
  cudaError_t e = cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice);
  if (e != cudaSuccess) return e;
  poolJobAxpb<<<(kN + 255) / 256, 256>>>(dx, dy, a, b, kN);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  if ((e = cudaMemcpy(y.data(), dy, bytes, cudaMemcpyDeviceToHost)) != cudaSuccess) return e;
  if (check)
    for (int i = 0; i < kN; ++i) {
      const float want = a * x[i] + b;
      EXPECT_TRUE(y[i] == want, "y[%d] = %.9g, want %.9g", i, y[i], want);
    }
  return cudaSuccess;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long long cap = 0;
  bool sleep_mode = argc > 1 && std::strcmp(argv[argc - 1], "sleep") == 0;
  for (int i = 1; i < argc - (sleep_mode ? 1 : 0); ++i) {
    if (std::strcmp(argv[i], "--cap") == 0 && i + 1 < argc) {
      cap = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: pool_job [--cap BYTES] [sleep]\n");
      return 2;
    }
  }
  int ndev = 0;
  CHECK_CUDA(cudaGetDeviceCount(&ndev));
  EXPECT_TRUE(ndev >= 1, "at least one device, got %d", ndev);
  std::vector<float> x(kN), y(kN);
  for (int i = 0; i < kN; ++i) x[i] = static_cast<float>(i % 977) * 0.5f;
  std::vector<float*> dx(ndev), dy(ndev);
  for (int d = 0; d < ndev; ++d) {
    CHECK_CUDA(cudaSetDevice(d));
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, d));
    size_t free_b = 0, total_b = 0;
    CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
    std::printf("device %d: %s, %zu bytes\n", d, prop.name, total_b);
    if (cap) {
      EXPECT_TRUE(total_b == cap, "device %d reports %zu bytes, the lease's cap is %llu", d,
                  total_b, cap);
      void* big = nullptr;
      EXPECT_CUDA_ERROR(cudaMalloc(&big, cap + (1ull << 20)), cudaErrorMemoryAllocation,
                        "allocating more than the cap");
      (void)cudaGetLastError();
      void* half = nullptr;
      CHECK_CUDA(cudaMalloc(&half, cap / 2));
      CHECK_CUDA(cudaFree(half));
    }
    CHECK_CUDA(cudaMalloc(&dx[d], kN * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&dy[d], kN * sizeof(float)));
    CHECK_CUDA(axpb_round(dx[d], dy[d], x, y, 2.0f + d, -1.0f, true));
  }
  if (sleep_mode) {
    const char* s = std::getenv("RGPU_JOB_SLEEP_S");
    const double limit = s ? std::atof(s) : 30.0;
    auto t0 = std::chrono::steady_clock::now();
    std::printf("running\n");
    for (int round = 0;; ++round) {
      for (int d = 0; d < ndev; ++d) {
        CHECK_CUDA(cudaSetDevice(d));
        cudaError_t e = axpb_round(dx[d], dy[d], x, y, 3.0f, static_cast<float>(round), false);
        if (e != cudaSuccess) {
          std::fprintf(stderr, "FAIL session lost after %d rounds: %s (%d): %s\n", round,
                       cudaGetErrorName(e), static_cast<int>(e), cudaGetErrorString(e));
          return 1;
        }
      }
      std::chrono::duration<double> el = std::chrono::steady_clock::now() - t0;
      if (el.count() >= limit) break;
      usleep(50 * 1000);
    }
  }
  for (int d = 0; d < ndev; ++d) {
    CHECK_CUDA(cudaSetDevice(d));
    CHECK_CUDA(cudaFree(dx[d]));
    CHECK_CUDA(cudaFree(dy[d]));
  }
  e2e_pass("pool_job");
  return 0;
}
