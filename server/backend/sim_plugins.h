// server/backend/sim_plugins.h — host kernel implementations for the sim backend.
//
// Contract: SimKernelRegistry::load(path) dlopens a plugin (sim_kernel_plugin.h), calls its
// rgpu_sim_plugin_init and records every kernel it registers. It returns "" on success or an
// error naming the path (not loadable, no init symbol, init returned non-zero, a name
// registered twice). Loaded plugins stay loaded for the life of the process. find() returns
// the host function for an exact (mangled) kernel name, or nullptr.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "server/backend/sim_kernel_plugin.h"

namespace rgpu::server {

class SimKernelRegistry {
 public:
  std::string load(const std::string& path);
  // Adds one kernel directly (tests); false if the name is taken.
  bool add(const std::string& name, rgpu_sim_kernel_fn fn);
  rgpu_sim_kernel_fn find(const std::string& name) const;
  size_t size() const { return kernels_.size(); }

 private:
  std::map<std::string, rgpu_sim_kernel_fn> kernels_;
  std::vector<std::string> duplicate_names_;
};

// Splits "a:b:c" (RGPU_SIM_PLUGINS) into paths, dropping empty parts.
std::vector<std::string> split_plugin_list(const std::string& list);

}  // namespace rgpu::server
