// server/worker/session_modules.cc — the session's handlers for the module, function, launch and
// occupancy ops of ops.def (session.h: one handler per op; the record is decoded and its payload
// limited before a handler runs).
#include <algorithm>

#include "protocol/image/image_zstd.h"
#include "protocol/image/param_layout.h"
#include "protocol/image_digest.h"
#include "protocol/launch_record.h"
#include "server/log.h"
#include "server/worker/compute_share.h"
#include "server/worker/image_cache.h"
#include "server/worker/session.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {

Status Session::on_ModuleLoad(const op::ModuleLoad::Args& a, OpPayload in,
                              op::ModuleLoad::Result& res, OpReply&) {
  RGPU_TRY(modules_.fresh(a.module));
  if (in.len == 0) {
    auto it = images_.find(a.image_hash);
    if (it == images_.end()) {  // not an error: the client sends the bytes (ops.def)
      res.image_missing = 1;
      return Status::Ok();
    }
    RGPU_TRY(backend_.module_load(a.module, it->second.data(), it->second.size()));
  } else {
    return load_image(a.module, a.image_hash, in);
  }
  modules_.add(a.module);
  meter_.mem_changed(backend_.mem_used());  // its variables are device memory
  return Status::Ok();
}

Status Session::load_image(uint64_t module, uint64_t hash, OpPayload in) {
  std::vector<uint8_t> unpacked;
  if (image::is_zstd_image(in.data, in.len)) {  // sent compressed (protocol 11)
    auto r = image::decompress_image(in.data, in.len, kMaxModuleBytes);
    if (!r) return bad(CUDA_ERROR_INVALID_IMAGE, r.error());
    unpacked = std::move(r.value());
    in.data = unpacked.data();
    in.len = unpacked.size();
  }
  RGPU_TRY(backend_.module_load(module, in.data, in.len));
  keep_image(hash, in.data, in.len);
  // Loaded, so a valid image; as large as the shim offers by digest (interpose/modules.cc).
  if (image_cache_ && in.len >= kImageOfferBytes) image_cache_->put(in.data, in.len);
  modules_.add(module);
  meter_.mem_changed(backend_.mem_used());  // its variables are device memory
  return Status::Ok();
}

Status Session::on_ModuleLoadDeferred(const op::ModuleLoadDeferred::Args& a, OpPayload in,
                                      op::ModuleLoadDeferred::Result&, OpReply&) {
  RGPU_TRY(modules_.fresh(a.module));
  if (in.len == 0)
    return bad(CUDA_ERROR_INVALID_VALUE, "ModuleLoadDeferred carries no image (it must)");
  Status st = load_image(a.module, a.image_hash, in);
  if (!st.ok()) {
    // Told by the module's own lookups (ops.def), as the driver's lazy loading tells it.
    note_error(st);
    modules_.add(a.module).load_error = st;
  }
  return Status::Ok();
}

void Session::keep_image(uint64_t hash, const uint8_t* data, uint64_t len) {
  constexpr uint64_t kMaxKeptImageBytes = 256ull << 20;
  if (hash != 0 && !images_.count(hash) && image_bytes_ + len <= kMaxKeptImageBytes) {
    images_[hash].assign(data, data + len);
    image_bytes_ += len;
  }
}

