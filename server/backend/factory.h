// server/backend/factory.h — picks and builds the backend a worker serves with.
//
// Contract: make_backend() returns the backend named by options.backend ("sim" or "cuda"),
// loading the sim plugins into `kernels` first (sim) or locating the NVIDIA driver (cuda). On
// failure it returns nullptr and sets *error (e.g. "no NVIDIA driver found ..." or a plugin's
// load error naming its path). resolve_backend() decides the backend when --backend was not
// given: cuda when a driver is found, else an error telling to pass --backend sim.
#pragma once

#include <memory>
#include <string>

#include "server/backend/backend.h"
#include "server/backend/sim_plugins.h"
#include "server/config.h"

namespace rgpu::server {

std::unique_ptr<Backend> make_backend(const ServerOptions& options, SimKernelRegistry* kernels,
                                      std::string* error);
// Returns "cuda" or "sim", or "" with *error set.
std::string resolve_backend(const ServerOptions& options, std::string* error);

}  // namespace rgpu::server
