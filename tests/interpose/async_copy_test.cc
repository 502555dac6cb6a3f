// tests/interpose/async_copy_test.cc — stream-ordered copies with page-locked host memory and
// client-side function attributes, through the real libcuda.so.1 against a live
// `rgpu-server --backend sim` (interpose/lane.h, interpose/kernel_attrs.h).
//
// - PinnedHtoDAsyncReturnsBeforeTheBytesMove: a 64 MiB cuMemcpyHtoDAsync from cuMemAllocHost
//   memory returns well before the copy could have crossed the socket, and the data arrives.
// - LaterCallsKeepTheirOrder: an async HtoD from pinned memory, then an async memset over its
//   first word on the same thread: the device holds the copy with the memset on top.
// - PinnedDtoHAsyncLandsBeforeTheSync: cuMemcpyDtoHAsync into pinned memory (inline and bulk
//   sizes) holds the device's bytes once cuStreamSynchronize / cuCtxSynchronize returns; a
//   sync on another thread covers a copy this thread issued.
// - FreeingPinnedMemoryWaitsForItsCopy: cuMemFreeHost right after an async HtoD from that
//   memory (ASan would see the background sender read freed memory).
// - RegisteredAndPageableMemory: cuMemHostRegister'ed memory takes the background path,
//   pageable memory the synchronous one; both round-trip byte for byte.
// - FunctionAttributesFromTheImage: cuFuncGetAttribute and the occupancy calls agree with the
//   cubin's own attributes (parsed here with protocol/image) and occupancy.h.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "protocol/image/kernel_table.h"
#include "tests/interpose/shim_loader.h"
#include "tests/interpose/sim_server.h"

namespace rgpu::test {
namespace {

#define API(name) decltype(&::name) name = sym<decltype(&::name)>(#name)
struct Api {
  API(cuInit);
  API(cuDevicePrimaryCtxRetain);
  API(cuCtxSetCurrent);
  API(cuCtxSynchronize);
  API(cuStreamCreate);
  API(cuStreamSynchronize);
  API(cuMemAlloc_v2);
  API(cuMemFree_v2);
  API(cuMemAllocHost_v2);
  API(cuMemFreeHost);
  API(cuMemHostRegister_v2);
  API(cuMemHostUnregister);
  API(cuMemcpyHtoDAsync_v2);
  API(cuMemcpyDtoHAsync_v2);
  API(cuMemcpyHtoD_v2);
  API(cuMemcpyDtoH_v2);
  API(cuMemsetD32Async);
  API(cuModuleLoadData);
  API(cuModuleGetFunction);
  API(cuFuncGetAttribute);
  API(cuDeviceGetAttribute);
  API(cuOccupancyMaxActiveBlocksPerMultiprocessor);
  API(cuOccupancyMaxPotentialBlockSize);
};
#undef API

SimServer g_server;
CUcontext g_ctx = nullptr;

class LiveServer : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string server =
        g_server.start("/tmp/rgpu-async-copy-test-" + std::to_string(getpid()) + ".port");
    ASSERT_FALSE(server.empty()) << "rgpu-server did not start";
    setenv("RGPU_SERVER", server.c_str(), 1);
    Api api;
    ASSERT_EQ(api.cuInit(0), CUDA_SUCCESS);
    ASSERT_EQ(api.cuDevicePrimaryCtxRetain(&g_ctx, 0), CUDA_SUCCESS);
  }
  void TearDown() override { g_server.stop(); }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new LiveServer);

void fill(uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 13 + seed + (i >> 12));
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(AsyncCopy, PinnedHtoDAsyncReturnsBeforeTheBytesMove) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  const size_t n = 64u << 20;
  uint8_t* host = nullptr;
  ASSERT_EQ(api.cuMemAllocHost_v2(reinterpret_cast<void**>(&host), n), CUDA_SUCCESS);
  fill(host, n, 1);
  CUdeviceptr d;
  ASSERT_EQ(api.cuMemAlloc_v2(&d, n), CUDA_SUCCESS);
  CUstream s;
  ASSERT_EQ(api.cuStreamCreate(&s, 0), CUDA_SUCCESS);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(api.cuMemcpyHtoDAsync_v2(d, host, n, s), CUDA_SUCCESS);
  double call = seconds(t0);
  ASSERT_EQ(api.cuStreamSynchronize(s), CUDA_SUCCESS);
  double total = seconds(t0);
  // 64 MiB through a socket and a worker takes tens of ms; the call only sends a batch frame.
  EXPECT_LT(call, total / 4) << "the async copy did not return before the bytes moved ("
                             << call * 1e3 << " ms of " << total * 1e3 << " ms)";
  std::vector<uint8_t> back(n);
  ASSERT_EQ(api.cuMemcpyDtoH_v2(back.data(), d, n), CUDA_SUCCESS);
  EXPECT_EQ(std::memcmp(back.data(), host, n), 0);
  ASSERT_EQ(api.cuMemFree_v2(d), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemFreeHost(host), CUDA_SUCCESS);
}

