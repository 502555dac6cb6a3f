// tests/interpose/lanes_test.cc — lanes, batching and ordering through the real libcuda.so.1
// against a live `rgpu-server --backend sim` (DESIGN contracts 3 and 4).
//
// - EightThreadsKeepIssueOrder: 8 threads each issue a long run of async writes (inline H2D
//   copies and memsets, alternating) to their own slot, never synchronizing; the last value
//   each wrote must be what a final read sees (per-thread issue order across batches, deadline
//   flushes and the worker's cross-lane gate).
// - SyncSeesOtherThreadsWrites: a thread writes asynchronously and hands off; another thread's
//   synchronous read must see the write (a sync call flushes every lane and is ordered after
//   every earlier frame of the session).
// - BatchedLaunchErrorSurfacesAtNextSync: a launch that fails on the worker returns success
//   (it is batched) and its error comes back from the next synchronizing call; the one after
//   succeeds (the error was not sticky and was reported once).
// - PendingNotFoundIsNotTakenForAnImageMiss: a batched launch fails with NOT_FOUND and the next
//   sync call is a cuModuleLoadData of an image already sent (a hash-only ModuleLoad): that call
//   returns the launch's error, instead of taking it for "the server lacks the image", resending
//   the bytes and losing it.
// - BulkCopiesRoundTrip: H2D/D2H of sizes around the inline and chunk limits, including
//   all-zero chunks, come back byte for byte.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <atomic>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/interpose/shim_loader.h"
#include "tests/interpose/sim_server.h"

