// server/worker/session.cc — see session.h: the session's error policy, payload rules and the
// dispatch made from ops.def. The handlers are in session_memory.cc and session_modules.cc.
#include "server/worker/session.h"

#include <cstring>

#include "protocol/frame.h"
#include "protocol/launch_record.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {

bool is_sticky(CUresult r) {
  switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_LAUNCH_TIMEOUT:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ECC_UNCORRECTABLE:
      return true;
    default:
      return false;
  }
}

Session::Session(Backend& backend, SessionMeter& meter) : backend_(backend), meter_(meter) {}

Status Session::check_range(uint64_t dptr, uint64_t bytes, const char* what) const {
  for (const auto* table : {&allocs_, &globals_}) {
    auto it = table->upper_bound(dptr);
    if (it == table->begin()) continue;
    --it;
    uint64_t off = dptr - it->first;
    if (off < it->second && bytes <= it->second - off) return Status::Ok();
    if (off < it->second)
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(what) + " range " + hex(dptr) + "+" +
                                               std::to_string(bytes) +
                                               " runs past the end of its allocation");
  }
  // Virtual memory: a range may run across adjacent mappings (expandable segments map 2 MiB
  // pages side by side).
  auto m = mapped_.upper_bound(dptr);
  if (m != mapped_.begin()) {
    --m;
    if (dptr - m->first < m->second.bytes) {
      uint64_t end = m->first + m->second.bytes;
      while (end - dptr < bytes) {
        auto next = mapped_.find(end);
        if (next == mapped_.end())
          return bad(CUDA_ERROR_INVALID_VALUE, std::string(what) + " range " + hex(dptr) + "+" +
                                                   std::to_string(bytes) +
                                                   " runs past the end of its mapped memory");
        end += next->second.bytes;
      }
      return Status::Ok();
    }
  }
  return bad(CUDA_ERROR_INVALID_VALUE, std::string(what) + " address " + hex(dptr) +
                                           " is not in an allocation of this session");
}

Status Session::bulk_check(uint16_t code, const uint8_t* args, size_t args_len, uint64_t* addr,
                           uint64_t* bytes, uint64_t* stream, uint64_t* flags) const {
  if (code == static_cast<uint16_t>(Op::MemcpyHtoD)) {
    op::MemcpyHtoD::Args a;
    if (!decode_record(args, args_len, &a))
      return bad_record("MemcpyHtoD", args_len, sizeof(op::MemcpyHtoD::Args));
    *addr = a.dst;
    *bytes = a.bytes;
    *stream = a.stream;
    *flags = a.flags;
    Status st = check_stream(a.stream);
    return st.ok() ? check_range(a.dst, a.bytes, "MemcpyHtoD destination") : st;
  }
  if (code == static_cast<uint16_t>(Op::MemcpyDtoH)) {
    op::MemcpyDtoH::Args a;
    if (!decode_record(args, args_len, &a))
      return bad_record("MemcpyDtoH", args_len, sizeof(op::MemcpyDtoH::Args));
    *addr = a.src;
    *bytes = a.bytes;
    *stream = a.stream;
    *flags = a.flags;
    Status st = check_stream(a.stream);
    return st.ok() ? check_range(a.src, a.bytes, "MemcpyDtoH source") : st;
  }
  return bad(CUDA_ERROR_INVALID_VALUE, "not a copy op");
}

template <typename O>
Status Session::payload_rule(const uint8_t* args, size_t args_len, uint64_t payload_len) const {
  constexpr PayloadKind kind = O::kPayload;
  if constexpr (kind == PayloadKind::kNone) {
    if (payload_len == 0) return Status::Ok();
    return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) + " carries no payload, got " +
                                             std::to_string(payload_len) + " bytes");
  } else if constexpr (kind == PayloadKind::kCopyIn) {
    typename O::Args a;
    if (!decode_record(args, args_len, &a)) return Status::Ok();  // run() reports it
    if (a.flags & kCopyFlagBulk) {
      if (payload_len == 0) return Status::Ok();
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) +
                                               " with bulk chunks carries no payload, got " +
                                               std::to_string(payload_len) + " bytes");
    }
    if (payload_len != a.bytes)
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) + " of " +
                                               std::to_string(a.bytes) + " bytes carries " +
                                               std::to_string(payload_len));
    return check_range(a.dst, a.bytes, "MemcpyHtoD destination");
  } else if constexpr (std::is_same_v<O, op::ModuleLoadCached>) {
    if (payload_len != 32)
      return bad(CUDA_ERROR_INVALID_VALUE, "ModuleLoadCached with a digest of " +
                                               std::to_string(payload_len) + " bytes, not 32");
    return Status::Ok();
  } else if constexpr (kind == PayloadKind::kImage) {
    typename O::Args a;
    if (payload_len == 0 && decode_record(args, args_len, &a) && a.image_hash != 0)
      return Status::Ok();  // an image this session already sent (the handler looks it up)
    if (payload_len == 0 || payload_len > kMaxModuleBytes)
      return bad(CUDA_ERROR_INVALID_IMAGE,
                 "module image of " + std::to_string(payload_len) + " bytes");
    return Status::Ok();
  } else if constexpr (kind == PayloadKind::kName) {
    if (payload_len == 0 || payload_len > kMaxNameBytes)
      return bad(CUDA_ERROR_INVALID_VALUE, "name of " + std::to_string(payload_len) + " bytes");
    return Status::Ok();
  } else if constexpr (kind == PayloadKind::kRows) {
    typename O::Args a;
    if (!decode_record(args, args_len, &a)) return Status::Ok();  // run() reports it
    uint64_t want = 0;
    if (__builtin_mul_overflow(a.rows, a.width, &want) || want > kMax2DHtoDBytes)
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) + " of " + std::to_string(a.rows) +
                                               " rows of " + std::to_string(a.width) +
                                               " bytes is more than one op may carry");
    if (payload_len != want)
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) + " of " + std::to_string(want) +
                                               " bytes carries " + std::to_string(payload_len));
    return Status::Ok();
  } else if constexpr (kind == PayloadKind::kRecords) {
    if (payload_len == 0 || payload_len > kMaxGraphRecordsBytes)
      return bad(CUDA_ERROR_INVALID_VALUE, std::string(O::kName) + " of " +
                                               std::to_string(payload_len) + " bytes of records");
    return Status::Ok();
  } else {
    static_assert(kind == PayloadKind::kLaunch);
    if (payload_len > kMaxLaunchPayloadBytes)
      return bad(CUDA_ERROR_INVALID_VALUE,
                 "launch payload of " + std::to_string(payload_len) + " bytes");
    return Status::Ok();
  }
}

