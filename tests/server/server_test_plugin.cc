// tests/server/server_test_plugin.cc — host versions of server_kernels.cu for the sim backend.
// no_host_kernel deliberately has none; crash_kernel really crashes the worker (a raised
// SIGSEGV is a crash); wild_kernel writes through a bad pointer (an illegal address).
#include <csignal>
#include <cstring>

#include "server/backend/sim_kernel_plugin.h"

namespace {

template <typename T>
T param(const rgpu_sim_launch* l, size_t offset) {
  T v;
  std::memcpy(&v, l->params + offset, sizeof v);
  return v;
}

int vec_add(const rgpu_sim_launch* l) {
  if (l->params_size < 28) return 2;
  auto* a = param<const float*>(l, 0);
  auto* b = param<const float*>(l, 8);
  auto* c = param<float*>(l, 16);
  int n = param<int>(l, 24);
  const uint64_t threads = uint64_t{l->grid[0]} * l->block[0];
  for (uint64_t i = 0; i < threads; ++i)
    if (i < static_cast<uint64_t>(n)) c[i] = a[i] + b[i];
  return 0;
}

int crash_kernel(const rgpu_sim_launch*) {
  std::raise(SIGSEGV);
  return 0;
}

// Writes through its pointer parameter like a kernel given a bad one (out = 0x1000).
int wild_kernel(const rgpu_sim_launch* l) {
  auto* out = param<volatile int*>(l, 0);
  *out = 42;
  return 0;
}

int fail_kernel(const rgpu_sim_launch* l) {
  return param<int>(l, 0) ? 1 : 0;
}

}  // namespace

extern "C" int rgpu_sim_plugin_init(rgpu_sim_registry* r) {
  if (r->abi_version != RGPU_SIM_PLUGIN_ABI_VERSION) return 1;
  if (r->register_kernel(r, "vec_add", vec_add) != 0) return 2;
  if (r->register_kernel(r, "crash_kernel", crash_kernel) != 0) return 3;
  if (r->register_kernel(r, "fail_kernel", fail_kernel) != 0) return 4;
  if (r->register_kernel(r, "wild_kernel", wild_kernel) != 0) return 5;
  return 0;
}
