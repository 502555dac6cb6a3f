// interpose/stream_api.cc — streams and events: client-made handles (DESIGN contract 6), so
// create/destroy/record/wait are async records; synchronize/query/elapsed are sync ops.
#include "interpose/api.h"
#include "interpose/client.h"

namespace rgpu::api {
namespace {

CUresult create_stream(CUstream* ph, unsigned flags, int priority) {
  if (!ph) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  Context* ctx = nullptr;
  CUresult r = current_device(&d, &ctx);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  auto* s = new Stream{c->new_wire(), ctx, flags, priority};
  op::StreamCreate::Args a{s->wire, flags, priority};
  r = d->lane->enqueue<op::StreamCreate>(a);
  if (r != CUDA_SUCCESS) {
    delete s;
    return r;
  }
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->streams.insert(s);
  *ph = reinterpret_cast<CUstream>(s);
  return CUDA_SUCCESS;
}

CUresult stream_sync(CUstream s, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  op::StreamSynchronize::Args a{wire};
  r = d->lane->call<op::StreamSynchronize>(a);
  if (r == CUDA_SUCCESS) pools::after_sync(d, false, wire);  // its pooled frees are done
  return r;
}

CUresult stream_query(CUstream s, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  op::StreamQuery::Args a{wire};
  return d->lane->call<op::StreamQuery>(a);
}

CUresult event_of(CUevent e, Event** out) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!e || !c->events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
  *out = reinterpret_cast<Event*>(e);
  return CUDA_SUCCESS;
}

Device* device_of(const Context* ctx) {
  return state()->devices[static_cast<size_t>(ctx->device)].get();
}

CUresult stream_wait(CUstream s, CUevent e, unsigned flags, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  Event* ev = nullptr;
  r = event_of(e, &ev);
  if (r != CUDA_SUCCESS) return r;
  if (device_of(ev->ctx) != d) return CUDA_ERROR_NOT_SUPPORTED;  // cross-server waits
  op::StreamWaitEvent::Args a{wire, ev->wire, flags, 0};
  return d->lane->enqueue<op::StreamWaitEvent>(a);
}

CUresult stream_info(CUstream s, Stream** out) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!s || !c->streams.count(s)) return CUDA_ERROR_INVALID_HANDLE;
  *out = reinterpret_cast<Stream*>(s);
  return CUDA_SUCCESS;
}

CUresult record(CUevent e, CUstream s, bool pt) {
  Event* ev = nullptr;
  CUresult r = event_of(e, &ev);
  if (r != CUDA_SUCCESS) return r;
  uint64_t wire;
  Device* d = nullptr;
  r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (device_of(ev->ctx) != d) return CUDA_ERROR_INVALID_HANDLE;
  op::EventRecord::Args a{ev->wire, wire};
  return d->lane->enqueue<op::EventRecord>(a);
}

CUresult elapsed(float* ms, CUevent a, CUevent b) {
  if (!ms) return CUDA_ERROR_INVALID_VALUE;
  Event *ea = nullptr, *eb = nullptr;
  CUresult r = event_of(a, &ea);
  if (r == CUDA_SUCCESS) r = event_of(b, &eb);
  if (r != CUDA_SUCCESS) return r;
  Device* d = device_of(ea->ctx);
  if (device_of(eb->ctx) != d) return CUDA_ERROR_INVALID_HANDLE;
  op::EventElapsedTime::Args args{ea->wire, eb->wire};
  op::EventElapsedTime::Result res{};
  r = d->lane->call<op::EventElapsedTime>(args, &res);
  if (r == CUDA_SUCCESS) *ms = res.ms;
  return r;
}