Status Session::payload_check(uint16_t code, const uint8_t* args, size_t args_len,
                              uint64_t payload_len) const {
  switch (static_cast<Op>(code)) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return payload_rule<op::Name>(args, args_len, payload_len);
#include "protocol/ops.def"
#undef RGPU_OP
  }
  return bad(CUDA_ERROR_NOT_SUPPORTED,
             "op " + std::to_string(code) + " is not served by this server");
}

void Session::note_error(const Status& st) {
  if (st.ok()) return;
  meter_.errors++;
  if (is_sticky(st.code) && sticky_.ok()) sticky_ = st;
}

OpReply Session::sync(uint16_t op, const uint8_t* args, size_t args_len, const uint8_t* payload,
                      uint64_t payload_len) {
  meter_.count_call(op, true);
  OpReply r;
  if (!sticky_.ok()) {
    r.status = sticky_;
    return r;
  }
  if (!pending_.ok()) {
    r.status = pending_;
    pending_ = Status::Ok();
    return r;
  }
  if (Status met = backend_.take_async_error(); !met.ok()) {  // (backend.h)
    note_error(met);
    r.status = std::move(met);
    return r;
  }
  r = execute(op, args, args_len, payload, payload_len);
  if (r.status.ok()) {
    if (Status met = backend_.take_async_error(); !met.ok()) r.status = std::move(met);
  }
  note_error(r.status);
  if (meter_.refresh_busy_due()) meter_.busy_ns = backend_.busy_ns();  // for usage receipts
  if (!r.status.ok()) {
    r.payload.clear();
    std::fill(r.result.begin(), r.result.end(), 0);
  }
  return r;
}

void Session::async(uint16_t op, const uint8_t* args, size_t args_len, const uint8_t* payload,
                    uint64_t payload_len) {
  meter_.count_call(op, false);
  if (!sticky_.ok()) return;  // the context is dead; everything later fails at the next sync
  auto oc = op_class(op);
  OpReply r;
  if (oc && *oc == OpClass::kSync)
    r.status = bad(CUDA_ERROR_INVALID_VALUE, std::string(op_name(static_cast<Op>(op))) +
                                                 " is synchronous and cannot be batched");
  else
    r = execute(op, args, args_len, payload, payload_len);
  note_error(r.status);
  if (!r.status.ok() && pending_.ok()) pending_ = r.status;
}

OpReply Session::refuse(uint16_t op, Status st) {
  meter_.count_call(op, true);
  OpReply r;
  if (!sticky_.ok()) {
    r.status = sticky_;
  } else if (!pending_.ok()) {
    r.status = pending_;
    pending_ = Status::Ok();
  } else if (Status met = backend_.take_async_error(); !met.ok()) {  // (backend.h)
    r.status = std::move(met);
    note_error(r.status);
  } else {
    r.status = std::move(st);
    note_error(r.status);
  }
  return r;
}

void Session::async_error(Status st) {
  note_error(st);
  if (pending_.ok()) pending_ = std::move(st);
}

template <typename O>
OpReply Session::run(Status (Session::*handler)(const typename O::Args&, OpPayload,
                                                typename O::Result&, OpReply&),
                     const uint8_t* args, size_t args_len, OpPayload in) {
  OpReply out;
  typename O::Args a;
  if (!decode_record(args, args_len, &a)) {
    out.status = bad_record(O::kName, args_len, sizeof(typename O::Args));
    return out;
  }
  typename O::Result res{};
  out.status = (this->*handler)(a, in, res, out);
  out.result.resize(sizeof res);
  std::memcpy(out.result.data(), &res, sizeof res);
  return out;
}

OpReply Session::execute(uint16_t code, const uint8_t* args, size_t args_len,
                         const uint8_t* payload, uint64_t payload_len) {
  OpReply out;
  out.status = payload_check(code, args, args_len, payload_len);
  if (!out.status.ok()) return out;
  const OpPayload in{payload, payload_len};
  switch (static_cast<Op>(code)) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return run<op::Name>(&Session::on_##Name, args, args_len, in);
#include "protocol/ops.def"
#undef RGPU_OP
  }
  out.status =
      bad(CUDA_ERROR_NOT_SUPPORTED, "op " + std::to_string(code) + " is not served by this server");
  return out;
}

}  // namespace rgpu::server
