// bench/enqueue_bench.cc — Google Benchmark micro-benchmarks of the client-side enqueue path:
// appending an async record (a kernel launch with 3 parameters, a memset) to a lane's batch,
// with the real interpose/lane.h code. The lane's connection is one end of a socketpair whose
// other end a thread drains, so a full batch (1 MiB) and the deadline flusher send as they do in
// the shim; an enqueue itself makes no syscall. DESIGN budget: >= 2M launches/s per app thread
// (<= 500 ns each). Run: <build>/bin/rgpu_enqueue_bench [--benchmark_repetitions=5 ...].
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "interpose/lane.h"
#include "protocol/transport.h"

namespace {

// One lane set per process, its socket drained by a thread for the life of the process.
rgpu::LaneSet& lanes() {
  static rgpu::LaneSet* set = [] {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      std::perror("socketpair");
      std::exit(1);
    }
    std::thread([fd = fds[1]] {
      static char sink[1 << 16];
      while (read(fd, sink, sizeof sink) > 0) {
      }
    }).detach();
    rgpu::LaneSet::Join no_join;  // one lane, shared by every thread
    return new rgpu::LaneSet(rgpu::net::adopt(fds[0]), "enqueue-bench", no_join);
  }();
  return *set;
}

void BM_EnqueueLaunch(benchmark::State& state) {
  rgpu::LaneSet& set = lanes();
  rgpu::op::LaunchKernel::Args a{};
  a.function = 42;
  a.grid[0] = a.grid[1] = a.grid[2] = 1;
  a.block[0] = 256;
  a.block[1] = a.block[2] = 1;
  a.param_bytes = 24;
  struct {
    uint64_t out;
    int32_t n;
    float alpha;
    uint64_t pad;
  } params{0x7f0000001000, 1024, 1.0f, 0};
  for (auto _ : state) {
    if (set.enqueue<rgpu::op::LaunchKernel>(a, &params, sizeof params) != CUDA_SUCCESS)
      state.SkipWithError("enqueue failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnqueueLaunch)->Threads(1)->Threads(2)->UseRealTime();

void BM_EnqueueMemset(benchmark::State& state) {
  rgpu::LaneSet& set = lanes();
  rgpu::op::Memset::Args a{0x7f0000001000, 256, 0, 4, 0};
  for (auto _ : state) {
    if (set.enqueue<rgpu::op::Memset>(a) != CUDA_SUCCESS) state.SkipWithError("enqueue failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnqueueMemset)->Threads(1);

// The flush alone: 64 launches then an explicit send of the batch (one writev per 64).
void BM_EnqueueLaunchesAndFlush64(benchmark::State& state) {
  rgpu::LaneSet& set = lanes();
  rgpu::op::LaunchKernel::Args a{};
  a.param_bytes = 24;
  uint8_t params[24] = {};
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) set.enqueue<rgpu::op::LaunchKernel>(a, params, sizeof params);
    set.flush();
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_EnqueueLaunchesAndFlush64);

}  // namespace

BENCHMARK_MAIN();
