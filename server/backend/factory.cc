// server/backend/factory.cc — see factory.h.
#include "server/backend/factory.h"

#include "server/backend/cuda_backend.h"
#include "server/backend/cuda_driver.h"
#include "server/backend/sim_backend.h"

namespace rgpu::server {

std::unique_ptr<Backend> make_backend(const ServerOptions& o, SimKernelRegistry* kernels,
                                      std::string* error) {
  if (o.backend == "sim") {
    for (const auto& p : o.sim_plugins) {
      std::string e = kernels->load(p);
      if (!e.empty()) {
        *error = e;
        return nullptr;
      }
    }
    const SimExec exec = o.sim_exec == "ptx"      ? SimExec::kPtx
                         : o.sim_exec == "plugin" ? SimExec::kPlugin
                                                  : SimExec::kAuto;
    auto sim = std::make_unique<SimBackend>(kernels, o.gpu, exec);
    sim->set_exec_threads(o.sim_threads);
    SimArch arch;
    if (!parse_sim_arch(o.sim_arch, &arch)) {
      *error = "--sim-arch: '" + o.sim_arch + "' is not a compute capability MAJOR.MINOR";
      return nullptr;
    }
    sim->set_arch(arch);
    return sim;
  }
  if (o.backend == "cuda") {
    DriverSearch d = find_nvidia_driver(o.driver, o.any_driver);
    if (d.path.empty()) {
      *error = d.error;
      return nullptr;
    }
    return std::make_unique<CudaBackend>(d.path, o.gpu, o.any_driver);
  }
  *error = "unknown backend '" + o.backend + "'";
  return nullptr;
}

std::string resolve_backend(const ServerOptions& o, std::string* error) {
  if (!o.backend.empty()) return o.backend;
  DriverSearch d = find_nvidia_driver(o.driver, o.any_driver);
  if (!d.path.empty()) return "cuda";
  *error = d.error;
  return "";
}

}  // namespace rgpu::server
