// interpose/vmm_api.cc — virtual memory management (cuMemCreate, cuMemAddressReserve, cuMemMap,
// ...), as PyTorch's expandable segments use it: reserve a large range, map 2 MiB pieces of
// physical memory into it on demand, unmap and release them when the segment shrinks.
//
// Physical allocations are client-made handles (CUmemGenericAllocationHandle = its wire
// number). cuMemCreate and cuMemAddressReserve are round trips (the server may refuse memory
// or place the range); cuMemMap, cuMemUnmap, cuMemRelease and cuMemAddressFree are checked here
// against what this process created, reserved and mapped, then go out as batched records.
// cuMemSetAccess grants the device its own memory (the only access there is: another device is
// another server). Mapped memory counts against the vGPU's cap through its physical allocation
// (from cuMemCreate until it is released and unmapped), never through reserved address space.
// Shareable handles (export/import) are refused: the memory lives in one server session.
#include <algorithm>
#include <map>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"

namespace rgpu::api {
namespace {

struct PhysHandle {
  uint64_t bytes = 0;
  int device = 0;
  CUmemAllocationProp prop{};
  int refs = 1;  // cuMemCreate's, plus one per cuMemRetainAllocationHandle
};
struct Mapping {
  uint64_t bytes = 0;
  CUmemGenericAllocationHandle handle = 0;
  int device = 0;
};

// Guarded by the client's mutex.
std::map<CUmemGenericAllocationHandle, PhysHandle> g_handles;
std::map<uint64_t, std::pair<uint64_t, int>> g_reserved;  // start -> (bytes, device)
std::map<uint64_t, Mapping> g_mapped;                     // start -> mapping

bool granular(uint64_t v) {
  return v % kVmmGranularity == 0;
}

Device* vmm_device(int ordinal) {
  Client* c = state();
  if (ordinal < 0 || static_cast<size_t>(ordinal) >= c->devices.size()) return nullptr;
  Device* d = c->devices[static_cast<size_t>(ordinal)].get();
  if (!d->props.attrs[CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED]) return nullptr;
  return d;
}

CUresult check_prop(const CUmemAllocationProp* prop, Device** d) {
  if (!prop) return CUDA_ERROR_INVALID_VALUE;
  if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
      prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
    return CUDA_ERROR_INVALID_VALUE;
  if (prop->requestedHandleTypes != CU_MEM_HANDLE_TYPE_NONE) {
    RGPU_WARN(
        "cuMemCreate: shareable allocations (handle types %d) are not served by rgpu: the "
        "memory lives in one server session",
        static_cast<int>(prop->requestedHandleTypes));
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  Client* c = state();
  if (!c) return check_init();
  if (prop->location.id < 0 || static_cast<size_t>(prop->location.id) >= c->devices.size())
    return CUDA_ERROR_INVALID_DEVICE;
  *d = vmm_device(prop->location.id);
  return *d ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
}

// The reservation holding [va, va + bytes), or end().
std::map<uint64_t, std::pair<uint64_t, int>>::iterator reservation_of(uint64_t va, uint64_t bytes) {
  auto r = g_reserved.upper_bound(va);
  if (r == g_reserved.begin()) return g_reserved.end();
  --r;
  if (va - r->first >= r->second.first || bytes > r->second.first - (va - r->first))
    return g_reserved.end();
  return r;
}

}  // namespace

CUresult cuMemGetAllocationGranularity(size_t* granularity, const CUmemAllocationProp* prop,
                                       CUmemAllocationGranularity_flags option) {
  if (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
    return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = check_prop(prop, &d);
  if (r != CUDA_SUCCESS) return r;
  *granularity = kVmmGranularity;
  return CUDA_SUCCESS;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size,
                     const CUmemAllocationProp* prop, unsigned long long flags) {
  if (flags != 0 || size == 0 || !granular(size)) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = check_prop(prop, &d);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  const uint64_t wire = c->new_wire();
  op::MemCreate::Args a{wire, size};
  r = d->lane->call<op::MemCreate>(a);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(c->mu);
  g_handles[wire] = PhysHandle{size, d->ordinal, *prop, 1};
  *handle = wire;
  return CUDA_SUCCESS;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  Client* c = state();
  if (!c) return check_init();
  Device* d = nullptr;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = g_handles.find(handle);
    if (it == g_handles.end()) return CUDA_ERROR_INVALID_VALUE;
    if (--it->second.refs > 0) return CUDA_SUCCESS;  // a retained reference remains
    d = c->devices[static_cast<size_t>(it->second.device)].get();
    g_handles.erase(it);
  }
  op::MemRelease::Args a{handle};
  return d->lane->enqueue<op::MemRelease>(a);
}

CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  if (flags != 0 || size == 0 || !granular(size) || !granular(addr) ||
      (alignment & (alignment - 1)))
    return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = current_device(&d);
  if (r != CUDA_SUCCESS) return r;
  if (!vmm_device(d->ordinal)) return CUDA_ERROR_NOT_SUPPORTED;
  op::AddressReserve::Args a{size, alignment, addr};
  op::AddressReserve::Result res{};
  r = d->lane->call<op::AddressReserve>(a, &res);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  g_reserved[res.va] = {size, d->ordinal};
  *ptr = res.va;
  return CUDA_SUCCESS;
}

CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  Client* c = state();
  if (!c) return check_init();
  Device* d = nullptr;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = g_reserved.find(ptr);
    if (it == g_reserved.end() || it->second.first != size) return CUDA_ERROR_INVALID_VALUE;
    auto m = g_mapped.lower_bound(ptr);
    if (m != g_mapped.end() && m->first < ptr + size) return CUDA_ERROR_INVALID_VALUE;  // mapped
    d = c->devices[static_cast<size_t>(it->second.second)].get();
    g_reserved.erase(it);
  }
  op::AddressFree::Args a{ptr, size};
  return d->lane->enqueue<op::AddressFree>(a);
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags) {
  if (flags != 0 || size == 0 || !granular(ptr) || !granular(size) || !granular(offset) ||
      ptr + size < ptr)
    return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  Device* d = nullptr;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto h = g_handles.find(handle);
    if (h == g_handles.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (offset > h->second.bytes || size > h->second.bytes - offset)
      return CUDA_ERROR_INVALID_VALUE;
    auto r = reservation_of(ptr, size);
    if (r == g_reserved.end() || r->second.second != h->second.device)
      return CUDA_ERROR_INVALID_VALUE;
    auto m = g_mapped.lower_bound(ptr);
    if ((m != g_mapped.end() && m->first < ptr + size) ||
        (m != g_mapped.begin() && std::prev(m)->first + std::prev(m)->second.bytes > ptr))
      return CUDA_ERROR_INVALID_VALUE;  // overlaps a mapping
    d = c->devices[static_cast<size_t>(h->second.device)].get();
    g_mapped[ptr] = Mapping{size, handle, h->second.device};
    add_dev_alloc(*c, ptr, DevAlloc{size, h->second.device});
  }
  op::MemMap::Args a{ptr, size, offset, handle};
  CUresult e = d->lane->enqueue<op::MemMap>(a);  // never under the client's lock
  if (e != CUDA_SUCCESS) {
    std::lock_guard<std::shared_mutex> g(c->mu);
    g_mapped.erase(ptr);
    erase_dev_alloc(*c, ptr);
  }
  return e;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  if (size == 0 || ptr + size < ptr) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  Device* d = nullptr;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    int device = -1;
    for (uint64_t at = ptr; at < ptr + size;) {
      auto m = g_mapped.find(at);
      if (m == g_mapped.end() || m->second.bytes > ptr + size - at) return CUDA_ERROR_INVALID_VALUE;
      if (device >= 0 && m->second.device != device) return CUDA_ERROR_INVALID_VALUE;
      device = m->second.device;
      at += m->second.bytes;
    }
    for (uint64_t at = ptr; at < ptr + size;) {
      auto m = g_mapped.find(at);
      at += m->second.bytes;
      erase_dev_alloc(*c, m->first);
      g_mapped.erase(m);
    }
    d = c->devices[static_cast<size_t>(device)].get();
  }
  op::MemUnmap::Args a{ptr, size};
  return d->lane->enqueue<op::MemUnmap>(a);  // a failure surfaces at the next sync call
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count) {
  if (!desc || count == 0 || size == 0 || ptr + size < ptr) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  int device = -1;
  for (uint64_t at = ptr; at < ptr + size;) {
    auto m = g_mapped.find(at);
    if (m == g_mapped.end() || m->second.bytes > ptr + size - at) return CUDA_ERROR_INVALID_VALUE;
    device = m->second.device;
    at += m->second.bytes;
  }
  for (size_t i = 0; i < count; ++i) {
    if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
    if (desc[i].location.id != device) return CUDA_ERROR_NOT_SUPPORTED;  // another server
    if (desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE &&
        desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ)
      return CUDA_ERROR_NOT_SUPPORTED;  // revoking its own device's access is not served
  }
  return CUDA_SUCCESS;
}

