// tests/e2e/multi_device_plugin.cc — host implementation of multi_device.cu's iota() (sim).
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int iota(const rgpu_sim_launch* l) {
  int* data;
  int base, n;
  if (!param(l, 0, &data) || !param(l, 8, &base) || !param(l, 12, &n)) return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) data[i] = base + static_cast<int>(i);
  });
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z4iotaPiii", iota},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
