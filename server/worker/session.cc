// server/worker/session.cc — see session.h.
#include "server/worker/session.h"

#include <cstring>

#include "protocol/frame.h"
#include "protocol/image/param_layout.h"

namespace rgpu::server {

namespace {

constexpr uint64_t kMaxNameBytes = 64 * 1024;
constexpr uint64_t kMaxModuleBytes = 1ull << 30;
constexpr uint32_t kMaxParamBytes = 32764;  // CUDA 12.1+ kernel parameter limit
constexpr uint32_t kMaxLaunchAttrs = 32;
constexpr uint32_t kLaunchAttrBytes = 72;

Status bad(CUresult c, std::string t) {
  return Status::Err(c, std::move(t));
}

Status bad_record(std::string_view op, size_t got, size_t want) {
  return bad(CUDA_ERROR_INVALID_VALUE, "malformed " + std::string(op) +
                                           " record: " + std::to_string(got) + " bytes, expected " +
                                           std::to_string(want));
}

template <typename R>
void put(OpReply* out, const R& r) {
  out->result.resize(sizeof(R));
  std::memcpy(out->result.data(), &r, sizeof(R));
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A NUL-terminated name in a payload (the NUL may be the last byte, or absent at the end).
bool read_name(const uint8_t* p, uint64_t n, std::string* out) {
  if (n == 0 || n > kMaxNameBytes) return false;
  const void* nul = std::memchr(p, 0, n);
  size_t len = nul ? static_cast<const uint8_t*>(nul) - p : n;
  if (len == 0) return false;
  out->assign(reinterpret_cast<const char*>(p), len);
  return true;
}

}  // namespace

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

Status Session::check_stream(uint64_t stream) const {
  if (stream <= 2 || streams_.count(stream)) return Status::Ok();
  return bad(CUDA_ERROR_INVALID_HANDLE,
             "stream " + std::to_string(stream) + " does not belong to this session");
}

Status Session::check_event(uint64_t event) const {
  if (events_.count(event)) return Status::Ok();
  return bad(CUDA_ERROR_INVALID_HANDLE,
             "event " + std::to_string(event) + " does not belong to this session");
}

Status Session::payload_check(uint16_t code, const uint8_t* args, size_t args_len,
                              uint64_t payload_len) const {
  auto expect_none = [&]() {
    return payload_len == 0
               ? Status::Ok()
               : bad(CUDA_ERROR_INVALID_VALUE, std::string(op_name(static_cast<Op>(code))) +
                                                   " carries no payload, got " +
                                                   std::to_string(payload_len) + " bytes");
  };
  switch (static_cast<Op>(code)) {
    case Op::MemcpyHtoD: {
      op::MemcpyHtoD::Args a;
      if (!decode_record(args, args_len, &a)) return Status::Ok();  // execute() reports it
      if (a.flags & kCopyFlagBulk) return expect_none();
      if (payload_len != a.bytes)
        return bad(CUDA_ERROR_INVALID_VALUE, "MemcpyHtoD of " + std::to_string(a.bytes) +
                                                 " bytes carries " + std::to_string(payload_len));
      return check_range(a.dst, a.bytes, "MemcpyHtoD destination");
    }
    case Op::ModuleLoad: {
      op::ModuleLoad::Args a;
      if (payload_len == 0 && decode_record(args, args_len, &a) && a.image_hash != 0)
        return Status::Ok();  // an image this session already sent (execute() looks it up)
      if (payload_len == 0 || payload_len > kMaxModuleBytes)
        return bad(CUDA_ERROR_INVALID_IMAGE,
                   "module image of " + std::to_string(payload_len) + " bytes");
      return Status::Ok();
    }
    case Op::ModuleGetFunction:
    case Op::ModuleGetGlobal:
      if (payload_len == 0 || payload_len > kMaxNameBytes)
        return bad(CUDA_ERROR_INVALID_VALUE, "name of " + std::to_string(payload_len) + " bytes");
      return Status::Ok();
    case Op::LaunchKernel:
      if (payload_len > kMaxParamBytes + kMaxLaunchAttrs * kLaunchAttrBytes)
        return bad(CUDA_ERROR_INVALID_VALUE,
                   "launch payload of " + std::to_string(payload_len) + " bytes");
      return Status::Ok();
    default:
      return expect_none();
  }
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
  r = execute(op, args, args_len, payload, payload_len);
  note_error(r.status);
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

#define DECODE(Name)                                                  \
  op::Name::Args a;                                                   \
  if (!decode_record(args, args_len, &a)) {                           \
    out.status = bad_record(#Name, args_len, sizeof(op::Name::Args)); \
    return out;                                                       \
  }                                                                   \
  op::Name::Result res{};                                             \
  put(&out, res);
#define CHECK(expr)               \
  do {                            \
    Status s_ = (expr);           \
    if (!s_.ok()) {               \
      out.status = std::move(s_); \
      return out;                 \
    }                             \
  } while (0)

OpReply Session::execute(uint16_t code, const uint8_t* args, size_t args_len,
                         const uint8_t* payload, uint64_t payload_len) {
  OpReply out;
  if (!op_class(code)) {
    out.status = bad(CUDA_ERROR_NOT_SUPPORTED,
                     "op " + std::to_string(code) + " is not served by this server");
    return out;
  }
  CHECK(payload_check(code, args, args_len, payload_len));
  Backend& b = backend_;
  switch (static_cast<Op>(code)) {
    case Op::CtxSynchronize: {
      DECODE(CtxSynchronize);
      out.status = b.ctx_synchronize();
      return out;
    }
    case Op::MemGetInfo: {
      DECODE(MemGetInfo);
      const uint64_t total = b.props().total_mem, used = b.mem_used();
      res.total_bytes = total;
      res.free_bytes = used < total ? total - used : 0;
      put(&out, res);
      return out;
    }
    case Op::MemAlloc: {
      DECODE(MemAlloc);
      if (a.bytes == 0 || a.bytes > b.props().total_mem)
        CHECK(bad(a.bytes ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE,
                  "cuMemAlloc of " + std::to_string(a.bytes) + " bytes (cap " +
                      std::to_string(b.props().total_mem) + ")"));
      CHECK(b.mem_alloc(a.bytes, &res.dptr));
      allocs_[res.dptr] = a.bytes;
      meter_.mem_changed(b.mem_used());
      put(&out, res);
      return out;
    }
    case Op::MemFree: {
      DECODE(MemFree);
      if (!allocs_.count(a.dptr))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "cuMemFree of " + hex(a.dptr) + ", which is not an allocation of this session"));
      CHECK(b.mem_free(a.dptr));
      allocs_.erase(a.dptr);
      meter_.mem_changed(b.mem_used());
      return out;
    }
    case Op::MemcpyHtoD: {
      DECODE(MemcpyHtoD);
      CHECK(check_stream(a.stream));
      CHECK(check_range(a.dst, a.bytes, "MemcpyHtoD destination"));
      if (payload_len != a.bytes) CHECK(bad(CUDA_ERROR_INVALID_VALUE, "MemcpyHtoD bytes missing"));
      out.status = b.memcpy_htod(a.dst, payload, a.bytes, a.stream);
      return out;
    }
    case Op::MemcpyDtoH: {
      DECODE(MemcpyDtoH);
      CHECK(check_stream(a.stream));
      CHECK(check_range(a.src, a.bytes, "MemcpyDtoH source"));
      if (a.bytes > kMaxPayloadBytes && !(a.flags & kCopyFlagBulk))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE, "MemcpyDtoH too large for one frame"));
      out.payload.resize(a.bytes);
      out.status = b.memcpy_dtoh(out.payload.data(), a.src, a.bytes, a.stream);
      return out;
    }
    case Op::MemcpyDtoD: {
      DECODE(MemcpyDtoD);
      CHECK(check_stream(a.stream));
      CHECK(check_range(a.dst, a.bytes, "MemcpyDtoD destination"));
      CHECK(check_range(a.src, a.bytes, "MemcpyDtoD source"));
      out.status = b.memcpy_dtod(a.dst, a.src, a.bytes, a.stream);
      return out;
    }
    case Op::Memset: {
      DECODE(Memset);
      CHECK(check_stream(a.stream));
      if (a.elem_size != 1 && a.elem_size != 2 && a.elem_size != 4)
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "memset element size " + std::to_string(a.elem_size) + " is not 1, 2 or 4"));
      if (a.count > UINT64_MAX / a.elem_size)
        CHECK(bad(CUDA_ERROR_INVALID_VALUE, "memset count overflows"));
      CHECK(check_range(a.dst, a.count * a.elem_size, "memset destination"));
      out.status = b.memset(a.dst, a.value, a.elem_size, a.count, a.stream);
      return out;
    }
    case Op::StreamCreate: {
      DECODE(StreamCreate);
      if (a.stream <= 2 || streams_.count(a.stream))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "stream handle " + std::to_string(a.stream) + " is already in use"));
      CHECK(b.stream_create(a.stream, a.flags, a.priority));
      streams_.insert(a.stream);
      return out;
    }
    case Op::StreamDestroy: {
      DECODE(StreamDestroy);
      if (!streams_.count(a.stream))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "stream " + std::to_string(a.stream) + " does not belong to this session"));
      streams_.erase(a.stream);
      out.status = b.stream_destroy(a.stream);
      return out;
    }
    case Op::StreamSynchronize: {
      DECODE(StreamSynchronize);
      CHECK(check_stream(a.stream));
      out.status = b.stream_synchronize(a.stream);
      return out;
    }
    case Op::StreamQuery: {
      DECODE(StreamQuery);
      CHECK(check_stream(a.stream));
      out.status = b.stream_query(a.stream);
      return out;
    }
    case Op::StreamWaitEvent: {
      DECODE(StreamWaitEvent);
      CHECK(check_stream(a.stream));
      CHECK(check_event(a.event));
      out.status = b.stream_wait_event(a.stream, a.event, a.flags);
      return out;
    }
    case Op::EventCreate: {
      DECODE(EventCreate);
      if (events_.count(a.event))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "event handle " + std::to_string(a.event) + " is already in use"));
      CHECK(b.event_create(a.event, a.flags));
      events_.insert(a.event);
      return out;
    }
    case Op::EventDestroy: {
      DECODE(EventDestroy);
      CHECK(check_event(a.event));
      events_.erase(a.event);
      out.status = b.event_destroy(a.event);
      return out;
    }
    case Op::EventRecord: {
      DECODE(EventRecord);
      CHECK(check_event(a.event));
      CHECK(check_stream(a.stream));
      out.status = b.event_record(a.event, a.stream);
      return out;
    }
    case Op::EventSynchronize: {
      DECODE(EventSynchronize);
      CHECK(check_event(a.event));
      out.status = b.event_synchronize(a.event);
      return out;
    }
    case Op::EventQuery: {
      DECODE(EventQuery);
      CHECK(check_event(a.event));
      out.status = b.event_query(a.event);
      return out;
    }
    case Op::EventElapsedTime: {
      DECODE(EventElapsedTime);
      CHECK(check_event(a.start));
      CHECK(check_event(a.end));
      CHECK(b.event_elapsed(a.start, a.end, &res.ms));
      put(&out, res);
      return out;
    }
    case Op::ModuleLoad: {
      DECODE(ModuleLoad);
      if (modules_.count(a.module))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "module handle " + std::to_string(a.module) + " is already in use"));
      if (payload_len == 0) {
        auto it = images_.find(a.image_hash);
        if (it == images_.end()) {  // not an error: the client sends the bytes (ops.def)
          res.image_missing = 1;
          put(&out, res);
          return out;
        }
        CHECK(b.module_load(a.module, it->second.data(), it->second.size()));
      } else {
        CHECK(b.module_load(a.module, payload, payload_len));
        constexpr uint64_t kMaxKeptImageBytes = 256ull << 20;
        if (a.image_hash != 0 && !images_.count(a.image_hash) &&
            image_bytes_ + payload_len <= kMaxKeptImageBytes) {
          images_[a.image_hash].assign(payload, payload + payload_len);
          image_bytes_ += payload_len;
        }
      }
      modules_.insert(a.module);
      meter_.mem_changed(b.mem_used());  // its variables are device memory
      return out;
    }
    case Op::ModuleUnload: {
      DECODE(ModuleUnload);
      if (!modules_.count(a.module))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "module " + std::to_string(a.module) + " does not belong to this session"));
      for (auto f = functions_.begin(); f != functions_.end();)
        f = f->second.module == a.module ? functions_.erase(f) : std::next(f);
      for (uint64_t g : module_globals_[a.module]) globals_.erase(g);
      module_globals_.erase(a.module);
      modules_.erase(a.module);
      out.status = b.module_unload(a.module);
      meter_.mem_changed(b.mem_used());
      return out;
    }
    case Op::ModuleGetFunction: {
      DECODE(ModuleGetFunction);
      std::string name;
      if (!read_name(payload, payload_len, &name))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE, "ModuleGetFunction without a kernel name"));
      if (!modules_.count(a.module))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "module " + std::to_string(a.module) + " does not belong to this session"));
      if (functions_.count(a.function))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "function handle " + std::to_string(a.function) + " is already in use"));
      Function f;
      f.module = a.module;
      CHECK(b.module_get_function(a.module, a.function, name, &f.info));
      image::encode_param_layout(f.info.layout, &out.payload);
      functions_[a.function] = std::move(f);
      return out;
    }
    case Op::ModuleGetGlobal: {
      DECODE(ModuleGetGlobal);
      std::string name;
      if (!read_name(payload, payload_len, &name))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE, "ModuleGetGlobal without a name"));
      if (!modules_.count(a.module))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "module " + std::to_string(a.module) + " does not belong to this session"));
      CHECK(b.module_get_global(a.module, name, &res.dptr, &res.bytes));
      if (res.bytes) {
        globals_[res.dptr] = res.bytes;
        module_globals_[a.module].insert(res.dptr);
      }
      meter_.mem_changed(b.mem_used());
      put(&out, res);
      return out;
    }
    case Op::FuncGetAttribute: {
      DECODE(FuncGetAttribute);
      if (!functions_.count(a.function))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "function " + std::to_string(a.function) + " does not belong to this session"));
      CHECK(b.func_get_attribute(a.function, a.attribute, &res.value));
      put(&out, res);
      return out;
    }
    case Op::FuncSetAttribute: {
      DECODE(FuncSetAttribute);
      if (!functions_.count(a.function))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "function " + std::to_string(a.function) + " does not belong to this session"));
      out.status = b.func_set_attribute(a.function, a.attribute, a.value);
      return out;
    }
    case Op::LaunchKernel: {
      DECODE(LaunchKernel);
      auto fit = functions_.find(a.function);
      if (fit == functions_.end())
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "function " + std::to_string(a.function) + " does not belong to this session"));
      CHECK(check_stream(a.stream));
      const DeviceProps& p = b.props();
      const int grid_max[3] = {p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X],
                               p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y],
                               p.attrs[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]};
      const int block_max[3] = {p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X],
                                p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y],
                                p.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z]};
      uint64_t threads = 1;
      for (int i = 0; i < 3; ++i) {
        if (a.grid[i] == 0 || a.grid[i] > static_cast<uint32_t>(grid_max[i]) || a.block[i] == 0 ||
            a.block[i] > static_cast<uint32_t>(block_max[i]))
          CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                    "launch geometry grid(" + std::to_string(a.grid[0]) + "," +
                        std::to_string(a.grid[1]) + "," + std::to_string(a.grid[2]) + ") block(" +
                        std::to_string(a.block[0]) + "," + std::to_string(a.block[1]) + "," +
                        std::to_string(a.block[2]) + ") is outside the device's limits"));
        threads *= a.block[i];
      }
      if (threads > static_cast<uint64_t>(p.attrs[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK]))
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  std::to_string(threads) + " threads per block exceed the device's limit"));
      if (a.param_bytes > kMaxParamBytes || a.num_attrs > kMaxLaunchAttrs ||
          payload_len != uint64_t{a.param_bytes} + uint64_t{a.num_attrs} * kLaunchAttrBytes)
        CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                  "launch payload of " + std::to_string(payload_len) + " bytes does not hold " +
                      std::to_string(a.param_bytes) + " parameter bytes and " +
                      std::to_string(a.num_attrs) + " attributes"));
      std::vector<uint8_t> padded;
      const uint8_t* params = payload;
      uint32_t param_bytes = a.param_bytes;
      const FunctionInfo& info = fit->second.info;
      if (info.layout_known) {
        uint32_t need = 0;
        for (const auto& pi : info.layout.params) need = std::max(need, pi.offset + pi.size);
        const uint32_t total = std::max(need, info.layout.param_bytes);
        if (a.param_bytes < need || a.param_bytes > total)
          CHECK(bad(CUDA_ERROR_INVALID_VALUE,
                    "launch carries " + std::to_string(a.param_bytes) +
                        " parameter bytes; the kernel's parameters take " + std::to_string(need)));
        if (a.param_bytes < total) {
          padded.assign(payload, payload + a.param_bytes);
          padded.resize(total, 0);
          params = padded.data();
          param_bytes = total;
        }
      }
      LaunchConfig cfg;
      cfg.function = a.function;
      std::memcpy(cfg.grid, a.grid, sizeof cfg.grid);
      std::memcpy(cfg.block, a.block, sizeof cfg.block);
      cfg.shared_mem = a.shared_mem;
      cfg.stream = a.stream;
      cfg.params = params;
      cfg.param_bytes = param_bytes;
      cfg.attrs = payload + a.param_bytes;
      cfg.num_attrs = a.num_attrs;
      out.status = b.launch(cfg);
      return out;
    }
    case Op::OccupancyMaxActiveBlocks: {
      DECODE(OccupancyMaxActiveBlocks);
      if (!functions_.count(a.function))
        CHECK(bad(CUDA_ERROR_INVALID_HANDLE,
                  "function " + std::to_string(a.function) + " does not belong to this session"));
      CHECK(b.occupancy_max_active_blocks(a.function, a.block_size, a.flags, a.dynamic_smem,
                                          &res.blocks));
      put(&out, res);
      return out;
    }
  }
  out.status =
      bad(CUDA_ERROR_NOT_SUPPORTED, "op " + std::to_string(code) + " is not served by this server");
  return out;
}

}  // namespace rgpu::server
