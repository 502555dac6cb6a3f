// tests/interpose/stats_test.cc — RGPU_STATS=1 through the real libcuda.so.1 against a live sim
// server: the report a process writes at exit (interpose/stats.h), and how sync waits waited.
//
// - ReportCountsCallsRoundTripsAndBytes: calls by name, sync round trips, bytes each way and the
//   time spent waiting, for a known sequence of calls.
// - SyncWaitsPollUnlessTheContextAsksToBlock: by default a sync wait polls before it sleeps
//   (interpose/lane.h, RGPU_SPIN_US); with CU_CTX_SCHED_BLOCKING_SYNC on the primary context, or
//   RGPU_SPIN_US=0, none does.
// - ExitSaysGoodbyeAndAKilledProgramDoesNot: a program that exits ends its session with a Goodbye
//   (the server logs "the client ended the session"); one killed with SIGKILL cannot, and the
//   server says so.
// Each scenario runs in a child process: the shim reads RGPU_STATS once, and writes the report
// from an atexit handler.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "interpose/cuda_api.h"
#include "tests/interpose/sim_server.h"

namespace rgpu::test {
namespace {

SimServer g_server;
std::string g_endpoint;

std::string g_log;

class LiveServer : public ::testing::Environment {
 public:
  void SetUp() override {
    g_log = "/tmp/rgpu-stats-test-" + std::to_string(getpid()) + ".log";
    g_endpoint =
        g_server.start("/tmp/rgpu-stats-test-" + std::to_string(getpid()) + ".port", {}, g_log);
    ASSERT_FALSE(g_endpoint.empty()) << "rgpu-server did not start";
  }
  void TearDown() override {
    g_server.stop();
    std::remove(g_log.c_str());
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new LiveServer);

template <typename T>
T fn(void* h, const char* name) {
  return reinterpret_cast<T>(dlsym(h, name));
}

// In the child: a fixed sequence of calls (exit status says which failed).
void run_calls(void* h, unsigned primary_flags) {
  if (fn<decltype(&::cuInit)>(h, "cuInit")(0) != CUDA_SUCCESS) _exit(10);
  if (primary_flags != 0 && fn<decltype(&::cuDevicePrimaryCtxSetFlags)>(
                                h, "cuDevicePrimaryCtxSetFlags")(0, primary_flags) != CUDA_SUCCESS)
    _exit(11);
  CUcontext ctx;
  if (fn<decltype(&::cuDevicePrimaryCtxRetain)>(h, "cuDevicePrimaryCtxRetain")(&ctx, 0) !=
      CUDA_SUCCESS)
    _exit(12);
  if (fn<decltype(&::cuCtxSetCurrent)>(h, "cuCtxSetCurrent")(ctx) != CUDA_SUCCESS) _exit(13);
  const size_t n = 1 << 20;
  std::vector<unsigned char> host(n), back(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<unsigned char>(i * 13 + 5);
  CUdeviceptr p;
  if (fn<decltype(&::cuMemAlloc_v2)>(h, "cuMemAlloc_v2")(&p, n) != CUDA_SUCCESS) _exit(14);
  if (fn<decltype(&::cuMemcpyHtoD_v2)>(h, "cuMemcpyHtoD_v2")(p, host.data(), n) != CUDA_SUCCESS)
    _exit(15);
  if (fn<decltype(&::cuMemcpyDtoH_v2)>(h, "cuMemcpyDtoH_v2")(back.data(), p, n) != CUDA_SUCCESS)
    _exit(16);
  if (back != host) _exit(17);
  auto info = fn<decltype(&::cuMemGetInfo_v2)>(h, "cuMemGetInfo_v2");
  size_t free_b, total_b;
  for (int i = 0; i < 3; ++i)
    if (info(&free_b, &total_b) != CUDA_SUCCESS) _exit(18);
  if (fn<decltype(&::cuCtxSynchronize)>(h, "cuCtxSynchronize")() != CUDA_SUCCESS) _exit(19);
}

// The server's log so far.
std::string server_log() {
  std::ifstream in(g_log);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Waits up to 5 s for `needle` to appear `times` times in the server's log.
bool log_shows(const std::string& needle, size_t times) {
  for (int i = 0; i < 100; ++i) {
    if (count(server_log(), needle) >= times) return true;
    usleep(50000);
  }
  return false;
}

// Runs run_calls in a child with RGPU_STATS on (and `env`); returns the report it wrote.
std::string report_of(unsigned primary_flags, const std::vector<std::string>& env = {}) {
  static int seq = 0;
  std::string file =
      "/tmp/rgpu-stats-test-" + std::to_string(getpid()) + "-" + std::to_string(++seq) + ".txt";
  std::remove(file.c_str());
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RGPU_STATS", "1", 1);
    setenv("RGPU_STATS_FILE", file.c_str(), 1);
    setenv("RGPU_SERVER", g_endpoint.c_str(), 1);
    for (const auto& kv : env) putenv(strdup(kv.c_str()));
    void* h = dlopen(RGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!h) _exit(3);
    run_calls(h, primary_flags);
    std::exit(0);  // the shim's atexit handler writes the report
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(file.c_str());
  return ss.str();
}

// The count on the report line naming `name` ("  cuMemGetInfo_v2   3"); -1 when absent.
long long count_of(const std::string& report, const std::string& name) {
  std::istringstream in(report);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string n;
    long long c;
    if (l >> n >> c && n == name) return c;
  }
  return -1;
}

TEST(Stats, ReportCountsCallsRoundTripsAndBytes) {
  std::string r = report_of(0);
  unsigned long long calls = 0, syncs = 0, records = 0, batches = 0, sent = 0, received = 0;
  double wait_ms = -1;
  ASSERT_EQ(std::sscanf(r.c_str(),
                        "rgpu stats: %llu driver calls, %llu sync round trips, %llu async records "
                        "in %llu batches, %llu bytes sent, %llu bytes received, %lf ms waiting",
                        &calls, &syncs, &records, &batches, &sent, &received, &wait_ms),
            7)
      << r;
  EXPECT_GE(calls, 10u) << r;      // cuInit, retain, set current, alloc, 2 copies, 3 infos, sync
  EXPECT_GE(syncs, 5u) << r;       // the DtoH, 3 MemGetInfo, the synchronize
  EXPECT_GE(sent, 1u << 20) << r;  // the HtoD's bytes
  EXPECT_GE(received, 1u << 20) << r;  // the DtoH's bytes
  EXPECT_GT(wait_ms, 0.0) << r;
  EXPECT_EQ(count_of(r, "cuMemGetInfo_v2"), 3) << r;
  EXPECT_EQ(count_of(r, "cuMemcpyDtoH_v2"), 1) << r;
  EXPECT_EQ(count_of(r, "cuMemcpyHtoD_v2"), 1) << r;
}

TEST(Stats, SyncWaitsPollUnlessTheContextAsksToBlock) {
  unsigned long long polled = 0, slept = 0;
  auto waits = [&](const std::string& r) {
    auto at = r.find("rgpu stats: sync waits:");
    EXPECT_NE(at, std::string::npos) << r;
    if (at == std::string::npos) return;
    ASSERT_EQ(std::sscanf(r.c_str() + at,
                          "rgpu stats: sync waits: %llu polled before sleeping, %llu slept at once",
                          &polled, &slept),
              2);
  };
  waits(report_of(0));
  EXPECT_GE(polled, 5u);  // one thread: it always may poll
  EXPECT_EQ(slept, 0u);
  waits(report_of(CU_CTX_SCHED_BLOCKING_SYNC));
  EXPECT_EQ(polled, 0u);
  EXPECT_GE(slept, 5u);
  waits(report_of(0, {"RGPU_SPIN_US=0"}));
  EXPECT_EQ(polled, 0u);
  EXPECT_GE(slept, 5u);
}

TEST(Stats, ExitSaysGoodbyeAndAKilledProgramDoesNot) {
  const std::string ended = "the client ended the session (the program exited)";
  const std::string lost = "closed without a goodbye";
  const size_t ended_before = count(server_log(), ended);
  const size_t lost_before = count(server_log(), lost);
  report_of(0);  // exits normally
  EXPECT_TRUE(log_shows(ended, ended_before + 1)) << server_log();
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RGPU_SERVER", g_endpoint.c_str(), 1);
    void* h = dlopen(RGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!h || fn<decltype(&::cuInit)>(h, "cuInit")(0) != CUDA_SUCCESS) _exit(3);
    raise(SIGKILL);  // no exit path runs
    _exit(4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_TRUE(log_shows(lost, lost_before + 1)) << server_log();
  EXPECT_EQ(count(server_log(), ended), ended_before + 1) << server_log();
}

}  // namespace
}  // namespace rgpu::test
