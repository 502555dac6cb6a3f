// server/backend/sim_module.h — what the sim backend keeps per module and per function
// (internal to sim_backend.cc and sim_ptx.cc).
//
// A Module owns its image's kernel table, its variables' device memory (globals) and, when
// the image carries PTX the executor can run, the decoded module and every symbol's address;
// a Function points into its module (which outlives it: unloading a module drops its
// functions first).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "protocol/image/module_info.h"
#include "server/backend/ptx/ptx_ir.h"
#include "server/backend/sim_backend.h"

namespace rgpu::server {

inline constexpr int32_t kDefaultMaxDynamicShared = 48 * 1024;

struct SimBackend::Module {
  image::ModuleInfo info;
  std::map<std::string, std::pair<uint64_t, uint64_t>> globals;  // name -> (dptr, bytes)
  // The PTX the executor runs (ptx/ptx_ir.h), or why there is none.
  ptx::PtxModule ptx;
  bool has_ptx = false;
  bool ptx_missing = false;  // the image carries no PTX at all
  std::string ptx_error;
  std::map<std::string, std::vector<uint64_t>> symbol_addr;  // kernel -> per symbol address
  std::vector<std::vector<uint64_t>> function_symbol_addr;   // per ptx.functions entry
};

struct SimBackend::Function {
  uint64_t module = 0;
  const image::KernelInfo* kernel = nullptr;  // owned by the module
  rgpu_sim_kernel_fn host = nullptr;
  const ptx::Kernel* ptx = nullptr;  // owned by the module
  const std::vector<uint64_t>* symbol_addr = nullptr;
  const std::vector<ptx::Kernel>* ptx_functions = nullptr;
  const std::vector<std::vector<uint64_t>>* function_symbol_addr = nullptr;
  int32_t max_dynamic_shared = kDefaultMaxDynamicShared;
  std::map<int32_t, int32_t> set_attrs;
};

}  // namespace rgpu::server
