// bench/shim_driver.cc — see shim_driver.h.
#include "bench/shim_driver.h"

#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace rgpu::bench {

template <typename F>
static bool sym(void* h, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  if (!*out) *error = std::string("missing symbol ") + name;
  return *out != nullptr;
}

bool ShimDriver::load(const std::string& path, std::string* error) {
  handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    *error = dlerror();
    return false;
  }
  return sym(handle, "cuInit", &Init, error) && sym(handle, "cuDeviceGet", &DeviceGet, error) &&
         sym(handle, "cuDevicePrimaryCtxRetain", &PrimaryCtxRetain, error) &&
         sym(handle, "cuCtxSetCurrent", &CtxSetCurrent, error) &&
         sym(handle, "cuCtxSynchronize", &CtxSynchronize, error) &&
         sym(handle, "cuMemAlloc_v2", &MemAlloc, error) &&
         sym(handle, "cuMemFree_v2", &MemFree, error) &&
         sym(handle, "cuMemGetInfo_v2", &MemGetInfo, error) &&
         sym(handle, "cuMemcpyHtoD_v2", &MemcpyHtoD, error) &&
         sym(handle, "cuMemcpyDtoH_v2", &MemcpyDtoH, error) &&
         sym(handle, "cuModuleLoadData", &ModuleLoadData, error) &&
         sym(handle, "cuModuleGetFunction", &ModuleGetFunction, error) &&
         sym(handle, "cuLaunchKernel", &LaunchKernel, error) &&
         sym(handle, "cuStreamCreate", &StreamCreate, error) &&
         sym(handle, "cuStreamSynchronize", &StreamSynchronize, error) &&
         sym(handle, "cuMemsetD32_v2", &MemsetD32, error);
}

ServerProcess::ServerProcess(const std::string& server_bin, const std::string& plugin,
                             const std::vector<std::string>& extra, const std::string& unix_path) {
  port_file_ = "/tmp/rgpu-bench-port-" + std::to_string(getpid()) + "-" +
               std::to_string(reinterpret_cast<uintptr_t>(this) & 0xffff);
  unlink(port_file_.c_str());
  std::vector<std::string> args = {
      server_bin,     "--backend",
      "sim",          "--insecure",
      "--sim-plugin", plugin,
      "--port-file",  port_file_,
      "--listen",     unix_path.empty() ? "127.0.0.1:0" : "unix:" + unix_path};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    std::ifstream f(port_file_);
    std::string port;
    if (f >> port && !port.empty()) {
      endpoint_ = unix_path.empty() ? "127.0.0.1:" + port : "unix:" + unix_path;
      return;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  unlink(port_file_.c_str());
}

void train_steps(ShimDriver& d, const std::string& image, int steps) {
  CUmodule m;
  CK(d.ModuleLoadData(&m, image.data()));
  CUfunction f;
  CK(d.ModuleGetFunction(&f, m, "rgpu_bench_args"));
  CUdeviceptr act, grad, input;
  const int n = 1 << 16;
  CK(d.MemAlloc(&act, n * 4));
  CK(d.MemAlloc(&grad, n * 4));
  CK(d.MemAlloc(&input, 256 * 1024));
  std::vector<float> batch(64 * 1024, 0.5f);
  float loss = 0, a = 1.0f;
  int count = n;
  void* fwd[] = {&act, &count, &a};
  void* bwd[] = {&grad, &count, &a};
  for (int s = 0; s < steps; ++s) {
    CK(d.MemcpyHtoD(input, batch.data(), batch.size() * 4));
    for (int l = 0; l < 12; ++l)
      CK(d.LaunchKernel(f, n / 256, 1, 1, 256, 1, 1, 0, nullptr, fwd, nullptr));
    for (int l = 0; l < 12; ++l)
      CK(d.LaunchKernel(f, n / 256, 1, 1, 256, 1, 1, 0, nullptr, bwd, nullptr));
    CK(d.MemsetD32(grad, 0, n));
    CK(d.MemcpyDtoH(&loss, act, sizeof loss));
  }
}

}  // namespace rgpu::bench
