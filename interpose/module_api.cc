// interpose/module_api.cc — modules, libraries, kernels/functions, launches, occupancy.
//
// Images: locate_image() (protocol/image) finds the bytes to ship for a fatbin wrapper/header,
// raw ELF cubin or PTX. Each image goes to a device's server once per process, keyed by its
// hash (ModuleLoad with the bytes the first time, with no payload afterwards). A CUlibrary is a
// module; a CUkernel is the same object as its CUfunction, so either is accepted anywhere.
// Kernel parameter layouts come from ModuleGetFunction's reply and are cached per function;
// launches pack kernelParams (or the `extra` buffer) with that layout and go out async.
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"
#include "protocol/image/image_span.h"

namespace rgpu::api {
namespace {

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

CUresult load_module(const void* code, Module** out) {
  Device* d = nullptr;
  CUresult r = current_device(&d);
  if (r == CUDA_ERROR_INVALID_CONTEXT) {
    // Libraries are context-independent: without a current context use device 0.
    Client* c = state();
    if (!c) return check_init();
    d = c->devices[0].get();
  } else if (r != CUDA_SUCCESS) {
    return r;
  }
  if (!code) return CUDA_ERROR_INVALID_VALUE;
  auto span = image::locate_image(code);
  if (!span) {
    RGPU_WARN("module image at %p is not a fatbin, cubin or PTX", code);
    return CUDA_ERROR_INVALID_IMAGE;
  }
  Client* c = state();
  auto* m = new Module();
  m->wire = c->new_wire();
  m->device = d->ordinal;
  m->image_hash = hash_bytes(span->data, span->size);
  std::string key = std::to_string(d->ordinal) + ":" + std::to_string(m->image_hash);
  bool sent;
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    sent = c->images_on_device.count(key) > 0;
  }
  op::ModuleLoad::Args a{m->wire, m->image_hash};
  r = d->lane->call<op::ModuleLoad>(a, nullptr, sent ? nullptr : span->data, sent ? 0 : span->size);
  if (sent && r == CUDA_ERROR_NOT_FOUND)  // the worker no longer holds it: send the bytes
    r = d->lane->call<op::ModuleLoad>(a, nullptr, span->data, span->size);
  if (r != CUDA_SUCCESS) {
    delete m;
    return r;
  }
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->images_on_device.insert(key);
  c->modules.insert(m);
  *out = m;
  return CUDA_SUCCESS;
}

CUresult module_of(const void* h, Module** out) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!h || !c->modules.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = static_cast<Module*>(const_cast<void*>(h));
  return CUDA_SUCCESS;
}

CUresult library_of(CUlibrary h, Module** out) {
  Client* c = state();
  if (!c) return check_init();
  std::lock_guard<std::shared_mutex> g(c->mu);
  if (!h || !c->libraries.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = reinterpret_cast<Library*>(h)->module;
  return CUDA_SUCCESS;
}

CUresult function_of(const void* h, Function** out) {
  Client* c = state();
  if (!c) return check_init();
  std::shared_lock<std::shared_mutex> g(c->mu);
  if (!h || !c->functions.count(h)) return CUDA_ERROR_INVALID_HANDLE;
  *out = static_cast<Function*>(const_cast<void*>(h));
  return CUDA_SUCCESS;
}

Device* device_of(const Module* m) {
  return state()->devices[static_cast<size_t>(m->device)].get();
}

CUresult get_function(Module* m, const char* name, Function** out) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    auto it = m->functions.find(name);
    if (it != m->functions.end()) {
      *out = it->second;
      return CUDA_SUCCESS;
    }
  }
  auto* f = new Function();
  f->wire = c->new_wire();
  f->module = m;
  f->name = name;
  op::ModuleGetFunction::Args a{m->wire, f->wire};
  std::vector<uint8_t> layout;
  CUresult r = device_of(m)->lane->call<op::ModuleGetFunction>(a, nullptr, name, strlen(name) + 1,
                                                               nullptr, 0, &layout);
  if (r != CUDA_SUCCESS) {
    delete f;
    return r;
  }
  auto decoded = image::decode_param_layout(layout.data(), layout.size());
  if (!decoded) {
    RGPU_ERR("server sent a bad parameter layout for %s: %s", name, decoded.error().c_str());
    delete f;
    return CUDA_ERROR_INVALID_IMAGE;
  }
  f->layout = std::move(decoded.value());
  std::lock_guard<std::shared_mutex> g(c->mu);
  auto [it, inserted] = m->functions.emplace(f->name, f);
  if (!inserted) {  // another thread got there first
    delete f;
    *out = it->second;
    return CUDA_SUCCESS;
  }
  c->functions.insert(f);
  *out = f;
  return CUDA_SUCCESS;
}

