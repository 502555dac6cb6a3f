// interpose/mempool_api.cc — stream-ordered allocation: cuMemAllocAsync, cuMemFreeAsync, memory
// pools and their attributes (the model is in mem_pools.h).
#include <algorithm>
#include <vector>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"

namespace rgpu {
namespace {

constexpr uint32_t kFirstFreeAsyncProtocol = 6;
constexpr uint64_t kPoolAlign = 512;

MemPool* new_pool(Client* c, Device* d, bool is_default) {
  auto* p = new MemPool();
  p->device = d;
  p->is_default = is_default;
  c->mem_pools.insert(p);  // caller holds c->mu
  return p;
}

// Releases cached blocks (largest first) while the pool holds more than `keep` bytes; only the
// blocks `releasable` accepts. Caller holds c->mu. Returns the MemFreeAsync records to send.
template <typename Pred>
void release_cached(Client* c, MemPool* p, uint64_t keep, Pred releasable,
                    std::vector<op::MemFreeAsync::Args>* out) {
  for (auto it = p->cached.end(); it != p->cached.begin() && p->reserved > keep;) {
    --it;
    if (!releasable(it->second)) continue;
    out->push_back({it->second.dptr, it->second.freed_on});
    p->reserved -= it->second.size;
    erase_dev_alloc(*c, it->second.dptr);
    it = p->cached.erase(it);
  }
}

void send_frees(Device* d, const std::vector<op::MemFreeAsync::Args>& frees) {
  for (const auto& a : frees) {
    CUresult r = d->lane->enqueue<op::MemFreeAsync>(a);
    if (r != CUDA_SUCCESS) RGPU_WARN("releasing pooled memory failed: %d", static_cast<int>(r));
  }
}

void maybe_delete(Client* c, MemPool* p) {
  if (p->destroyed && p->live.empty() && p->cached.empty()) {
    c->mem_pools.erase(p);
    delete p;
  }
}

CUresult pool_of_handle(CUmemoryPool h, MemPool** out) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  auto* p = reinterpret_cast<MemPool*>(h);
  if (!h || !c->mem_pools.count(p) || p->destroyed) return CUDA_ERROR_INVALID_VALUE;
  *out = p;
  return CUDA_SUCCESS;
}

CUresult device_by_ordinal(CUdevice dev, Device** out) {
  Client* c = state();
  if (!c) return check_init();
  if (dev < 0 || static_cast<size_t>(dev) >= c->devices.size()) return CUDA_ERROR_INVALID_DEVICE;
  *out = c->devices[static_cast<size_t>(dev)].get();
  return CUDA_SUCCESS;
}

CUresult alloc_from(MemPool* p, CUdeviceptr* dptr, size_t bytes, CUstream s, bool pt) {
  if (!dptr) return CUDA_ERROR_INVALID_VALUE;
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (d != p->device) return CUDA_ERROR_NOT_SUPPORTED;  // a pool on another server
  if (capture::active() && capture::refuse_on_capturing(
                               wire, "stream-ordered allocation cannot be captured by rgpu", &r))
    return r;
  const uint64_t size = (bytes + kPoolAlign - 1) / kPoolAlign * kPoolAlign;
  Client* c = state();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    // The smallest cached block that fits, not more than twice the size asked for, that this
    // stream may reuse now.
    for (auto it = p->cached.lower_bound(size); it != p->cached.end() && it->first <= 2 * size;
         ++it) {
      const PoolBlock& b = it->second;
      if (!(b.after_sync || b.freed_on == wire)) continue;
      *dptr = b.dptr;
      p->live[b.dptr] = b.size;
      p->used += b.size;
      p->used_high = std::max(p->used_high, p->used);
      c->pool_blocks[b.dptr] = p;
      p->cached.erase(it);
      return CUDA_SUCCESS;
    }
    if (p->max_size && p->reserved + size > p->max_size) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  op::MemAlloc::Args a{size};
  op::MemAlloc::Result res{};
  r = d->lane->call<op::MemAlloc>(a, &res);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) {
    // Cached blocks this stream cannot reuse yet still hold memory: release what is safe (the
    // device is synchronized first, as CUDA's pool does before it reports out of memory).
    op::CtxSynchronize::Args sync{};
    r = d->lane->call<op::CtxSynchronize>(sync);
    if (r != CUDA_SUCCESS) return r;
    pools::after_sync(d, true, 0);
    std::vector<op::MemFreeAsync::Args> frees;
    {
      std::lock_guard<std::shared_mutex> g(c->mu);
      for (const void* q : c->mem_pools) {
        auto* mp = const_cast<MemPool*>(static_cast<const MemPool*>(q));
        if (mp->device == d)
          release_cached(
              c, mp, 0, [](const PoolBlock&) { return true; }, &frees);
      }
    }
    send_frees(d, frees);
    r = d->lane->call<op::MemAlloc>(a, &res);
  }
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(c->mu);
  add_dev_alloc(*c, res.dptr, DevAlloc{size, d->ordinal});
  c->pool_blocks[res.dptr] = p;
  p->live[res.dptr] = size;
  p->reserved += size;
  p->reserved_high = std::max(p->reserved_high, p->reserved);
  p->used += size;
  p->used_high = std::max(p->used_high, p->used);
  *dptr = res.dptr;
  return CUDA_SUCCESS;
}

