// tests/e2e/threads_plugin.cc — host implementation of threads.cu's addConst() for the sim backend.
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int add_const(const rgpu_sim_launch* l) {
  int* data;
  int value, n;
  if (!param(l, 0, &data) || !param(l, 8, &value) || !param(l, 12, &n)) return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) data[i] += value;
  });
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z8addConstPiii", add_const},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
