// server/backend/sim_plugins.cc — see sim_plugins.h.
#include "server/backend/sim_plugins.h"

#include <dlfcn.h>

namespace rgpu::server {

namespace {
struct LoadState {
  SimKernelRegistry* self;
  std::vector<std::string>* duplicates;
};

int register_kernel(rgpu_sim_registry* reg, const char* name, rgpu_sim_kernel_fn fn) {
  auto* st = static_cast<LoadState*>(reg->impl);
  if (name == nullptr || fn == nullptr) return -1;
  if (!st->self->add(name, fn)) {
    st->duplicates->push_back(name);
    return -1;
  }
  return 0;
}
}  // namespace

bool SimKernelRegistry::add(const std::string& name, rgpu_sim_kernel_fn fn) {
  return kernels_.emplace(name, fn).second;
}

rgpu_sim_kernel_fn SimKernelRegistry::find(const std::string& name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : it->second;
}

std::string SimKernelRegistry::load(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    return "sim plugin " + path + ": cannot load: " + (e ? e : "unknown error");
  }
  auto init = reinterpret_cast<rgpu_sim_plugin_init_fn>(dlsym(h, "rgpu_sim_plugin_init"));
  if (init == nullptr) {
    dlclose(h);
    return "sim plugin " + path + ": does not export rgpu_sim_plugin_init";
  }
  std::vector<std::string> dups;
  LoadState st{this, &dups};
  rgpu_sim_registry reg{RGPU_SIM_PLUGIN_ABI_VERSION, &st, &register_kernel};
  int rc = init(&reg);
  if (rc != 0)
    return "sim plugin " + path + ": rgpu_sim_plugin_init returned " + std::to_string(rc);
  if (!dups.empty())
    return "sim plugin " + path + ": kernel " + dups.front() + " is registered twice";
  return "";
}

std::vector<std::string> split_plugin_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace rgpu::server
