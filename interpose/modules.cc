// interpose/modules.cc — see modules.h.
#include "interpose/modules.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "interpose/log.h"
#include "protocol/image/fatbin.h"
#include "protocol/image/image_span.h"
#include "protocol/image/image_zstd.h"
#include "protocol/image/kernel_table.h"
#include "protocol/image_digest.h"

namespace rgpu {
namespace {

struct Registry {
  std::shared_mutex mu;
  std::unordered_map<const void*, std::unique_ptr<Module>> standalone;  // cuModuleLoadData
  std::unordered_map<const void*, std::unique_ptr<Library>> libraries;
  std::unordered_set<const void*> modules;    // every live module (standalone and library's)
  std::unordered_set<const void*> functions;  // every live function
  std::unordered_set<const void*> kernels;
  // Client-side parses by image hash and SM (Module::parsed), so an image is parsed once.
  std::map<std::pair<uint64_t, int>, std::shared_ptr<const image::ModuleInfo>> parsed;
};

// Never destroyed: reachable from this pointer for the life of the process (see modules.h).
Registry& reg() {
  static Registry* r = new Registry();
  return *r;
}

uint64_t hash_bytes(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

constexpr size_t kCompressImageBytes = 4 * 1024;
constexpr uint64_t kLocalLinkNs = 1000000;  // a round trip under 1 ms: a local link

bool compress_images(Device* d) {
  switch (d->lane->compress_mode()) {
    case codec::CompressMode::kOff:
      return false;
    case codec::CompressMode::kOn:
      return true;
    case codec::CompressMode::kAuto:
      break;
  }
  return d->rtt_ns >= kLocalLinkNs;
}

// Sends an image to d's server as module `wire` (bytes only the first time this process sends
// that image to that device).
CUresult send_image(Device* d, uint64_t wire, const uint8_t* data, size_t size, uint64_t hash) {
  Client* c = state();
  std::string key = std::to_string(d->ordinal) + ":" + std::to_string(hash);
  bool sent;
  {
    std::shared_lock<std::shared_mutex> g(c->mu);
    sent = c->images_on_device.count(key) > 0;
  }
  // An image this process has not sent, large enough that its transfer costs more than a round
  // trip: its digest first, in case the provider keeps it from an earlier session (protocol 9).
  const std::string digest = !sent && size >= kImageOfferBytes && d->protocol >= 9 &&
                                     d->image_cache_seen.load(std::memory_order_relaxed)
                                 ? image_sha256(data, size)
                                 : std::string();
  if (digest.size() == 32) {
    op::ModuleLoadCached::Result cres{};
    CUresult r = d->lane->call<op::ModuleLoadCached>(
        {wire, hash}, &cres, reinterpret_cast<const uint8_t*>(digest.data()), digest.size());
    if (r != CUDA_SUCCESS) return r;
    if (cres.no_cache) d->image_cache_seen.store(false, std::memory_order_relaxed);
    if (!cres.image_missing) {
      std::lock_guard<std::shared_mutex> g(c->mu);
      c->images_on_device.insert(key);
      return CUDA_SUCCESS;
    }
  }
  // The bytes, compressed where that wins (protocol 11): a link whose round trip (the kernel's
  // TCP estimate at connect) is 1 ms or more is no local one, and ZSTD compresses an image
  // faster than it crosses such a link; images
  // under 4 KiB, and those nvcc compressed already (ZSTD saves under 10 %), go as they are
  // (RGPU_COMPRESS=off: never; on: on any link).
  std::vector<uint8_t> packed;
  if (!sent && d->protocol >= 11 && size >= kCompressImageBytes && compress_images(d)) {
    packed = image::compress_image(data, size);
    if (!packed.empty()) {
      RGPU_DEBUG("module image of %zu bytes sent as %zu compressed", size, packed.size());
      data = packed.data();
      size = packed.size();
    } else {
      RGPU_DEBUG("module image of %zu bytes sent as it is (ZSTD saves under 10 %%)", size);
    }
  }
  if (!sent && d->protocol >= 10 && size <= Lane::kBatchBytes) {
    // Its bytes travel, so nothing needs an answer: batched (protocol 10). A failed load is told
    // by the module's own lookups (ops.def ModuleLoadDeferred).
    CUresult r = d->lane->enqueue<op::ModuleLoadDeferred>({wire, hash}, data, size);
    if (r != CUDA_SUCCESS) return r;
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->images_on_device.insert(key);
    return CUDA_SUCCESS;
  }
  op::ModuleLoad::Args a{wire, hash};
  op::ModuleLoad::Result res{};
  CUresult r = d->lane->call<op::ModuleLoad>(a, &res, sent ? nullptr : data, sent ? 0 : size);
  if (r == CUDA_SUCCESS && res.image_missing && sent) {
    // The worker does not hold it (ops.def): send the bytes. Any other status, NOT_FOUND
    // included, is the call's own answer (or an earlier async op's error) and is returned.
    res = {};
    r = d->lane->call<op::ModuleLoad>(a, &res, data, size);
  }
  if (r != CUDA_SUCCESS) return r;
  if (res.image_missing) {
    RGPU_ERR("server %s says it lacks a module image that came with its bytes", d->server.c_str());
    return CUDA_ERROR_INVALID_IMAGE;
  }
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->images_on_device.insert(key);
  return CUDA_SUCCESS;
}

// The largest image this process parses for its kernels' layouts (larger: the server answers).
constexpr size_t kMaxParsedImageBytes = 64u << 20;

// Whether the driver's rule lets a device of compute capability major.minor load the image: a
// cubin of the same major version and no newer minor, or PTX for no newer a target (JIT). What
// fails it is left to the server, whose lookup says so at cuModuleGetFunction.
bool loadable_on(const uint8_t* data, size_t size, const image::ModuleInfo& info, int major,
                 int minor) {
  const auto elf_ok = [&](uint32_t sm) {
    return static_cast<int>(sm / 10) == major && static_cast<int>(sm % 10) <= minor;
  };
  const auto ptx_ok = [&](uint32_t sm) { return static_cast<int>(sm) <= major * 10 + minor; };
  if (size >= 4 && data[0] == 0x50 && data[1] == 0xed && data[2] == 0x55 && data[3] == 0xba) {
    auto entries = image::list_fatbin_entries(data, size);
    if (!entries) return false;
    for (const auto& e : entries.value())
      if (e.is_elf() ? elf_ok(e.sm_version) : ptx_ok(e.sm_version)) return true;
    return false;
  }
  if (info.sm_version == 0) return false;  // unknown: ask
  return info.parsed_kind == image::ImageKind::kPtx ? ptx_ok(info.sm_version)
                                                    : elf_ok(info.sm_version);
}

// This process's parse of an image for d (Module::parsed), or null (then its lookups ask).
std::shared_ptr<const image::ModuleInfo> parse_for(Device* d, const uint8_t* data, size_t size,
                                                   uint64_t hash) {
  if (d->protocol < 11 || !state()->client_layout || size > kMaxParsedImageBytes) return nullptr;
  const int sm = d->props.cc_major * 10 + d->props.cc_minor;
  Registry& g = reg();
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    auto it = g.parsed.find({hash, sm});
    if (it != g.parsed.end()) return it->second;
  }
  std::shared_ptr<const image::ModuleInfo> info;
  if (auto r = image::parse_kernels(data, size, sm)) {
    if (loadable_on(data, size, r.value(), d->props.cc_major, d->props.cc_minor))
      info = std::make_shared<const image::ModuleInfo>(std::move(r.value()));
    else
      RGPU_DEBUG("module image has no code for compute %d.%d: its lookups ask the server",
                 d->props.cc_major, d->props.cc_minor);
  } else {
    RGPU_DEBUG("module image not parsed here (%s): its lookups ask the server", r.error().c_str());
  }
  std::lock_guard<std::shared_mutex> lock(g.mu);
  return g.parsed.emplace(std::pair{hash, sm}, std::move(info)).first->second;
}

std::unique_ptr<Module> new_module(Device* d, uint64_t hash, Library* lib, const uint8_t* data,
                                   size_t size) {
  auto m = std::make_unique<Module>();
  m->wire = state()->new_wire();
  m->device = d->ordinal;
  m->image_hash = hash;
  m->library = lib;
  m->parsed = parse_for(d, data, size, hash);
  return m;
}

// Looks `name` up without a round trip when the module's own parse has it (ops.def
// ModuleGetFunctionDeferred): true when sent (*r: how that went), false to ask the server.
bool lookup_deferred(Module* m, Function* f, CUresult* r) {
  if (!m->parsed) return false;
  const image::KernelInfo* k = m->parsed->find_kernel(f->name);
  if (!k || !image::validate_param_layout(k->layout).empty()) return false;
  std::vector<uint8_t> payload(f->name.begin(), f->name.end());
  payload.push_back(0);
  image::encode_param_layout(k->layout, &payload);
  if (payload.size() > kMaxNameBytes) return false;
  Device* d = device_of(m);
  // Another thread's batched work (the module's load) goes out first: once enqueued, this lane's
  // batch may be sent at any moment (the flusher's deadline, a full batch).
  *r = d->lane->flush();
  if (*r != CUDA_SUCCESS) return true;
  *r = d->lane->enqueue<op::ModuleGetFunctionDeferred>({m->wire, f->wire}, payload.data(),
                                                       payload.size());
  // On the wire before any thread can launch with the handle.
  if (*r == CUDA_SUCCESS) *r = d->lane->flush();
  if (*r == CUDA_SUCCESS) {
    // As the server's answer would decode (param_layout.h): the packed size is the end of the
    // last parameter, whatever constant-bank size the image states.
    f->layout = k->layout;
    f->layout.param_bytes = 0;
    for (const auto& p : f->layout.params)
      f->layout.param_bytes = std::max(f->layout.param_bytes, p.offset + p.size);
  }
  return true;
}

// Tells the server; the caller has already taken the module and its functions out of the
// registry's sets.
void unload_on_server(const Module& m) {
  op::ModuleUnload::Args a{m.wire};
  device_of(&m)->lane->enqueue<op::ModuleUnload>(a);
}

// Removes a module's handles from the sets (registry lock held).
void forget_module(Registry& r, Module& m) {
  r.modules.erase(&m);
  for (auto& [name, f] : m.functions) r.functions.erase(f.get());
}

Device* device_at(int ordinal) {
  return state()->devices[static_cast<size_t>(ordinal)].get();
}

}  // namespace

std::shared_mutex& modules_mutex() {
  return reg().mu;
}

Device* device_of(const Module* m) {
  return device_at(m->device);
}

CUresult device_for_module_call(Device** d) {
  CUresult r = current_device(d);
  if (r != CUDA_ERROR_INVALID_CONTEXT) return r;
  Client* c = state();
  if (!c) return check_init();
  *d = c->devices[0].get();
  return CUDA_SUCCESS;
}

CUresult load_module(const void* code, Device* d, Module** out) {
  if (!code) return CUDA_ERROR_INVALID_VALUE;
  auto span = image::locate_image(code);
  if (!span) {
    RGPU_WARN("module image at %p is not a fatbin, cubin or PTX", code);
    return CUDA_ERROR_INVALID_IMAGE;
  }
  auto m = new_module(d, hash_bytes(span->data, span->size), nullptr, span->data, span->size);
  CUresult r = send_image(d, m->wire, span->data, span->size, m->image_hash);
  if (r != CUDA_SUCCESS) return r;
  Registry& g = reg();
  std::lock_guard<std::shared_mutex> lock(g.mu);
  *out = m.get();
  g.modules.insert(m.get());
  g.standalone.emplace(m.get(), std::move(m));
  return CUDA_SUCCESS;
}

CUresult load_library(const void* code, bool preserved, Device* d, Library** out) {
  if (!code) return CUDA_ERROR_INVALID_VALUE;
  auto span = image::locate_image(code);
  if (!span) {
    RGPU_WARN("library image at %p is not a fatbin, cubin or PTX", code);
    return CUDA_ERROR_INVALID_IMAGE;
  }
  auto lib = std::make_unique<Library>();
  if (preserved) {
    lib->image = span->data;
  } else {  // the caller may free its bytes; other devices may load the image later
    lib->copy.assign(span->data, span->data + span->size);
    lib->image = lib->copy.data();
  }
  lib->image_size = span->size;
  lib->image_hash = hash_bytes(span->data, span->size);
  lib->home_device = d->ordinal;
  lib->on_device.resize(state()->devices.size());
  auto m = new_module(d, lib->image_hash, lib.get(), lib->image, lib->image_size);
  CUresult r = send_image(d, m->wire, lib->image, lib->image_size, lib->image_hash);
  if (r != CUDA_SUCCESS) return r;
  Registry& g = reg();
  std::lock_guard<std::shared_mutex> lock(g.mu);
  g.modules.insert(m.get());
  lib->on_device[static_cast<size_t>(d->ordinal)] = std::move(m);
  *out = lib.get();
  g.libraries.emplace(lib.get(), std::move(lib));
  return CUDA_SUCCESS;
}

CUresult unload_module(const void* h) {
  Client* c = state();
  if (!c) return check_init();
  Registry& g = reg();
  std::unique_ptr<Module> m;
  {
    std::lock_guard<std::shared_mutex> lock(g.mu);
    auto it = g.standalone.find(h);
    if (it == g.standalone.end()) return CUDA_ERROR_INVALID_HANDLE;  // unknown or a library's
    m = std::move(it->second);
    g.standalone.erase(it);
    forget_module(g, *m);
  }
  unload_on_server(*m);
  return CUDA_SUCCESS;
}

CUresult unload_library(const void* h) {
  Client* c = state();
  if (!c) return check_init();
  Registry& g = reg();
  std::unique_ptr<Library> lib;
  {
    std::lock_guard<std::shared_mutex> lock(g.mu);
    auto it = g.libraries.find(h);
    if (it == g.libraries.end()) return CUDA_ERROR_INVALID_HANDLE;
    lib = std::move(it->second);
    g.libraries.erase(it);
    for (auto& [name, k] : lib->kernels) g.kernels.erase(k.get());
    for (auto& m : lib->on_device)
      if (m) forget_module(g, *m);
  }
  for (auto& m : lib->on_device)
    if (m) unload_on_server(*m);
  return CUDA_SUCCESS;
}

CUresult module_of(const void* h, Module** out) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> lock(reg().mu);
  if (!h || !reg().modules.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = static_cast<Module*>(const_cast<void*>(h));
  return CUDA_SUCCESS;
}

CUresult library_of(const void* h, Library** out) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> lock(reg().mu);
  if (!h || !reg().libraries.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = static_cast<Library*>(const_cast<void*>(h));
  return CUDA_SUCCESS;
}

CUresult kernel_of(const void* h, Kernel** out) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> lock(reg().mu);
  if (!h || !reg().kernels.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = static_cast<Kernel*>(const_cast<void*>(h));
  return CUDA_SUCCESS;
}

CUresult library_module(Library* lib, Device* d, Module** out) {
  Registry& g = reg();
  const auto dev = static_cast<size_t>(d->ordinal);
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    if (!g.libraries.count(lib)) return CUDA_ERROR_INVALID_HANDLE;
    if (Module* m = lib->on_device[dev].get()) {
      *out = m;
      return CUDA_SUCCESS;
    }
  }
  // First use on this device: load the image there. The library stays valid unless the
  // application unloads it concurrently, which is checked again below.
  auto m = new_module(d, lib->image_hash, lib, lib->image, lib->image_size);
  CUresult r = send_image(d, m->wire, lib->image, lib->image_size, lib->image_hash);
  if (r != CUDA_SUCCESS) return r;
  std::unique_ptr<Module> loser;
  {
    std::lock_guard<std::shared_mutex> lock(g.mu);
    if (!g.libraries.count(lib)) {
      loser = std::move(m);
      r = CUDA_ERROR_INVALID_HANDLE;
    } else if (lib->on_device[dev]) {  // another thread got there first
      loser = std::move(m);
      *out = lib->on_device[dev].get();
    } else {
      g.modules.insert(m.get());
      *out = m.get();
      lib->on_device[dev] = std::move(m);
    }
  }
  if (loser) unload_on_server(*loser);
  return r;
}

