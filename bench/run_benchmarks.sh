#!/bin/sh
# bench/run_benchmarks.sh [BUILD_DIR] — builds rgpu_bench in a release build directory and runs
# every data-plane benchmark (figures 1-4, bench/README.md), figure 6 over emulated links, the
# sim executor's (figure 7) and compute shares (figure 11). BUILD_DIR defaults to build-perf
# next to this repository's top level (RelWithDebInfo: -O2, the build the figures are for).
# RGPU_BENCH_QUICK=1 skips the 1 GiB copies. Figure 5 (bench/figure5.sh) runs when PyTorch sees a GPU.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-perf}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
ninja -C "$build" -j"${RGPU_BENCH_JOBS:-2}" rgpu_bench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
"$build/bin/rgpu_data_plane_bench" "$build" 2>/dev/null
# Figure 7: the sim executor on nvcc PTX (in-process).
"$build/bin/rgpu_sim_exec_bench"
# Figure 6: the e2e training loop over emulated links (rgpu_link) against its ideal.
"$here/bench/figure6.sh" --build "$build" || echo "figure 6: a run failed (above)"
# Figure 11: compute shares among tenants of one sim GPU.
"$here/bench/figure11.sh" --build "$build" || echo "figure 11: a run failed (above)"
# Figure 8: the pool's ledger.
"$build/bin/rgpu_ledger_bench"
# Figure 5 needs a GPU and PyTorch; elsewhere it says why it cannot run and is skipped.
"$here/bench/figure5.sh" --build "$build" || echo "figure 5: not measured on this machine"
