// server/backend/cuda_driver.h — finding and loading the real NVIDIA driver.
//
// Contract:
// - find_nvidia_driver(explicit) returns the absolute path of the NVIDIA libcuda.so.1: the
//   explicit path (--driver) if given, else the first candidate from the system library cache
//   (`ldconfig -p`), else well-known install paths. Candidates that are rgpu's own shim (a
//   library exporting an rgpu marker symbol, or one under <our prefix>/lib/rgpu) or the
//   toolkit's stub (…/stubs/…) are skipped; an explicit one is refused with the reason. When
//   nothing is found the error starts with "no NVIDIA driver found".
// - CudaDriver::load() dlopens that path (RTLD_LOCAL) and resolves every entry point the cuda
//   backend uses through the driver's own cuGetProcAddress_v2 at an explicit ABI version, so
//   each pointer has exactly the prototype of its PFN_*_vNNNN typedef. Nothing is initialised
//   (no cuInit) by load().
#pragma once

#include <cudaTypedefs.h>

#include <string>

namespace rgpu::server {

// Exported by rgpu's libcuda.so.1; a driver that has one of these is ours, not NVIDIA's.
inline constexpr const char* kRgpuMarkerSymbols[] = {"rgpu_interpose_marker", "rgpu_shim_version"};

struct DriverSearch {
  std::string path;   // empty when none was found
  std::string error;  // why, naming what was tried
};

// With any_driver (rgpu-server --cuda-driver), an explicit path is taken whatever driver it is,
// rgpu's own shim included (to chain through another rgpu server), as long as it loads and
// exports cuGetProcAddress_v2.
DriverSearch find_nvidia_driver(const std::string& explicit_path, bool any_driver = false);
// "" when `path` may be loaded as the NVIDIA driver (or, with any_driver, as a driver), else
// why not.
std::string refuse_reason(const std::string& path, bool any_driver = false);

// (name, ABI version) of every entry point the cuda backend calls.
#define RGPU_CUDA_DRIVER_FNS(X)           \
  X(cuInit, 2000)                         \
  X(cuDriverGetVersion, 2020)             \
  X(cuGetErrorName, 6000)                 \
  X(cuGetErrorString, 6000)               \
  X(cuDeviceGet, 2000)                    \
  X(cuDeviceGetCount, 2000)               \
  X(cuDeviceGetAttribute, 2000)           \
  X(cuDeviceGetName, 2000)                \
  X(cuDeviceGetUuid, 11040)               \
  X(cuDeviceTotalMem, 3020)               \
  X(cuDevicePrimaryCtxRetain, 7000)       \
  X(cuDevicePrimaryCtxRelease, 11000)     \
  X(cuCtxSetCurrent, 4000)                \
  X(cuCtxSynchronize, 2000)               \
  X(cuMemAddressReserve, 10020)           \
  X(cuMemAddressFree, 10020)              \
  X(cuMemCreate, 10020)                   \
  X(cuMemRelease, 10020)                  \
  X(cuMemMap, 10020)                      \
  X(cuMemUnmap, 10020)                    \
  X(cuMemSetAccess, 10020)                \
  X(cuMemGetAllocationGranularity, 10020) \
  X(cuMemHostAlloc, 2020)                 \
  X(cuMemFreeHost, 2000)                  \
  X(cuMemcpyHtoDAsync, 3020)              \
  X(cuMemcpyDtoHAsync, 3020)              \
  X(cuMemcpyDtoDAsync, 3020)              \
  X(cuMemsetD8Async, 3020)                \
  X(cuMemsetD16Async, 3020)               \
  X(cuMemsetD32Async, 3020)               \
  X(cuMemsetD8, 3020)                     \
  X(cuMemcpy2DAsync, 3020)                \
  X(cuMemsetD2D8Async, 3020)              \
  X(cuMemsetD2D16Async, 3020)             \
  X(cuMemsetD2D32Async, 3020)             \
  X(cuStreamCreateWithPriority, 5050)     \
  X(cuStreamDestroy, 4000)                \
  X(cuStreamSynchronize, 2000)            \
  X(cuStreamQuery, 2000)                  \
  X(cuStreamWaitEvent, 3020)              \
  X(cuEventCreate, 2000)                  \
  X(cuEventDestroy, 4000)                 \
  X(cuEventRecord, 2000)                  \
  X(cuEventSynchronize, 2000)             \
  X(cuEventQuery, 2000)                   \
  X(cuEventElapsedTime, 12080)            \
  X(cuLibraryLoadData, 12000)             \
  X(cuLibraryUnload, 12000)               \
  X(cuLibraryGetKernel, 12000)            \
  X(cuLibraryGetGlobal, 12000)            \
  X(cuKernelGetFunction, 12000)           \
  X(cuFuncGetParamInfo, 12040)            \
  X(cuFuncGetAttribute, 2020)             \
  X(cuFuncSetAttribute, 9000)             \
  X(cuLaunchKernel, 4000)                 \
  X(cuLaunchKernelEx, 11060)              \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags, 7000)

class CudaDriver {
 public:
  CudaDriver() = default;
  ~CudaDriver();
  CudaDriver(const CudaDriver&) = delete;
  CudaDriver& operator=(const CudaDriver&) = delete;

  // "" on success, else what failed (naming the path and the missing entry point).
  std::string load(const std::string& path, bool any_driver = false);
  const std::string& path() const { return path_; }

#define RGPU_CUDA_FN_FIELD(name, ver) PFN_##name##_v##ver name = nullptr;
  RGPU_CUDA_DRIVER_FNS(RGPU_CUDA_FN_FIELD)
#undef RGPU_CUDA_FN_FIELD

 private:
  void* handle_ = nullptr;
  std::string path_;
};

}  // namespace rgpu::server
