// server/worker/session_copies.cc — the session's handlers for the 2-D copy and memset ops of
// ops.def (protocol 6). Each row is checked as part of one span inside one allocation before
// anything moves; then the backend copies them (its 2-D calls), in stream order.
#include "protocol/frame.h"
#include "server/worker/session.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {

Status Session::check_rows(uint64_t base, uint64_t pitch, uint64_t width, uint64_t rows,
                           const char* what) const {
  if (rows == 0 || width == 0) return Status::Ok();
  if (rows > 1 && pitch < width)
    return bad(CUDA_ERROR_INVALID_VALUE, std::string(what) + " pitch " + std::to_string(pitch) +
                                             " is less than its width " + std::to_string(width));
  uint64_t span = 0;
  if (__builtin_mul_overflow(rows - 1, pitch, &span) ||
      __builtin_add_overflow(span, width, &span) || base + span < base)
    return bad(CUDA_ERROR_INVALID_VALUE, std::string(what) + " of " + std::to_string(rows) +
                                             " rows of pitch " + std::to_string(pitch) +
                                             " overflows the address space");
  return check_range(base, span, what);
}

Status Session::on_Memcpy2DHtoD(const op::Memcpy2DHtoD::Args& a, OpPayload in,
                                op::Memcpy2DHtoD::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(check_rows(a.dst, a.dst_pitch, a.width, a.rows, "Memcpy2DHtoD destination"));
  if (in.len != a.rows * a.width) return bad(CUDA_ERROR_INVALID_VALUE, "Memcpy2DHtoD rows missing");
  if (a.rows == 0 || a.width == 0) return Status::Ok();
  return backend_.memcpy2d_htod(a.dst, a.dst_pitch, in.data, a.width, a.rows, a.stream);
}

Status Session::on_Memcpy2DDtoH(const op::Memcpy2DDtoH::Args& a, OpPayload,
                                op::Memcpy2DDtoH::Result&, OpReply& out) {
  RGPU_TRY(check_stream(a.stream));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(a.rows, a.width, &bytes) || bytes > kMax2DDtoHBytes)
    return bad(CUDA_ERROR_INVALID_VALUE, "Memcpy2DDtoH of " + std::to_string(a.rows) + " rows of " +
                                             std::to_string(a.width) +
                                             " bytes is more than one reply may carry");
  RGPU_TRY(check_rows(a.src, a.src_pitch, a.width, a.rows, "Memcpy2DDtoH source"));
  out.payload.resize(bytes);
  if (a.rows == 0 || a.width == 0) return Status::Ok();
  return backend_.memcpy2d_dtoh(out.payload.data(), a.src, a.src_pitch, a.width, a.rows, a.stream);
}

Status Session::on_Memcpy2DDtoD(const op::Memcpy2DDtoD::Args& a, OpPayload,
                                op::Memcpy2DDtoD::Result&, OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  RGPU_TRY(check_rows(a.dst, a.dst_pitch, a.width, a.rows, "Memcpy2DDtoD destination"));
  RGPU_TRY(check_rows(a.src, a.src_pitch, a.width, a.rows, "Memcpy2DDtoD source"));
  if (a.rows == 0 || a.width == 0) return Status::Ok();
  return backend_.memcpy2d_dtod(a.dst, a.dst_pitch, a.src, a.src_pitch, a.width, a.rows, a.stream);
}

Status Session::on_Memset2D(const op::Memset2D::Args& a, OpPayload, op::Memset2D::Result&,
                            OpReply&) {
  RGPU_TRY(check_stream(a.stream));
  if (a.elem_size != 1 && a.elem_size != 2 && a.elem_size != 4)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "memset element size " + std::to_string(a.elem_size) + " is not 1, 2 or 4");
  if (a.width > UINT64_MAX / a.elem_size)
    return bad(CUDA_ERROR_INVALID_VALUE, "memset width overflows");
  if (a.dst % a.elem_size || a.pitch % a.elem_size)
    return bad(CUDA_ERROR_INVALID_VALUE, "2-D memset address or pitch is not aligned to its " +
                                             std::to_string(a.elem_size) + "-byte elements");
  RGPU_TRY(check_rows(a.dst, a.pitch, a.width * a.elem_size, a.rows, "2-D memset destination"));
  if (a.rows == 0 || a.width == 0) return Status::Ok();
  return backend_.memset2d(a.dst, a.pitch, a.value, a.elem_size, a.width, a.rows, a.stream);
}

}  // namespace rgpu::server