Status Session::on_ModuleLoadCached(const op::ModuleLoadCached::Args& a, OpPayload in,
                                    op::ModuleLoadCached::Result& res, OpReply&) {
  RGPU_TRY(modules_.fresh(a.module));  // (payload_rule made the digest 32 bytes)
  std::string image;
  if (!image_cache_ ||
      !image_cache_->get(std::string(reinterpret_cast<const char*>(in.data), 32), &image)) {
    res.image_missing = 1;  // not an error: the client sends the bytes (ops.def)
    res.no_cache = image_cache_ ? 0 : 1;
    return Status::Ok();
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(image.data());
  RGPU_TRY(backend_.module_load(a.module, bytes, image.size()));
  keep_image(a.image_hash, bytes, image.size());
  modules_.add(a.module);
  meter_.mem_changed(backend_.mem_used());
  log_info("module %llu: %zu bytes from the image cache", static_cast<unsigned long long>(a.module),
           image.size());
  return Status::Ok();
}

Status Session::on_ModuleUnload(const op::ModuleUnload::Args& a, OpPayload,
                                op::ModuleUnload::Result&, OpReply&) {
  Status st;
  Module* m = modules_.owned(a.module, &st);
  if (!m) return st;
  const bool loaded = m->load_error.ok();
  functions_.erase_if([&](const Function& f) { return f.module == a.module; });
  for (uint64_t g : m->globals) globals_.erase(g);
  modules_.erase(a.module);
  if (!loaded) return Status::Ok();  // a failed deferred load: nothing on the backend
  st = backend_.module_unload(a.module);
  meter_.mem_changed(backend_.mem_used());
  return st;
}

Status Session::on_ModuleGetFunction(const op::ModuleGetFunction::Args& a, OpPayload in,
                                     op::ModuleGetFunction::Result&, OpReply& out) {
  std::string name;
  if (!read_name(in.data, in.len, &name))
    return bad(CUDA_ERROR_INVALID_VALUE, "ModuleGetFunction without a kernel name");
  Status st;
  Module* m = modules_.owned(a.module, &st);
  if (!m) return st;
  RGPU_TRY(m->load_error);
  RGPU_TRY(functions_.fresh(a.function));
  Function f;
  f.module = a.module;
  RGPU_TRY(backend_.module_get_function(a.module, a.function, name, &f.info));
  image::encode_param_layout(f.info.layout, &out.payload);
  functions_.add(a.function, std::move(f));
  return Status::Ok();
}

Status Session::on_ModuleGetFunctionDeferred(const op::ModuleGetFunctionDeferred::Args& a,
                                             OpPayload in, op::ModuleGetFunctionDeferred::Result&,
                                             OpReply&) {
  std::string name;
  if (!read_name(in.data, in.len, &name) || name.size() + 1 > in.len)
    return bad(CUDA_ERROR_INVALID_VALUE, "ModuleGetFunctionDeferred without a kernel name");
  auto theirs = image::decode_param_layout(in.data + name.size() + 1, in.len - name.size() - 1);
  if (!theirs)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "ModuleGetFunctionDeferred for " + name + ": " + theirs.error());
  Status st;
  Module* m = modules_.owned(a.module, &st);
  if (!m) return st;
  RGPU_TRY(functions_.fresh(a.function));
  Function f;
  f.module = a.module;
  st = m->load_error;
  if (st.ok()) st = backend_.module_get_function(a.module, a.function, name, &f.info);
  if (st.ok() && f.info.layout_known && f.info.layout.params != theirs.value().params)
    st = bad(CUDA_ERROR_INVALID_IMAGE,
             "kernel " + name + ": the client parsed " +
                 std::to_string(theirs.value().params.size()) +
                 " parameters laid out differently from the device's " +
                 std::to_string(f.info.layout.params.size()) +
                 " (its launches are refused; set RGPU_CLIENT_LAYOUT=0 to ask the server)");
  if (st.ok() && !f.info.layout_known) {
    f.info.layout = std::move(theirs.value());
    f.info.layout_known = true;
  }
  f.lookup_error = st;  // the handle's own calls answer it (ops.def)
  functions_.add(a.function, std::move(f));
  return st;
}

const Session::Function* Session::usable_function(uint64_t function, Status* st) const {
  const Function* fn = functions_.owned(function, st);
  if (fn && !fn->lookup_error.ok()) {
    *st = fn->lookup_error;
    return nullptr;
  }
  return fn;
}