// A host function in stream order (cuLaunchHostFunc, cuStreamAddCallback). The work before it
// must finish first and the work after it may not start until it returned, so it runs here,
// in the caller's process, once the stream has drained: the call waits for the stream, then
// calls fn, then returns. (CUDA runs it on a driver thread and returns at once; waiting instead
// keeps both orders and never runs fn concurrently with later work of the stream.)
CUresult host_func_in_order(CUstream s, bool pt, CUresult* stream_status) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  op::StreamSynchronize::Args a{wire};
  *stream_status = d->lane->call<op::StreamSynchronize>(a);
  return CUDA_SUCCESS;
}

CUresult launch_host_func(CUstream s, CUhostFn fn, void* user, bool pt) {
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  if (capture::active()) {  // a host node of the capture's graph (capture.h)
    uint64_t wire;
    Device* d = nullptr;
    CUresult r = resolve_stream(s, pt, &wire, &d);
    if (r != CUDA_SUCCESS) return r;
    if (capture::record_host_fn(wire, fn, user, &r)) return r;
  }
  CUresult status = CUDA_SUCCESS;
  CUresult r = host_func_in_order(s, pt, &status);
  if (r != CUDA_SUCCESS) return r;
  if (status != CUDA_SUCCESS) return status;  // the stream failed: fn does not run
  fn(user);
  return CUDA_SUCCESS;
}

CUresult add_callback(CUstream s, CUstreamCallback cb, void* user, unsigned flags, bool pt) {
  if (!cb || flags != 0) return CUDA_ERROR_INVALID_VALUE;  // flags are reserved, must be 0
  CUresult status = CUDA_SUCCESS;
  CUresult r = host_func_in_order(s, pt, &status);
  if (r != CUDA_SUCCESS) return r;
  // Not capturable (CUDA's rule too): the stream's sync was refused and the capture invalidated.
  if (status == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) return status;
  cb(s, status, user);  // a callback is told the stream's status, as CUDA does
  return CUDA_SUCCESS;
}

}  // namespace

CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void* userData) {
  return launch_host_func(hStream, fn, userData, false);
}
CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void* userData) {
  return launch_host_func(hStream, fn, userData, true);
}
CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void* userData,
                             unsigned int flags) {
  return add_callback(hStream, callback, userData, flags, false);
}
CUresult cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void* userData,
                                  unsigned int flags) {
  return add_callback(hStream, callback, userData, flags, true);
}

// No profiler runs under rgpu: starting and stopping collection succeed and collect nothing, as
// the driver's do when no profiler is attached.
CUresult cuProfilerStart() {
  return check_init();
}
CUresult cuProfilerStop() {
  return check_init();
}

CUresult cuStreamCreate(CUstream* phStream, unsigned int Flags) {
  return create_stream(phStream, Flags, 0);
}
CUresult cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags, int priority) {
  return create_stream(phStream, flags, priority);
}

CUresult cuStreamDestroy_v2(CUstream hStream) {
  Stream* s = nullptr;
  CUresult r = stream_info(hStream, &s);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->streams.erase(s);
  }
  op::StreamDestroy::Args a{s->wire};
  r = device_of(s->ctx)->lane->enqueue<op::StreamDestroy>(a);
  delete s;
  return r;
}

CUresult cuStreamSynchronize(CUstream s) {
  return stream_sync(s, false);
}
CUresult cuStreamSynchronize_ptsz(CUstream s) {
  return stream_sync(s, true);
}
CUresult cuStreamQuery(CUstream s) {
  return stream_query(s, false);
}
CUresult cuStreamQuery_ptsz(CUstream s) {
  return stream_query(s, true);
}
CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int f) {
  return stream_wait(s, e, f, false);
}
CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned int f) {
  return stream_wait(s, e, f, true);
}

CUresult cuStreamGetFlags(CUstream hStream, unsigned int* flags) {
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  uintptr_t v = reinterpret_cast<uintptr_t>(hStream);
  if (v <= 2) {
    if (!state()) return check_init();
    *flags = 0;
    return CUDA_SUCCESS;
  }
  Stream* s = nullptr;
  CUresult r = stream_info(hStream, &s);
  if (r == CUDA_SUCCESS) *flags = s->flags;
  return r;
}
CUresult cuStreamGetFlags_ptsz(CUstream s, unsigned int* f) {
  return api::cuStreamGetFlags(s, f);
}

