// tests/e2e/plugin_test.cc — the e2e sim kernel plugins, loaded as the sim server loads them.
//
// Without a server: dlopen each plugin, register its kernels into a test registry, and run the
// host kernels on host buffers with parameter buffers packed at nvcc's offsets. Catches a plugin
// that registers the wrong names, reads parameters at the wrong offsets, or ignores the ABI
// version, before the e2e tests would report it as a wrong result.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "server/backend/sim_kernel_plugin.h"

namespace {

struct Registry {
  rgpu_sim_registry abi{};
  std::map<std::string, rgpu_sim_kernel_fn> kernels;
};

int register_kernel(rgpu_sim_registry* self, const char* name, rgpu_sim_kernel_fn fn) {
  auto* r = reinterpret_cast<Registry*>(self->impl);
  return r->kernels.emplace(name, fn).second ? 0 : -1;
}

class Plugin {
 public:
  explicit Plugin(const char* path) : handle_(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
    EXPECT_NE(handle_, nullptr) << dlerror();
    if (handle_ != nullptr)
      init_ = reinterpret_cast<rgpu_sim_plugin_init_fn>(dlsym(handle_, "rgpu_sim_plugin_init"));
    EXPECT_NE(init_, nullptr) << path << " does not export rgpu_sim_plugin_init";
  }
  ~Plugin() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  int init(Registry& r, uint32_t abi = RGPU_SIM_PLUGIN_ABI_VERSION) {
    r.abi.abi_version = abi;
    r.abi.impl = &r;
    r.abi.register_kernel = register_kernel;
    return init_ != nullptr ? init_(&r.abi) : -100;
  }

