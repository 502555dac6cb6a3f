// interpose/module_api.cc — the module, library, kernel and function entry points.
//
// The objects, their ownership and per-device loading are in modules.h. Module calls that name
// no device use the current context's device, else device 0 (libraries and kernels need no
// context). A CUkernel is accepted wherever a CUfunction is and resolves to its function on that
// device; cuKernelGetFunction hands that function out as a CUfunction of its own. Kernel
// parameter layouts come with each function (ModuleGetFunction's reply).
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/kernel_attrs.h"
#include "interpose/modules.h"

namespace rgpu::api {
namespace {

CUresult param_info(Function* f, size_t index, size_t* offset, size_t* size) {
  if (!offset) return CUDA_ERROR_INVALID_VALUE;
  if (index >= f->layout.params.size()) return CUDA_ERROR_INVALID_VALUE;
  *offset = f->layout.params[index].offset;
  if (size) *size = f->layout.params[index].size;
  return CUDA_SUCCESS;
}

// cuKernel* calls name a device ordinal; it must be one of ours.
CUresult device_by_ordinal(CUdevice dev, Device** out) {
  Client* c = state();
  if (!c) return check_init();
  if (dev < 0 || static_cast<size_t>(dev) >= c->devices.size()) return CUDA_ERROR_INVALID_DEVICE;
  *out = c->devices[static_cast<size_t>(dev)].get();
  return CUDA_SUCCESS;
}

// The library's module on the device module calls address (modules.h).
CUresult library_module_here(CUlibrary library, Module** out) {
  Library* lib = nullptr;
  CUresult r = library_of(library, &lib);
  if (r != CUDA_SUCCESS) return r;
  Device* d = nullptr;
  r = device_for_module_call(&d);
  if (r != CUDA_SUCCESS) return r;
  return library_module(lib, d, out);
}

bool binary_preserved(const CUlibraryOption* opts, void* const* values, unsigned n) {
  if (!opts || !values) return false;  // cuBLASLt passes one option with no values
  for (unsigned i = 0; i < n; ++i)
    if (opts[i] == CU_LIBRARY_BINARY_IS_PRESERVED && values[i] != nullptr) return true;
  return false;
}

// From the image when it says (kernel_attrs.h), else from the server (cached, modules.h).
CUresult attribute_of(Function* f, CUfunction_attribute attrib, int* pi) {
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  if (local_function_attribute(f, attrib, pi) == CUDA_SUCCESS) return CUDA_SUCCESS;
  return function_attribute(f, attrib, pi);
}

}  // namespace

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  if (!module) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = device_for_module_call(&d);
  if (r != CUDA_SUCCESS) return r;
  Module* m = nullptr;
  r = load_module(image, d, &m);
  if (r != CUDA_SUCCESS) return r;
  remember_module_image(m, image);  // the caller may free the bytes (kernel_attrs.h)
  *module = reinterpret_cast<CUmodule>(m);
  return CUDA_SUCCESS;
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
  return unload_module(hmod);
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
  if (!library) return CUDA_ERROR_INVALID_VALUE;
  if (numJitOptions && !jitOptions) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = device_for_module_call(&d);
  if (r != CUDA_SUCCESS) return r;
  Library* lib = nullptr;
  r = load_library(code, binary_preserved(libraryOptions, libraryOptionValues, numLibraryOptions),
                   d, &lib);
  if (r == CUDA_SUCCESS) *library = reinterpret_cast<CUlibrary>(lib);
  return r;
}

CUresult cuLibraryUnload(CUlibrary library) {
  return unload_library(library);
}

CUresult cuLibraryGetKernel(CUkernel* pKernel, CUlibrary library, const char* name) {
  if (!pKernel) return CUDA_ERROR_INVALID_VALUE;
  Library* lib = nullptr;
  CUresult r = library_of(library, &lib);
  if (r != CUDA_SUCCESS) return r;
  Kernel* k = nullptr;
  r = get_kernel(lib, name, &k);
  if (r == CUDA_SUCCESS) *pKernel = reinterpret_cast<CUkernel>(k);
  return r;
}

CUresult cuLibraryGetModule(CUmodule* pMod, CUlibrary library) {
  if (!pMod) return CUDA_ERROR_INVALID_VALUE;
  Module* m = nullptr;
  CUresult r = library_module_here(library, &m);
  if (r == CUDA_SUCCESS) *pMod = reinterpret_cast<CUmodule>(m);
  return r;
}

CUresult cuLibraryGetGlobal(CUdeviceptr* dptr, size_t* bytes, CUlibrary library, const char* name) {
  Module* m = nullptr;
  CUresult r = library_module_here(library, &m);
  if (r != CUDA_SUCCESS) return r;
  return api::cuModuleGetGlobal_v2(dptr, bytes, reinterpret_cast<CUmodule>(m), name);
}

CUresult cuKernelGetFunction(CUfunction* pFunc, CUkernel kernel) {
  if (!pFunc) return CUDA_ERROR_INVALID_VALUE;
  Kernel* k = nullptr;
  CUresult r = kernel_of(kernel, &k);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = function_on(kernel, nullptr, &f);
  if (r == CUDA_SUCCESS) *pFunc = reinterpret_cast<CUfunction>(f);
  return r;
}

CUresult cuKernelGetAttribute(int* pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = function_on(kernel, d, &f);
  if (r != CUDA_SUCCESS) return r;
  return attribute_of(f, attrib, pi);
}

CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = function_on(kernel, d, &f);
  if (r != CUDA_SUCCESS) return r;
  return set_function_attribute(f, attrib, val);
}

CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t* paramOffset,
                              size_t* paramSize) {
  Function* f = nullptr;
  CUresult r = function_on(kernel, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  return param_info(f, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t* paramOffset,
                            size_t* paramSize) {
  Function* f = nullptr;
  CUresult r = function_on(func, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  return param_info(f, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, CUfunction hfunc) {
  Function* f = nullptr;
  CUresult r = function_on(hfunc, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  return attribute_of(f, attrib, pi);
}

CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  Function* f = nullptr;
  CUresult r = function_on(hfunc, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  return set_function_attribute(f, attrib, value);
}

CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
  Function* f = nullptr;
  return function_on(hfunc, nullptr, &f);  // a hint; the remote driver chooses
}

CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev) {
  Device* d = nullptr;
  CUresult r = device_by_ordinal(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  Kernel* k = nullptr;
  return kernel_of(kernel, &k);  // a hint; the remote driver chooses
}

CUresult cuKernelGetName(const char** name, CUkernel hfunc) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  Kernel* k = nullptr;
  if (kernel_of(hfunc, &k) == CUDA_SUCCESS) {
    *name = k->name.c_str();
    return CUDA_SUCCESS;
  }
  Function* f = nullptr;
  CUresult r = function_on(hfunc, nullptr, &f);
  if (r == CUDA_SUCCESS) *name = f->name.c_str();
  return r;
}

CUresult cuFuncGetName(const char** name, CUfunction hfunc) {
  return api::cuKernelGetName(name, reinterpret_cast<CUkernel>(hfunc));
}

}  // namespace rgpu::api