void unload(Module* m) {
  Client* c = state();
  {
    std::lock_guard<std::shared_mutex> g(c->mu);
    c->modules.erase(m);
    for (auto& [name, f] : m->functions) c->functions.erase(f);
  }
  op::ModuleUnload::Args a{m->wire};
  device_of(m)->lane->enqueue<op::ModuleUnload>(a);
  // Function objects stay allocated: a stale handle fails the validity check.
}

CUresult func_attr(int* pi, CUfunction_attribute attrib, Function* f) {
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  {
    std::lock_guard<std::shared_mutex> g(state()->mu);
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
  std::lock_guard<std::shared_mutex> g(state()->mu);
  f->attrs[attrib] = res.value;
  *pi = res.value;
  return CUDA_SUCCESS;
}

CUresult func_set_attr(Function* f, CUfunction_attribute attrib, int value) {
  op::FuncSetAttribute::Args a{f->wire, static_cast<int32_t>(attrib), value};
  CUresult r = device_of(f->module)->lane->enqueue<op::FuncSetAttribute>(a);
  if (r == CUDA_SUCCESS) {
    std::lock_guard<std::shared_mutex> g(state()->mu);
    f->attrs[attrib] = value;
  }
  return r;
}

CUresult param_info(Function* f, size_t index, size_t* offset, size_t* size) {
  if (!offset) return CUDA_ERROR_INVALID_VALUE;
  if (index >= f->layout.params.size()) return CUDA_ERROR_INVALID_VALUE;
  *offset = f->layout.params[index].offset;
  if (size) *size = f->layout.params[index].size;
  return CUDA_SUCCESS;
}

struct LaunchDims {
  uint32_t grid[3], block[3], shmem;
};

// Checks launch geometry against the device's limits, as the driver does before launching:
// CUDA_ERROR_INVALID_VALUE for a zero or oversized dimension, too many threads per block or too
// much dynamic shared memory (cudart maps it one to one; tests/e2e/errors.cu).
CUresult check_geometry(const Device& d, const LaunchDims& dims) {
  const int* at = d.props.attrs;
  const int grid_max[3] = {at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X],
                           at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y],
                           at[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]};
  const int block_max[3] = {at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X],
                            at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y],
                            at[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z]};
  uint64_t threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (dims.grid[i] == 0 || dims.block[i] == 0) return CUDA_ERROR_INVALID_VALUE;
    if (grid_max[i] > 0 && dims.grid[i] > static_cast<uint32_t>(grid_max[i]))
      return CUDA_ERROR_INVALID_VALUE;
    if (block_max[i] > 0 && dims.block[i] > static_cast<uint32_t>(block_max[i]))
      return CUDA_ERROR_INVALID_VALUE;
    threads *= dims.block[i];
  }
  const int max_threads = at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  if (max_threads > 0 && threads > static_cast<uint64_t>(max_threads))
    return CUDA_ERROR_INVALID_VALUE;
  const int max_smem = at[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  if (max_smem > 0 && dims.shmem > static_cast<uint32_t>(max_smem)) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

// What the batch record's payload is made of; packed in place by pack_launch (no allocation).
struct LaunchPayload {
  const image::ParamLayout* layout = nullptr;
  void** params = nullptr;
  const void* buf = nullptr;  // `extra` buffer
  size_t buf_size = 0;
  const CUlaunchAttribute* attrs = nullptr;
  unsigned num_attrs = 0;
};

void pack_launch(const void* ctx, uint8_t* dst) {
  const auto& p = *static_cast<const LaunchPayload*>(ctx);
  size_t at = 0;
  if (p.buf) {
    memcpy(dst, p.buf, p.buf_size);
    at = p.buf_size;
  } else {
    const image::ParamLayout& L = *p.layout;
    memset(dst, 0, L.param_bytes);
    for (size_t i = 0; i < L.params.size(); ++i)
      memcpy(dst + L.params[i].offset, p.params[i], L.params[i].size);
    at = L.param_bytes;
  }
  for (unsigned i = 0; i < p.num_attrs; ++i) {
    uint8_t* rec = dst + at + i * 72;
    memset(rec, 0, 72);
    uint32_t id = static_cast<uint32_t>(p.attrs[i].id);
    memcpy(rec, &id, 4);
    memcpy(rec + 8, &p.attrs[i].value, 64);
  }
}

// Packs the parameters (and launch attributes) straight into the batch and enqueues the launch.
CUresult launch(Function* f, const LaunchDims& dims, CUstream s, bool pt, void** params,
                void** extra, const CUlaunchAttribute* attrs, unsigned num_attrs) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (d != device_of(f->module)) return CUDA_ERROR_INVALID_HANDLE;
  r = check_geometry(*d, dims);
  if (r != CUDA_SUCCESS) return r;
  if (params && extra) return CUDA_ERROR_INVALID_VALUE;
  LaunchPayload lp;
  lp.attrs = attrs;
  lp.num_attrs = num_attrs;
  size_t param_bytes = 0;
  if (extra) {
    bool have_size = false;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
        lp.buf = extra[i + 1];
      } else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
        if (!extra[i + 1]) return CUDA_ERROR_INVALID_VALUE;
        lp.buf_size = *static_cast<size_t*>(extra[i + 1]);
        have_size = true;
      } else {
        return CUDA_ERROR_INVALID_VALUE;
      }
    }
    if (!lp.buf || !have_size || lp.buf_size > image::kMaxParamSpace)
      return CUDA_ERROR_INVALID_VALUE;
    param_bytes = lp.buf_size;
  } else {
    const image::ParamLayout& L = f->layout;
    if (!L.params.empty() && !params) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < L.params.size(); ++i)
      if (!params[i]) return CUDA_ERROR_INVALID_VALUE;
    lp.layout = &L;
    lp.params = params;
    param_bytes = L.param_bytes;
  }
  op::LaunchKernel::Args a{};
  a.function = f->wire;
  memcpy(a.grid, dims.grid, sizeof a.grid);
  memcpy(a.block, dims.block, sizeof a.block);
  a.shared_mem = dims.shmem;
  a.num_attrs = num_attrs;
  a.stream = wire;
  a.param_bytes = static_cast<uint32_t>(param_bytes);
  return d->lane->enqueue_fill<op::LaunchKernel>(a, param_bytes + size_t{num_attrs} * 72,
                                                 pack_launch, &lp);
}

