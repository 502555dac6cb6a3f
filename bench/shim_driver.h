// bench/shim_driver.h — the CUDA driver entry points a benchmark calls, taken from our
// libcuda.so.1 with dlopen/dlsym (the benchmark links no CUDA library), and a sim rgpu-server
// started for the run.
//
// Contract: load() returns false with *error set when the library or a symbol is missing;
// ServerProcess starts `rgpu-server --backend sim --insecure` on a free loopback port (or a Unix
// socket) and stops it on destruction.
#pragma once

#include <cuda.h>
#include <sys/types.h>

#include <cstdio>
#include <cstdlib>

#include <string>
#include <vector>

// A driver call a benchmark cannot go on without: on failure, says which and exits 2.
#define CK(call)                                                                     \
  do {                                                                               \
    CUresult r_ = (call);                                                            \
    if (r_ != CUDA_SUCCESS) {                                                        \
      std::fprintf(stderr, "bench: %s failed: %d (line %d)\n", #call, r_, __LINE__); \
      std::_Exit(2);                                                                 \
    }                                                                                \
  } while (0)

namespace rgpu::bench {

struct ShimDriver {
  void* handle = nullptr;
  decltype(&::cuInit) Init = nullptr;
  decltype(&::cuDeviceGet) DeviceGet = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) PrimaryCtxRetain = nullptr;
  decltype(&::cuCtxSetCurrent) CtxSetCurrent = nullptr;
  decltype(&::cuCtxSynchronize) CtxSynchronize = nullptr;
  decltype(&::cuMemAlloc_v2) MemAlloc = nullptr;
  decltype(&::cuMemFree_v2) MemFree = nullptr;
  decltype(&::cuMemGetInfo_v2) MemGetInfo = nullptr;
  decltype(&::cuMemcpyHtoD_v2) MemcpyHtoD = nullptr;
  decltype(&::cuMemcpyDtoH_v2) MemcpyDtoH = nullptr;
  decltype(&::cuModuleLoadData) ModuleLoadData = nullptr;
  decltype(&::cuModuleGetFunction) ModuleGetFunction = nullptr;
  decltype(&::cuLaunchKernel) LaunchKernel = nullptr;
  decltype(&::cuStreamCreate) StreamCreate = nullptr;
  decltype(&::cuStreamSynchronize) StreamSynchronize = nullptr;
  decltype(&::cuMemsetD32_v2) MemsetD32 = nullptr;

  bool load(const std::string& path, std::string* error);
};

// A training-like loop on the current context (figures 4 and 6): loads `image` (a fatbin with
// rgpu_bench_args, bench/noop.cu), then each step uploads a 256 KiB batch, runs 12 forward and
// 12 backward launches, zeroes the gradients and reads the loss (the one value the host needs
// each step). Exits 2 naming the call when one fails.
void train_steps(ShimDriver& d, const std::string& image, int steps);

class ServerProcess {
 public:
  // extra: further rgpu-server flags (e.g. TLS). unix_path: listen there instead of TCP.
  ServerProcess(const std::string& server_bin, const std::string& plugin,
                const std::vector<std::string>& extra, const std::string& unix_path = "");
  ~ServerProcess();
  bool ok() const { return !endpoint_.empty(); }
  const std::string& endpoint() const { return endpoint_; }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
  std::string port_file_;
};

}  // namespace rgpu::bench
