// interpose/memory_api.cc — device memory, copies, memsets (host memory and pointer attributes:
// host_memory_api.cc).
//
// Device memory lives on the server at the address the client sees (DESIGN contract 5); the
// client records each allocation so pointer attributes and address ranges are answered
// locally. HtoD copies and memsets are async (small copies ride in the batch; large ones stream
// from the source as bulk chunks before the call returns); DtoH lands straight in the
// destination (interpose/lane.h). Async copies whose host side lies inside page-locked memory
// (cuMemHostAlloc/cuMemAllocHost/cuMemHostRegister) return before the bytes move: the lane's
// background threads stream them in lane order, and the sync that covers them waits; freeing or
// unregistering page-locked memory first waits for every background copy. Async copies with
// pageable memory stay synchronous, as in CUDA.
#include <cstdlib>
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/peer_copy.h"

namespace rgpu::api {
namespace {

CUresult htod(uint64_t dst, const void* src, size_t n, uint64_t stream_wire, Device* d) {
  if (n == 0) return CUDA_SUCCESS;
  if (!src) return CUDA_ERROR_INVALID_VALUE;
  if (!device_of_pointer(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  return d->lane->htod(dst, src, n, stream_wire);
}

CUresult dtoh(void* dst, uint64_t src, size_t n, uint64_t stream_wire, Device* d) {
  if (n == 0) return CUDA_SUCCESS;
  if (!dst) return CUDA_ERROR_INVALID_VALUE;
  if (!device_of_pointer(src, n)) return CUDA_ERROR_INVALID_VALUE;
  return d->lane->dtoh(dst, src, n, stream_wire);
}

// Whether [p, p+n) lies inside one page-locked host allocation or registration.
bool page_locked(const void* p, size_t n) {
  Client* c = state();
  auto key = reinterpret_cast<uintptr_t>(p);
  std::shared_lock<std::shared_mutex> g(c->mu);
  auto it = c->host_allocs.upper_bound(key);
  if (it == c->host_allocs.begin()) return false;
  --it;
  const uintptr_t off = key - it->first;
  return off < it->second.size && n <= it->second.size - off;
}

// Stream-ordered copies (the *Async entry points).
CUresult htod_async(uint64_t dst, const void* src, size_t n, uint64_t stream_wire, Device* d) {
  if (n == 0 || !src || !page_locked(src, n)) return htod(dst, src, n, stream_wire, d);
  if (!device_of_pointer(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  return d->lane->htod_async(dst, src, n, stream_wire);
}

CUresult dtoh_async(void* dst, uint64_t src, size_t n, uint64_t stream_wire, Device* d) {
  if (n == 0 || !dst || !page_locked(dst, n)) return dtoh(dst, src, n, stream_wire, d);
  if (!device_of_pointer(src, n)) return CUDA_ERROR_INVALID_VALUE;
  return d->lane->dtoh_async(dst, src, n, stream_wire);
}

CUresult dtod(uint64_t dst, uint64_t src, size_t n, uint64_t stream_wire, Device* d) {
  if (n == 0) return CUDA_SUCCESS;
  Device *dd = device_of_pointer(dst, n), *sd = device_of_pointer(src, n);
  if (!dd || !sd) return CUDA_ERROR_INVALID_VALUE;
  if (dd != sd) return copy_across_devices(dd, dst, sd, src, n, stream_wire, d);  // two servers
  op::MemcpyDtoD::Args a{dst, src, n, stream_wire};
  return d->lane->enqueue<op::MemcpyDtoD>(a);
}

// Unified-addressing copy: direction from where each pointer lies.
CUresult copy_any(uint64_t dst, uint64_t src, size_t n, uint64_t wire, Device* d,
                  bool async = false) {
  bool ddev = device_of_pointer(dst, n) != nullptr, sdev = device_of_pointer(src, n) != nullptr;
  if (ddev && sdev) return dtod(dst, src, n, wire, d);
  if (ddev)
    return async ? htod_async(dst, reinterpret_cast<const void*>(src), n, wire, d)
                 : htod(dst, reinterpret_cast<const void*>(src), n, wire, d);
  if (sdev)
    return async ? dtoh_async(reinterpret_cast<void*>(dst), src, n, wire, d)
                 : dtoh(reinterpret_cast<void*>(dst), src, n, wire, d);
  if (n) memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
  return CUDA_SUCCESS;
}

CUresult memset_any(uint64_t dst, uint32_t value, uint32_t elem, size_t count, CUstream s,
                    bool per_thread) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, per_thread, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (count == 0) return CUDA_SUCCESS;
  if (dst % elem != 0 || !device_of_pointer(dst, count * elem)) return CUDA_ERROR_INVALID_VALUE;
  op::Memset::Args a{dst, count, value, elem, wire};
  return d->lane->enqueue<op::Memset>(a);
}

CUresult copy_on(CUstream s, bool per_thread, uint64_t* wire, Device** d) {
  return resolve_stream(s, per_thread, wire, d);
}

}  // namespace

CUresult cuMemAlloc_v2(CUdeviceptr_v2* dptr, size_t bytesize) {
  if (!dptr) return CUDA_ERROR_INVALID_VALUE;
  if (bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = current_device(&d);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  const uint64_t counted = granule_bytes(bytesize);
  if (d->protocol >= 11 && c->client_placement) {
    // Placed here while this device's allocations stay below half its cap (ops.def
    // MemAllocAt): no round trip. Sent at once (a flush, not a wait) so that any thread this
    // pointer reaches addresses it after the allocation on the wire.
    uint64_t at = 0;
    {
      std::lock_guard<std::shared_mutex> g(c->mu);
      if (d->alloc_bytes + counted <= d->props.total_mem / 2) {
        if (auto got = d->placed.allocate(bytesize)) {
          at = *got;
          add_dev_alloc(*c, at, DevAlloc{bytesize, d->ordinal, true});
        }
      }
    }
    if (at) {
      r = d->lane->enqueue<op::MemAllocAt>({at, bytesize});
      if (r != CUDA_SUCCESS) {  // nothing went out: the range is free again
        std::lock_guard<std::shared_mutex> g(c->mu);
        erase_dev_alloc(*c, at);
        d->placed.release(at);
        return r;
      }
      r = d->lane->flush();
      if (r != CUDA_SUCCESS) {
        // The record may have reached the server: the range stays taken here (never placed
        // again), only the allocation is forgotten.
        std::lock_guard<std::shared_mutex> g(c->mu);
        erase_dev_alloc(*c, at);
        return r;
      }
      *dptr = at;
      return CUDA_SUCCESS;
    }
  }
  op::MemAlloc::Args a{bytesize};
  op::MemAlloc::Result res{};
  r = d->lane->call<op::MemAlloc>(a, &res);
  if (r != CUDA_SUCCESS) return r;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    add_dev_alloc(*c, res.dptr, DevAlloc{bytesize, d->ordinal, false});
  }
  *dptr = res.dptr;
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr_v2 dptr) {
  Client* c = state();
  if (!c) return check_init();
  if (dptr == 0) return CUDA_SUCCESS;
  {
    // Mapped host memory: cuMemFreeHost frees it (and forgets it here first).
    std::shared_lock<std::shared_mutex> g(c->mu);
    auto h = c->host_allocs.find(dptr);
    if (h != c->host_allocs.end() && h->second.mapped) return CUDA_ERROR_INVALID_VALUE;
  }
  if (pools::owns(dptr)) return cuMemFreeAsync(dptr, nullptr);        // stream-ordered memory
  if (pools::cached(dptr)) return CUDA_ERROR_INVALID_VALUE;           // already freed to its pool
  if (managed::any() && managed::owns(dptr)) managed::release(dptr);  // its host shadow too
  DevAlloc was;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    if (!erase_dev_alloc(*c, dptr, &was)) return CUDA_ERROR_INVALID_VALUE;
  }
  Device* d = c->devices[static_cast<size_t>(was.device)].get();
  // Checked here (dev_allocs), so no answer is needed: batched where the server speaks 10.
  // Every lane's pending work first (another thread's kernel may still use it: cuMemFree waits
  // for the device), then the free; a flush, not a round trip.
  CUresult r;
  if (d->protocol >= 10) {
    r = d->lane->flush();
    if (r == CUDA_SUCCESS) r = d->lane->enqueue<op::MemFreeDeferred>({dptr});
    // A range this process placed is placed again only after its free is on the wire.
    if (r == CUDA_SUCCESS && was.placed) r = d->lane->flush();
  } else {
    op::MemFree::Args a{dptr};
    r = d->lane->call<op::MemFree>(a);
  }
  if (was.placed && r == CUDA_SUCCESS) {  // (after a failure the range stays taken)
    std::lock_guard<std::shared_mutex> g(c->mu);
    d->placed.release(dptr);
  }
  return r;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  if (!free || !total) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = current_device(&d);
  if (r != CUDA_SUCCESS) return r;
  op::MemGetInfo::Args a{};
  op::MemGetInfo::Result res{};
  r = d->lane->call<op::MemGetInfo>(a, &res);
  if (r != CUDA_SUCCESS) return r;
  *free = res.free_bytes;
  *total = res.total_bytes;
  return CUDA_SUCCESS;
}

CUresult cuMemGetAddressRange_v2(CUdeviceptr_v2* pbase, size_t* psize, CUdeviceptr_v2 dptr) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  auto it = c->dev_allocs.upper_bound(dptr);
  if (it == c->dev_allocs.begin()) return CUDA_ERROR_NOT_FOUND;
  --it;
  if (dptr - it->first >= it->second.size) return CUDA_ERROR_NOT_FOUND;
  if (pbase) *pbase = it->first;
  if (psize) *psize = it->second.size;
  return CUDA_SUCCESS;
}

// --- copies -----------------------------------------------------------------------------------

#define RGPU_STREAM_OR_RETURN(s, pt)         \
  uint64_t wire;                             \
  Device* d;                                 \
  {                                          \
    CUresult r_ = copy_on(s, pt, &wire, &d); \
    if (r_ != CUDA_SUCCESS) return r_;       \
  }

CUresult cuMemcpyHtoD_v2(CUdeviceptr_v2 dstDevice, const void* srcHost, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, false);
  return htod(dstDevice, srcHost, ByteCount, wire, d);
}
CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr_v2 dstDevice, const void* srcHost, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, true);
  return htod(dstDevice, srcHost, ByteCount, wire, d);
}
CUresult cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr_v2 srcDevice, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, false);
  return dtoh(dstHost, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoH_v2_ptds(void* dstHost, CUdeviceptr_v2 srcDevice, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, true);
  return dtoh(dstHost, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr_v2 dstDevice, CUdeviceptr_v2 srcDevice, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, false);
  return dtod(dstDevice, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr_v2 dstDevice, CUdeviceptr_v2 srcDevice,
                              size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, true);
  return dtod(dstDevice, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpy(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, false);
  return copy_any(dst, src, ByteCount, wire, d);
}
CUresult cuMemcpy_ptds(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t ByteCount) {
  RGPU_STREAM_OR_RETURN(nullptr, true);
  return copy_any(dst, src, ByteCount, wire, d);
}
CUresult cuMemcpyAsync(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t ByteCount, CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, false);
  return copy_any(dst, src, ByteCount, wire, d, true);
}
CUresult cuMemcpyAsync_ptsz(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t ByteCount,
                            CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, true);
  return copy_any(dst, src, ByteCount, wire, d, true);
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr_v2 dstDevice, const void* srcHost, size_t ByteCount,
                              CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, false);
  return htod_async(dstDevice, srcHost, ByteCount, wire, d);
}
CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr_v2 dstDevice, const void* srcHost, size_t ByteCount,
                                   CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, true);
  return htod_async(dstDevice, srcHost, ByteCount, wire, d);
}
CUresult cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr_v2 srcDevice, size_t ByteCount,
                              CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, false);
  return dtoh_async(dstHost, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoHAsync_v2_ptsz(void* dstHost, CUdeviceptr_v2 srcDevice, size_t ByteCount,
                                   CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, true);
  return dtoh_async(dstHost, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr_v2 dstDevice, CUdeviceptr_v2 srcDevice, size_t ByteCount,
                              CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, false);
  return dtod(dstDevice, srcDevice, ByteCount, wire, d);
}
CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr_v2 dstDevice, CUdeviceptr_v2 srcDevice,
                                   size_t ByteCount, CUstream hStream) {
  RGPU_STREAM_OR_RETURN(hStream, true);
  return dtod(dstDevice, srcDevice, ByteCount, wire, d);
}

