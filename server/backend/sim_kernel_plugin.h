/* server/backend/sim_kernel_plugin.h — the sim backend's plugin ABI for host kernels (C ABI).
 *
 * Contract: the sim backend has no GPU. A kernel launched on it runs only if a plugin registered
 * a host implementation under the kernel's exact (mangled) name; otherwise the launch fails with
 * CUDA_ERROR_NOT_FOUND and an error text naming the kernel.
 *
 * A plugin is a shared object given to `rgpu-server --backend sim --sim-plugin PATH` (repeatable)
 * that exports:
 *     extern "C" int rgpu_sim_plugin_init(rgpu_sim_registry* registry);
 * which calls registry->register_kernel(registry, "mangled_name", fn) once per kernel and returns
 * 0 (anything else: the server refuses to start and prints the plugin's path).
 *
 * Sim device memory lives at the very addresses the client sees (allocations are mapped at their
 * device addresses in the worker), so a host kernel dereferences device pointers from its
 * parameters directly. The kernel runs the whole grid: a launch calls fn once, and fn loops over
 * blocks and threads itself. params points at the packed parameter buffer laid out as the
 * kernel's parameter info says (same offsets as on the GPU). Returning non-zero fails the launch
 * with CUDA_ERROR_LAUNCH_FAILED (a sticky error for the session, as on a GPU). A memory fault
 * inside fn (a bad pointer from the client) fails the launch with CUDA_ERROR_ILLEGAL_ADDRESS,
 * also sticky, naming the kernel and the address (server/backend/fault_guard.h); the worker
 * lives on.
 *
 * Trust: a plugin is native code run inside the session's worker, with the worker's rights; it
 * can read and write anything the worker can reach, whatever pointers the client passes. Only
 * the provider installs plugins, and only code the provider trusts (tests and twins of the
 * provider's own programs): a plugin is no sandbox. The worker holds no join token or pool
 * secret to steal (docs/security.md).
 */
#ifndef RGPU_SIM_KERNEL_PLUGIN_H
#define RGPU_SIM_KERNEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RGPU_SIM_PLUGIN_ABI_VERSION 1

typedef struct rgpu_sim_launch {
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_mem_bytes;
  const uint8_t* params; /* packed parameter bytes */
  size_t params_size;
  void* shared_mem; /* shared_mem_bytes of scratch, zeroed per launch (not per block) */
} rgpu_sim_launch;

typedef int (*rgpu_sim_kernel_fn)(const rgpu_sim_launch* launch);

typedef struct rgpu_sim_registry {
  uint32_t abi_version; /* RGPU_SIM_PLUGIN_ABI_VERSION */
  void* impl;
  /* Returns 0, or -1 if the name is already registered. */
  int (*register_kernel)(struct rgpu_sim_registry* self, const char* name, rgpu_sim_kernel_fn fn);
} rgpu_sim_registry;

typedef int (*rgpu_sim_plugin_init_fn)(rgpu_sim_registry* registry);

#ifdef __cplusplus
}
#endif

#endif /* RGPU_SIM_KERNEL_PLUGIN_H */
