// tests/e2e/threads.cu — 8 host threads, each launching on its own stream.
//
// Checks: each thread owns a non-blocking stream and a buffer; it runs `rounds` rounds of
// H2D copy, `launches` addConst launches and a D2H copy, then checks every element exactly.
// Concurrency in the client (shared context, per-thread call order) must not mix or drop work.
// Host implementation of addConst() for the sim backend: threads_plugin.cc.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "e2e_check.h"

__global__ void addConst(int* data, int value, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) data[i] += value;
}

namespace {

constexpr int kThreads = 8;
constexpr int kRounds = 10;
constexpr int kLaunches = 16;
constexpr int kN = 4096 + 3;

std::atomic<int> g_failures{0};

#define THREAD_CHECK(call)                                                              \
  do {                                                                                  \
    cudaError_t e_ = (call);                                                            \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "FAIL thread %d: %s returned %s (%d): %s\n", t, #call,       \
                   cudaGetErrorName(e_), static_cast<int>(e_), cudaGetErrorString(e_)); \
      ++g_failures;                                                                     \
      return;                                                                           \
    }                                                                                   \
  } while (0)

void worker(int t) {
  cudaStream_t s;
  THREAD_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  int* d;
  THREAD_CHECK(cudaMalloc(&d, kN * sizeof(int)));
  std::vector<int> h(kN);
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kN; ++i) h[i] = t * 1000000 + r * 1000 + (i % 997);
    THREAD_CHECK(cudaMemcpyAsync(d, h.data(), kN * sizeof(int), cudaMemcpyHostToDevice, s));
    for (int k = 1; k <= kLaunches; ++k)
      addConst<<<(kN + 127) / 128, 128, 0, s>>>(d, k * (t + 1), kN);
    THREAD_CHECK(cudaGetLastError());
    std::vector<int> out(kN, -1);
    THREAD_CHECK(cudaMemcpyAsync(out.data(), d, kN * sizeof(int), cudaMemcpyDeviceToHost, s));
    THREAD_CHECK(cudaStreamSynchronize(s));
    const int added = (t + 1) * kLaunches * (kLaunches + 1) / 2;
    for (int i = 0; i < kN; ++i) {
      if (out[i] != h[i] + added) {
        std::fprintf(stderr, "FAIL thread %d round %d: [%d] = %d, want %d\n", t, r, i, out[i],
                     h[i] + added);
        ++g_failures;
        return;
      }
    }
  }
  THREAD_CHECK(cudaFree(d));
  THREAD_CHECK(cudaStreamDestroy(s));
}

}  // namespace

int main() {
  CHECK_CUDA(cudaFree(nullptr));  // initialise the context before the threads race for it
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  EXPECT_TRUE(g_failures.load() == 0, "%d of %d threads failed", g_failures.load(), kThreads);
  CHECK_CUDA(cudaDeviceSynchronize());
  e2e_pass("threads");
  return 0;
}
