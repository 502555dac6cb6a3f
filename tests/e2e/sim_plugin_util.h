// tests/e2e/sim_plugin_util.h — helpers for the e2e programs' host kernel plugins (sim backend).
//
// Contract: a plugin .cc defines its host kernels as `int fn(const rgpu_sim_launch*)`, lists them
// in a table `{"<mangled name>", fn}` and expands RGPU_E2E_DEFINE_PLUGIN(table) once. The macro
// defines rgpu_sim_plugin_init (server/backend/sim_kernel_plugin.h), which checks the ABI version
// and registers every entry. The build checks each table's names against the `.entry` names in
// the PTX that nvcc makes from the matching .cu (check_kernel_names.cmake), so the literal
// `{"_Z...", fn}` spelling of the table entries is part of this contract.
//
// param<T>(launch, offset, &out) copies one parameter out of the packed buffer, failing (false)
// when it would read past params_size. for_each_thread(launch, f) calls f(block, thread) for
// every thread of the grid, x fastest, as a CUDA grid would (sequentially here).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "server/backend/sim_kernel_plugin.h"

namespace rgpu_e2e {

struct Dim3 {
  uint32_t x, y, z;
};

struct KernelEntry {
  const char* name;
  rgpu_sim_kernel_fn fn;
};

template <typename T>
bool param(const rgpu_sim_launch* launch, size_t offset, T* out) {
  if (launch->params == nullptr || offset + sizeof(T) > launch->params_size) {
    std::fprintf(stderr, "e2e plugin: parameter at offset %zu (size %zu) past params_size %zu\n",
                 offset, sizeof(T), launch->params_size);
    return false;
  }
  std::memcpy(out, launch->params + offset, sizeof(T));
  return true;
}

template <typename F>
void for_each_thread(const rgpu_sim_launch* launch, F&& f) {
  const uint32_t* g = launch->grid;
  const uint32_t* b = launch->block;
  for (uint32_t bz = 0; bz < g[2]; ++bz)
    for (uint32_t by = 0; by < g[1]; ++by)
      for (uint32_t bx = 0; bx < g[0]; ++bx)
        for (uint32_t tz = 0; tz < b[2]; ++tz)
          for (uint32_t ty = 0; ty < b[1]; ++ty)
            for (uint32_t tx = 0; tx < b[0]; ++tx) f(Dim3{bx, by, bz}, Dim3{tx, ty, tz});
}

// blockIdx.x * blockDim.x + threadIdx.x, the usual 1-D global index.
inline uint64_t global_x(const rgpu_sim_launch* launch, Dim3 block, Dim3 thread) {
  return static_cast<uint64_t>(block.x) * launch->block[0] + thread.x;
}

template <size_t N>
int register_all(rgpu_sim_registry* registry, const KernelEntry (&table)[N]) {
  if (registry == nullptr || registry->abi_version != RGPU_SIM_PLUGIN_ABI_VERSION) {
    std::fprintf(stderr, "e2e plugin: sim plugin ABI mismatch (want %d)\n",
                 RGPU_SIM_PLUGIN_ABI_VERSION);
    return 1;
  }
  for (const KernelEntry& e : table) {
    if (registry->register_kernel(registry, e.name, e.fn) != 0) {
      std::fprintf(stderr, "e2e plugin: could not register %s\n", e.name);
      return 1;
    }
  }
  return 0;
}

}  // namespace rgpu_e2e

#define RGPU_E2E_DEFINE_PLUGIN(table)                                         \
  extern "C" __attribute__((visibility("default"))) int rgpu_sim_plugin_init( \
      rgpu_sim_registry* registry) {                                          \
    return rgpu_e2e::register_all(registry, table);                           \
  }
