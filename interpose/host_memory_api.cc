// interpose/host_memory_api.cc — page-locked host memory (cuMemHostAlloc, cuMemAllocHost,
// cuMemHostRegister and their frees and flags), mapped host memory (DEVICEMAP: managed memory at
// one address, managed.h), and pointer attributes, answered in the shim from what it recorded.
//
// Host allocations without DEVICEMAP are plain client memory; async copies from or into them
// stream in the background (memory_api.cc), so freeing or unregistering one first waits for
// every background copy.
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"
#include "interpose/managed.h"

namespace rgpu::api {
namespace {

// Before page-locked memory goes away: no background copy may still use it.
void wait_background_copies(Client* c) {
  for (auto& dev : c->devices)
    if (dev && dev->lane) dev->lane->wait_background();
}

}  // namespace

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

}  // namespace rgpu::api
