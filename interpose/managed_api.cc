// interpose/managed_api.cc — managed memory (the model is in managed.h): cuMemAllocManaged,
// the host shadows and their exchange with the device, cuMemPrefetchAsync and cuMemAdvise.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"
#include "interpose/managed.h"

namespace rgpu {
namespace managed {

std::atomic<int> g_count{0};

namespace {

constexpr size_t kChunk = 64 * 1024;

struct Region {
  uint64_t size = 0;
  LaneSet* lanes = nullptr;
  std::vector<uint64_t> hashes;  // per chunk, as of the last exchange with the device
};

std::mutex g_mu;  // guards g_regions and g_device_work
std::map<uint64_t, Region> g_regions;
bool g_device_work = false;              // device work was issued since the last fetch
thread_local bool t_exchanging = false;  // this thread is flushing or fetching (no recursion)

uint64_t hash_chunk(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over 8-byte words
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// The hashes of the chunks that [off, off + n) of the region touches (all of them by default).
void rehash(uint64_t base, Region& r, uint64_t off = 0, uint64_t n = UINT64_MAX) {
  const auto* p = reinterpret_cast<const uint8_t*>(base);
  r.hashes.resize((r.size + kChunk - 1) / kChunk);
  const uint64_t end = std::min(r.size, n > r.size - off ? r.size : off + n);
  for (size_t c = off / kChunk; c * kChunk < end; ++c)
    r.hashes[c] = hash_chunk(p + c * kChunk, std::min<uint64_t>(kChunk, r.size - c * kChunk));
}

}  // namespace

// Marks this thread as exchanging for the scope (no hook re-enters; reset on any exit).
struct Exchanging {
  Exchanging() { t_exchanging = true; }
  ~Exchanging() { t_exchanging = false; }
};

void before_device_work(LaneSet* lanes, bool device_writes) {
  if (t_exchanging) return;
  Exchanging ex;
  std::lock_guard<std::mutex> g(g_mu);
  if (device_writes) g_device_work = true;
  for (auto& [base, r] : g_regions) {
    if (r.lanes != lanes) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(base);
    for (size_t c = 0; c < r.hashes.size(); ++c) {
      const size_t n = std::min<uint64_t>(kChunk, r.size - c * kChunk);
      const uint64_t h = hash_chunk(p + c * kChunk, n);
      if (h == r.hashes[c]) continue;
      CUresult e = lanes->htod(base + c * kChunk, p + c * kChunk, n, 0);
      if (e != CUDA_SUCCESS) {
        RGPU_WARN("managed memory: flushing to the device failed: %d", e);
        continue;  // still dirty: the next device work tries again
      }
      r.hashes[c] = h;
    }
  }
}

void after_sync(LaneSet* lanes) {
  if (t_exchanging) return;
  Exchanging ex;
  std::lock_guard<std::mutex> g(g_mu);
  if (g_device_work) {
    for (auto& [base, r] : g_regions) {
      if (r.lanes != lanes) continue;
      CUresult e = lanes->dtoh(reinterpret_cast<void*>(base), base, r.size, 0);
      if (e != CUDA_SUCCESS) RGPU_WARN("managed memory: fetching from the device failed: %d", e);
      rehash(base, r);
    }
    g_device_work = false;
  }
}

void after_dtoh(LaneSet* lanes, const void* dst, size_t n) {
  if (t_exchanging) return;
  const auto addr = reinterpret_cast<uint64_t>(dst);
  Exchanging ex;
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_regions.upper_bound(addr);
  if (it == g_regions.begin()) return;
  --it;
  if (addr - it->first >= it->second.size || n > it->second.size - (addr - it->first)) return;
  if (lanes->htod(addr, dst, n, 0) != CUDA_SUCCESS) return;  // the shadow keeps it: still dirty
  rehash(it->first, it->second, addr - it->first, n);
}

void after_htod(uint64_t dst, const void* src, size_t n) {
  if (t_exchanging) return;
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_regions.upper_bound(dst);
  if (it == g_regions.begin()) return;
  --it;
  if (dst - it->first >= it->second.size || n > it->second.size - (dst - it->first)) return;
  if (reinterpret_cast<const void*>(dst) != src) std::memmove(reinterpret_cast<void*>(dst), src, n);
  rehash(it->first, it->second, dst - it->first, n);
}

bool owns(uint64_t dptr) {
  std::lock_guard<std::mutex> g(g_mu);
  return g_regions.count(dptr) != 0;
}

bool contains(uint64_t ptr) {
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_regions.upper_bound(ptr);
  if (it == g_regions.begin()) return false;
  --it;
  return ptr - it->first < it->second.size;
}

CUresult release(uint64_t dptr) {
  uint64_t size = 0;
  {
    std::lock_guard<std::mutex> g(g_mu);
    auto it = g_regions.find(dptr);
    if (it == g_regions.end()) return CUDA_ERROR_INVALID_VALUE;
    size = it->second.size;
    g_regions.erase(it);
  }
  g_count.fetch_sub(1, std::memory_order_relaxed);
  ::munmap(reinterpret_cast<void*>(dptr), size);
  return CUDA_SUCCESS;
}

}  // namespace managed

namespace api {

CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytesize, unsigned int flags) {
  if (bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = current_device(&d);
  if (r != CUDA_SUCCESS) return r;
  CUdeviceptr p = 0;
  r = cuMemAlloc_v2(&p, bytesize);
  if (r != CUDA_SUCCESS) return r;
  // The host shadow at the same address: the window is this process's address space too.
  void* want = reinterpret_cast<void*>(p);
  void* got = ::mmap(want, bytesize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (got != want) {
    const int e = errno;
    if (got != MAP_FAILED) ::munmap(got, bytesize);
    cuMemFree_v2(p);
    RGPU_ERR("cuMemAllocManaged: cannot map host memory at the device address %p: %s", want,
             std::strerror(e));
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  {
    std::lock_guard<std::mutex> g(managed::g_mu);
    managed::Region& reg = managed::g_regions[p];
    reg.size = bytesize;
    reg.lanes = d->lane.get();
    managed::rehash(p, reg);  // zero on both sides: the server hands out zeroed memory
  }
  managed::g_count.fetch_add(1, std::memory_order_relaxed);
  *dptr = p;
  return CUDA_SUCCESS;
}

// Nothing moves early: the exchange happens at the next device work and synchronizing call.
CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                            CUstream hStream) {
  (void)dstDevice;
  (void)hStream;
  if (!managed::contains(devPtr) || !managed::contains(devPtr + count - 1))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}
CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                                 CUstream hStream) {
  return api::cuMemPrefetchAsync(devPtr, count, dstDevice, hStream);
}
CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                               unsigned int flags, CUstream hStream) {
  (void)location;
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  return api::cuMemPrefetchAsync(devPtr, count, 0, hStream);
}
CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                    unsigned int flags, CUstream hStream) {
  return api::cuMemPrefetchAsync_v2(devPtr, count, location, flags, hStream);
}
// Advice changes no result: accepted for managed memory.
CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
  (void)advice;
  (void)device;
  if (count == 0 || !managed::contains(devPtr) || !managed::contains(devPtr + count - 1))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}
CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                        CUmemLocation location) {
  (void)location;
  return api::cuMemAdvise(devPtr, count, advice, 0);
}

}  // namespace api
}  // namespace rgpu
