// server/backend/sim_backend.cc — see sim_backend.h.
#include "server/backend/sim_backend.h"

#include "protocol/launch_record.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "protocol/image/fatbin.h"
#include "protocol/image/image_span.h"
#include "protocol/image/kernel_table.h"
#include "server/backend/fault_guard.h"
#include "server/backend/ptx/ptx_exec.h"
#include "server/backend/ptx/ptx_parse.h"
#include "server/backend/sim_module.h"
#include "server/backend/sim_props.h"
#include "server/log.h"

namespace rgpu::server {

namespace {
using Clock = std::chrono::steady_clock;
constexpr uint64_t kSimAlign = 4096;
constexpr uint64_t kHugePage = 2ull << 20;
constexpr uint64_t kEventDisableTiming = CU_EVENT_DISABLE_TIMING;

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

SimBackend::SimBackend(const SimKernelRegistry* kernels, uint32_t gpu_index, SimExec exec)
    : kernels_(kernels), gpu_index_(gpu_index), exec_(exec) {
  exec_threads_ = std::max(1u, std::thread::hardware_concurrency());
  const char* staged = std::getenv("RGPU_SIM_STAGED");
  staged_ = staged && std::strcmp(staged, "1") == 0;
}

namespace {
uint64_t digest_of(const void* p, uint64_t n) {  // FNV-1a, 8 bytes at a time
  uint64_t h = 1469598103934665603ull;
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
}  // namespace

Status SimBackend::staged_htod(uint64_t dst, const void* staged, uint64_t bytes, uint64_t stream) {
  Status st = memcpy_htod(dst, staged, bytes, stream);
  if (!st.ok() || !staged_) return st;
  std::lock_guard<std::mutex> g(staged_mu_);
  in_flight_[staged] = StagedCopy{false, dst, bytes, stream, digest_of(staged, bytes)};
  return st;
}

Status SimBackend::staged_dtoh(void* staged, uint64_t src, uint64_t bytes, uint64_t stream) {
  if (!staged_) return memcpy_dtoh(staged, src, bytes, stream);
  if (!inside(src, bytes) || !stream_ok(stream))
    return memcpy_dtoh(staged, src, bytes, stream);  // its error, now
  std::lock_guard<std::mutex> g(staged_mu_);
  in_flight_[staged] = StagedCopy{true, src, bytes, stream, 0};  // filled at staged_wait()
  return Status::Ok();
}

Status SimBackend::staged_wait(const void* staged) {
  StagedCopy c;
  {
    std::lock_guard<std::mutex> g(staged_mu_);
    auto it = in_flight_.find(staged);
    if (it == in_flight_.end()) return Status::Ok();
    c = it->second;
    in_flight_.erase(it);
  }
  if (c.to_host) return memcpy_dtoh(const_cast<void*>(staged), c.device, c.bytes, c.stream);
  if (digest_of(staged, c.bytes) != c.digest)
    return Status::Err(CUDA_ERROR_ILLEGAL_STATE,
                       "a staging buffer was written before its HtoD copy was waited for");
  return Status::Ok();
}

SimBackend::~SimBackend() {
  for (auto& [start, len] : allocs_) {
    auto padded = mapped_len_.find(start);
    ::munmap(reinterpret_cast<void*>(start), padded == mapped_len_.end() ? len : padded->second);
  }
}

Status SimBackend::open(const SessionWindow& window) {
  std::string err = check_window(window.va_base, window.va_size);
  if (!err.empty()) return Status::Err(CUDA_ERROR_INVALID_VALUE, err);
  window_ = window;
  va_.reset(window.va_base, window.va_size, kSimAlign);
  props_ = sim_device_props(gpu_index_, arch_, window.vram_cap, window.va_base, window.va_size);
  return Status::Ok();
}

Status SimBackend::map_range(uint64_t bytes, uint64_t at_addr, uint64_t* dptr) {
  uint64_t need = va_.rounded(bytes);
  if (need == 0 || need > window_.vram_cap - std::min(used_, window_.vram_cap))
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "allocation of " + std::to_string(bytes) + " bytes exceeds the vGPU's " +
                           std::to_string(window_.vram_cap) + "-byte memory cap (" +
                           std::to_string(used_) + " bytes in use)");
  std::string why;
  const std::optional<uint64_t> at = va_.place(bytes, at_addr, &why);
  if (!at) return Status::Err(at_addr ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY, why);
  void* want = reinterpret_cast<void*>(*at);
  // A client's placement owns whole 2 MiB granules (va_window.h): one of 1 MiB or more maps all
  // of its granules, so that it can be backed by large pages below.
  const uint64_t map_len =
      at_addr != 0 && need >= kHugePage / 2 ? (need + kHugePage - 1) / kHugePage * kHugePage : need;
  void* got = ::mmap(want, map_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (got != want) {
    int e = errno;
    if (got != MAP_FAILED) ::munmap(got, map_len);
    va_.release(*at);
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "cannot map sim device memory at " + hex(*at) + ": " + std::strerror(e));
  }
  // Device memory in large pages, as a GPU's is: a 4 KiB-paged range costs every copy and kernel
  // that walks it TLB misses a GPU does not have (a VM's socket copies into 4 KiB pages ran at
  // a third of the rate: bench/README.md). Advice only, so a refusal is fine.
  if (map_len >= kHugePage) ::madvise(want, map_len, MADV_HUGEPAGE);
  if (map_len != need) mapped_len_[*at] = map_len;
  allocs_[*at] = need;
  used_ += need;
  *dptr = *at;
  return Status::Ok();
}

Status SimBackend::mem_alloc(uint64_t bytes, uint64_t at, uint64_t* dptr) {
  if (bytes == 0) return Status::Err(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc of 0 bytes");
  return map_range(bytes, at, dptr);
}

Status SimBackend::mem_free(uint64_t dptr) {
  auto it = allocs_.find(dptr);
  if (it == allocs_.end() || vmm_maps_.count(dptr))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "cuMemFree of " + hex(dptr) + ", which is not an allocation's start");
  for (auto& [id, m] : modules_)
    for (auto& [name, g] : m->globals)
      if (g.first == dptr)
        return Status::Err(CUDA_ERROR_INVALID_VALUE,
                           "cuMemFree of " + hex(dptr) + ", which is module global " + name);
  unmap(dptr);
  return Status::Ok();
}

void SimBackend::unmap(uint64_t dptr) {
  auto it = allocs_.find(dptr);
  if (it == allocs_.end()) return;
  auto padded = mapped_len_.find(dptr);
  ::munmap(reinterpret_cast<void*>(dptr),
           padded == mapped_len_.end() ? it->second : padded->second);
  if (padded != mapped_len_.end()) mapped_len_.erase(padded);
  used_ -= it->second;
  va_.release(dptr);
  allocs_.erase(it);
}

bool SimBackend::inside(uint64_t addr, uint64_t bytes) const {
  auto it = allocs_.upper_bound(addr);
  if (it == allocs_.begin()) return false;
  --it;
  uint64_t off = addr - it->first;
  if (off > it->second) return false;
  // A range may run on into the next mapping when they are adjacent (virtual memory pages).
  uint64_t end = it->first + it->second;
  while (end - addr < bytes) {
    auto next = allocs_.find(end);
    if (next == allocs_.end() || !vmm_maps_.count(end)) return false;
    end += next->second;
  }
  return true;
}

bool SimBackend::stream_ok(uint64_t stream) const {
  return stream <= 2 || streams_.count(stream) != 0;
}

void SimBackend::add_busy(Clock::time_point since) {
  busy_ns_ += static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count());
}

#define SIM_CHECK_STREAM(s) \
  if (!stream_ok(s))        \
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown stream " + std::to_string(s));
#define SIM_CHECK_RANGE(p, n, what)                                                             \
  if (!inside(p, n))                                                                            \
    return Status::Err(CUDA_ERROR_INVALID_VALUE, std::string(what) + " range " + hex(p) + "+" + \
                                                     std::to_string(n) +                        \
                                                     " is not inside one allocation");

Status SimBackend::memcpy_htod(uint64_t dst, const void* src, uint64_t bytes, uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  SIM_CHECK_RANGE(dst, bytes, "destination");
  auto t = Clock::now();
  if (bytes) std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
  add_busy(t);
  return Status::Ok();
}

Status SimBackend::memcpy_dtoh(void* dst, uint64_t src, uint64_t bytes, uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  SIM_CHECK_RANGE(src, bytes, "source");
  auto t = Clock::now();
  if (bytes) std::memcpy(dst, reinterpret_cast<const void*>(src), bytes);  // dst may be null then
  add_busy(t);
  return Status::Ok();
}

Status SimBackend::memcpy_dtod(uint64_t dst, uint64_t src, uint64_t bytes, uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  SIM_CHECK_RANGE(dst, bytes, "destination");
  SIM_CHECK_RANGE(src, bytes, "source");
  auto t = Clock::now();
  std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
  add_busy(t);
  return Status::Ok();
}

Status SimBackend::memset(uint64_t dst, uint32_t value, uint32_t elem_size, uint64_t count,
                          uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  if (elem_size != 1 && elem_size != 2 && elem_size != 4)
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "memset element size " + std::to_string(elem_size) + " is not 1, 2 or 4");
  if (count > UINT64_MAX / elem_size)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "memset count overflows");
  if (dst % elem_size != 0)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "memset destination is misaligned");
  SIM_CHECK_RANGE(dst, count * elem_size, "memset");
  auto t = Clock::now();
  if (elem_size == 1) {
    std::memset(reinterpret_cast<void*>(dst), static_cast<int>(value & 0xff), count);
  } else if (elem_size == 2) {
    auto* p = reinterpret_cast<uint16_t*>(dst);
    std::fill(p, p + count, static_cast<uint16_t>(value));
  } else {
    auto* p = reinterpret_cast<uint32_t*>(dst);
    std::fill(p, p + count, value);
  }
  add_busy(t);
  return Status::Ok();
}

