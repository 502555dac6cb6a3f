// interpose/modules.h — modules, libraries, kernels and functions: who owns what, and how an
// image reaches each device that uses it.
//
// Contract:
// - Ownership (RAII): the registry owns every Library and every standalone Module
//   (cuModuleLoadData); a Library owns its per-device Modules and its Kernels; a Module owns its
//   Functions. Unloading a module or library frees it and everything it owns and tells the
//   server (ModuleUnload); its handles then fail the validity check (CUDA_ERROR_INVALID_HANDLE),
//   like any stale or foreign handle. The registry itself is never destroyed (cudart's exit
//   handlers unload libraries after static destructors have run) and stays reachable.
// - Libraries and kernels are context-independent (CUDA 12+). A Library keeps its image (the
//   caller's bytes when it promised to preserve them, CU_LIBRARY_BINARY_IS_PRESERVED=1, else a
//   copy) and loads it on a device's server the first time that device needs it. A Kernel is
//   its own handle and maps to one Function per device, made on first use there. A Module and
//   its Functions belong to one device.
// - Anywhere a CUfunction is accepted a CUkernel is accepted too (cudart and cuBLAS cast one to
//   the other): function_on() resolves it to the kernel's Function on the device in use.
// - Every image goes to a device's server once per process with its bytes (keyed by device and
//   hash); later loads of the same image send only the hash.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "interpose/client.h"
#include "protocol/image/module_info.h"
#include "protocol/image/param_layout.h"

namespace rgpu {

struct Module;
struct Library;

struct Function {
  uint64_t wire = 0;
  Module* module = nullptr;
  std::string name;
  image::ParamLayout layout;
  std::map<int, int> attrs;  // cached attribute values, guarded by modules_mutex()
};

struct Module {
  uint64_t wire = 0;
  int device = 0;
  uint64_t image_hash = 0;
  Library* library = nullptr;  // set when this is a library's module on one device
  std::map<std::string, std::unique_ptr<Function>, std::less<>> functions;
  // This process's own parse of the image (protocol 11: a lookup of a kernel found here sends
  // its layout and needs no round trip); null when not parsed (RGPU_CLIENT_LAYOUT=0, an older
  // server, an image this parser refuses), and lookups ask the server.
  std::shared_ptr<const image::ModuleInfo> parsed;
};

struct Kernel {
  Library* library = nullptr;
  std::string name;
  std::vector<Function*> on_device;  // by device ordinal; null until first used there
};

struct Library {
  const uint8_t* image = nullptr;  // the caller's bytes, or copy.data()
  size_t image_size = 0;
  std::vector<uint8_t> copy;
  uint64_t image_hash = 0;
  int home_device = 0;                             // where it was first loaded
  std::vector<std::unique_ptr<Module>> on_device;  // by device ordinal
  std::map<std::string, std::unique_ptr<Kernel>, std::less<>> kernels;
};

// Guards the registry's handle sets, the per-device maps and Function::attrs.
std::shared_mutex& modules_mutex();

// The device a module lives on.
Device* device_of(const Module* m);

// The device calls address when they name none: the current context's, else device 0 (libraries
// and kernels need no context).
CUresult device_for_module_call(Device** d);

// Loads an image (fatbin wrapper/header, ELF cubin or PTX) as a standalone module on d.
CUresult load_module(const void* code, Device* d, Module** out);
// Loads an image as a library, first on d.
CUresult load_library(const void* code, bool preserved, Device* d, Library** out);
// Frees a standalone module (a library's module: CUDA_ERROR_INVALID_HANDLE) / a library.
CUresult unload_module(const void* h);
CUresult unload_library(const void* h);

// Handle checks.
CUresult module_of(const void* h, Module** out);
CUresult library_of(const void* h, Library** out);
CUresult kernel_of(const void* h, Kernel** out);

// The library's module on d, loaded there on first use.
CUresult library_module(Library* lib, Device* d, Module** out);
// The module's function `name`: the first time, one round trip that brings the layout, or
// none when the layout is this process's own parse (Module::parsed; ops.def
// ModuleGetFunctionDeferred: a disagreeing server refuses the function's launches).
CUresult get_function(Module* m, const char* name, Function** out);
// The library's kernel `name` (checked on the library's home device).
CUresult get_kernel(Library* lib, const char* name, Kernel** out);
// A CUfunction or CUkernel handle -> a Function. A kernel resolves to its Function on d (null: the
// current context's device, else the kernel's home device), made there on first use; a function
// is itself, whatever d is.
CUresult function_on(const void* h, Device* d, Function** out);

// Function attributes: reads are cached after the first round trip; a set goes out async and
// updates the cache.
CUresult function_attribute(Function* f, CUfunction_attribute attrib, int* pi);
CUresult set_function_attribute(Function* f, CUfunction_attribute attrib, int value);

}  // namespace rgpu
