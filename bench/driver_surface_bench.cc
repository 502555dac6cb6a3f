// bench/driver_surface_bench.cc — figure 10: driver calls that PyTorch and Triton make often,
// through the shim against `rgpu-server --backend sim` (bench/noop.cu's kernels, run by the noop
// plugin), each against a baseline measured in the same run:
//   - replays per second of a captured 100-kernel graph (cuGraphLaunch, then one stream sync per
//     100 replays), against enqueuing the same 100 launches one by one; and the async records a
//     replay puts on the wire (RGPU_STATS of two child runs, 100 and 600 replays: 1 is one
//     record per replay);
//   - cuPointerGetAttribute(MEMORY_TYPE) calls per second (answered in the shim: Triton asks
//     for every pointer argument of every launch) against a local call through a function
//     pointer.
//   rgpu_driver_surface_bench [BUILD_DIR]
// No budgets are set (the issue asks for the figures); exit status 1 only when a run failed.
#include <cuda.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/shim_driver.h"

using namespace rgpu::bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Graphs {
  decltype(&::cuStreamBeginCapture_v2) BeginCapture = nullptr;
  decltype(&::cuStreamEndCapture) EndCapture = nullptr;
  decltype(&::cuGraphInstantiateWithFlags) Instantiate = nullptr;
  decltype(&::cuGraphLaunch) Launch = nullptr;
  decltype(&::cuPointerGetAttribute) PointerGetAttribute = nullptr;
  bool load(void* h) {
    BeginCapture = reinterpret_cast<decltype(BeginCapture)>(dlsym(h, "cuStreamBeginCapture_v2"));
    EndCapture = reinterpret_cast<decltype(EndCapture)>(dlsym(h, "cuStreamEndCapture"));
    Instantiate = reinterpret_cast<decltype(Instantiate)>(dlsym(h, "cuGraphInstantiateWithFlags"));
    Launch = reinterpret_cast<decltype(Launch)>(dlsym(h, "cuGraphLaunch"));
    PointerGetAttribute =
        reinterpret_cast<decltype(PointerGetAttribute)>(dlsym(h, "cuPointerGetAttribute"));
    return BeginCapture && EndCapture && Instantiate && Launch && PointerGetAttribute;
  }
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Setup {
  ShimDriver d;
  Graphs g;
  CUfunction noop = nullptr;
  CUstream s = nullptr;
};

void open_shim(const std::string& shim, const std::string& fatbin, Setup* x) {
  std::string err;
  if (!x->d.load(shim, &err) || !x->g.load(x->d.handle)) {
    std::fprintf(stderr, "bench: cannot load %s: %s\n", shim.c_str(), err.c_str());
    std::exit(1);
  }
  CK(x->d.Init(0));
  CUdevice dev;
  CK(x->d.DeviceGet(&dev, 0));
  CUcontext ctx;
  CK(x->d.PrimaryCtxRetain(&ctx, dev));
  CK(x->d.CtxSetCurrent(ctx));
  static std::string image = read_file(fatbin);
  CUmodule m;
  CK(x->d.ModuleLoadData(&m, image.data()));
  CK(x->d.ModuleGetFunction(&x->noop, m, "rgpu_bench_noop"));
  CK(x->d.StreamCreate(&x->s, CU_STREAM_NON_BLOCKING));
}

CUgraphExec capture_100(Setup& x) {
  CK(x.g.BeginCapture(x.s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  for (int i = 0; i < 100; ++i)
    CK(x.d.LaunchKernel(x.noop, 1, 1, 1, 32, 1, 1, 0, x.s, nullptr, nullptr));
  CUgraph graph;
  CK(x.g.EndCapture(x.s, &graph));
  CUgraphExec exec;
  CK(x.g.Instantiate(&exec, graph, 0));
  return exec;
}

// Replays `n` times, a stream sync after every 100.
void replay(Setup& x, CUgraphExec exec, int n) {
  for (int i = 1; i <= n; ++i) {
    CK(x.g.Launch(exec, x.s));
    if (i % 100 == 0) CK(x.d.StreamSynchronize(x.s));
  }
  CK(x.d.StreamSynchronize(x.s));
}

// Async records of a child that replays `n` times (RGPU_STATS); -1 when it failed.
double records_of(const std::string& shim, const std::string& fatbin, const std::string& server,
                  int n) {
  const std::string file = "/tmp/rgpu-bench-graph-stats-" + std::to_string(getpid());
  std::remove(file.c_str());
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("RGPU_SERVER", server.c_str(), 1);
    setenv("RGPU_STATS", "1", 1);
    setenv("RGPU_STATS_FILE", file.c_str(), 1);
    Setup x;
    open_shim(shim, fatbin, &x);
    replay(x, capture_100(x), n);
    std::exit(0);  // the shim writes its report at exit
  }
  int status = 0;
  waitpid(pid, &status, 0);
  unsigned long long calls = 0, syncs = 0, records = 0;
  const std::string text = read_file(file);
  std::remove(file.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(text.c_str(),
                  "rgpu stats: %llu driver calls, %llu sync round trips, %llu async records",
                  &calls, &syncs, &records) != 3)
    return -1;
  return static_cast<double>(records);
}

int g_sink = 0;
__attribute__((noinline)) int local_call(int v) {
  return v + 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string build = argc > 1 ? argv[1] : RGPU_BENCH_BUILD_DIR;
  const std::string shim = build + "/lib/rgpu/libcuda.so.1";
  ServerProcess server(build + "/bin/rgpu-server", RGPU_BENCH_PLUGIN, {});
  if (!server.ok()) {
    std::fprintf(stderr, "bench: the sim server did not start\n");
    return 1;
  }
  // Records per replay first, in children (each its own shim connection, stats at its exit).
  const double r100 = records_of(shim, RGPU_BENCH_FATBIN, server.endpoint(), 100);
  const double r600 = records_of(shim, RGPU_BENCH_FATBIN, server.endpoint(), 600);
  setenv("RGPU_SERVER", server.endpoint().c_str(), 1);
  Setup x;
  open_shim(shim, RGPU_BENCH_FATBIN, &x);
  CUgraphExec exec = capture_100(x);
  replay(x, exec, 200);  // warm
  const int replays = 5000;
  auto t0 = Clock::now();
  replay(x, exec, replays);
  const double graph_per_s = replays / seconds_since(t0);
  // The same 100 launches, one by one, as many groups.
  const int groups = 500;
  t0 = Clock::now();
  for (int i = 1; i <= groups; ++i) {
    for (int k = 0; k < 100; ++k)
      CK(x.d.LaunchKernel(x.noop, 1, 1, 1, 32, 1, 1, 0, x.s, nullptr, nullptr));
    if (i % 100 == 0) CK(x.d.StreamSynchronize(x.s));  // as often as the replays sync
  }
  CK(x.d.StreamSynchronize(x.s));
  const double groups_per_s = groups / seconds_since(t0);

  CUdeviceptr p;
  CK(x.d.MemAlloc(&p, 1 << 20));
  unsigned type = 0;
  const int calls = 2000000;
  for (int i = 0; i < 10000; ++i)
    CK(x.g.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p + 64));
  t0 = Clock::now();
  for (int i = 0; i < calls; ++i)
    CK(x.g.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p + (i & 4095)));
  const double attr_per_s = calls / seconds_since(t0);
  if (type != CU_MEMORYTYPE_DEVICE) {
    std::fprintf(stderr, "bench: cuPointerGetAttribute said memory type %u, not device\n", type);
    return 1;
  }
  int (*volatile fn)(int) = local_call;
  t0 = Clock::now();
  for (int i = 0; i < calls; ++i) g_sink = fn(g_sink);
  const double local_per_s = calls / seconds_since(t0);

  std::printf("figure 10: driver surface (sim server on loopback)\n");
  std::printf("  100-kernel graph: %9.0f replays/s vs %9.0f groups of 100 launches/s = %.1fx",
              graph_per_s, groups_per_s, graph_per_s / groups_per_s);
  if (r100 >= 0 && r600 >= 0)
    std::printf("; %.2f async records per replay\n", (r600 - r100) / 500.0);
  else
    std::printf("; records per replay: a stats child failed\n");
  std::printf("  cuPointerGetAttribute: %.3g calls/s vs %.3g local calls/s = %.1fx slower\n",
              attr_per_s, local_per_s, local_per_s / attr_per_s);
  return r100 >= 0 && r600 >= 0 ? 0 : 1;
}