Status SimBackend::ctx_synchronize() {
  return Status::Ok();
}

Status SimBackend::stream_create(uint64_t stream, uint32_t flags, int32_t priority) {
  if (stream <= 2 || streams_.count(stream))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "stream handle " + std::to_string(stream) + " is already in use");
  streams_.insert(stream);
  return Status::Ok();
}

Status SimBackend::stream_destroy(uint64_t stream) {
  if (!streams_.erase(stream))
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown stream " + std::to_string(stream));
  return Status::Ok();
}

Status SimBackend::stream_synchronize(uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  return Status::Ok();
}

Status SimBackend::stream_query(uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  return Status::Ok();  // work runs to completion when issued
}

Status SimBackend::stream_wait_event(uint64_t stream, uint64_t event, uint32_t flags) {
  SIM_CHECK_STREAM(stream);
  if (!events_.count(event))
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event " + std::to_string(event));
  return Status::Ok();  // the event's work is already done
}

Status SimBackend::event_create(uint64_t event, uint32_t flags) {
  if (events_.count(event))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "event handle " + std::to_string(event) + " is already in use");
  events_[event].flags = flags;
  return Status::Ok();
}

Status SimBackend::event_destroy(uint64_t event) {
  if (!events_.erase(event))
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event " + std::to_string(event));
  return Status::Ok();
}