CUresult get_function(Module* m, const char* name, Function** out) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Registry& g = reg();
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    auto it = m->functions.find(name);
    if (it != m->functions.end()) {
      *out = it->second.get();
      return CUDA_SUCCESS;
    }
  }
  auto f = std::make_unique<Function>();
  f->wire = state()->new_wire();
  f->module = m;
  f->name = name;
  CUresult r;
  if (!lookup_deferred(m, f.get(), &r)) {
    op::ModuleGetFunction::Args a{m->wire, f->wire};
    std::vector<uint8_t> layout;
    r = device_of(m)->lane->call<op::ModuleGetFunction>(a, nullptr, name, strlen(name) + 1, nullptr,
                                                        0, &layout);
    if (r != CUDA_SUCCESS) return r;
    auto decoded = image::decode_param_layout(layout.data(), layout.size());
    if (!decoded) {
      RGPU_ERR("server sent a bad parameter layout for %s: %s", name, decoded.error().c_str());
      return CUDA_ERROR_INVALID_IMAGE;
    }
    f->layout = std::move(decoded.value());
  }
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> lock(g.mu);
  if (!g.modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;  // unloaded meanwhile
  auto [it, inserted] = m->functions.emplace(f->name, std::move(f));
  if (inserted) g.functions.insert(it->second.get());
  *out = it->second.get();  // when not inserted, another thread got there first
  return CUDA_SUCCESS;
}

