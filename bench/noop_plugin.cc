// bench/noop_plugin.cc — host versions of bench/noop.cu for the sim backend: no work at all, so
// the benchmark measures the data plane, not the simulated kernel.
#include "server/backend/sim_kernel_plugin.h"

namespace {
int noop(const rgpu_sim_launch*) {
  return 0;
}
}  // namespace

extern "C" int rgpu_sim_plugin_init(rgpu_sim_registry* r) {
  if (r->abi_version != RGPU_SIM_PLUGIN_ABI_VERSION) return -1;
  if (r->register_kernel(r, "rgpu_bench_noop", noop) != 0) return -1;
  return r->register_kernel(r, "rgpu_bench_args", noop);
}