Status SimBackend::event_record(uint64_t event, uint64_t stream) {
  SIM_CHECK_STREAM(stream);
  auto it = events_.find(event);
  if (it == events_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event " + std::to_string(event));
  it->second.recorded = true;
  it->second.at = Clock::now();
  return Status::Ok();
}

Status SimBackend::event_synchronize(uint64_t event) {
  if (!events_.count(event))
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event " + std::to_string(event));
  return Status::Ok();
}

Status SimBackend::event_query(uint64_t event) {
  return event_synchronize(event);
}

Status SimBackend::event_elapsed(uint64_t start, uint64_t end, float* ms) {
  auto a = events_.find(start), b = events_.find(end);
  if (a == events_.end() || b == events_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  if ((a->second.flags | b->second.flags) & kEventDisableTiming)
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "event was created with timing disabled");
  if (!a->second.recorded || !b->second.recorded)
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "event has not been recorded");
  *ms = std::chrono::duration<float, std::milli>(b->second.at - a->second.at).count();
  return Status::Ok();
}

Status SimBackend::module_load(uint64_t module, const uint8_t* data, uint64_t size) {
  if (modules_.count(module))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "module handle " + std::to_string(module) + " is already in use");
  auto parsed = image::parse_kernels(data, size, 90);
  if (!parsed.ok())
    return Status::Err(CUDA_ERROR_INVALID_IMAGE,
                       "sim cannot read the module image: " + parsed.error());
  auto m = std::make_unique<Module>();
  m->info = std::move(parsed).value();
  for (const auto& g : m->info.globals) {
    uint64_t dptr = 0;
    Status st = map_range(g.size ? g.size : 1, 0, &dptr);
    if (!st.ok()) {
      for (auto& [n, r] : m->globals) unmap(r.first);
      return st;
    }
    if (!g.init.empty())
      std::memcpy(reinterpret_cast<void*>(dptr), g.init.data(),
                  std::min<uint64_t>(g.init.size(), g.size));
    m->globals[g.name] = {dptr, g.size};
  }
  if (exec_ != SimExec::kPlugin) {
    Status st = load_ptx(data, size, m.get());
    if (!st.ok()) {
      for (auto& [n, r] : m->globals) unmap(r.first);
      return st;
    }
  }
  modules_[module] = std::move(m);
  return Status::Ok();
}