// A stream-ordered free without MemFreeAsync (a protocol-5 server, or memory of another device):
// waits for the stream, then frees.
CUresult free_after_stream(Device* owner, uint64_t wire, CUdeviceptr dptr) {
  op::StreamSynchronize::Args sync{wire};
  CUresult r = owner->lane->call<op::StreamSynchronize>(sync);
  if (r != CUDA_SUCCESS) return r;
  op::MemFree::Args a{dptr};
  return owner->lane->call<op::MemFree>(a);
}

CUresult free_async(CUdeviceptr dptr, CUstream s, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (capture::active() &&
      capture::refuse_on_capturing(wire, "a stream-ordered free cannot be captured by rgpu", &r))
    return r;
  Client* c = state();
  MemPool* p = nullptr;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = c->pool_blocks.find(dptr);
    if (it != c->pool_blocks.end()) {
      p = it->second;
      c->pool_blocks.erase(it);
    }
  }
  if (!p) {
    // Memory from cuMemAlloc may be freed stream-ordered too: it goes back to the device.
    DevAlloc was;
    {
      std::lock_guard<std::shared_mutex> g(c->mu);
      if (!erase_dev_alloc(*c, dptr, &was)) return CUDA_ERROR_INVALID_VALUE;
    }
    Device* owner = c->devices[static_cast<size_t>(was.device)].get();
    CUresult r;
    if (owner->protocol < kFirstFreeAsyncProtocol || owner != d) {
      r = free_after_stream(owner, owner == d ? wire : 0, dptr);
    } else {
      op::MemFreeAsync::Args a{dptr, wire};
      r = d->lane->enqueue<op::MemFreeAsync>(a);
    }
    // A range this process placed is placed again only after its free is on the wire.
    if (was.placed && r == CUDA_SUCCESS) r = owner->lane->flush();
    if (was.placed && r == CUDA_SUCCESS) {
      std::lock_guard<std::shared_mutex> g(c->mu);
      owner->placed.release(dptr);
    }
    return r;
  }
  Device* owner = p->device;
  std::vector<op::MemFreeAsync::Args> frees;
  bool old_server = owner->protocol < kFirstFreeAsyncProtocol;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto live = p->live.find(dptr);
    const uint64_t size = live->second;
    p->live.erase(live);
    p->used -= size;
    PoolBlock b{dptr, size, owner == d ? wire : 0, false};
    if (old_server) {
      p->reserved -= size;
      erase_dev_alloc(*c, dptr);
    } else {
      p->cached.emplace(size, b);
    }
    if (p->destroyed) {
      release_cached(
          c, p, 0, [](const PoolBlock&) { return true; }, &frees);
      maybe_delete(c, p);
    }
  }
  if (old_server) return free_after_stream(owner, owner == d ? wire : 0, dptr);
  send_frees(owner, frees);
  return CUDA_SUCCESS;
}

CUresult current_pool(Device* d, MemPool** out) {
  Client* c = state();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!d->default_pool) d->default_pool = new_pool(c, d, true);
  *out = d->current_pool ? d->current_pool : d->default_pool;
  return CUDA_SUCCESS;
}

CUresult alloc_async(CUdeviceptr* dptr, size_t bytes, CUstream s, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  MemPool* p = nullptr;
  current_pool(d, &p);
  return alloc_from(p, dptr, bytes, s, pt);
}

}  // namespace

namespace pools {

MemPool* default_pool(Device* d) {
  MemPool* p = nullptr;
  Client* c = state();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!d->default_pool) d->default_pool = new_pool(c, d, true);
  p = d->default_pool;
  return p;
}

bool owns(uint64_t dptr) {
  Client* c = state();
  if (!c) return false;
  std::shared_lock<std::shared_mutex> g(c->mu);
  return c->pool_blocks.count(dptr) != 0;
}

bool cached(uint64_t dptr) {
  Client* c = state();
  if (!c) return false;
  std::shared_lock<std::shared_mutex> g(c->mu);
  for (const void* q : c->mem_pools)
    for (const auto& [size, b] : static_cast<const MemPool*>(q)->cached)
      if (b.dptr == dptr) return true;
  return false;
}

void after_sync(Device* d, bool whole_device, uint64_t stream) {
  Client* c = state();
  if (!c) return;
  std::vector<op::MemFreeAsync::Args> frees;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    for (const void* q : c->mem_pools) {
      auto* p = const_cast<MemPool*>(static_cast<const MemPool*>(q));
      if (p->device != d || p->cached.empty()) continue;
      for (auto& [size, b] : p->cached)
        if (whole_device || b.freed_on == stream) b.after_sync = true;
      release_cached(
          c, p, p->release_threshold, [](const PoolBlock& b) { return b.after_sync; }, &frees);
    }
  }
  send_frees(d, frees);
}

}  // namespace pools

