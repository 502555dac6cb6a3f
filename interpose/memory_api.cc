// interpose/memory_api.cc — device and host memory, copies, memsets, pointer attributes.
//
// Device memory lives on the server at the address the client sees (DESIGN contract 5); the
// client records each allocation so pointer attributes and address ranges are answered
// locally. Host allocations (cuMemHostAlloc/cuMemAllocHost/cuMemHostRegister) are plain client
// memory. HtoD copies and memsets are async (small copies ride in the batch; large ones stream
// from the source as bulk chunks before the call returns); DtoH lands straight in the
// destination (interpose/lane.h). Async copies whose host side lies inside page-locked memory
// (cuMemHostAlloc/cuMemAllocHost/cuMemHostRegister) return before the bytes move: the lane's
// background threads stream them in lane order, and the sync that covers them waits; freeing or
// unregistering page-locked memory first waits for every background copy. Async copies with
// pageable memory stay synchronous, as in CUDA.
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <iterator>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"
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

// Before page-locked memory goes away: no background copy may still use it.
void wait_background_copies(Client* c) {
  for (auto& dev : c->devices)
    if (dev && dev->lane) dev->lane->wait_background();
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
        if (auto got = placement(d).allocate(bytesize)) {
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

// --- host memory ----------------------------------------------------------------------------

CUresult cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags) {
  if (!pp || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  if (Flags &
      ~(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
    return CUDA_ERROR_INVALID_VALUE;
  if (Flags & CU_MEMHOSTALLOC_DEVICEMAP) {
    // Mapped memory: kernels cannot reach this process's memory, so it is managed memory
    // (managed.h) whose one address is the host pointer and the device pointer alike, coherent
    // at the same synchronization points (the host's writes go before device work, the device's
    // come back after a synchronizing call).
    static std::once_flag told;
    std::call_once(told, [] {
      RGPU_INFO(
          "mapped host memory (CU_MEMHOSTALLOC_DEVICEMAP) is kept coherent at synchronization "
          "points as managed memory is: a kernel does not see host writes made while it runs");
    });
    CUdeviceptr dptr = 0;
    CUresult r = api::cuMemAllocManaged(&dptr, bytesize, CU_MEM_ATTACH_GLOBAL);
    if (r != CUDA_SUCCESS) return r;
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->host_allocs[dptr] = HostAlloc{bytesize, Flags, false, true};
    *pp = reinterpret_cast<void*>(dptr);
    return CUDA_SUCCESS;
  }
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytesize) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->host_allocs[reinterpret_cast<uintptr_t>(p)] = HostAlloc{bytesize, Flags, false};
  *pp = p;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocHost_v2(void** pp, size_t bytesize) {
  return api::cuMemHostAlloc(pp, bytesize, 0);
}

CUresult cuMemFreeHost(void* p) {
  Client* c = state();
  if (!c) return check_init();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = c->host_allocs.find(reinterpret_cast<uintptr_t>(p));
    if (it == c->host_allocs.end() || it->second.registered) return CUDA_ERROR_INVALID_VALUE;
  }
  wait_background_copies(c);
  bool mapped;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = c->host_allocs.find(reinterpret_cast<uintptr_t>(p));
    if (it == c->host_allocs.end() || it->second.registered) return CUDA_ERROR_INVALID_VALUE;
    mapped = it->second.mapped;
    c->host_allocs.erase(it);
  }
  if (mapped) return cuMemFree_v2(reinterpret_cast<CUdeviceptr>(p));  // its shadow too
  free(p);
  return CUDA_SUCCESS;
}

CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr_v2* pdptr, void* p, unsigned int Flags) {
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  const auto key = reinterpret_cast<uintptr_t>(p);
  auto it = c->host_allocs.upper_bound(key);
  if (it == c->host_allocs.begin()) return CUDA_ERROR_INVALID_VALUE;  // not page-locked memory
  --it;
  if (key - it->first >= it->second.size) return CUDA_ERROR_INVALID_VALUE;
  if (!it->second.mapped) {
    RGPU_WARN(
        "cuMemHostGetDevicePointer(%p): page-locked memory without CU_MEMHOSTALLOC_DEVICEMAP "
        "(cudaHostAllocMapped) is not mapped for kernels here; allocate it mapped",
        p);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  *pdptr = key;  // one address for both (UVA)
  return CUDA_SUCCESS;
}

CUresult cuMemHostRegister_v2(void* p, size_t bytesize, unsigned int Flags) {
  if (!p || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  if (Flags & CU_MEMHOSTREGISTER_DEVICEMAP) {
    RGPU_WARN(
        "cuMemHostRegister(%p, DEVICEMAP): kernels cannot reach memory of this process at its "
        "own address; allocate mapped memory with cuMemHostAlloc(DEVICEMAP) instead",
        p);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  std::lock_guard<std::shared_mutex> g(c->mu);
  auto key = reinterpret_cast<uintptr_t>(p);
  auto it = c->host_allocs.upper_bound(key + bytesize - 1);
  if (it != c->host_allocs.begin()) {
    --it;
    if (it->first + it->second.size > key) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  }
  c->host_allocs[key] = HostAlloc{bytesize, Flags, true};
  return CUDA_SUCCESS;
}

CUresult cuMemHostUnregister(void* p) {
  Client* c = state();
  if (!c) return check_init();
  wait_background_copies(c);
  std::lock_guard<std::shared_mutex> g(c->mu);
  auto it = c->host_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == c->host_allocs.end() || !it->second.registered)
    return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  c->host_allocs.erase(it);
  return CUDA_SUCCESS;
}

CUresult cuMemHostGetFlags(unsigned int* pFlags, void* p) {
  if (!pFlags) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  auto key = reinterpret_cast<uintptr_t>(p);
  auto it = c->host_allocs.upper_bound(key);
  if (it == c->host_allocs.begin()) return CUDA_ERROR_INVALID_VALUE;
  --it;
  if (key - it->first >= it->second.size) return CUDA_ERROR_INVALID_VALUE;
  *pFlags = it->second.flags;
  return CUDA_SUCCESS;
}

// --- pointer attributes ---------------------------------------------------------------------

CUresult cuPointerGetAttribute(void* data, CUpointer_attribute attribute, CUdeviceptr_v2 ptr) {
  if (!data) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  Device* d = device_of_pointer(ptr);
  uint64_t base = 0, size = 0;
  bool host = false;
  bool mapped = false;  // mapped page-locked memory: host memory with a device pointer (itself)
  unsigned host_flags = 0;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    if (d) {
      auto h = c->host_allocs.upper_bound(ptr);
      if (h != c->host_allocs.begin() && std::prev(h)->second.mapped &&
          ptr - std::prev(h)->first < std::prev(h)->second.size) {
        --h;
        mapped = host = true;
        base = h->first;
        size = h->second.size;
        host_flags = h->second.flags;
      }
    }
    if (mapped) {
    } else if (d) {
      auto it = c->dev_allocs.upper_bound(ptr);
      if (it != c->dev_allocs.begin()) {
        --it;
        if (ptr - it->first < it->second.size) {
          base = it->first;
          size = it->second.size;
        }
      }
    } else {
      auto it = c->host_allocs.upper_bound(ptr);
      if (it != c->host_allocs.begin()) {
        --it;
        if (ptr - it->first < it->second.size) {
          host = true;
          base = it->first;
          size = it->second.size;
          host_flags = it->second.flags;
        }
      }
    }
  }
  if (!d && !host) return CUDA_ERROR_INVALID_VALUE;
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext*>(data) = d ? reinterpret_cast<CUcontext>(d->primary)
                                         : reinterpret_cast<CUcontext>(current_context());
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned*>(data) = d && !mapped ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      if (!d) return CUDA_ERROR_INVALID_VALUE;  // host memory is not mapped on the device
      *static_cast<CUdeviceptr*>(data) = ptr;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      if (d && !mapped) return CUDA_ERROR_INVALID_VALUE;
      *static_cast<void**>(data) = reinterpret_cast<void*>(ptr);
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
      *static_cast<unsigned*>(data) = !mapped && managed::any() && managed::contains(ptr) ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int*>(data) = d ? d->ordinal : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      if (!size) return CUDA_ERROR_INVALID_VALUE;
      *static_cast<CUdeviceptr*>(data) = base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      if (!size) return CUDA_ERROR_INVALID_VALUE;
      *static_cast<size_t*>(data) = size;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      *static_cast<unsigned long long*>(data) = base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
      *static_cast<int*>(data) = 1;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MAPPED:
      *static_cast<int*>(data) = d ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
      *static_cast<int*>(data) = 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      *static_cast<void**>(data) = nullptr;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
      *static_cast<unsigned long long*>(data) = 0;
      return CUDA_SUCCESS;
    default:
      (void)host_flags;
      return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute* attributes,
                                void** data, CUdeviceptr_v2 ptr) {
  if (!attributes || !data) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < numAttributes; ++i) {
    if (!data[i]) continue;
    CUresult r = api::cuPointerGetAttribute(data[i], attributes[i], ptr);
    if (r == CUDA_ERROR_INVALID_VALUE) {
      // As the driver does for unregistered memory: zero the answer instead of failing.
      if (attributes[i] == CU_POINTER_ATTRIBUTE_MEMORY_TYPE ||
          attributes[i] == CU_POINTER_ATTRIBUTE_IS_MANAGED)
        *static_cast<unsigned*>(data[i]) = 0;
      else if (attributes[i] == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
        *static_cast<int*>(data[i]) = -2;
      else
        *static_cast<void**>(data[i]) = nullptr;
    } else if (r != CUDA_SUCCESS) {
      return r;
    }
  }
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
