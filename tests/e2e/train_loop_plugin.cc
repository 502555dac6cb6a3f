// tests/e2e/train_loop_plugin.cc — host implementation of train_loop.cu's kernel for the sim
// backend.
//
// Contract: the same results as the CUDA kernel, reading the packed parameters at nvcc's offsets
// (scaleAdd: y 0, x 8, a 16, b 20, n 24). In place (y == x) works element by element, as on the
// GPU.
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int scale_add(const rgpu_sim_launch* l) {
  float* y;
  const float* x;
  float a, b;
  int n;
  if (!param(l, 0, &y) || !param(l, 8, &x) || !param(l, 16, &a) || !param(l, 20, &b) ||
      !param(l, 24, &n))
    return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) y[i] = a * x[i] + b;
  });
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z8scaleAddPfPKfffi", scale_add},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