Status SimBackend::module_unload(uint64_t module) {
  auto it = modules_.find(module);
  if (it == modules_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module " + std::to_string(module));
  for (auto f = functions_.begin(); f != functions_.end();)
    f = f->second->module == module ? functions_.erase(f) : std::next(f);
  for (auto& [n, r] : it->second->globals) unmap(r.first);
  modules_.erase(it);
  return Status::Ok();
}

Status SimBackend::module_get_function(uint64_t module, uint64_t function, const std::string& name,
                                       FunctionInfo* info) {
  auto it = modules_.find(module);
  if (it == modules_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module " + std::to_string(module));
  if (functions_.count(function))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "function handle " + std::to_string(function) + " is already in use");
  const image::KernelInfo* k = it->second->info.find_kernel(name);
  if (k == nullptr)
    return Status::Err(CUDA_ERROR_NOT_FOUND, "no kernel named " + name + " in the module");
  auto f = std::make_unique<Function>();
  f->module = module;
  f->kernel = k;
  f->host = kernels_ && exec_ != SimExec::kPtx ? kernels_->find(name) : nullptr;
  if (it->second->has_ptx) {
    f->ptx = it->second->ptx.find(name);
    if (f->ptx) {
      f->symbol_addr = &it->second->symbol_addr[name];
      f->ptx_functions = &it->second->ptx.functions;
      f->function_symbol_addr = &it->second->function_symbol_addr;
    }
  }
  info->layout = k->layout;
  info->layout_known = true;
  functions_[function] = std::move(f);
  return Status::Ok();
}

Status SimBackend::module_get_global(uint64_t module, const std::string& name, uint64_t* dptr,
                                     uint64_t* bytes) {
  auto it = modules_.find(module);
  if (it == modules_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module " + std::to_string(module));
  auto g = it->second->globals.find(name);
  if (g == it->second->globals.end())
    return Status::Err(CUDA_ERROR_NOT_FOUND, "no global named " + name + " in the module");
  *dptr = g->second.first;
  *bytes = g->second.second;
  return Status::Ok();
}

Status SimBackend::func_get_attribute(uint64_t function, int32_t attribute, int32_t* value) {
  auto it = functions_.find(function);
  if (it == functions_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function " + std::to_string(function));
  const Function& f = *it->second;
  const image::KernelAttributes& a = f.kernel->attributes;
  switch (attribute) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
      *value = static_cast<int32_t>(a.max_threads.value_or(1024));
      break;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
      *value = static_cast<int32_t>(a.static_shared_bytes.value_or(0));
      break;
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES:
      *value = static_cast<int32_t>(a.const_bytes.value_or(0));
      break;
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
      *value = static_cast<int32_t>(a.local_bytes.value_or(0));
      break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS:
      *value = static_cast<int32_t>(a.num_regs.value_or(32));
      break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION:
      *value = 90;
      break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
      *value = static_cast<int32_t>(a.binary_version.value_or(90));
      break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      *value = f.max_dynamic_shared;
      break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: {
      auto s = f.set_attrs.find(attribute);
      *value = s == f.set_attrs.end() ? -1 : s->second;
      break;
    }
    default: {
      if (attribute < 0 || attribute >= CU_FUNC_ATTRIBUTE_MAX)
        return Status::Err(CUDA_ERROR_INVALID_VALUE,
                           "unknown function attribute " + std::to_string(attribute));
      auto s = f.set_attrs.find(attribute);
      *value = s == f.set_attrs.end() ? 0 : s->second;
    }
  }
  return Status::Ok();
}

Status SimBackend::func_set_attribute(uint64_t function, int32_t attribute, int32_t value) {
  auto it = functions_.find(function);
  if (it == functions_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function " + std::to_string(function));
  Function& f = *it->second;
  const int32_t optin = props_.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  const auto static_smem =
      static_cast<int32_t>(f.kernel->attributes.static_shared_bytes.value_or(0));
  switch (attribute) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      if (value < 0 || value > optin - static_smem)
        return Status::Err(CUDA_ERROR_INVALID_VALUE,
                           "dynamic shared memory " + std::to_string(value) +
                               " exceeds the device's " + std::to_string(optin - static_smem));
      f.max_dynamic_shared = value;
      return Status::Ok();
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      if (value < -1 || value > 100)
        return Status::Err(CUDA_ERROR_INVALID_VALUE, "carveout must be -1..100");
      break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      break;
    default:
      return Status::Err(CUDA_ERROR_INVALID_VALUE,
                         "function attribute " + std::to_string(attribute) + " is read-only");
  }
  f.set_attrs[attribute] = value;
  return Status::Ok();
}

// Launch attributes (cuLaunchKernelEx): what only schedules or hints is accepted (priority,
// access policy, memory sync domains, programmatic serialisation: the sim runs one kernel at a
// time, in order); what the sim cannot honour is refused by name, never ignored: clusters of more
// than one block, cooperative launches (blocks are not all resident at once, so a grid-wide
// barrier would never release).
Status SimBackend::check_launch_attributes(const LaunchConfig& cfg, const std::string& kernel) {
  if (cfg.num_attrs == 0) return Status::Ok();
  std::vector<CUlaunchAttribute> attrs(cfg.num_attrs);
  decode_launch_attrs(cfg.attrs, cfg.num_attrs, attrs.data());
  for (const CUlaunchAttribute& a : attrs) {
    switch (a.id) {
      case CU_LAUNCH_ATTRIBUTE_IGNORE:
      case CU_LAUNCH_ATTRIBUTE_PRIORITY:
      case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
      case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
      case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
        break;
      case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION: {
        const auto& c = a.value.clusterDim;
        if (c.x * c.y * c.z > 1)
          return Status::Err(CUDA_ERROR_NOT_SUPPORTED,
                             "launch of " + kernel + " in clusters of " +
                                 std::to_string(c.x * c.y * c.z) +
                                 " blocks: thread block clusters are not served by the sim");
        break;
      }
      case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
        if (a.value.cooperative)
          return Status::Err(
              CUDA_ERROR_NOT_SUPPORTED,
              "cooperative launch of " + kernel + ": the sim does not run every block at once");
        break;
      default:
        return Status::Err(CUDA_ERROR_NOT_SUPPORTED, "launch of " + kernel +
                                                         " with launch attribute " +
                                                         std::to_string(static_cast<int>(a.id)) +
                                                         ", which the sim does not serve");
    }
  }
  return Status::Ok();
}

Status SimBackend::launch(const LaunchConfig& cfg) {
  SIM_CHECK_STREAM(cfg.stream);
  auto it = functions_.find(cfg.function);
  if (it == functions_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE,
                       "unknown function " + std::to_string(cfg.function));
  const Function& f = *it->second;
  if (cfg.shared_mem > static_cast<uint32_t>(f.max_dynamic_shared))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "launch of " + f.kernel->name + " asks for " +
                           std::to_string(cfg.shared_mem) +
                           " bytes of dynamic shared memory, above its limit of " +
                           std::to_string(f.max_dynamic_shared));
  Status attrs = check_launch_attributes(cfg, f.kernel->name);
  if (!attrs.ok()) return attrs;
  const uint32_t threads = cfg.block[0] * cfg.block[1] * cfg.block[2];
  if (threads > f.kernel->attributes.max_threads.value_or(1024))
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "launch of " + f.kernel->name + " with " + std::to_string(threads) +
                           " threads per block exceeds the kernel's limit");
  if (f.host == nullptr && f.ptx != nullptr) return launch_ptx(f, cfg);
  if (f.host == nullptr) {
    const std::string& why = modules_.at(f.module)->ptx_error;
    const Module& m = *modules_.at(f.module);
    if (exec_ == SimExec::kPlugin || why.empty() || m.ptx_missing)  // nothing to execute
      return Status::Err(CUDA_ERROR_NOT_FOUND,
                         "kernel " + f.kernel->name +
                             " has no host implementation in the sim backend (register one with "
                             "--sim-plugin)" +
                             (why.empty() ? std::string() : " and no PTX to run: " + why));
    const bool unsupported = why.find("not supported") != std::string::npos;
    return Status::Err(
        unsupported ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_PTX,
        "kernel " + f.kernel->name + " has no host twin and its PTX cannot run: " + why);
  }
  std::vector<uint8_t> shared(cfg.shared_mem);
  rgpu_sim_launch l{};
  std::memcpy(l.grid, cfg.grid, sizeof l.grid);
  std::memcpy(l.block, cfg.block, sizeof l.block);
  l.shared_mem_bytes = cfg.shared_mem;
  l.params = cfg.params;
  l.params_size = cfg.param_bytes;
  l.shared_mem = shared.empty() ? nullptr : shared.data();
  auto t = Clock::now();
  // A plugin's kernel that dereferences a bad pointer fails its launch (sticky, as on a GPU)
  // instead of killing the worker (server/backend/fault_guard.h).
  struct Call {
    rgpu_sim_kernel_fn fn;
    const rgpu_sim_launch* launch;
  } call{f.host, &l};
  int rc = 0;
  uintptr_t fault = 0;
  const bool returned = call_catching_faults(
      [](const void* c) {
        auto* k = static_cast<const Call*>(c);
        return k->fn(k->launch);
      },
      &call, &rc, &fault);
  add_busy(t);
  if (!returned) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(fault));
    return Status::Err(CUDA_ERROR_ILLEGAL_ADDRESS,
                       "host kernel " + f.kernel->name + " touched " + addr +
                           ", outside the session's memory (an illegal address: the session's "
                           "context is lost, as on a GPU)");
  }
  if (rc != 0)
    return Status::Err(CUDA_ERROR_LAUNCH_FAILED,
                       "host kernel " + f.kernel->name + " failed with code " + std::to_string(rc));
  return Status::Ok();
}

Status SimBackend::occupancy_max_active_blocks(uint64_t function, int32_t block_size,
                                               uint32_t flags, uint64_t dynamic_smem,
                                               int32_t* blocks) {
  auto it = functions_.find(function);
  if (it == functions_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function " + std::to_string(function));
  const auto& a = it->second->kernel->attributes;
  if (block_size <= 0 || static_cast<uint32_t>(block_size) > a.max_threads.value_or(1024)) {
    *blocks = 0;
    return Status::Ok();
  }
  const int64_t warps = (block_size + 31) / 32;
  int64_t n = props_.attrs[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR];
  n = std::min<int64_t>(
      n, props_.attrs[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR] / (warps * 32));
  const int64_t regs = a.num_regs.value_or(32);
  if (regs > 0)
    n = std::min<int64_t>(n, props_.attrs[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR] /
                                 (regs * warps * 32));
  const int64_t smem = static_cast<int64_t>(dynamic_smem) + a.static_shared_bytes.value_or(0);
  if (smem > 0)
    n = std::min<int64_t>(
        n, props_.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] /
               (smem + props_.attrs[CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK]));
  *blocks = static_cast<int32_t>(std::max<int64_t>(n, 0));
  return Status::Ok();
}

}  // namespace rgpu::server