CUresult cuMemGetAccess(unsigned long long* flags, const CUmemLocation* location, CUdeviceptr ptr) {
  if (!location) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  auto m = g_mapped.upper_bound(ptr);
  if (m == g_mapped.begin() || (--m, ptr - m->first >= m->second.bytes))
    return CUDA_ERROR_INVALID_VALUE;
  *flags = location->type == CU_MEM_LOCATION_TYPE_DEVICE && location->id == m->second.device
               ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE
               : CU_MEM_ACCESS_FLAGS_PROT_NONE;
  return CUDA_SUCCESS;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle* handle, void* addr) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  const auto va = reinterpret_cast<uint64_t>(addr);
  auto m = g_mapped.upper_bound(va);
  if (m == g_mapped.begin() || (--m, va - m->first >= m->second.bytes))
    return CUDA_ERROR_INVALID_VALUE;
  auto h = g_handles.find(m->second.handle);
  if (h == g_handles.end()) return CUDA_ERROR_INVALID_VALUE;  // released while mapped
  h->second.refs++;
  *handle = m->second.handle;
  return CUDA_SUCCESS;
}

CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp* prop,
                                                CUmemGenericAllocationHandle handle) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  auto h = g_handles.find(handle);
  if (h == g_handles.end()) return CUDA_ERROR_INVALID_VALUE;
  *prop = h->second.prop;
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
