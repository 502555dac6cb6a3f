// tests/e2e/mempool.cu — stream-ordered allocation as CUB, RAPIDS and PyTorch's cudaMallocAsync
// backend use it: cudaMallocAsync/cudaFreeAsync, the default pool's reuse and release threshold,
// explicit pools, trims, and the device attributes that tell a library what is served.
//
// Checks: data written by kernels into stream-ordered memory is right; a block freed on a stream
// is reused by the next allocation of that stream with no new memory reserved; after a
// synchronize the pool keeps no more than its release threshold; an explicit pool counts its
// bytes and trims; cudaFree of stream-ordered memory works; capabilities the shim does not serve
// (IPC, concurrent managed access) are reported as absent.
#include <cstdint>
#include <vector>

#include "e2e_check.h"

__global__ void fill(int* p, int n, int v) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v + i;
}

static uint64_t attr(cudaMemPool_t pool, cudaMemPoolAttr a) {
  uint64_t v = 0;
  CHECK_CUDA(cudaMemPoolGetAttribute(pool, a, &v));
  return v;
}

static void check_block(const int* dev, int n, int v, cudaStream_t s) {
  std::vector<int> host(n);
  CHECK_CUDA(cudaMemcpyAsync(host.data(), dev, n * sizeof(int), cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  for (int i = 0; i < n; ++i)
    EXPECT_TRUE(host[i] == v + i, "[%d] = %d, want %d", i, host[i], v + i);
}

int main() {
  int supported = 0, ipc = 1, managed = 1;
  CHECK_CUDA(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, 0));
  CHECK_CUDA(cudaDeviceGetAttribute(&ipc, cudaDevAttrIpcEventSupport, 0));
  CHECK_CUDA(cudaDeviceGetAttribute(&managed, cudaDevAttrConcurrentManagedAccess, 0));
  EXPECT_TRUE(supported == 1, "memory pools supported = %d", supported);
  EXPECT_TRUE(ipc == 0 && managed == 0,
              "unserved capabilities reported: ipc %d concurrent "
              "managed %d",
              ipc, managed);

  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreate(&s));
  cudaMemPool_t pool;
  CHECK_CUDA(cudaDeviceGetDefaultMemPool(&pool, 0));
  cudaMemPool_t current;
  CHECK_CUDA(cudaDeviceGetMemPool(&current, 0));
  EXPECT_TRUE(current == pool, "the current pool is not the default one");

  // Allocate, fill, check, free on one stream: the next allocation of that stream reuses the
  // block, so the pool's reserved bytes do not grow.
  const int n = 10000;
  int* a = nullptr;
  CHECK_CUDA(cudaMallocAsync(&a, n * sizeof(int), s));
  fill<<<(n + 255) / 256, 256, 0, s>>>(a, n, 7);
  check_block(a, n, 7, s);
  const uint64_t reserved = attr(pool, cudaMemPoolAttrReservedMemCurrent);
  EXPECT_TRUE(reserved >= n * sizeof(int), "reserved %llu", (unsigned long long)reserved);
  EXPECT_TRUE(attr(pool, cudaMemPoolAttrUsedMemCurrent) == reserved, "used != reserved");
  uint64_t big = UINT64_MAX;  // keep everything cached across synchronizations
  CHECK_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &big));
  for (int round = 0; round < 20; ++round) {
    CHECK_CUDA(cudaFreeAsync(a, s));
    CHECK_CUDA(cudaMallocAsync(&a, n * sizeof(int), s));
    fill<<<(n + 255) / 256, 256, 0, s>>>(a, n, round);
  }
  check_block(a, n, 19, s);
  EXPECT_TRUE(attr(pool, cudaMemPoolAttrReservedMemCurrent) == reserved,
              "reserved grew to %llu from %llu while one block was reused",
              (unsigned long long)attr(pool, cudaMemPoolAttrReservedMemCurrent),
              (unsigned long long)reserved);
  // With the default threshold (0) a synchronize releases what is cached.
  CHECK_CUDA(cudaFreeAsync(a, s));
  EXPECT_TRUE(attr(pool, cudaMemPoolAttrUsedMemCurrent) == 0, "used after free");
  uint64_t zero = 0;
  CHECK_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &zero));
  CHECK_CUDA(cudaStreamSynchronize(s));
  EXPECT_TRUE(attr(pool, cudaMemPoolAttrReservedMemCurrent) == 0, "reserved %llu after sync",
              (unsigned long long)attr(pool, cudaMemPoolAttrReservedMemCurrent));
  EXPECT_TRUE(attr(pool, cudaMemPoolAttrReservedMemHigh) >= reserved, "high-water mark lost");

  // An explicit pool: allocations come from it, it counts them, trims and is destroyed.
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = 0;
  cudaMemPool_t mine;
  CHECK_CUDA(cudaMemPoolCreate(&mine, &props));
  std::vector<int*> blocks(8);
  for (size_t i = 0; i < blocks.size(); ++i) {
    CHECK_CUDA(cudaMallocFromPoolAsync(&blocks[i], 4096 * (i + 1), mine, s));
    fill<<<1, 256, 0, s>>>(blocks[i], 256, static_cast<int>(i) * 1000);
  }
  for (size_t i = 0; i < blocks.size(); ++i)
    check_block(blocks[i], 256, static_cast<int>(i) * 1000, s);
  EXPECT_TRUE(attr(mine, cudaMemPoolAttrUsedMemCurrent) >= 4096 * 36, "explicit pool used %llu",
              (unsigned long long)attr(mine, cudaMemPoolAttrUsedMemCurrent));
  CHECK_CUDA(cudaMemPoolSetAttribute(mine, cudaMemPoolAttrReleaseThreshold, &big));
  for (int* b : blocks) CHECK_CUDA(cudaFreeAsync(b, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  EXPECT_TRUE(attr(mine, cudaMemPoolAttrReservedMemCurrent) >= 4096 * 36,
              "cached bytes released "
              "although the threshold keeps them");
  CHECK_CUDA(cudaMemPoolTrimTo(mine, 0));
  EXPECT_TRUE(attr(mine, cudaMemPoolAttrReservedMemCurrent) == 0, "trim kept %llu bytes",
              (unsigned long long)attr(mine, cudaMemPoolAttrReservedMemCurrent));
  CHECK_CUDA(cudaMemPoolDestroy(mine));
  EXPECT_TRUE(cudaMemPoolDestroy(pool) != cudaSuccess, "the default pool was destroyed");
  cudaGetLastError();

  // Shareable pools are refused clearly, and cudaFree takes stream-ordered memory too.
  props.handleTypes = cudaMemHandleTypePosixFileDescriptor;
  cudaMemPool_t shareable;
  EXPECT_TRUE(cudaMemPoolCreate(&shareable, &props) == cudaErrorNotSupported,
              "a shareable pool was created");
  cudaGetLastError();
  int* c = nullptr;
  CHECK_CUDA(cudaMallocAsync(&c, 1 << 20, s));
  fill<<<4, 256, 0, s>>>(c, 1024, 3);
  check_block(c, 1024, 3, s);
  CHECK_CUDA(cudaFree(c));
  EXPECT_TRUE(cudaFree(c) != cudaSuccess, "a pooled block was freed twice");
  cudaGetLastError();
  CHECK_CUDA(cudaDeviceSynchronize());
  size_t free_b = 0, total_b = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
  EXPECT_TRUE(free_b == total_b, "%zu bytes still held after every pool was emptied",
              total_b - free_b);
  CHECK_CUDA(cudaStreamDestroy(s));
  e2e_pass("mempool");
  return 0;
}
