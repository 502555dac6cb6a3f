// tests/interpose/exports_test.cc — libcuda.so.1 exports only CUDA driver symbols, including
// every versioned name cuBLASLt dlsyms, and no C++ runtime (DESIGN contract 7).
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "tests/interpose/shim_loader.h"

namespace rgpu::test {
namespace {

std::set<std::string> run_lines(const std::string& cmd) {
  std::set<std::string> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) {
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty()) out.insert(s);
  }
  pclose(p);
  return out;
}

TEST(Exports, OnlyCudaDriverSymbols) {
  auto syms =
      run_lines(std::string("nm -D --defined-only ") + RGPU_SHIM_PATH + " | awk '{print $3}'");
  ASSERT_GT(syms.size(), 600u);  // every cuda.h entry point is exported
  for (const std::string& s : syms) EXPECT_EQ(s.rfind("cu", 0), 0u) << "exported: " << s;
  for (const char* want : {"cuGetProcAddress_v2",
                           "cuGetProcAddress",
                           "cuGetExportTable",
                           "cuInit",
                           "cuDriverGetVersion",
                           "cuCtxPushCurrent",
                           "cuCtxPushCurrent_v2",
                           "cuCtxPopCurrent",
                           "cuEventElapsedTime",
                           "cuMemcpyHtoD_v2",
                           "cuMemcpyHtoD_v2_ptds",
                           "cuLaunchKernel_ptsz",
                           "cuLaunchKernelEx",
                           "cuLinkCreate_v2",
                           "cuGraphInstantiate",
                           "cuStreamGetCaptureInfo_v2",
                           "cuTensorMapEncodeTiled",
                           "cuCtxSynchronize_v2",
                           "cuMemAlloc",
                           "cuMemAlloc_v2"}) {
    EXPECT_TRUE(syms.count(want)) << want << " missing";
  }
}

// libnvidia-ml.so.1 beside the shim: NVML symbols only, and nothing but libc (plain C).
TEST(Exports, NvmlBesideTheShimExportsNvmlOnly) {
  std::string dir = RGPU_SHIM_PATH;
  dir = dir.substr(0, dir.rfind('/'));
  const std::string nvml = dir + "/libnvidia-ml.so.1";
  auto syms = run_lines("nm -D --defined-only " + nvml + " | awk '{print $3}'");
  ASSERT_GT(syms.size(), 30u);
  for (const std::string& s : syms) EXPECT_EQ(s.rfind("nvml", 0), 0u) << "exported: " << s;
  for (const char* want :
       {"nvmlInit_v2", "nvmlDeviceGetHandleByPciBusId_v2", "nvmlDeviceGetNvLinkRemoteDeviceType",
        "nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlSystemGetCudaDriverVersion_v2"})
    EXPECT_TRUE(syms.count(want)) << "missing " << want;
  // (A sanitizer build links its runtime, and with it libstdc++, into every library.)
  if (RGPU_TEST_SANITIZE) return;
  for (const std::string& lib : run_lines("ldd " + nvml + " | awk '{print $1}'")) {
    EXPECT_TRUE(lib.find("libstdc++") == std::string::npos &&
                lib.find("libkj") == std::string::npos)
        << nvml << " needs " << lib;
  }
}

TEST(Exports, NoDynamicCppRuntimeFromTheShimItself) {
  // Undefined C++ runtime symbols would bind to the process's libstdc++.
  auto undef = run_lines(std::string("nm -D --undefined-only ") + RGPU_SHIM_PATH +
                         " | awk '{print $2}' | grep -E '^_ZNSt|^_ZSt|^__cxa|^_ZTVN10__cxxabiv' "
                         "|| true");
#if !RGPU_TEST_STATIC_DEPS
  GTEST_SKIP() << "only RGPU_STATIC_DEPS=ON builds are free of the shared C++ runtime (capnp is "
                  "linked dynamically otherwise)";
#endif
  for (const std::string& s : undef) {
    if (s.find("@GLIBC") == std::string::npos) ADD_FAILURE() << "libcuda.so.1 imports " << s;
  }
}

}  // namespace
}  // namespace rgpu::test