 private:
  void* handle_;
  rgpu_sim_plugin_init_fn init_ = nullptr;
};

// Packs parameters at explicit offsets, as the shim ships them.
struct Params {
  std::vector<uint8_t> bytes;
  template <typename T>
  Params& at(size_t off, T v) {
    if (bytes.size() < off + sizeof v) bytes.resize(off + sizeof v);
    std::memcpy(bytes.data() + off, &v, sizeof v);
    return *this;
  }
};

int launch(rgpu_sim_kernel_fn fn, const Params& p, uint32_t grid, uint32_t block) {
  rgpu_sim_launch l{};
  l.grid[0] = grid;
  l.grid[1] = l.grid[2] = 1;
  l.block[0] = block;
  l.block[1] = l.block[2] = 1;
  l.params = p.bytes.data();
  l.params_size = p.bytes.size();
  return fn(&l);
}

TEST(E2ePlugins, RegisterExactlyTheirKernels) {
  const std::map<std::string, std::vector<std::string>> want = {
      {RGPU_E2E_PLUGIN_vecadd, {"_Z11mixedParamscsd3BigPyx", "_Z9vectorAddPKfS0_Pfi"}},
      {RGPU_E2E_PLUGIN_streams, {"_Z5scalePffi"}},
      {RGPU_E2E_PLUGIN_threads, {"_Z8addConstPiii"}},
      {RGPU_E2E_PLUGIN_errors, {"_Z10trapKerneli", "_Z4fillPiii"}},
      {RGPU_E2E_PLUGIN_multi_device, {"_Z4iotaPiii"}},
  };
  for (const auto& [path, names] : want) {
    Plugin p(path.c_str());
    Registry r;
    ASSERT_EQ(p.init(r), 0) << path;
    std::vector<std::string> got;
    for (const auto& [name, fn] : r.kernels) got.push_back(name);
    EXPECT_EQ(got, names) << path;
  }
}

TEST(E2ePlugins, RefuseAnotherAbiVersion) {
  Plugin p(RGPU_E2E_PLUGIN_vecadd);
  Registry r;
  EXPECT_NE(p.init(r, RGPU_SIM_PLUGIN_ABI_VERSION + 1), 0);
  EXPECT_TRUE(r.kernels.empty());
}

TEST(E2ePlugins, FailWhenANameIsTaken) {
  Plugin p(RGPU_E2E_PLUGIN_streams);
  Registry r;
  r.kernels.emplace("_Z5scalePffi", nullptr);
  EXPECT_NE(p.init(r), 0);
}

TEST(E2ePlugins, VectorAddCoversTheGridAndStopsAtN) {
  Plugin p(RGPU_E2E_PLUGIN_vecadd);
  Registry r;
  ASSERT_EQ(p.init(r), 0);
  const int n = 1000;
  std::vector<float> a(1024, 1.5f), b(1024, 2.0f), c(1024, -1.0f);
  for (int i = 0; i < n; ++i) a[i] = static_cast<float>(i);
  Params prm;
  prm.at(0, a.data()).at(8, b.data()).at(16, c.data()).at(24, n);
  ASSERT_EQ(prm.bytes.size(), 28u);
  ASSERT_EQ(launch(r.kernels.at("_Z9vectorAddPKfS0_Pfi"), prm, 4, 256), 0);
  for (int i = 0; i < n; ++i) ASSERT_EQ(c[i], static_cast<float>(i) + 2.0f) << i;
  for (int i = n; i < 1024; ++i) ASSERT_EQ(c[i], -1.0f) << i;
}

TEST(E2ePlugins, MixedParamsReadsNvccOffsets) {
  Plugin p(RGPU_E2E_PLUGIN_vecadd);
  Registry r;
  ASSERT_EQ(p.init(r), 0);
  struct Big {
    double d;
    char c;
    int a[5];
  } big{};
  big.d = 2.5;
  big.c = 'q';
  for (int k = 0; k < 5; ++k) big.a[k] = -k * 7;
  unsigned long long out[11] = {};
  Params prm;
  prm.at(0, 'x')
      .at(2, static_cast<short>(-3))
      .at(8, 0.75)
      .at(16, big)
      .at(48, &out[0])
      .at(56, 1234567890123LL);
  ASSERT_EQ(launch(r.kernels.at("_Z11mixedParamscsd3BigPyx"), prm, 1, 32), 0);
  EXPECT_EQ(out[0], static_cast<unsigned long long>('x'));
  EXPECT_EQ(static_cast<long long>(out[1]), -3);
  double d;
  std::memcpy(&d, &out[2], sizeof d);
  EXPECT_EQ(d, 0.75);
  std::memcpy(&d, &out[3], sizeof d);
  EXPECT_EQ(d, 2.5);
  EXPECT_EQ(out[4], static_cast<unsigned long long>('q'));
  for (int k = 0; k < 5; ++k) EXPECT_EQ(static_cast<long long>(out[5 + k]), -k * 7);
  EXPECT_EQ(out[10], 1234567890123ULL);
}

TEST(E2ePlugins, ShortParameterBufferFailsTheLaunch) {
  Plugin p(RGPU_E2E_PLUGIN_vecadd);
  Registry r;
  ASSERT_EQ(p.init(r), 0);
  std::vector<float> a(4), b(4), c(4);
  Params prm;
  prm.at(0, a.data()).at(8, b.data()).at(16, c.data());  // n missing
  EXPECT_NE(launch(r.kernels.at("_Z9vectorAddPKfS0_Pfi"), prm, 1, 4), 0);
}

TEST(E2ePlugins, TrapKernelFailsOnlyForItsMagic) {
  Plugin p(RGPU_E2E_PLUGIN_errors);
  Registry r;
  ASSERT_EQ(p.init(r), 0);
  Params ok, bad;
  ok.at(0, 1);
  bad.at(0, 42);
  EXPECT_EQ(launch(r.kernels.at("_Z10trapKerneli"), ok, 1, 1), 0);
  EXPECT_NE(launch(r.kernels.at("_Z10trapKerneli"), bad, 1, 1), 0);
}

}  // namespace
