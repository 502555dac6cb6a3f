// tests/e2e/managed.cu — managed memory as CUDA tutorials use it: one pointer written on the
// host, used by kernels, read back on the host after cudaDeviceSynchronize.
//
// Checks: host writes reach kernels; kernel writes are on the host after a synchronize; a second
// round with the host changing part of the data (only changed chunks need to travel) is right;
// a synchronous cudaMemcpy into managed memory is visible to the host at once; cudaMemcpy out of
// it sees the host's writes; prefetch and advice are accepted; the pointer reports itself as
// managed; the device says managed memory is supported without concurrent access.
#include <cstdint>
#include <vector>

#include "e2e_check.h"

__global__ void add(int n, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + y[i];
}

int main() {
  int managed = 0, concurrent = 1;
  CHECK_CUDA(cudaDeviceGetAttribute(&managed, cudaDevAttrManagedMemory, 0));
  CHECK_CUDA(cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, 0));
  EXPECT_TRUE(managed == 1 && concurrent == 0, "managed %d concurrent %d", managed, concurrent);

  const int n = 1 << 18;  // 1 MiB per array: several 64 KiB chunks
  float *x = nullptr, *y = nullptr;
  CHECK_CUDA(cudaMallocManaged(&x, n * sizeof(float)));
  CHECK_CUDA(cudaMallocManaged(&y, n * sizeof(float)));
  for (int i = 0; i < n; ++i) {
    x[i] = 1.0f;
    y[i] = 2.0f + i;
  }
  cudaPointerAttributes pa{};
  CHECK_CUDA(cudaPointerGetAttributes(&pa, y));
  EXPECT_TRUE(pa.type == cudaMemoryTypeManaged, "pointer type %d", pa.type);
  cudaMemLocation dev{cudaMemLocationTypeDevice, 0};
  CHECK_CUDA(cudaMemPrefetchAsync(x, n * sizeof(float), dev, 0, 0));
  CHECK_CUDA(cudaMemAdvise(x, n * sizeof(float), cudaMemAdviseSetReadMostly, dev));

  add<<<(n + 255) / 256, 256>>>(n, x, y);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  for (int i = 0; i < n; i += 101) EXPECT_TRUE(y[i] == 3.0f + i, "y[%d] = %f", i, y[i]);

  // Round two: the host changes one chunk of x; the kernel must see it and nothing else moves.
  for (int i = 20000; i < 20010; ++i) x[i] = 100.0f;
  add<<<(n + 255) / 256, 256>>>(n, x, y);
  CHECK_CUDA(cudaDeviceSynchronize());
  for (int i = 0; i < n; i += 97) {
    const float want = (i >= 20000 && i < 20010 ? 103.0f : 4.0f) + i;
    EXPECT_TRUE(y[i] == want, "round 2: y[%d] = %f, want %f", i, y[i], want);
  }
  EXPECT_TRUE(y[20005] == 103.0f + 20005, "round 2: y[20005] = %f", y[20005]);

  // Copies in and out.
  std::vector<float> h(16, 7.5f);
  CHECK_CUDA(cudaMemcpy(y, h.data(), 16 * sizeof(float), cudaMemcpyHostToDevice));
  EXPECT_TRUE(y[3] == 7.5f, "a copy into managed memory is not visible on the host: %f", y[3]);
  x[5] = -1.0f;
  float got = 0;
  CHECK_CUDA(cudaMemcpy(&got, x + 5, sizeof got, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(got == -1.0f, "a copy out of managed memory missed the host's write: %f", got);

  CHECK_CUDA(cudaFree(x));
  CHECK_CUDA(cudaFree(y));
  e2e_pass("managed");
  return 0;
}
