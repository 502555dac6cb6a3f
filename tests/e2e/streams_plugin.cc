// tests/e2e/streams_plugin.cc — host implementation of streams.cu's scale() for the sim backend.
#include <cstdint>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

int scale(const rgpu_sim_launch* l) {
  float* data;
  float factor;
  int n;
  if (!param(l, 0, &data) || !param(l, 8, &factor) || !param(l, 12, &n)) return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) data[i] *= factor;
  });
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z5scalePffi", scale},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
