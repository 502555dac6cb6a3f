// server/worker/session_memory.cc — the session's handlers for the context, memory, stream and
// event ops of ops.def (session.h: one handler per op; the record is decoded and its payload
// limited before a handler runs).
#include <algorithm>

#include "protocol/frame.h"
#include "server/worker/session.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {

Status Session::on_CtxSynchronize(const op::CtxSynchronize::Args&, OpPayload,
                                  op::CtxSynchronize::Result&, OpReply&) {
  return backend_.ctx_synchronize();
}

Status Session::on_MemGetInfo(const op::MemGetInfo::Args&, OpPayload, op::MemGetInfo::Result& res,
                              OpReply&) {
  const uint64_t total = backend_.props().total_mem, used = backend_.mem_used();
  res.total_bytes = total;
  res.free_bytes = used < total ? total - used : 0;
  return Status::Ok();
}

Status Session::allocate(uint64_t bytes, uint64_t at, uint64_t* dptr) {
  const uint64_t cap = backend_.props().total_mem;
  if (bytes == 0 || bytes > cap)
    return bad(
        bytes ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE,
        "cuMemAlloc of " + std::to_string(bytes) + " bytes (cap " + std::to_string(cap) + ")");
  if (at % kVmmGranularity != 0)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "MemAllocAt at " + hex(at) + ", which is not 2 MiB-aligned");
  RGPU_TRY(backend_.mem_alloc(bytes, at, dptr));
  allocs_[*dptr] = bytes;
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_MemAlloc(const op::MemAlloc::Args& a, OpPayload, op::MemAlloc::Result& res,
                            OpReply&) {
  return allocate(a.bytes, 0, &res.dptr);
}

Status Session::on_MemAllocAt(const op::MemAllocAt::Args& a, OpPayload, op::MemAllocAt::Result&,
                              OpReply&) {
  uint64_t dptr = 0;
  return allocate(a.bytes, a.dptr, &dptr);
}

Status Session::on_MemFree(const op::MemFree::Args& a, OpPayload, op::MemFree::Result&, OpReply&) {
  return free_allocation(a.dptr);
}

Status Session::on_MemFreeDeferred(const op::MemFreeDeferred::Args& a, OpPayload,
                                   op::MemFreeDeferred::Result&, OpReply&) {
  return free_allocation(a.dptr);
}

Status Session::free_allocation(uint64_t dptr) {
  if (!allocs_.count(dptr))
    return bad(CUDA_ERROR_INVALID_VALUE,
               "cuMemFree of " + hex(dptr) + ", which is not an allocation of this session");
  RGPU_TRY(backend_.mem_free(dptr));
  allocs_.erase(dptr);
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_MemFreeAsync(const op::MemFreeAsync::Args& a, OpPayload,
                                op::MemFreeAsync::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  if (!allocs_.count(a.dptr))
    return bad(CUDA_ERROR_INVALID_VALUE,
               "cuMemFreeAsync of " + hex(a.dptr) + ", which is not an allocation of this session");
  RGPU_TRY(backend_.mem_free_async(a.dptr, a.stream));
  allocs_.erase(a.dptr);
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_MemcpyHtoD(const op::MemcpyHtoD::Args& a, OpPayload in, op::MemcpyHtoD::Result&,
                              OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(check_range(a.dst, a.bytes, "MemcpyHtoD destination"));
  if (in.len != a.bytes) return bad(CUDA_ERROR_INVALID_VALUE, "MemcpyHtoD bytes missing");
  return backend_.memcpy_htod(a.dst, in.data, a.bytes, a.stream);
}

Status Session::on_MemcpyDtoH(const op::MemcpyDtoH::Args& a, OpPayload, op::MemcpyDtoH::Result&,
                              OpReply& out) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(check_range(a.src, a.bytes, "MemcpyDtoH source"));
  if (a.bytes > kMaxPayloadBytes && !(a.flags & kCopyFlagBulk))
    return bad(CUDA_ERROR_INVALID_VALUE, "MemcpyDtoH too large for one frame");
  out.payload.resize(a.bytes);
  return backend_.memcpy_dtoh(out.payload.data(), a.src, a.bytes, a.stream);
}

Status Session::on_MemcpyDtoD(const op::MemcpyDtoD::Args& a, OpPayload, op::MemcpyDtoD::Result&,
                              OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(check_range(a.dst, a.bytes, "MemcpyDtoD destination"));
  RGPU_TRY(check_range(a.src, a.bytes, "MemcpyDtoD source"));
  return backend_.memcpy_dtod(a.dst, a.src, a.bytes, a.stream);
}

Status Session::on_Memset(const op::Memset::Args& a, OpPayload, op::Memset::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  if (a.elem_size != 1 && a.elem_size != 2 && a.elem_size != 4)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "memset element size " + std::to_string(a.elem_size) + " is not 1, 2 or 4");
  if (a.count > UINT64_MAX / a.elem_size)
    return bad(CUDA_ERROR_INVALID_VALUE, "memset count overflows");
  RGPU_TRY(check_range(a.dst, a.count * a.elem_size, "memset destination"));
  return backend_.memset(a.dst, a.value, a.elem_size, a.count, a.stream);
}