namespace rgpu::test {
namespace {

struct Api {
  decltype(&::cuInit) Init = sym<decltype(&::cuInit)>("cuInit");
  decltype(&::cuDevicePrimaryCtxRetain) Retain =
      sym<decltype(&::cuDevicePrimaryCtxRetain)>("cuDevicePrimaryCtxRetain");
  decltype(&::cuCtxSetCurrent) SetCurrent = sym<decltype(&::cuCtxSetCurrent)>("cuCtxSetCurrent");
  decltype(&::cuCtxSynchronize) Sync = sym<decltype(&::cuCtxSynchronize)>("cuCtxSynchronize");
  decltype(&::cuMemAlloc_v2) Alloc = sym<decltype(&::cuMemAlloc_v2)>("cuMemAlloc_v2");
  decltype(&::cuMemcpyHtoDAsync_v2) HtoDAsync =
      sym<decltype(&::cuMemcpyHtoDAsync_v2)>("cuMemcpyHtoDAsync_v2");
  decltype(&::cuMemcpyHtoD_v2) HtoD = sym<decltype(&::cuMemcpyHtoD_v2)>("cuMemcpyHtoD_v2");
  decltype(&::cuMemcpyDtoH_v2) DtoH = sym<decltype(&::cuMemcpyDtoH_v2)>("cuMemcpyDtoH_v2");
  decltype(&::cuMemsetD32Async) MemsetAsync =
      sym<decltype(&::cuMemsetD32Async)>("cuMemsetD32Async");
  decltype(&::cuModuleLoadData) Load = sym<decltype(&::cuModuleLoadData)>("cuModuleLoadData");
  decltype(&::cuModuleGetFunction) GetFunction =
      sym<decltype(&::cuModuleGetFunction)>("cuModuleGetFunction");
  decltype(&::cuLaunchKernel) Launch = sym<decltype(&::cuLaunchKernel)>("cuLaunchKernel");
};

SimServer g_server;
CUcontext g_ctx = nullptr;

class LiveServer : public ::testing::Environment {
 public:
  void SetUp() override {
    // Host twins only: kernels/unserved.cu must stay a kernel the worker cannot run (with PTX
    // execution the sim would run it).
    std::string server = g_server.start(
        "/tmp/rgpu-lanes-test-" + std::to_string(getpid()) + ".port", {"--sim-exec", "plugin"});
    ASSERT_FALSE(server.empty()) << "rgpu-server did not start";
    setenv("RGPU_SERVER", server.c_str(), 1);
    setenv("RGPU_FLUSH_US", "100", 1);
    Api api;
    ASSERT_EQ(api.Init(0), CUDA_SUCCESS);
    ASSERT_EQ(api.Retain(&g_ctx, 0), CUDA_SUCCESS);
  }
  void TearDown() override { g_server.stop(); }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new LiveServer);

TEST(Lanes, EightThreadsKeepIssueOrder) {
  Api api;
  ASSERT_EQ(api.SetCurrent(g_ctx), CUDA_SUCCESS);
  constexpr int kThreads = 8, kWrites = 20000;
  CUdeviceptr slots;
  ASSERT_EQ(api.Alloc(&slots, kThreads * 64), CUDA_SUCCESS);
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      if (api.SetCurrent(g_ctx) != CUDA_SUCCESS) failures++;
      CUdeviceptr mine = slots + t * 64;
      for (uint32_t k = 1; k <= kWrites; ++k) {
        uint32_t v = (t << 24) | k;
        CUresult r = k % 2 ? api.HtoDAsync(mine, &v, sizeof v, nullptr)
                           : api.MemsetAsync(mine, v, 1, nullptr);
        if (r != CUDA_SUCCESS) failures++;
        if (k % 5000 == 0) usleep(300);  // let the deadline flusher send partial batches
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(api.Sync(), CUDA_SUCCESS);
  std::vector<uint32_t> got(kThreads * 16);
  ASSERT_EQ(api.DtoH(got.data(), slots, got.size() * 4), CUDA_SUCCESS);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(got[t * 16], (uint32_t(t) << 24) | kWrites) << "thread " << t;
}

TEST(Lanes, SyncSeesOtherThreadsWrites) {
  Api api;
  ASSERT_EQ(api.SetCurrent(g_ctx), CUDA_SUCCESS);
  CUdeviceptr cell;
  ASSERT_EQ(api.Alloc(&cell, 64), CUDA_SUCCESS);
  constexpr int kRounds = 300;
  std::atomic<int> written{0};
  std::atomic<int> bad{0};
  std::thread writer([&] {
    api.SetCurrent(g_ctx);
    for (int i = 1; i <= kRounds; ++i) {
      uint32_t v = i;
      if (api.MemsetAsync(cell, v, 1, nullptr) != CUDA_SUCCESS) bad++;
      written.store(i, std::memory_order_release);
      while (written.load(std::memory_order_acquire) != -i) std::this_thread::yield();
    }
  });
  std::thread reader([&] {
    api.SetCurrent(g_ctx);
    for (int i = 1; i <= kRounds; ++i) {
      while (written.load(std::memory_order_acquire) != i) std::this_thread::yield();
      uint32_t v = 0;
      if (api.DtoH(&v, cell, sizeof v) != CUDA_SUCCESS || v != uint32_t(i)) bad++;
      written.store(-i, std::memory_order_release);
    }
  });
  writer.join();
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "a sync read on one thread missed an async write of another";
}

// The fatbin of kernels/unserved.cu (a kernel the sim backend has no host code for).
std::string unserved_image() {
  std::ifstream f(RGPU_UNSERVED_FATBIN, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Lanes, BatchedLaunchErrorSurfacesAtNextSync) {
  Api api;
  ASSERT_EQ(api.SetCurrent(g_ctx), CUDA_SUCCESS);
  const std::string image = unserved_image();
  ASSERT_FALSE(image.empty());
  CUmodule m;
  ASSERT_EQ(api.Load(&m, image.data()), CUDA_SUCCESS);
  CUfunction fn;
  ASSERT_EQ(api.GetFunction(&fn, m, "rgpu_test_unserved"), CUDA_SUCCESS);
  CUdeviceptr out;
  ASSERT_EQ(api.Alloc(&out, 64), CUDA_SUCCESS);
  ASSERT_EQ(api.Sync(), CUDA_SUCCESS);
  void* params[] = {&out};
  // Batched: the call itself cannot know the worker will fail it.
  EXPECT_EQ(api.Launch(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, params, nullptr), CUDA_SUCCESS);
  uint32_t v = 0;
  EXPECT_EQ(api.HtoDAsync(out, &v, sizeof v, nullptr), CUDA_SUCCESS);
  CUresult r = api.Sync();
  EXPECT_NE(r, CUDA_SUCCESS) << "the batched launch's error was lost";
  // A bad geometry is refused locally, before anything is sent.
  EXPECT_EQ(api.Launch(fn, 1, 1, 1, 2048, 1, 1, 0, nullptr, params, nullptr),
            CUDA_ERROR_INVALID_VALUE);
}

TEST(Lanes, PendingNotFoundIsNotTakenForAnImageMiss) {
  Api api;
  ASSERT_EQ(api.SetCurrent(g_ctx), CUDA_SUCCESS);
  const std::string image = unserved_image();
  ASSERT_FALSE(image.empty());
  CUmodule m;
  ASSERT_EQ(api.Load(&m, image.data()), CUDA_SUCCESS);  // the server holds the image from now on
  CUfunction fn;
  ASSERT_EQ(api.GetFunction(&fn, m, "rgpu_test_unserved"), CUDA_SUCCESS);
  CUdeviceptr out;
  ASSERT_EQ(api.Alloc(&out, 64), CUDA_SUCCESS);
  ASSERT_EQ(api.Sync(), CUDA_SUCCESS);
  void* params[] = {&out};
  // Fails on the worker with CUDA_ERROR_NOT_FOUND (no host implementation), batched.
  ASSERT_EQ(api.Launch(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, params, nullptr), CUDA_SUCCESS);
  CUmodule again = nullptr;
  EXPECT_EQ(api.Load(&again, image.data()), CUDA_ERROR_NOT_FOUND)
      << "the launch's error was taken for an image miss and lost";
  // Reported once: the session goes on and the image loads by its hash.
  EXPECT_EQ(api.Sync(), CUDA_SUCCESS);
  EXPECT_EQ(api.Load(&again, image.data()), CUDA_SUCCESS);
  EXPECT_EQ(api.GetFunction(&fn, again, "rgpu_test_unserved"), CUDA_SUCCESS);
}

TEST(Lanes, BulkCopiesRoundTrip) {
  Api api;
  ASSERT_EQ(api.SetCurrent(g_ctx), CUDA_SUCCESS);
  for (size_t n : {size_t{1}, size_t{65536}, size_t{65537}, size_t{(4u << 20) + 123},
                   size_t{(9u << 20) + 7}}) {
    std::vector<uint8_t> host(n), back(n, 0xee);
    for (size_t i = 0; i < n; ++i) host[i] = uint8_t(i * 7 + 1);
    if (n > (4u << 20)) std::fill(host.begin(), host.begin() + (4u << 20), 0);  // a zero chunk
    CUdeviceptr p;
    ASSERT_EQ(api.Alloc(&p, n), CUDA_SUCCESS);
    ASSERT_EQ(api.HtoD(p, host.data(), n), CUDA_SUCCESS);
    ASSERT_EQ(api.DtoH(back.data(), p, n), CUDA_SUCCESS);
    EXPECT_TRUE(back == host) << n << " bytes";
  }
}

}  // namespace
}  // namespace rgpu::test
