// interpose/pool_hook.h — where RGPU_POOL turns into servers and leases.
//
// Contract: called by cuInit when RGPU_POOL is set and RGPU_SERVER is not. On success fills
// config->servers and config->leases (one lease per server, raw bytes) and returns true; on
// failure returns false with *error saying why (printed by cuInit, which then reports
// CUDA_ERROR_NO_DEVICE). The pool integration (protocol/control acquire_lease) replaces the body
// in pool_hook.cc; nothing else in the shim changes.
#pragma once

#include <string>

#include "interpose/config.h"

namespace rgpu {

bool acquire_from_pool(Config* config, std::string* error);

}  // namespace rgpu
