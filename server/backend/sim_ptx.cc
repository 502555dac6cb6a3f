// server/backend/sim_ptx.cc — the sim backend's PTX path (sim_backend.h): which PTX of an
// image the executor runs, its decoding and variables at module load, and a PTX launch.
#include <chrono>
#include <cstring>
#include <string>

#include "protocol/image/fatbin.h"
#include "protocol/image/image_span.h"
#include "server/backend/ptx/ptx_exec.h"
#include "server/backend/ptx/ptx_parse.h"
#include "server/backend/sim_backend.h"
#include "server/backend/sim_module.h"
#include "server/log.h"

namespace rgpu::server {

namespace {
// The PTX text the executor should run: the image itself, or the fatbin's newest PTX entry
// that a device of compute capability `sm` runs. Empty with *why set when there is none.
std::string ptx_text_of(const uint8_t* data, uint64_t size, uint32_t sm, std::string* why) {
  auto span = image::locate_image_in(data, size);
  if (!span) {
    *why = "the image is not PTX, a cubin or a fatbin";
    return "";
  }
  if (span->kind == image::ImageKind::kPtx)
    return std::string(reinterpret_cast<const char*>(span->data), span->size);
  if (span->kind == image::ImageKind::kElf) {
    *why = "the image is a cubin, which carries no PTX (build with code=compute_NN too)";
    return "";
  }
  auto entries = image::list_fatbin_entries(span->data, span->size);
  if (!entries) {
    *why = entries.error();
    return "";
  }
  const image::FatbinEntry* best = nullptr;
  for (const auto& e : *entries)
    if (e.is_ptx() && e.sm_version <= sm && (!best || e.sm_version > best->sm_version)) best = &e;
  if (!best) {
    *why = "the fatbin has no PTX for compute capability " + std::to_string(sm / 10) + "." +
           std::to_string(sm % 10) + " or older";
    return "";
  }
  auto bytes = image::entry_contents(*best);
  if (!bytes) {
    *why = bytes.error();
    return "";
  }
  std::string text(bytes->begin(), bytes->end());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  return text;
}
}  // namespace

Status SimBackend::load_ptx(const uint8_t* data, uint64_t size, Module* m) {
  const uint32_t sm = static_cast<uint32_t>(props_.cc_major * 10 + props_.cc_minor);
  std::string why;
  const std::string text = ptx_text_of(data, size, sm, &why);
  if (text.empty()) {
    m->ptx_missing = true;
    m->ptx_error = "the sim executes PTX and " + why;
  } else if (std::string e = ptx::parse_ptx_module(text.data(), text.size(), &m->ptx); !e.empty()) {
    m->ptx_error = e;
  } else if (m->ptx.target_sm > sm) {
    m->ptx_error = "the PTX targets sm_" + std::to_string(m->ptx.target_sm) +
                   ", newer than the sim device's compute capability " +
                   std::to_string(arch_.major) + "." + std::to_string(arch_.minor) +
                   " (rgpu-server --sim-arch)";
  } else {
    m->has_ptx = true;
  }
  if (!m->has_ptx) {
    if (exec_ != SimExec::kPtx) return Status::Ok();  // a twin may run its kernels
    const bool unsupported = m->ptx_error.find("not supported") != std::string::npos;
    return Status::Err(m->ptx_missing ? CUDA_ERROR_NO_BINARY_FOR_GPU
                       : unsupported  ? CUDA_ERROR_NOT_SUPPORTED
                                      : CUDA_ERROR_INVALID_PTX,
                       m->ptx_error);
  }
  // Variables the PTX declares get their memory (and initialisers) here when the image's
  // module table did not already place them (a PTX image's table has no initial bytes).
  for (const ptx::Symbol& g : m->ptx.globals) {
    auto it = m->globals.find(g.name);
    if (it == m->globals.end()) {
      uint64_t dptr = 0;
      Status st = map_range(g.size ? g.size : 1, 0, &dptr);
      if (!st.ok()) return st;
      it = m->globals.emplace(g.name, std::make_pair(dptr, g.size)).first;
    }
    if (!g.init.empty() && m->info.parsed_kind == image::ImageKind::kPtx)
      std::memcpy(reinterpret_cast<void*>(it->second.first), g.init.data(),
                  std::min<uint64_t>(g.init.size(), it->second.second));
  }
  auto addresses = [&](const ptx::Kernel& k) {
    std::vector<uint64_t> addr;
    for (const ptx::Symbol& s : k.symbols) {
      auto it = m->globals.find(s.name);
      addr.push_back(it == m->globals.end() ? 0 : it->second.first);
    }
    return addr;
  };
  for (const ptx::Kernel& k : m->ptx.kernels) m->symbol_addr[k.name] = addresses(k);
  for (const ptx::Kernel& f : m->ptx.functions) m->function_symbol_addr.push_back(addresses(f));
  return Status::Ok();
}

Status SimBackend::launch_ptx(const Function& f, const LaunchConfig& cfg) {
  ptx::LaunchMemory mem;
  mem.allocs = &allocs_;
  mem.symbol_addr = *f.symbol_addr;
  mem.functions = f.ptx_functions;
  mem.function_symbol_addr = f.function_symbol_addr;
  mem.sm_count = static_cast<uint32_t>(props_.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT]);
  mem.threads = exec_threads_;
  mem.device_output = &device_output_;
  ptx::LaunchShape shape;
  std::memcpy(shape.grid, cfg.grid, sizeof shape.grid);
  std::memcpy(shape.block, cfg.block, sizeof shape.block);
  shape.dynamic_shared = cfg.shared_mem;
  auto t = std::chrono::steady_clock::now();
  const uint64_t before = ptx_instructions_;
  Status st = ptx::execute(*f.ptx, shape, cfg.params, cfg.param_bytes, mem, &ptx_instructions_);
  add_busy(t);
  log_debug("PTX launch %s grid %ux%ux%u block %ux%ux%u shared %u: %llu thread-instructions, %s",
            f.ptx->name.c_str(), cfg.grid[0], cfg.grid[1], cfg.grid[2], cfg.block[0], cfg.block[1],
            cfg.block[2], cfg.shared_mem,
            static_cast<unsigned long long>(ptx_instructions_ - before),
            st.ok() ? "ok" : st.text.c_str());
  return st;
}

}  // namespace rgpu::server
