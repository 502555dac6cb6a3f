// tests/interpose/proc_address_test.cc — cuGetProcAddress resolves (name, version, flags) to the
// exported variant, through the built libcuda.so.1.
#include "tests/interpose/shim_loader.h"

namespace rgpu::test {
namespace {

struct Resolved {
  CUresult status;
  void* fn;
  CUdriverProcAddressQueryResult found;
};

Resolved resolve(const char* name, int version, cuuint64_t flags) {
  auto gpa = sym<PFN_cuGetProcAddress_v12000>("cuGetProcAddress_v2");
  EXPECT_NE(gpa, nullptr);
  Resolved r{CUDA_ERROR_UNKNOWN, reinterpret_cast<void*>(1), CU_GET_PROC_ADDRESS_SUCCESS};
  if (gpa) r.status = gpa(name, &r.fn, version, flags, &r.found);
  return r;
}

void expect_resolves(const char* name, int version, cuuint64_t flags, const char* export_name) {
  Resolved r = resolve(name, version, flags);
  EXPECT_EQ(r.status, CUDA_SUCCESS) << name << "@" << version << " flags " << flags;
  EXPECT_EQ(r.found, CU_GET_PROC_ADDRESS_SUCCESS);
  void* expected = sym<void*>(export_name);
  ASSERT_NE(expected, nullptr) << export_name << " is not exported";
  EXPECT_EQ(r.fn, expected) << name << "@" << version << " flags " << flags << " should be "
                            << export_name;
}

TEST(ProcAddress, VersionPicksTheVariant) {
  expect_resolves("cuMemAlloc", 3020, 0, "cuMemAlloc_v2");
  expect_resolves("cuMemAlloc", 13000, 0, "cuMemAlloc_v2");
  expect_resolves("cuCtxSynchronize", 13000, 0, "cuCtxSynchronize_v2");
  expect_resolves("cuCtxSynchronize", 12090, 0, "cuCtxSynchronize");
  expect_resolves("cuCtxGetDevice", 13000, 0, "cuCtxGetDevice_v2");
  expect_resolves("cuDevicePrimaryCtxRelease", 7000, 0, "cuDevicePrimaryCtxRelease");
  expect_resolves("cuDevicePrimaryCtxRelease", 11000, 0, "cuDevicePrimaryCtxRelease_v2");
  expect_resolves("cuDeviceGetUuid", 9020, 0, "cuDeviceGetUuid");
  expect_resolves("cuDeviceGetUuid", 11040, 0, "cuDeviceGetUuid_v2");
  expect_resolves("cuEventElapsedTime", 12080, 0, "cuEventElapsedTime_v2");
  expect_resolves("cuGetProcAddress", 11030, 0, "cuGetProcAddress");
  expect_resolves("cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2");
}

TEST(ProcAddress, PerThreadDefaultStreamFlag) {
  expect_resolves("cuLaunchKernel", 4000, 0, "cuLaunchKernel");
  expect_resolves("cuLaunchKernel", 7000, 2, "cuLaunchKernel_ptsz");
  expect_resolves("cuMemcpyHtoD", 3020, 2, "cuMemcpyHtoD_v2");  // no _ptds at 3020
  expect_resolves("cuMemcpyHtoD", 7000, 2, "cuMemcpyHtoD_v2_ptds");
  expect_resolves("cuMemcpyHtoDAsync", 7000, 2, "cuMemcpyHtoDAsync_v2_ptsz");
  expect_resolves("cuMemcpyHtoDAsync", 7000, 0, "cuMemcpyHtoDAsync_v2");
  expect_resolves("cuEventRecord", 7000, 2, "cuEventRecord_ptsz");
  expect_resolves("cuStreamSynchronize", 7000, 1, "cuStreamSynchronize");  // legacy flag
  // A name without per-thread variants resolves to its plain variant under flag 2.
  expect_resolves("cuMemAlloc", 3020, 2, "cuMemAlloc_v2");
}

TEST(ProcAddress, UnknownAndUnservedAreNotFound) {
  Resolved r = resolve("cuNoSuchFunction", 13000, 0);
  EXPECT_EQ(r.status, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(r.found, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(r.fn, nullptr);
  r = resolve("", 0, 0);  // cudart's first probe
  EXPECT_EQ(r.status, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(r.found, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  // Exported (as a stub) but not served: reported as not found, never a fake success.
  r = resolve("cuArrayCreate", 13000, 0);
  EXPECT_EQ(r.status, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(r.found, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(r.fn, nullptr);
  // Requested below the symbol's first ABI version.
  r = resolve("cuCtxGetId", 11000, 0);
  EXPECT_EQ(r.status, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(r.found, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  // Bad flags and null outputs are rejected.
  void* fn = nullptr;
  auto gpa = sym<PFN_cuGetProcAddress_v12000>("cuGetProcAddress_v2");
  ASSERT_NE(gpa, nullptr);
  EXPECT_EQ(gpa("cuInit", &fn, 13000, 8, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(gpa("cuInit", nullptr, 13000, 0, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(gpa(nullptr, &fn, 13000, 0, nullptr), CUDA_ERROR_INVALID_VALUE);
}

TEST(ProcAddress, StubsReturnNotSupported) {
  auto stub = sym<CUresult (*)(CUarray*, const CUDA_ARRAY_DESCRIPTOR*)>("cuArrayCreate_v2");
  ASSERT_NE(stub, nullptr);
  CUarray a = nullptr;
  CUDA_ARRAY_DESCRIPTOR desc{};
  EXPECT_EQ(stub(&a, &desc), CUDA_ERROR_NOT_SUPPORTED);
}

TEST(ProcAddress, DriverVersionWithoutServer) {
  auto ver = sym<PFN_cuDriverGetVersion_v2020>("cuDriverGetVersion");
  ASSERT_NE(ver, nullptr);
  int v = 0;
  EXPECT_EQ(ver(&v), CUDA_SUCCESS);
  EXPECT_EQ(v, CUDA_VERSION);
  EXPECT_GE(v, 13000);  // cudart 13 refuses older drivers
}

TEST(ProcAddress, ErrorNames) {
  auto name = sym<PFN_cuGetErrorName_v6000>("cuGetErrorName");
  ASSERT_NE(name, nullptr);
  const char* s = nullptr;
  EXPECT_EQ(name(CUDA_ERROR_INVALID_VALUE, &s), CUDA_SUCCESS);
  EXPECT_STREQ(s, "CUDA_ERROR_INVALID_VALUE");
  EXPECT_EQ(name(static_cast<CUresult>(123456), &s), CUDA_ERROR_INVALID_VALUE);
}

TEST(ProcAddress, CallsBeforeInitAreNotInitialized) {
  auto count = sym<PFN_cuDeviceGetCount_v2000>("cuDeviceGetCount");
  ASSERT_NE(count, nullptr);
  int n = -1;
  EXPECT_EQ(count(&n), CUDA_ERROR_NOT_INITIALIZED);
}

TEST(ProcAddressDeathTest, InitWithoutServerIsNoDeviceWithAMessage) {
  EXPECT_EXIT(
      {
        unsetenv("RGPU_SERVER");
        unsetenv("RGPU_POOL");
        auto init = sym<PFN_cuInit_v2000>("cuInit");
        exit(init && init(0) == CUDA_ERROR_NO_DEVICE ? 7 : 1);
      },
      testing::ExitedWithCode(7), "RGPU_SERVER");
}

TEST(ProcAddressDeathTest, UnreachableServerIsNoDeviceNamingIt) {
  EXPECT_EXIT(
      {
        setenv("RGPU_SERVER", "127.0.0.1:1", 1);
        auto init = sym<PFN_cuInit_v2000>("cuInit");
        exit(init && init(0) == CUDA_ERROR_NO_DEVICE ? 7 : 1);
      },
      testing::ExitedWithCode(7), "127.0.0.1:1.*RGPU_SERVER");
}

}  // namespace
}  // namespace rgpu::test
