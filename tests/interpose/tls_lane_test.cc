// tests/interpose/tls_lane_test.cc — one TLS lane shared by many threads, through the real
// libcuda.so.1 against a live `rgpu-server --backend sim` serving TLS with client certificates
// (a CA and certificates made with the openssl CLI).
//
// With RGPU_LANES=1 a TLS session has one lane per device for all threads, and the lane has a
// reader and a writer that may be different threads (app threads, the deadline flusher, the
// background sender and receiver of pinned copies). OpenSSL forbids two threads in one SSL object
// at once, so protocol/tls.cc serialises every SSL call (transport.h).
//
// - EightThreadsShareOneTlsLane: 8 threads each run sync calls, batched memsets and vec_add
//   launches, and pinned cuMemcpyHtoDAsync / cuMemcpyDtoHAsync copies (inline and bulk sizes)
//   at once; every byte read back is checked. This executable defines SSL_read_ex,
//   SSL_write_ex and SSL_get_error itself (exported, so the shim's calls bind to them) and
//   forwards to libssl, counting calls that overlap on one SSL object: there must be none.
//   With RGPU_TEST_PLAIN=1 (the ctest entry ...PlainTcpOneLane) the same work runs over plain
//   TCP with RGPU_LANES=1: every thread shares one lane and one socket. With
//   RGPU_TEST_TLS_LANES=join (the ctest entry ...TlsLanesJoin) the threads' lanes join the TLS
//   session instead (protocol 4: a plaintext routing preamble, then TLS; lane_preamble.h): the
//   same work and checks, and the detector must see more than one SSL object.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/interpose/shim_loader.h"
#include "tests/interpose/sim_server.h"
#include "tests/pki.h"

// --- the overlap detector ----------------------------------------------------------------------

namespace {

struct SslWatch {
  std::mutex mu;
  std::map<const void*, int> in_flight;
  std::atomic<long> calls{0};
  std::atomic<long> overlaps{0};

  void enter(const void* ssl) {
    calls.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> g(mu);
    if (in_flight[ssl]++ > 0) overlaps.fetch_add(1, std::memory_order_relaxed);
  }
  void leave(const void* ssl) {
    std::lock_guard<std::mutex> g(mu);
    --in_flight[ssl];
  }
};

SslWatch& watch() {
  static SslWatch* w = new SslWatch();  // leaked: used until exit
  return *w;
}

// The real function in the libssl the shim loaded.
void* real(const char* name) {
  static void* ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
  void* f = ssl ? dlsym(ssl, name) : nullptr;
  if (!f) {
    std::fprintf(stderr, "tls_lane_test: no %s in the loaded libssl\n", name);
    std::abort();
  }
  return f;
}

struct Watched {
  explicit Watched(const void* s) : ssl(s) { watch().enter(ssl); }
  ~Watched() { watch().leave(ssl); }
  const void* ssl;
};

}  // namespace

extern "C" {
__attribute__((visibility("default"))) int SSL_read_ex(void* ssl, void* buf, size_t num,
                                                       size_t* readbytes) {
  static auto f = reinterpret_cast<int (*)(void*, void*, size_t, size_t*)>(real("SSL_read_ex"));
  Watched w(ssl);
  return f(ssl, buf, num, readbytes);
}
__attribute__((visibility("default"))) int SSL_write_ex(void* ssl, const void* buf, size_t num,
                                                        size_t* written) {
  static auto f =
      reinterpret_cast<int (*)(void*, const void*, size_t, size_t*)>(real("SSL_write_ex"));
  Watched w(ssl);
  return f(ssl, buf, num, written);
}
__attribute__((visibility("default"))) int SSL_get_error(const void* ssl, int ret) {
  static auto f = reinterpret_cast<int (*)(const void*, int)>(real("SSL_get_error"));
  Watched w(ssl);
  return f(ssl, ret);
}
}