Status Session::on_StreamCreate(const op::StreamCreate::Args& a, OpPayload,
                                op::StreamCreate::Result&, OpReply&) {
  if (a.stream <= 2)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "stream handle " + std::to_string(a.stream) + " is a built-in stream");
  RGPU_TRY(streams_.fresh(a.stream));
  RGPU_TRY(backend_.stream_create(a.stream, a.flags, a.priority));
  streams_.add(a.stream);
  return Status::Ok();
}

Status Session::on_StreamDestroy(const op::StreamDestroy::Args& a, OpPayload,
                                 op::StreamDestroy::Result&, OpReply&) {
  RGPU_TRY(streams_.owned(a.stream));
  streams_.erase(a.stream);
  return backend_.stream_destroy(a.stream);
}

Status Session::on_StreamSynchronize(const op::StreamSynchronize::Args& a, OpPayload,
                                     op::StreamSynchronize::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  return backend_.stream_synchronize(a.stream);
}

Status Session::on_StreamQuery(const op::StreamQuery::Args& a, OpPayload, op::StreamQuery::Result&,
                               OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  return backend_.stream_query(a.stream);
}

Status Session::on_StreamWaitEvent(const op::StreamWaitEvent::Args& a, OpPayload,
                                   op::StreamWaitEvent::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(events_.owned(a.event));
  return backend_.stream_wait_event(a.stream, a.event, a.flags);
}

Status Session::on_EventCreate(const op::EventCreate::Args& a, OpPayload, op::EventCreate::Result&,
                               OpReply&) {
  RGPU_TRY(events_.fresh(a.event));
  RGPU_TRY(backend_.event_create(a.event, a.flags));
  events_.add(a.event);
  return Status::Ok();
}

Status Session::on_EventDestroy(const op::EventDestroy::Args& a, OpPayload,
                                op::EventDestroy::Result&, OpReply&) {
  RGPU_TRY(events_.owned(a.event));
  events_.erase(a.event);
  return backend_.event_destroy(a.event);
}

Status Session::on_EventRecord(const op::EventRecord::Args& a, OpPayload, op::EventRecord::Result&,
                               OpReply&) {
  RGPU_TRY(events_.owned(a.event));
  RGPU_TRY(check_stream(a.stream));
  return backend_.event_record(a.event, a.stream);
}

Status Session::on_EventSynchronize(const op::EventSynchronize::Args& a, OpPayload,
                                    op::EventSynchronize::Result&, OpReply&) {
  RGPU_TRY(events_.owned(a.event));
  return backend_.event_synchronize(a.event);
}

Status Session::on_EventQuery(const op::EventQuery::Args& a, OpPayload, op::EventQuery::Result&,
                              OpReply&) {
  RGPU_TRY(events_.owned(a.event));
  return backend_.event_query(a.event);
}

Status Session::on_EventElapsedTime(const op::EventElapsedTime::Args& a, OpPayload,
                                    op::EventElapsedTime::Result& res, OpReply&) {
  RGPU_TRY(events_.owned(a.start));
  RGPU_TRY(events_.owned(a.end));
  return backend_.event_elapsed(a.start, a.end, &res.ms);
}

}  // namespace rgpu::server
