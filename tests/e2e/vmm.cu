// tests/e2e/vmm.cu — virtual memory management as PyTorch's expandable segments use it: reserve
// about 1.125x the device's memory of address space, map 2 MiB pages on demand, use tensors that
// span pages from kernels and copies, unmap and release pages as the segment shrinks.
//
// Checks: the granularity; memory in use grows by mapped pages, never by the reservation; a
// kernel and copies across page boundaries see one contiguous buffer; two mappings of one
// allocation alias; a released but mapped allocation stays usable until unmapped; retain and
// properties; overlapping maps, unmapped addresses and shareable handles are refused.
#include <cuda.h>

#include <cstdint>
#include <vector>

#include "e2e_check.h"

#define CHECK_CU(call)                                                                     \
  do {                                                                                     \
    CUresult e2e_cu_ = (call);                                                             \
    if (e2e_cu_ != CUDA_SUCCESS) {                                                         \
      const char* name = nullptr;                                                          \
      cuGetErrorName(e2e_cu_, &name);                                                      \
      std::fprintf(stderr, "FAIL %s:%d: %s returned %s (%d)\n", __FILE__, __LINE__, #call, \
                   name ? name : "?", static_cast<int>(e2e_cu_));                          \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

__global__ void iota(uint32_t* p, size_t n, uint32_t base) {
  size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) p[i] = base + static_cast<uint32_t>(i);
}

static size_t used_bytes() {
  size_t free_b = 0, total_b = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
  return total_b - free_b;
}

int main() {
  CHECK_CUDA(cudaFree(nullptr));  // the primary context
  int vmm = 0;
  CHECK_CU(cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
  EXPECT_TRUE(vmm == 1, "VMM supported = %d", vmm);
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  size_t gran = 0;
  CHECK_CU(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  EXPECT_TRUE(gran == (2u << 20), "granularity %zu", gran);

  size_t free_b = 0, total_b = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
  const size_t reserve = (total_b + total_b / 8 + gran - 1) / gran * gran;
  const size_t base_used = used_bytes();
  CUdeviceptr seg = 0;
  CHECK_CU(cuMemAddressReserve(&seg, reserve, 0, 0, 0));
  EXPECT_TRUE(seg % gran == 0, "segment at %llx", (unsigned long long)seg);
  EXPECT_TRUE(used_bytes() == base_used, "reserving address space used %zu bytes",
              used_bytes() - base_used);

  // Grow the segment page by page, as the allocator does when a tensor does not fit.
  const int pages = 5;
  std::vector<CUmemGenericAllocationHandle> h(pages);
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  for (int i = 0; i < pages; ++i) {
    CHECK_CU(cuMemCreate(&h[i], gran, &prop, 0));
    CHECK_CU(cuMemMap(seg + i * gran, gran, 0, h[i], 0));
    CHECK_CU(cuMemSetAccess(seg + i * gran, gran, &access, 1));
    EXPECT_TRUE(used_bytes() == base_used + (i + 1) * gran, "after %d pages %zu bytes are used",
                i + 1, used_bytes() - base_used);
  }
  // A tensor spanning pages 1..3 (it starts 1 MiB into page 1): a kernel fills it, a copy reads
  // it back whole, a device-to-device copy moves it across the boundaries.
  const size_t n = (2 * gran + gran / 2) / 4;
  auto* t = reinterpret_cast<uint32_t*>(seg + gran + gran / 2);
  iota<<<static_cast<unsigned>((n + 255) / 256), 256>>>(t, n, 100);
  CHECK_CUDA(cudaGetLastError());
  std::vector<uint32_t> back(n);
  CHECK_CUDA(cudaMemcpy(back.data(), t, n * 4, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i)
    EXPECT_TRUE(back[i] == 100 + i, "t[%zu] = %u (page %zu)", i, back[i],
                (i * 4 + gran / 2) / gran + 1);
  CHECK_CUDA(cudaMemcpy(reinterpret_cast<void*>(seg), t, 3 * gran / 2, cudaMemcpyDeviceToDevice));
  CHECK_CUDA(cudaMemcpy(back.data(), reinterpret_cast<void*>(seg + 4), 8, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(back[0] == 101 && back[1] == 102, "moved %u %u", back[0], back[1]);

  // A second mapping of page 4's memory aliases it.
  CUdeviceptr other = 0;
  CHECK_CU(cuMemAddressReserve(&other, gran, 0, 0, 0));
  CHECK_CU(cuMemMap(other, gran, 0, h[4], 0));
  CHECK_CU(cuMemSetAccess(other, gran, &access, 1));
  const uint32_t mark = 0xC0FFEE;
  CHECK_CUDA(
      cudaMemcpy(reinterpret_cast<void*>(seg + 4 * gran + 64), &mark, 4, cudaMemcpyHostToDevice));
  uint32_t seen = 0;
  CHECK_CUDA(cudaMemcpy(&seen, reinterpret_cast<void*>(other + 64), 4, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(seen == mark, "the alias read %x", seen);

  // Retain and properties; released while mapped it stays usable until unmapped.
  CUmemGenericAllocationHandle r = 0;
  CHECK_CU(cuMemRetainAllocationHandle(&r, reinterpret_cast<void*>(other + 100)));
  EXPECT_TRUE(r == h[4], "retained another handle");
  CUmemAllocationProp got{};
  CHECK_CU(cuMemGetAllocationPropertiesFromHandle(&got, r));
  EXPECT_TRUE(got.location.id == 0 && got.type == CU_MEM_ALLOCATION_TYPE_PINNED, "properties");
  CHECK_CU(cuMemRelease(r));
  CHECK_CU(cuMemRelease(h[4]));
  CHECK_CUDA(cudaMemcpy(&seen, reinterpret_cast<void*>(other + 64), 4, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(seen == mark, "released-but-mapped memory read %x", seen);

  // Refusals: an overlapping map, a copy into unmapped space, a shareable allocation.
  CUmemGenericAllocationHandle spare = 0;
  CHECK_CU(cuMemCreate(&spare, gran, &prop, 0));
  EXPECT_TRUE(cuMemMap(seg + gran, gran, 0, spare, 0) == CUDA_ERROR_INVALID_VALUE,
              "an overlapping map was accepted");
  EXPECT_TRUE(cudaMemcpy(reinterpret_cast<void*>(seg + 6 * gran), &mark, 4,
                         cudaMemcpyHostToDevice) != cudaSuccess ||
                  cudaDeviceSynchronize() != cudaSuccess,
              "a copy into reserved but unmapped space succeeded");
  cudaGetLastError();
  CUmemAllocationProp shared = prop;
  shared.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  CUmemGenericAllocationHandle x = 0;
  EXPECT_TRUE(cuMemCreate(&x, gran, &shared, 0) == CUDA_ERROR_NOT_SUPPORTED,
              "a shareable allocation was made");
  CHECK_CU(cuMemRelease(spare));

  // Shrink: unmap and release every page; the memory comes back, the reservation goes.
  CHECK_CU(cuMemUnmap(other, gran));
  CHECK_CU(cuMemAddressFree(other, gran));
  CHECK_CU(cuMemUnmap(seg, 2 * gran));  // a run of two whole mappings at once
  for (int i = 2; i < pages; ++i) CHECK_CU(cuMemUnmap(seg + i * gran, gran));
  for (int i = 0; i < 4; ++i) CHECK_CU(cuMemRelease(h[i]));
  CHECK_CU(cuMemAddressFree(seg, reserve));
  CHECK_CUDA(cudaDeviceSynchronize());
  EXPECT_TRUE(used_bytes() == base_used, "%zu bytes still used after the segment shrank",
              used_bytes() - base_used);
  e2e_pass("vmm");
  return 0;
}