namespace rgpu::test {
namespace {

#define API(name) decltype(&::name) name = sym<decltype(&::name)>(#name)
struct Api {
  API(cuInit);
  API(cuDevicePrimaryCtxRetain);
  API(cuCtxSetCurrent);
  API(cuStreamCreate);
  API(cuStreamDestroy_v2);
  API(cuStreamSynchronize);
  API(cuMemAlloc_v2);
  API(cuMemFree_v2);
  API(cuMemAllocHost_v2);
  API(cuMemFreeHost);
  API(cuMemGetInfo_v2);
  API(cuMemcpyHtoDAsync_v2);
  API(cuMemcpyDtoHAsync_v2);
  API(cuMemsetD32Async);
  API(cuModuleLoadData);
  API(cuModuleGetFunction);
  API(cuLaunchKernel);
};
#undef API

SimServer g_server;
CUcontext g_ctx = nullptr;
std::string g_dir;

bool plain() {
  const char* v = getenv("RGPU_TEST_PLAIN");
  return v && std::string(v) == "1";
}

bool tls_lanes_join() {
  const char* v = getenv("RGPU_TEST_TLS_LANES");
  return !plain() && v && std::string(v) == "join";
}

class LiveTlsServer : public ::testing::Environment {
 public:
  void SetUp() override {
    g_dir = "/tmp/rgpu-tls-lane-test-" + std::to_string(getpid());
    ASSERT_TRUE(rgpu::test::make_pki(g_dir, {"server:server", "client:client"}));
    std::vector<std::string> extra = {"--sim-plugin", RGPU_TEST_PLUGIN};
    if (!plain()) {
      extra.insert(extra.end(), {"--tls-cert", g_dir + "/server.pem", "--tls-key",
                                 g_dir + "/server.key", "--tls-ca", g_dir + "/ca.pem"});
    }
    std::string server = g_server.start(g_dir + "/port", extra);
    ASSERT_FALSE(server.empty()) << "rgpu-server did not start";
    setenv("RGPU_SERVER", server.c_str(), 1);
    if (plain() || !tls_lanes_join()) setenv("RGPU_LANES", "1", 1);  // one shared lane
    if (!plain()) {
      setenv("RGPU_TLS_CA", (g_dir + "/ca.pem").c_str(), 1);
      setenv("RGPU_TLS_CERT", (g_dir + "/client.pem").c_str(), 1);
      setenv("RGPU_TLS_KEY", (g_dir + "/client.key").c_str(), 1);
    }
    Api api;
    ASSERT_EQ(api.cuInit(0), CUDA_SUCCESS);
    ASSERT_EQ(api.cuDevicePrimaryCtxRetain(&g_ctx, 0), CUDA_SUCCESS);
  }
  void TearDown() override {
    g_server.stop();
    std::system(("rm -rf " + g_dir).c_str());
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new LiveTlsServer);

std::vector<uint8_t> read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return {s.begin(), s.end()};
}

// One thread's work; returns "" or what went wrong.
std::string worker(CUfunction vec_add, int id, int rounds) {
  Api api;
  if (api.cuCtxSetCurrent(g_ctx) != CUDA_SUCCESS) return "cuCtxSetCurrent";
  CUstream s;
  if (api.cuStreamCreate(&s, 0) != CUDA_SUCCESS) return "cuStreamCreate";
  // Alternate an inline size (in the batch / the reply) and a bulk one (background threads).
  const size_t sizes[] = {16u << 10, (1u << 20) + 4096};
  const size_t max = sizes[1];
  float *src = nullptr, *sum = nullptr, *back = nullptr;
  if (api.cuMemAllocHost_v2(reinterpret_cast<void**>(&src), max) != CUDA_SUCCESS ||
      api.cuMemAllocHost_v2(reinterpret_cast<void**>(&sum), max) != CUDA_SUCCESS ||
      api.cuMemAllocHost_v2(reinterpret_cast<void**>(&back), max) != CUDA_SUCCESS)
    return "cuMemAllocHost";
  CUdeviceptr a, b, c;
  if (api.cuMemAlloc_v2(&a, max) != CUDA_SUCCESS || api.cuMemAlloc_v2(&b, max) != CUDA_SUCCESS ||
      api.cuMemAlloc_v2(&c, max) != CUDA_SUCCESS)
    return "cuMemAlloc";
  std::string err;
  for (int r = 0; r < rounds && err.empty(); ++r) {
    const size_t bytes = sizes[r % 2];
    int n = static_cast<int>(bytes / sizeof(float));
    const float add = static_cast<float>(id + 1);
    for (int i = 0; i < n; ++i) src[i] = static_cast<float>((i * 7 + id * 131 + r * 17) % 4093);
    std::memset(sum, 0xAB, bytes);
    std::memset(back, 0xCD, bytes);
    uint32_t add_bits;
    std::memcpy(&add_bits, &add, 4);
    unsigned grid = static_cast<unsigned>((n + 255) / 256);
    void* params[] = {&a, &b, &c, &n};
    if (api.cuMemcpyHtoDAsync_v2(a, src, bytes, s) != CUDA_SUCCESS) return "HtoDAsync";
    if (api.cuMemsetD32Async(b, add_bits, static_cast<size_t>(n), s) != CUDA_SUCCESS)
      return "cuMemsetD32Async";
    for (int k = 0; k < 4; ++k) {  // batched launches (c = a + b, each the same)
      if (api.cuLaunchKernel(vec_add, grid, 1, 1, 256, 1, 1, 0, s, params, nullptr) != CUDA_SUCCESS)
        return "cuLaunchKernel";
    }
    if (api.cuMemcpyDtoHAsync_v2(sum, c, bytes, s) != CUDA_SUCCESS) return "DtoHAsync sum";
    if (api.cuMemcpyDtoHAsync_v2(back, a, bytes, s) != CUDA_SUCCESS) return "DtoHAsync back";
    size_t free_b = 0, total_b = 0;  // a sync call while the copies are in flight
    if (api.cuMemGetInfo_v2(&free_b, &total_b) != CUDA_SUCCESS || total_b == 0)
      return "cuMemGetInfo";
    if (api.cuStreamSynchronize(s) != CUDA_SUCCESS) return "cuStreamSynchronize";
    if (std::memcmp(back, src, bytes) != 0)
      err = "round " + std::to_string(r) + ": HtoD/DtoH bytes differ";
    for (int i = 0; i < n && err.empty(); ++i) {
      float want = src[i] + add;
      if (std::memcmp(&sum[i], &want, 4) != 0)
        err = "round " + std::to_string(r) + ": sum[" + std::to_string(i) + "] is " +
              std::to_string(sum[i]) + ", want " + std::to_string(want);
    }
  }
  api.cuMemFree_v2(a);
  api.cuMemFree_v2(b);
  api.cuMemFree_v2(c);
  api.cuMemFreeHost(src);
  api.cuMemFreeHost(sum);
  api.cuMemFreeHost(back);
  api.cuStreamDestroy_v2(s);
  return err;
}

TEST(TlsLane, EightThreadsShareOneTlsLane) {
  Api api;
  ASSERT_EQ(api.cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
  std::vector<uint8_t> image = read_file(RGPU_TEST_FATBIN);
  ASSERT_FALSE(image.empty()) << RGPU_TEST_FATBIN;
  CUmodule m;
  ASSERT_EQ(api.cuModuleLoadData(&m, image.data()), CUDA_SUCCESS);
  CUfunction fn;
  ASSERT_EQ(api.cuModuleGetFunction(&fn, m, "vec_add"), CUDA_SUCCESS);

  const long calls_before = watch().calls.load();
  const int rounds = getenv("RGPU_TEST_ROUNDS") ? std::atoi(getenv("RGPU_TEST_ROUNDS")) : 12;
  std::vector<std::string> errs(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) ts.emplace_back([&, t] { errs[t] = worker(fn, t, rounds); });
  for (auto& t : ts) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(errs[t], "") << "thread " << t;

#if !RGPU_TEST_STATIC_DEPS
  if (plain()) return;  // no TLS: nothing for the detector
  // The shim's OpenSSL calls went through the detector (a static build hides its OpenSSL).
  EXPECT_GT(watch().calls.load(), calls_before) << "the detector saw no SSL calls";
  EXPECT_EQ(watch().overlaps.load(), 0) << "two threads were inside one SSL object at once";
  size_t objects;
  {
    std::lock_guard<std::mutex> g(watch().mu);
    objects = watch().in_flight.size();
  }
  if (tls_lanes_join())
    EXPECT_GT(objects, 1u) << "the threads' lanes did not join the TLS session";
  else
    EXPECT_EQ(objects, 1u) << "RGPU_LANES=1 over TLS, yet more than one TLS connection";
#else
  (void)calls_before;
#endif
}

}  // namespace
}  // namespace rgpu::test
