// tests/e2e/vecadd_plugin.cc — host implementations of vecadd.cu's kernels for the sim backend.
//
// Contract: same results as the CUDA kernels in vecadd.cu, reading the packed parameters at the
// offsets nvcc lays them out at (vectorAdd: 0/8/16/24; mixedParams: 0,2,8,16,48,56).
#include <cstdint>
#include <cstring>

#include "tests/e2e/sim_plugin_util.h"

namespace {

using rgpu_e2e::Dim3;
using rgpu_e2e::param;

struct Big {
  double d;
  char c;
  int a[5];
};
static_assert(sizeof(Big) == 32);

int vector_add(const rgpu_sim_launch* l) {
  const float *a, *b;
  float* c;
  int n;
  if (!param(l, 0, &a) || !param(l, 8, &b) || !param(l, 16, &c) || !param(l, 24, &n)) return 1;
  rgpu_e2e::for_each_thread(l, [&](Dim3 blk, Dim3 thr) {
    const uint64_t i = rgpu_e2e::global_x(l, blk, thr);
    if (i < static_cast<uint64_t>(n)) c[i] = a[i] + b[i];
  });
  return 0;
}

int mixed_params(const rgpu_sim_launch* l) {
  char c;
  short s;
  double d;
  Big big;
  unsigned long long* out;
  long long ll;
  if (!param(l, 0, &c) || !param(l, 2, &s) || !param(l, 8, &d) || !param(l, 16, &big) ||
      !param(l, 48, &out) || !param(l, 56, &ll))
    return 1;
  out[0] = static_cast<unsigned long long>(static_cast<long long>(c));
  out[1] = static_cast<unsigned long long>(static_cast<long long>(s));
  std::memcpy(&out[2], &d, sizeof d);
  std::memcpy(&out[3], &big.d, sizeof big.d);
  out[4] = static_cast<unsigned long long>(static_cast<long long>(big.c));
  for (int k = 0; k < 5; ++k) out[5 + k] = static_cast<unsigned long long>(big.a[k]);
  out[10] = static_cast<unsigned long long>(ll);
  return 0;
}

const rgpu_e2e::KernelEntry kKernels[] = {
    {"_Z9vectorAddPKfS0_Pfi", vector_add},
    {"_Z11mixedParamscsd3BigPyx", mixed_params},
};

}  // namespace

RGPU_E2E_DEFINE_PLUGIN(kKernels)