CUresult launch_ex(const CUlaunchConfig* config, CUfunction f, void** params, void** extra,
                   bool pt) {
  if (!config) return CUDA_ERROR_INVALID_VALUE;
  Function* fn = nullptr;
  CUresult r = function_of(f, &fn);
  if (r != CUDA_SUCCESS) return r;
  if (config->numAttrs && !config->attrs) return CUDA_ERROR_INVALID_VALUE;
  LaunchDims dims{{config->gridDimX, config->gridDimY, config->gridDimZ},
                  {config->blockDimX, config->blockDimY, config->blockDimZ},
                  config->sharedMemBytes};
  return launch(fn, dims, config->hStream, pt, params, extra, config->attrs, config->numAttrs);
}

CUresult launch_plain(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                      unsigned bz, unsigned shmem, CUstream s, void** params, void** extra,
                      bool pt) {
  Function* fn = nullptr;
  CUresult r = function_of(f, &fn);
  if (r != CUDA_SUCCESS) return r;
  LaunchDims dims{{gx, gy, gz}, {bx, by, bz}, shmem};
  return launch(fn, dims, s, pt, params, extra, nullptr, 0);
}

CUresult occupancy(int* numBlocks, CUfunction func, int blockSize, size_t smem, unsigned flags) {
  if (!numBlocks || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_of(func, &f);
  if (r != CUDA_SUCCESS) return r;
  op::OccupancyMaxActiveBlocks::Args a{f->wire, blockSize, flags, smem};
  op::OccupancyMaxActiveBlocks::Result res{};
  r = device_of(f->module)->lane->call<op::OccupancyMaxActiveBlocks>(a, &res);
  if (r == CUDA_SUCCESS) *numBlocks = res.blocks;
  return r;
}

}  // namespace

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  if (!module) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = load_module(image, &m);
  if (r == CUDA_SUCCESS) *module = reinterpret_cast<CUmodule>(m);
  return r;
}

CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int numOptions,
                            CUjit_option* options, void** optionValues) {
  if (numOptions && !options) return CUDA_ERROR_INVALID_VALUE;
  return api::cuModuleLoadData(module, image);  // JIT options are the server driver's business
}

CUresult cuModuleLoadFatBinary(CUmodule* module, const void* fatCubin) {
  return api::cuModuleLoadData(module, fatCubin);
}

CUresult cuModuleUnload(CUmodule hmod) {
  Module* m = nullptr;
  CUresult r = module_of(hmod, &m);
  if (r != CUDA_SUCCESS) return r;
  if (m->owned_by_library) return CUDA_ERROR_INVALID_HANDLE;
  unload(m);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
  if (!hfunc) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = module_of(hmod, &m);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = get_function(m, name, &f);
  if (r == CUDA_SUCCESS) *hfunc = reinterpret_cast<CUfunction>(f);
  return r;
}

CUresult cuModuleGetGlobal_v2(CUdeviceptr_v2* dptr, size_t* bytes, CUmodule hmod,
                              const char* name) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = module_of(hmod, &m);
  if (r != CUDA_SUCCESS) return r;
  op::ModuleGetGlobal::Args a{m->wire};
  op::ModuleGetGlobal::Result res{};
  r = device_of(m)->lane->call<op::ModuleGetGlobal>(a, &res, name, strlen(name) + 1);
  if (r != CUDA_SUCCESS) return r;
  if (dptr) *dptr = res.dptr;
  if (bytes) *bytes = res.bytes;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode* mode) {
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  *mode = CU_MODULE_LAZY_LOADING;
  return CUDA_SUCCESS;
}

CUresult cuLibraryLoadData(CUlibrary* library, const void* code, CUjit_option* jitOptions,
                           void** jitOptionsValues, unsigned int numJitOptions,
                           CUlibraryOption* libraryOptions, void** libraryOptionValues,
                           unsigned int numLibraryOptions) {
  // cuBLASLt passes numLibraryOptions=1 with NULL values: options are hints, never read here.
  if (!library) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = load_module(code, &m);
  if (r != CUDA_SUCCESS) return r;
  m->owned_by_library = true;
  auto* lib = new Library{m};
  Client* c = state();
  std::lock_guard<std::shared_mutex> g(c->mu);
  c->libraries.insert(lib);
  *library = reinterpret_cast<CUlibrary>(lib);
  return CUDA_SUCCESS;
}

CUresult cuLibraryUnload(CUlibrary library) {
  Module* m = nullptr;
  CUresult r = library_of(library, &m);
  if (r != CUDA_SUCCESS) return r;
  {
    std::lock_guard<std::shared_mutex> g(state()->mu);
    state()->libraries.erase(library);
  }
  unload(m);
  return CUDA_SUCCESS;
}

CUresult cuLibraryGetKernel(CUkernel* pKernel, CUlibrary library, const char* name) {
  if (!pKernel) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = library_of(library, &m);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = get_function(m, name, &f);
  if (r == CUDA_SUCCESS) *pKernel = reinterpret_cast<CUkernel>(f);
  return r;
}

CUresult cuLibraryGetModule(CUmodule* pMod, CUlibrary library) {
  if (!pMod) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = library_of(library, &m);
  if (r == CUDA_SUCCESS) *pMod = reinterpret_cast<CUmodule>(m);
  return r;
}

CUresult cuLibraryGetGlobal(CUdeviceptr* dptr, size_t* bytes, CUlibrary library, const char* name) {
  Module* m = nullptr;
  CUresult r = library_of(library, &m);
  if (r != CUDA_SUCCESS) return r;
  return api::cuModuleGetGlobal_v2(dptr, bytes, reinterpret_cast<CUmodule>(m), name);
}