Status Session::on_ModuleGetGlobal(const op::ModuleGetGlobal::Args& a, OpPayload in,
                                   op::ModuleGetGlobal::Result& res, OpReply&) {
  std::string name;
  if (!read_name(in.data, in.len, &name))
    return bad(CUDA_ERROR_INVALID_VALUE, "ModuleGetGlobal without a name");
  Status st;
  Module* m = modules_.owned(a.module, &st);
  if (!m) return st;
  RGPU_TRY(m->load_error);
  RGPU_TRY(backend_.module_get_global(a.module, name, &res.dptr, &res.bytes));
  if (res.bytes) {
    globals_[res.dptr] = res.bytes;
    m->globals.insert(res.dptr);
  }
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_FuncGetAttribute(const op::FuncGetAttribute::Args& a, OpPayload,
                                    op::FuncGetAttribute::Result& res, OpReply&) {
  Status st;
  const Function* fn = usable_function(a.function, &st);
  if (!fn) return st;
  return backend_.func_get_attribute(a.function, a.attribute, &res.value);
}

Status Session::on_FuncSetAttribute(const op::FuncSetAttribute::Args& a, OpPayload,
                                    op::FuncSetAttribute::Result&, OpReply&) {
  Status st;
  if (!usable_function(a.function, &st)) return st;
  return backend_.func_set_attribute(a.function, a.attribute, a.value);
}

Status Session::on_LaunchKernel(const op::LaunchKernel::Args& a, OpPayload in,
                                op::LaunchKernel::Result&, OpReply&) {
  Status st;
  const Function* fn = usable_function(a.function, &st);
  if (!fn) return st;
  RGPU_TRY(check_stream(a.stream));
  LaunchGeometry g{};
  std::copy(a.grid, a.grid + 3, g.grid);
  std::copy(a.block, a.block + 3, g.block);
  g.shared_mem = a.shared_mem;
  g.param_bytes = a.param_bytes;
  g.num_attrs = a.num_attrs;
  std::string why = check_launch(backend_.props(), g);
  if (!why.empty()) return bad(CUDA_ERROR_INVALID_VALUE, why);
  if (in.len != launch_payload_bytes(a.param_bytes, a.num_attrs))
    return bad(CUDA_ERROR_INVALID_VALUE,
               "launch payload of " + std::to_string(in.len) + " bytes does not hold " +
                   std::to_string(a.param_bytes) + " parameter bytes and " +
                   std::to_string(a.num_attrs) + " attributes");
  std::vector<uint8_t> padded;
  const uint8_t* params = in.data;
  uint32_t param_bytes = a.param_bytes;
  const FunctionInfo& info = fn->info;
  if (info.layout_known) {
    uint32_t need = 0;
    for (const auto& pi : info.layout.params) need = std::max(need, pi.offset + pi.size);
    const uint32_t total = std::max(need, info.layout.param_bytes);
    if (a.param_bytes < need || a.param_bytes > total)
      return bad(CUDA_ERROR_INVALID_VALUE, "launch carries " + std::to_string(a.param_bytes) +
                                               " parameter bytes; the kernel's parameters take " +
                                               std::to_string(need));
    if (a.param_bytes < total) {
      padded.assign(in.data, in.data + a.param_bytes);
      padded.resize(total, 0);
      params = padded.data();
      param_bytes = total;
    }
  }
  LaunchConfig cfg;
  cfg.function = a.function;
  std::copy(a.grid, a.grid + 3, cfg.grid);
  std::copy(a.block, a.block + 3, cfg.block);
  cfg.shared_mem = a.shared_mem;
  cfg.stream = a.stream;
  cfg.params = params;
  cfg.param_bytes = param_bytes;
  cfg.attrs = in.data + a.param_bytes;
  cfg.num_attrs = a.num_attrs;
  if (!share_) return backend_.launch(cfg);
  // The GPU's time, shared with its other sessions (compute_share.h); the turn ends however the
  // launch does.
  struct ShareTurn {
    ComputeShare* share;
    Backend& backend;
    ~ShareTurn() { share->end(backend.busy_ns()); }
  };
  if (!share_->begin()) return Status::Err(CUDA_ERROR_DEVICE_UNAVAILABLE, "the session is ending");
  ShareTurn turn{share_, backend_};
  return backend_.launch(cfg);
}

Status Session::on_OccupancyMaxActiveBlocks(const op::OccupancyMaxActiveBlocks::Args& a, OpPayload,
                                            op::OccupancyMaxActiveBlocks::Result& res, OpReply&) {
  Status st;
  if (!usable_function(a.function, &st)) return st;
  return backend_.occupancy_max_active_blocks(a.function, a.block_size, a.flags, a.dynamic_smem,
                                              &res.blocks);
}

}  // namespace rgpu::server