TEST(AsyncCopy, LaterCallsKeepTheirOrder) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  const size_t n = (9u << 20) + 4;
  uint8_t* host = nullptr;
  ASSERT_EQ(api.cuMemAllocHost_v2(reinterpret_cast<void**>(&host), n), CUDA_SUCCESS);
  CUdeviceptr d;
  ASSERT_EQ(api.cuMemAlloc_v2(&d, n), CUDA_SUCCESS);
  for (uint8_t round = 0; round < 4; ++round) {
    fill(host, n, round);
    ASSERT_EQ(api.cuMemcpyHtoDAsync_v2(d, host, n, nullptr), CUDA_SUCCESS);
    ASSERT_EQ(api.cuMemsetD32Async(d, 0xabcd0000u + round, 1, nullptr), CUDA_SUCCESS);
    ASSERT_EQ(api.cuCtxSynchronize(), CUDA_SUCCESS);  // the host may change `host` after this
    std::vector<uint8_t> back(n);
    ASSERT_EQ(api.cuMemcpyDtoH_v2(back.data(), d, n), CUDA_SUCCESS);
    uint32_t first;
    std::memcpy(&first, back.data(), 4);
    EXPECT_EQ(first, 0xabcd0000u + round) << "the memset ran before the copy";
    EXPECT_EQ(std::memcmp(back.data() + 4, host + 4, n - 4), 0) << "round " << int(round);
  }
  ASSERT_EQ(api.cuMemFree_v2(d), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemFreeHost(host), CUDA_SUCCESS);
}

TEST(AsyncCopy, PinnedDtoHAsyncLandsBeforeTheSync) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  CUstream s;
  ASSERT_EQ(api.cuStreamCreate(&s, 0), CUDA_SUCCESS);
  for (size_t n : {size_t{4096}, size_t{65536}, size_t{(5u << 20) + 3}}) {
    std::vector<uint8_t> src(n);
    fill(src.data(), n, 7);
    CUdeviceptr d;
    ASSERT_EQ(api.cuMemAlloc_v2(&d, n), CUDA_SUCCESS);
    ASSERT_EQ(api.cuMemcpyHtoD_v2(d, src.data(), n), CUDA_SUCCESS);
    uint8_t* host = nullptr;
    ASSERT_EQ(api.cuMemAllocHost_v2(reinterpret_cast<void**>(&host), n), CUDA_SUCCESS);
    std::memset(host, 0, n);
    ASSERT_EQ(api.cuMemcpyDtoHAsync_v2(host, d, n, s), CUDA_SUCCESS);
    ASSERT_EQ(api.cuStreamSynchronize(s), CUDA_SUCCESS);
    EXPECT_EQ(std::memcmp(host, src.data(), n), 0) << n << " bytes, stream sync";
    // Issued on another thread, covered by this thread's context sync.
    std::memset(host, 0, n);
    std::thread t([&] {
      api.cuCtxSetCurrent(g_ctx);
      EXPECT_EQ(api.cuMemcpyDtoHAsync_v2(host, d, n, s), CUDA_SUCCESS);
    });
    t.join();
    ASSERT_EQ(api.cuCtxSynchronize(), CUDA_SUCCESS);
    EXPECT_EQ(std::memcmp(host, src.data(), n), 0) << n << " bytes, other thread's copy";
    ASSERT_EQ(api.cuMemFreeHost(host), CUDA_SUCCESS);
    ASSERT_EQ(api.cuMemFree_v2(d), CUDA_SUCCESS);
  }
}