CUresult get_kernel(Library* lib, const char* name, Kernel** out) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Registry& g = reg();
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    if (!g.libraries.count(lib)) return CUDA_ERROR_INVALID_HANDLE;
    auto it = lib->kernels.find(name);
    if (it != lib->kernels.end()) {
      *out = it->second.get();
      return CUDA_SUCCESS;
    }
  }
  // The name is checked (and its layout fetched) on the library's home device.
  Module* m = nullptr;
  CUresult r = library_module(lib, device_at(lib->home_device), &m);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = get_function(m, name, &f);
  if (r != CUDA_SUCCESS) return r;
  auto k = std::make_unique<Kernel>();
  k->library = lib;
  k->name = name;
  k->on_device.assign(lib->on_device.size(), nullptr);
  k->on_device[static_cast<size_t>(lib->home_device)] = f;
  std::lock_guard<std::shared_mutex> lock(g.mu);
  if (!g.libraries.count(lib)) return CUDA_ERROR_INVALID_HANDLE;
  auto [it, inserted] = lib->kernels.emplace(k->name, std::move(k));
  if (inserted) g.kernels.insert(it->second.get());
  *out = it->second.get();
  return CUDA_SUCCESS;
}

CUresult function_on(const void* h, Device* d, Function** out) {
  Client* c = state();
  if (!c) return check_init();
  if (!d) {
    Device* cur = nullptr;
    if (current_device(&cur) == CUDA_SUCCESS) d = cur;
  }
  Registry& g = reg();
  Kernel* k = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    if (h && g.kernels.count(h)) {
      k = static_cast<Kernel*>(const_cast<void*>(h));
      if (!d) d = device_at(k->library->home_device);
      if (Function* f = k->on_device[static_cast<size_t>(d->ordinal)]) {
        *out = f;
        return CUDA_SUCCESS;
      }
    } else if (h && g.functions.count(h)) {
      *out = static_cast<Function*>(const_cast<void*>(h));
      return CUDA_SUCCESS;
    } else {
      return CUDA_ERROR_INVALID_HANDLE;
    }
  }
  // A kernel's first use on d: load its library there and look the function up.
  Library* lib = k->library;
  Module* m = nullptr;
  CUresult r = library_module(lib, d, &m);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = get_function(m, k->name.c_str(), &f);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> lock(g.mu);
  if (!g.kernels.count(k)) return CUDA_ERROR_INVALID_HANDLE;  // unloaded meanwhile
  k->on_device[static_cast<size_t>(d->ordinal)] = f;
  *out = f;
  return CUDA_SUCCESS;
}

CUresult function_attribute(Function* f, CUfunction_attribute attrib, int* pi) {
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  Registry& g = reg();
  {
    std::shared_lock<std::shared_mutex> lock(g.mu);
    auto it = f->attrs.find(attrib);
    if (it != f->attrs.end()) {
      *pi = it->second;
      return CUDA_SUCCESS;
    }
  }
  op::FuncGetAttribute::Args a{f->wire, static_cast<int32_t>(attrib), 0};
  op::FuncGetAttribute::Result res{};
  CUresult r = device_of(f->module)->lane->call<op::FuncGetAttribute>(a, &res);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::shared_mutex> lock(g.mu);
  f->attrs[attrib] = res.value;
  *pi = res.value;
  return CUDA_SUCCESS;
}

CUresult set_function_attribute(Function* f, CUfunction_attribute attrib, int value) {
  op::FuncSetAttribute::Args a{f->wire, static_cast<int32_t>(attrib), value};
  CUresult r = device_of(f->module)->lane->enqueue<op::FuncSetAttribute>(a);
  if (r == CUDA_SUCCESS) {
    std::lock_guard<std::shared_mutex> lock(reg().mu);
    f->attrs[attrib] = value;
  }
  return r;
}

}  // namespace rgpu