CUresult cuKernelGetFunction(CUfunction* pFunc, CUkernel kernel) {
  if (!pFunc) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_of(kernel, &f);
  if (r == CUDA_SUCCESS) *pFunc = reinterpret_cast<CUfunction>(f);
  return r;
}

CUresult cuKernelGetAttribute(int* pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev) {
  Function* f = nullptr;
  CUresult r = function_of(kernel, &f);
  if (r != CUDA_SUCCESS) return r;
  return func_attr(pi, attrib, f);
}

CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev) {
  Function* f = nullptr;
  CUresult r = function_of(kernel, &f);
  if (r != CUDA_SUCCESS) return r;
  return func_set_attr(f, attrib, val);
}

CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t* paramOffset,
                              size_t* paramSize) {
  Function* f = nullptr;
  CUresult r = function_of(kernel, &f);
  if (r != CUDA_SUCCESS) return r;
  return param_info(f, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t* paramOffset,
                            size_t* paramSize) {
  Function* f = nullptr;
  CUresult r = function_of(func, &f);
  if (r != CUDA_SUCCESS) return r;
  return param_info(f, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, CUfunction hfunc) {
  Function* f = nullptr;
  CUresult r = function_of(hfunc, &f);
  if (r != CUDA_SUCCESS) return r;
  return func_attr(pi, attrib, f);
}

CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  Function* f = nullptr;
  CUresult r = function_of(hfunc, &f);
  if (r != CUDA_SUCCESS) return r;
  return func_set_attr(f, attrib, value);
}

CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
  Function* f = nullptr;
  return function_of(hfunc, &f);  // a hint; the remote driver chooses
}

CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev) {
  Function* f = nullptr;
  return function_of(kernel, &f);
}

CUresult cuKernelGetName(const char** name, CUkernel hfunc) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_of(hfunc, &f);
  if (r == CUDA_SUCCESS) *name = f->name.c_str();
  return r;
}

CUresult cuFuncGetName(const char** name, CUfunction hfunc) {
  return api::cuKernelGetName(name, reinterpret_cast<CUkernel>(hfunc));
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                        CUstream s, void** kernelParams, void** extra) {
  return launch_plain(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, extra, false);
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                             unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                             CUstream s, void** kernelParams, void** extra) {
  return launch_plain(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, extra, true);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                          void** extra) {
  return launch_ex(config, f, kernelParams, extra, false);
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                               void** extra) {
  return launch_ex(config, f, kernelParams, extra, true);
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int* numBlocks, CUfunction func, int blockSize,
                                                     size_t dynamicSMemSize) {
  return occupancy(numBlocks, func, blockSize, dynamicSMemSize, 0);
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* numBlocks, CUfunction func,
                                                              int blockSize, size_t dynamicSMemSize,
                                                              unsigned int flags) {
  return occupancy(numBlocks, func, blockSize, dynamicSMemSize, flags);
}

CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t* dynamicSmemSize, CUfunction func,
                                                 int numBlocks, int blockSize) {
  if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_of(func, &f);
  if (r != CUDA_SUCCESS) return r;
  Device* d = device_of(f->module);
  int static_smem = 0;
  r = func_attr(&static_smem, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f);
  if (r != CUDA_SUCCESS) return r;
  long per_sm = d->props.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR];
  long per_block = d->props.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  long avail = per_sm / numBlocks - static_smem;
  if (per_block > 0 && avail > per_block - static_smem) avail = per_block - static_smem;
  *dynamicSmemSize = avail > 0 ? static_cast<size_t>(avail) : 0;
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveClusters(int* numClusters, CUfunction func,
                                      const CUlaunchConfig* config) {
  if (!numClusters || !config) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_of(func, &f);
  if (r != CUDA_SUCCESS) return r;
  unsigned cluster = 1;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      const auto& v = config->attrs[i].value.clusterDim;
      cluster = v.x * v.y * v.z;
    }
  }
  unsigned threads = config->blockDimX * config->blockDimY * config->blockDimZ;
  int blocks = 0;
  r = occupancy(&blocks, func, static_cast<int>(threads), config->sharedMemBytes, 0);
  if (r != CUDA_SUCCESS) return r;
  int sms = device_of(f->module)->props.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
  *numClusters = cluster ? static_cast<int>(static_cast<long>(blocks) * sms / cluster) : 0;
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
