// tests/e2e/streams.cu — streams, events, pinned memory, async copies and memsets.
//
// Checks: pinned host memory (cudaMallocHost); H2D -> kernel -> D2H on two non-blocking streams;
// cudaStreamWaitEvent ordering a second stream after the first; cudaEventElapsedTime >= 0;
// cudaMemsetAsync bytes; cudaStreamQuery/cudaEventQuery reaching cudaSuccess; work on the
// default stream (legacy or per-thread, depending on how nvcc built this file).
// Host implementation of scale() for the sim backend: streams_plugin.cc.
#include <chrono>
#include <cstdint>
#include <thread>

#include "e2e_check.h"

__global__ void scale(float* data, float factor, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) data[i] *= factor;
}

// Polls until the stream/event is done; fails on anything but cudaErrorNotReady meanwhile.
template <typename Query>
static cudaError_t wait_ready(Query q) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    cudaError_t e = q();
    if (e != cudaErrorNotReady) return e;
    if (std::chrono::steady_clock::now() > deadline) return cudaErrorNotReady;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int main() {
  const int half = 65536 + 17;
  const int n = 2 * half;
  const size_t half_bytes = half * sizeof(float);
  float *h_in, *h_out, *h_chain;
  CHECK_CUDA(cudaMallocHost(&h_in, n * sizeof(float)));
  CHECK_CUDA(cudaMallocHost(&h_out, n * sizeof(float)));
  CHECK_CUDA(cudaMallocHost(&h_chain, half_bytes));
  for (int i = 0; i < n; ++i) {
    h_in[i] = static_cast<float>(i % 1000) + 1.0f;
    h_out[i] = -1.0f;
  }
  float* d;
  CHECK_CUDA(cudaMalloc(&d, n * sizeof(float)));

  cudaStream_t s[2];
  for (auto& st : s) CHECK_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaEvent_t start, stop, done0;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventCreate(&done0));

  const int threads = 128, blocks = (half + threads - 1) / threads;
  CHECK_CUDA(cudaEventRecord(start, s[0]));
  for (int k = 0; k < 2; ++k) {
    float* dk = d + k * half;
    CHECK_CUDA(cudaMemcpyAsync(dk, h_in + k * half, half_bytes, cudaMemcpyHostToDevice, s[k]));
    scale<<<blocks, threads, 0, s[k]>>>(dk, k == 0 ? 2.0f : 4.0f, half);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaMemcpyAsync(h_out + k * half, dk, half_bytes, cudaMemcpyDeviceToHost, s[k]));
  }
  // Stream 1 continues on half 0 only after stream 0 is done with it: x2 then x3.
  CHECK_CUDA(cudaEventRecord(done0, s[0]));
  CHECK_CUDA(cudaStreamWaitEvent(s[1], done0, 0));
  scale<<<blocks, threads, 0, s[1]>>>(d, 3.0f, half);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaMemcpyAsync(h_chain, d, half_bytes, cudaMemcpyDeviceToHost, s[1]));
  CHECK_CUDA(cudaEventRecord(stop, s[1]));

  CHECK_CUDA(cudaStreamSynchronize(s[0]));
  CHECK_CUDA(cudaEventSynchronize(stop));
  CHECK_CUDA(cudaEventQuery(stop));
  float ms = -1.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  EXPECT_TRUE(ms >= 0.0f, "cudaEventElapsedTime gave %f ms", ms);
  for (int i = 0; i < n; ++i) {
    const float want = h_in[i] * (i < half ? 2.0f : 4.0f);
    EXPECT_TRUE(h_out[i] == want, "stream result [%d] = %g, want %g", i, h_out[i], want);
  }
  for (int i = 0; i < half; ++i) {
    const float want = h_in[i] * 6.0f;
    EXPECT_TRUE(h_chain[i] == want, "after cudaStreamWaitEvent [%d] = %g, want %g", i, h_chain[i],
                want);
  }

  // Memset on a stream, polled to completion with cudaStreamQuery.
  CHECK_CUDA(cudaMemsetAsync(d, 0xAB, n * sizeof(float), s[0]));
  CHECK_CUDA(cudaMemcpyAsync(h_out, d, n * sizeof(float), cudaMemcpyDeviceToHost, s[0]));
  CHECK_CUDA(wait_ready([&] { return cudaStreamQuery(s[0]); }));
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(h_out);
  for (size_t i = 0; i < n * sizeof(float); ++i)
    EXPECT_TRUE(bytes[i] == 0xAB, "memset byte %zu = 0x%02x, want 0xab", i, bytes[i]);
  CHECK_CUDA(cudaStreamQuery(s[1]));

  // The default stream (legacy, or per-thread with --default-stream per-thread).
  CHECK_CUDA(cudaMemcpyAsync(d, h_in, half_bytes, cudaMemcpyHostToDevice, 0));
  scale<<<blocks, threads>>>(d, 0.5f, half);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaMemcpyAsync(h_chain, d, half_bytes, cudaMemcpyDeviceToHost, 0));
  CHECK_CUDA(cudaStreamSynchronize(0));
  for (int i = 0; i < half; ++i) {
    const float want = h_in[i] * 0.5f;
    EXPECT_TRUE(h_chain[i] == want, "default stream [%d] = %g, want %g", i, h_chain[i], want);
  }

  for (auto& st : s) CHECK_CUDA(cudaStreamDestroy(st));
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  CHECK_CUDA(cudaEventDestroy(done0));
  CHECK_CUDA(cudaFree(d));
  CHECK_CUDA(cudaFreeHost(h_in));
  CHECK_CUDA(cudaFreeHost(h_out));
  CHECK_CUDA(cudaFreeHost(h_chain));
  e2e_pass("streams");
  return 0;
}
