// tests/e2e/mapped_host.cu — mapped page-locked host memory (cudaHostAlloc with
// cudaHostAllocMapped, cudaHostGetDevicePointer), as zero-copy tutorials use it: the host writes,
// a kernel reads and writes through the device pointer, the host reads after a synchronize.
//
// Checks: the device says it can map host memory; the device pointer is the host pointer (UVA);
// kernel writes are on the host after cudaDeviceSynchronize, and host writes reach the next
// kernel, over several rounds; its pointer attributes say host memory with that device pointer;
// cudaFree refuses it; page-locked memory allocated without the flag is refused a device
// pointer with an error (never a pointer kernels cannot use); cudaFreeHost frees both.
#include <cstdint>
#include <vector>

#include "e2e_check.h"

__global__ void scale_add(int n, float* v, float k, float c) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) v[i] = v[i] * k + c;
}

int main() {
  int can_map = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, 0));
  EXPECT_TRUE(can_map == 1, "cudaDevAttrCanMapHostMemory = %d", can_map);

  const int n = 1 << 17;  // 512 KiB: several of the exchange's 64 KiB chunks
  float* h = nullptr;
  CHECK_CUDA(cudaHostAlloc(&h, n * sizeof(float), cudaHostAllocMapped));
  float* d = nullptr;
  CHECK_CUDA(cudaHostGetDevicePointer(reinterpret_cast<void**>(&d), h, 0));
  EXPECT_TRUE(d == h, "device pointer %p differs from the host pointer %p", (void*)d, (void*)h);
  unsigned flags = 0;
  CHECK_CUDA(cudaHostGetFlags(&flags, h));
  EXPECT_TRUE(flags & cudaHostAllocMapped, "flags 0x%x", flags);
  // It is host memory, with a device pointer (itself), and not managed memory.
  cudaPointerAttributes pa{};
  CHECK_CUDA(cudaPointerGetAttributes(&pa, h));
  EXPECT_TRUE(pa.type == cudaMemoryTypeHost && pa.hostPointer == h && pa.devicePointer == h,
              "attributes: type %d host %p device %p", pa.type, pa.hostPointer, pa.devicePointer);
  // cudaFree is not how page-locked memory is freed.
  EXPECT_TRUE(cudaFree(h) != cudaSuccess, "cudaFree of mapped host memory succeeded");
  cudaGetLastError();

  std::vector<float> want(n);
  for (int i = 0; i < n; ++i) want[i] = h[i] = static_cast<float>(i % 4096);
  for (int round = 0; round < 3; ++round) {
    scale_add<<<(n + 255) / 256, 256>>>(n, d, 2.0f, 1.0f);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaDeviceSynchronize());
    for (int i = 0; i < n; ++i) want[i] = want[i] * 2 + 1;
    for (int i = 0; i < n; i += 61)
      EXPECT_TRUE(h[i] == want[i], "round %d: h[%d] = %f, want %f", round, i, h[i], want[i]);
    EXPECT_TRUE(h[n - 1] == want[n - 1], "round %d: the last element", round);
    // The host's writes reach the next kernel.
    for (int i = 0; i < n; i += 1000) want[i] = h[i] = 5.0f;
  }

  // Page-locked memory without the flag has no device pointer here: an error, not a pointer.
  float* plain = nullptr;
  CHECK_CUDA(cudaMallocHost(&plain, 4096));
  void* none = nullptr;
  cudaError_t e = cudaHostGetDevicePointer(&none, plain, 0);
  EXPECT_TRUE(e != cudaSuccess,
              "cudaHostGetDevicePointer of unmapped page-locked memory succeeded");
  cudaGetLastError();
  CHECK_CUDA(cudaFreeHost(plain));
  CHECK_CUDA(cudaFreeHost(h));
  e2e_pass("mapped_host");
  return 0;
}
