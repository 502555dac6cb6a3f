// interpose/pool_hook.h — where RGPU_POOL turns into servers and leases.
//
// Contract: called by cuInit when RGPU_POOL is set and RGPU_SERVER is not. It asks the pool
// (protocol/control/acquire.h acquire_leases) for RGPU_VGPUS vGPUs (default 1) of RGPU_VRAM each
// (e.g. 16GiB; default whole GPUs) on providers matching RGPU_LABELS (k=v[,k=v...]), with the
// token in RGPU_TOKEN (role user), waiting up to RGPU_WAIT seconds (default 0) for room and
// placing with RGPU_POLICY (binpack|spread; default: the pool's). On success it fills
// config->servers and config->leases (one raw lease per server, in placement order), logs where
// each vGPU went, and returns true; on failure it returns false with *error saying why (printed
// by cuInit, which then reports CUDA_ERROR_NO_DEVICE). Leases are not released by the shim: an
// opened session ends its lease; an unused one expires at the pool.
#pragma once

#include <string>

#include "interpose/config.h"

namespace rgpu {

bool acquire_from_pool(Config* config, std::string* error);

}  // namespace rgpu