namespace api {

CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, hStream, false);
}
CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, hStream, true);
}
CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  return free_async(dptr, hStream, false);
}
CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  return free_async(dptr, hStream, true);
}
CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool,
                                 CUstream hStream) {
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  return r == CUDA_SUCCESS ? alloc_from(p, dptr, bytesize, hStream, false) : r;
}
CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool,
                                      CUstream hStream) {
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  return r == CUDA_SUCCESS ? alloc_from(p, dptr, bytesize, hStream, true) : r;
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool* pool_out, CUdevice dev) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  *pool_out = reinterpret_cast<CUmemoryPool>(pools::default_pool(d));
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetMemPool(CUmemoryPool* pool, CUdevice dev) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  MemPool* p = nullptr;
  current_pool(d, &p);
  *pool = reinterpret_cast<CUmemoryPool>(p);
  return CUDA_SUCCESS;
}
CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  MemPool* p = nullptr;
  r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  if (p->device != d) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  d->current_pool = p;
  return CUDA_SUCCESS;
}

CUresult cuMemPoolCreate(CUmemoryPool* pool, const CUmemPoolProps* props) {
  if (!props) return CUDA_ERROR_INVALID_VALUE;
  if (props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
      props->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
    return CUDA_ERROR_INVALID_VALUE;
  if (props->handleTypes != CU_MEM_HANDLE_TYPE_NONE) {
    RGPU_WARN("cuMemPoolCreate: shareable pools (handle types %d) are not served by rgpu",
              static_cast<int>(props->handleTypes));
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  Device* d = nullptr;
  CUresult r = device_by_ordinal(props->location.id, &d);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  std::lock_guard<std::shared_mutex> g(c->mu);
  MemPool* p = new_pool(c, d, false);
  p->max_size = props->maxSize;
  *pool = reinterpret_cast<CUmemoryPool>(p);
  return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  if (p->is_default) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  std::vector<op::MemFreeAsync::Args> frees;
  Device* d = p->device;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    if (d->current_pool == p) d->current_pool = nullptr;
    p->destroyed = true;
    release_cached(
        c, p, 0, [](const PoolBlock&) { return true; }, &frees);
    maybe_delete(c, p);  // outstanding allocations keep it until they are freed
  }
  send_frees(d, frees);
  return CUDA_SUCCESS;
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  std::vector<op::MemFreeAsync::Args> frees;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    // Every cached block may go: one still in flight is released in its stream's order.
    release_cached(
        c, p, minBytesToKeep, [](const PoolBlock&) { return true; }, &frees);
  }
  send_frees(p->device, frees);
  return CUDA_SUCCESS;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
      p->release_threshold = *static_cast<cuuint64_t*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      p->reuse_follow_events = *static_cast<int*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
      p->reuse_opportunistic = *static_cast<int*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      p->reuse_internal = *static_cast<int*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      if (*static_cast<cuuint64_t*>(value) != 0) return CUDA_ERROR_INVALID_VALUE;  // reset only
      if (attr == CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)
        p->reserved_high = p->reserved;
      else
        p->used_high = p->used;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  std::shared_lock<std::shared_mutex> g(state()->mu);
  auto u64 = [&](uint64_t v) {
    *static_cast<cuuint64_t*>(value) = v;
    return CUDA_SUCCESS;
  };
  auto i32 = [&](int v) {
    *static_cast<int*>(value) = v;
    return CUDA_SUCCESS;
  };
  switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
      return u64(p->release_threshold);
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      return i32(p->reuse_follow_events);
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
      return i32(p->reuse_opportunistic);
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      return i32(p->reuse_internal);
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
      return u64(p->reserved);
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
      return u64(p->reserved_high);
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
      return u64(p->used);
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      return u64(p->used_high);
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc* map, size_t count) {
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(pool, &p);
  if (r != CUDA_SUCCESS) return r;
  if (count && !map) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; ++i) {
    if (map[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
    // The pool's own device always has read-write access; another device is another server,
    // which cannot map this memory.
    if (map[i].location.id != p->device->ordinal) return CUDA_ERROR_NOT_SUPPORTED;
    if (map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE) return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemPoolGetAccess(CUmemAccess_flags* flags, CUmemoryPool memPool,
                            CUmemLocation* location) {
  if (!location) return CUDA_ERROR_INVALID_VALUE;
  MemPool* p = nullptr;
  CUresult r = pool_of_handle(memPool, &p);
  if (r != CUDA_SUCCESS) return r;
  *flags = location->type == CU_MEM_LOCATION_TYPE_DEVICE && location->id == p->device->ordinal
               ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE
               : CU_MEM_ACCESS_FLAGS_PROT_NONE;
  return CUDA_SUCCESS;
}

}  // namespace api
}  // namespace rgpu