TEST(AsyncCopy, FreeingPinnedMemoryWaitsForItsCopy) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  const size_t n = 32u << 20;
  uint8_t* host = nullptr;
  ASSERT_EQ(api.cuMemAllocHost_v2(reinterpret_cast<void**>(&host), n), CUDA_SUCCESS);
  fill(host, n, 3);
  std::vector<uint8_t> expect(host, host + n);
  CUdeviceptr d;
  ASSERT_EQ(api.cuMemAlloc_v2(&d, n), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemcpyHtoDAsync_v2(d, host, n, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemFreeHost(host), CUDA_SUCCESS);
  std::vector<uint8_t> back(n);
  ASSERT_EQ(api.cuMemcpyDtoH_v2(back.data(), d, n), CUDA_SUCCESS);
  EXPECT_TRUE(back == expect);
  ASSERT_EQ(api.cuMemFree_v2(d), CUDA_SUCCESS);
}

TEST(AsyncCopy, RegisteredAndPageableMemory) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  const size_t n = (6u << 20) + 100;
  std::vector<uint8_t> registered(n), pageable(n), back(n);
  fill(registered.data(), n, 11);
  fill(pageable.data(), n, 12);
  ASSERT_EQ(api.cuMemHostRegister_v2(registered.data(), n, 0), CUDA_SUCCESS);
  CUdeviceptr a, b;
  ASSERT_EQ(api.cuMemAlloc_v2(&a, n), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemAlloc_v2(&b, n), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemcpyHtoDAsync_v2(a, registered.data(), n, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemcpyHtoDAsync_v2(b, pageable.data(), n, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(api.cuMemHostUnregister(registered.data()), CUDA_SUCCESS);  // waits for the copy
  ASSERT_EQ(api.cuMemcpyDtoHAsync_v2(back.data(), a, n, nullptr), CUDA_SUCCESS);  // pageable
  EXPECT_TRUE(back == registered);
  ASSERT_EQ(api.cuMemcpyDtoH_v2(back.data(), b, n), CUDA_SUCCESS);
  EXPECT_TRUE(back == pageable);
}

TEST(AsyncCopy, FunctionAttributesFromTheImage) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  std::ifstream f(RGPU_UNSERVED_FATBIN, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string image = ss.str();
  ASSERT_FALSE(image.empty());
  auto info =
      image::parse_kernels(reinterpret_cast<const uint8_t*>(image.data()), image.size(), 90);
  ASSERT_TRUE(info.ok()) << info.error();
  const image::KernelInfo* k = info->find_kernel("rgpu_test_unserved");
  ASSERT_NE(k, nullptr);
  ASSERT_TRUE(k->attributes.num_regs.has_value());
  CUmodule m;
  ASSERT_EQ(api.cuModuleLoadData(&m, image.data()), CUDA_SUCCESS);
  image.assign(image.size(), '\0');  // the caller may reuse its bytes after the load
  CUfunction fn;
  ASSERT_EQ(api.cuModuleGetFunction(&fn, m, "rgpu_test_unserved"), CUDA_SUCCESS);
  int v = -1;
  ASSERT_EQ(api.cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, fn), CUDA_SUCCESS);
  EXPECT_EQ(v, static_cast<int>(*k->attributes.num_regs));
  ASSERT_EQ(api.cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn), CUDA_SUCCESS);
  EXPECT_EQ(v, static_cast<int>(k->attributes.static_shared_bytes.value_or(0)));
  ASSERT_EQ(api.cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn), CUDA_SUCCESS);
  EXPECT_EQ(v, 1024);  // a small kernel on an H100-like sim device
  EXPECT_EQ(api.cuFuncGetAttribute(nullptr, CU_FUNC_ATTRIBUTE_NUM_REGS, fn),
            CUDA_ERROR_INVALID_VALUE);
  int blocks = -1;
  ASSERT_EQ(api.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fn, 256, 0), CUDA_SUCCESS);
  EXPECT_EQ(blocks, 8);  // 2048 threads per SM / 256
  int grid = 0, block = 0;
  ASSERT_EQ(api.cuOccupancyMaxPotentialBlockSize(&grid, &block, fn, nullptr, 0, 0), CUDA_SUCCESS);
  int sms = 0;
  ASSERT_EQ(api.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0),
            CUDA_SUCCESS);
  EXPECT_EQ(block, 1024);
  EXPECT_EQ(grid, 2 * sms);
}

}  // namespace
}  // namespace rgpu::test
