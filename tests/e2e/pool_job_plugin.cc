// tests/e2e/pool_job_plugin.cc — host implementation of pool_job.cu's kernel for the sim
// backend.
//
// Contract: same results as poolJobAxpb in pool_job.cu, reading the packed parameters at
// nvcc's offsets (x 0, y 8, a 16, b 20, n 24).
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int axpb(const rgpu_sim_launch* l) {
  const float* x;
  float* y;
  float a, b;
  int n;
  if (!param(l, 0, &x) || !param(l, 8, &y) || !param(l, 16, &a) || !param(l, 20, &b) ||
      !param(l, 24, &n))
    return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) y[i] = a * x[i] + b;
  });
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z11poolJobAxpbPKfPfffi", axpb},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