CUresult cuStreamGetPriority(CUstream hStream, int* priority) {
  if (!priority) return CUDA_ERROR_INVALID_VALUE;
  uintptr_t v = reinterpret_cast<uintptr_t>(hStream);
  if (v <= 2) {
    if (!state()) return check_init();
    *priority = 0;
    return CUDA_SUCCESS;
  }
  Stream* s = nullptr;
  CUresult r = stream_info(hStream, &s);
  if (r == CUDA_SUCCESS) *priority = s->priority;
  return r;
}
CUresult cuStreamGetPriority_ptsz(CUstream s, int* p) {
  return api::cuStreamGetPriority(s, p);
}

CUresult cuStreamGetCtx(CUstream hStream, CUcontext* pctx) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  uintptr_t v = reinterpret_cast<uintptr_t>(hStream);
  if (v <= 2) {
    Context* c = nullptr;
    CUresult r = resolve_context(nullptr, &c);
    if (r == CUDA_SUCCESS) *pctx = reinterpret_cast<CUcontext>(c);
    return r;
  }
  Stream* s = nullptr;
  CUresult r = stream_info(hStream, &s);
  if (r == CUDA_SUCCESS) *pctx = reinterpret_cast<CUcontext>(s->ctx);
  return r;
}
CUresult cuStreamGetCtx_ptsz(CUstream s, CUcontext* p) {
  return api::cuStreamGetCtx(s, p);
}

CUresult cuEventCreate(CUevent* phEvent, unsigned int Flags) {
  if (!phEvent) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  Context* ctx = nullptr;
  CUresult r = current_device(&d, &ctx);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  auto* e = new Event{c->new_wire(), ctx, Flags};
  op::EventCreate::Args a{e->wire, Flags, 0};
  r = d->lane->enqueue<op::EventCreate>(a);
  if (r != CUDA_SUCCESS) {
    delete e;
    return r;
  }
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->events.insert(e);
  *phEvent = reinterpret_cast<CUevent>(e);
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent hEvent) {
  Event* e = nullptr;
  CUresult r = event_of(hEvent, &e);
  if (r != CUDA_SUCCESS) return r;
  Client* c = state();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->events.erase(e);
  }
  op::EventDestroy::Args a{e->wire};
  r = device_of(e->ctx)->lane->enqueue<op::EventDestroy>(a);
  delete e;
  return r;
}

CUresult cuEventRecord(CUevent e, CUstream s) {
  return record(e, s, false);
}
CUresult cuEventRecord_ptsz(CUevent e, CUstream s) {
  return record(e, s, true);
}
CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int flags) {
  if (flags & ~1u) return CUDA_ERROR_INVALID_VALUE;
  return record(e, s, false);
}
CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned int flags) {
  if (flags & ~1u) return CUDA_ERROR_INVALID_VALUE;
  return record(e, s, true);
}

CUresult cuEventSynchronize(CUevent hEvent) {
  Event* e = nullptr;
  CUresult r = event_of(hEvent, &e);
  if (r != CUDA_SUCCESS) return r;
  op::EventSynchronize::Args a{e->wire};
  return device_of(e->ctx)->lane->call<op::EventSynchronize>(a);
}

CUresult cuEventQuery(CUevent hEvent) {
  Event* e = nullptr;
  CUresult r = event_of(hEvent, &e);
  if (r != CUDA_SUCCESS) return r;
  op::EventQuery::Args a{e->wire};
  return device_of(e->ctx)->lane->call<op::EventQuery>(a);
}

CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) {
  return elapsed(ms, a, b);
}
CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) {
  return elapsed(ms, a, b);
}

}  // namespace rgpu::api