// --- memsets ----------------------------------------------------------------------------------

CUresult cuMemsetD8_v2(CUdeviceptr_v2 dst, unsigned char uc, size_t N) {
  return memset_any(dst, uc, 1, N, nullptr, false);
}
CUresult cuMemsetD8_v2_ptds(CUdeviceptr_v2 dst, unsigned char uc, size_t N) {
  return memset_any(dst, uc, 1, N, nullptr, true);
}
CUresult cuMemsetD16_v2(CUdeviceptr_v2 dst, unsigned short us, size_t N) {
  return memset_any(dst, us, 2, N, nullptr, false);
}
CUresult cuMemsetD16_v2_ptds(CUdeviceptr_v2 dst, unsigned short us, size_t N) {
  return memset_any(dst, us, 2, N, nullptr, true);
}
CUresult cuMemsetD32_v2(CUdeviceptr_v2 dst, unsigned int ui, size_t N) {
  return memset_any(dst, ui, 4, N, nullptr, false);
}
CUresult cuMemsetD32_v2_ptds(CUdeviceptr_v2 dst, unsigned int ui, size_t N) {
  return memset_any(dst, ui, 4, N, nullptr, true);
}
CUresult cuMemsetD8Async(CUdeviceptr_v2 dst, unsigned char uc, size_t N, CUstream s) {
  return memset_any(dst, uc, 1, N, s, false);
}
CUresult cuMemsetD8Async_ptsz(CUdeviceptr_v2 dst, unsigned char uc, size_t N, CUstream s) {
  return memset_any(dst, uc, 1, N, s, true);
}
CUresult cuMemsetD16Async(CUdeviceptr_v2 dst, unsigned short us, size_t N, CUstream s) {
  return memset_any(dst, us, 2, N, s, false);
}
CUresult cuMemsetD16Async_ptsz(CUdeviceptr_v2 dst, unsigned short us, size_t N, CUstream s) {
  return memset_any(dst, us, 2, N, s, true);
}
CUresult cuMemsetD32Async(CUdeviceptr_v2 dst, unsigned int ui, size_t N, CUstream s) {
  return memset_any(dst, ui, 4, N, s, false);
}
CUresult cuMemsetD32Async_ptsz(CUdeviceptr_v2 dst, unsigned int ui, size_t N, CUstream s) {
  return memset_any(dst, ui, 4, N, s, true);
}

}  // namespace rgpu::api
