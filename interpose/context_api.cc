// interpose/context_api.cc — primary and created contexts, the per-thread context stack.
//
// Contexts are client-side objects: a session's server state is per device, so creating a
// context needs no round trip. cuCtxSynchronize / destroy / primary reset flush the device's
// lane and wait for it (CtxSynchronize). Destroy and reset run the context's CLS destructors.
#include "interpose/api.h"
#include "interpose/client.h"

namespace rgpu::api {
namespace {

CUresult device_checked(CUdevice_v1 dev, Device** out) {
  Client* c = state();
  if (!c) return check_init();
  if (dev < 0 || static_cast<size_t>(dev) >= c->devices.size()) return CUDA_ERROR_INVALID_DEVICE;
  *out = c->devices[static_cast<size_t>(dev)].get();
  return CUDA_SUCCESS;
}

CUresult sync_device(Device* d) {
  op::CtxSynchronize::Args a{};
  CUresult r = d->lane->call<op::CtxSynchronize>(a);
  if (r == CUDA_SUCCESS) pools::after_sync(d, true, 0);  // pooled frees are done (mem_pools.h)
  return r;
}

CUresult sync_context(Context* ctx) {
  return sync_device(state()->devices[static_cast<size_t>(ctx->device)].get());
}

}  // namespace

CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice_v1 dev) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  {
    std::lock_guard<std::shared_mutex> g(state()->mu);
    d->primary->refcount++;
  }
  *pctx = reinterpret_cast<CUcontext>(d->primary);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice_v1 dev) {
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  if (d->primary->refcount <= 0) return CUDA_ERROR_INVALID_CONTEXT;
  d->primary->refcount--;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice_v1 dev) {
  return api::cuDevicePrimaryCtxRelease(dev);
}

CUresult cuDevicePrimaryCtxReset(CUdevice_v1 dev) {
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  r = sync_device(d);
  teardown_context_state(d->primary);
  {
    std::lock_guard<std::shared_mutex> g(state()->mu);
    d->primary->refcount = 0;
    d->primary_flags = 0;
  }
  return r;
}

CUresult cuDevicePrimaryCtxReset_v2(CUdevice_v1 dev) {
  return api::cuDevicePrimaryCtxReset(dev);
}

CUresult cuDevicePrimaryCtxGetState(CUdevice_v1 dev, unsigned int* flags, int* active) {
  if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  *flags = d->primary_flags;
  *active = d->primary->refcount > 0;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags(CUdevice_v1 dev, unsigned int flags) {
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> g(state()->mu);
  d->primary_flags = flags;
  d->primary->flags = flags;
  if (d->lane) d->lane->set_sched_flags(flags);  // how sync waits wait (interpose/lane.h)
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice_v1 dev, unsigned int flags) {
  return api::cuDevicePrimaryCtxSetFlags(dev, flags);
}

CUresult cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice_v1 dev) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = device_checked(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  if ((flags & CU_CTX_SCHED_MASK) != 0 && d->lane) d->lane->set_sched_flags(flags);
  auto* ctx = new Context();
  ctx->device = dev;
  ctx->flags = flags;
  ctx->refcount = 1;
  ctx->id = c->new_ctx_id();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->contexts.insert(ctx);
  }
  push_context(ctx);
  *pctx = reinterpret_cast<CUcontext>(ctx);
  return CUDA_SUCCESS;
}

CUresult cuCtxDestroy_v2(CUcontext ctx) {
  Client* c = state();
  if (!c) return check_init();
  if (!ctx || !valid_context(*c, ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  auto* x = reinterpret_cast<Context*>(ctx);
  if (x->primary) return CUDA_ERROR_INVALID_CONTEXT;
  CUresult r = sync_context(x);
  teardown_context_state(x);
  forget_context_in_this_thread(x);
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->contexts.erase(x);
  }
  // The object is kept (not deleted): another thread may still hold it on its stack, and a
  // stale handle must fail the validity check rather than point at freed memory.
  return r;
}

CUresult cuCtxGetCurrent(CUcontext* pctx) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!state()) return check_init();
  *pctx = reinterpret_cast<CUcontext>(current_context());
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
  Client* c = state();
  if (!c) return check_init();
  if (ctx && !valid_context(*c, ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  set_current_context(reinterpret_cast<Context*>(ctx));
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  Client* c = state();
  if (!c) return check_init();
  if (!ctx || !valid_context(*c, ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  push_context(reinterpret_cast<Context*>(ctx));
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent(CUcontext ctx) {
  return api::cuCtxPushCurrent_v2(ctx);
}

CUresult cuCtxPopCurrent_v2(CUcontext* pctx) {
  if (!state()) return check_init();
  Context* c = pop_context();
  if (!c) return CUDA_ERROR_INVALID_CONTEXT;
  if (pctx) *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent(CUcontext* pctx) {
  return api::cuCtxPopCurrent_v2(pctx);
}

CUresult cuCtxGetDevice(CUdevice_v1* device) {
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  *device = c->device;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice_v2(CUdevice* device, CUcontext ctx) {
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r;
  *device = c->device;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r;
  return sync_context(c);
}

CUresult cuCtxSynchronize() {
  return api::cuCtxSynchronize_v2(nullptr);
}

CUresult cuCtxGetFlags(unsigned int* flags) {
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  *flags = c->flags;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int* version) {
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r;
  *version = 3020;  // the context API version every CUDA >= 3.2 context reports
  return CUDA_SUCCESS;
}

CUresult cuCtxGetLimit(size_t* pvalue, CUlimit limit) {
  if (!pvalue || limit < 0 || limit >= 16) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  size_t v = c->limits[limit];
  if (v == 0) {
    switch (limit) {
      case CU_LIMIT_STACK_SIZE:
        v = 1024;
        break;
      case CU_LIMIT_PRINTF_FIFO_SIZE:
        v = 1 << 20;
        break;
      case CU_LIMIT_MALLOC_HEAP_SIZE:
        v = 8 << 20;
        break;
      case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
        v = 2048;
        break;
      case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
        v = 64;
        break;
      default:
        break;
    }
  }
  *pvalue = v;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  if (limit < 0 || limit >= 16) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  c->limits[limit] = value;  // recorded; the remote device keeps its own limits
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCacheConfig(CUfunc_cache* pconfig) {
  if (!pconfig) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  *pconfig = c->cache_config;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCacheConfig(CUfunc_cache config) {
  Context* c = nullptr;
  CUresult r = resolve_context(nullptr, &c);
  if (r != CUDA_SUCCESS) return r;
  c->cache_config = config;  // a hint; the remote device picks its own
  return CUDA_SUCCESS;
}

CUresult cuCtxGetStreamPriorityRange(int* leastPriority, int* greatestPriority) {
  if (!state()) return check_init();
  if (leastPriority) *leastPriority = 0;
  if (greatestPriority) *greatestPriority = -5;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long* ctxId) {
  if (!ctxId) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r;
  *ctxId = c->id;
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
