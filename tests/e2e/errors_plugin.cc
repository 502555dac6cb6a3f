// tests/e2e/errors_plugin.cc — host implementations of errors.cu's kernels for the sim backend.
//
// trapKernel(42) fails the launch (returns non-zero), like __trap() on a GPU.
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int fill(const rgpu_sim_launch* l) {
  int* data;
  int value, n;
  if (!param(l, 0, &data) || !param(l, 8, &value) || !param(l, 12, &n)) return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) data[i] = value;
  });
  return 0;
}

int trap_kernel(const rgpu_sim_launch* l) {
  int magic;
  if (!param(l, 0, &magic)) return 1;
  return magic == 42 ? 1 : 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z4fillPiii", fill},
    {"_Z10trapKerneli", trap_kernel},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
