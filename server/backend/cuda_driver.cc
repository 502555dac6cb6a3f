// server/backend/cuda_driver.cc — see cuda_driver.h.
#include "server/backend/cuda_driver.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <vector>

namespace rgpu::server {

namespace {

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return "";
  return buf;
}

// <prefix>/lib/rgpu where <prefix> is the parent of the directory holding this executable.
std::string our_shim_dir() {
  std::string exe = real_path("/proc/self/exe");
  if (exe.empty()) return "";
  std::filesystem::path prefix = std::filesystem::path(exe).parent_path().parent_path();
  return real_path((prefix / "lib" / "rgpu").string());
}

std::vector<std::string> ldconfig_candidates() {
  std::vector<std::string> out;
  for (const char* ldconfig : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
    if (::access(ldconfig, X_OK) != 0) continue;
    std::string cmd = std::string(ldconfig) + " -p 2>/dev/null";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) continue;
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      std::string s(line);
      if (s.find("libcuda.so.1 ") == std::string::npos) continue;
      auto arrow = s.find("=> ");
      if (arrow == std::string::npos) continue;
      std::string p = s.substr(arrow + 3);
      while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
      out.push_back(p);
    }
    ::pclose(f);
    break;
  }
  return out;
}

}  // namespace

std::string refuse_reason(const std::string& path, bool any_driver) {
  if (path.empty() || path[0] != '/') return path + " is not an absolute path";
  std::string rp = real_path(path);
  if (rp.empty()) return path + " does not exist";
  if (any_driver) {
    void* h = ::dlopen(rp.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = ::dlerror();
      return path + " cannot be loaded: " + (e ? e : "unknown error");
    }
    std::string why = ::dlsym(h, "cuGetProcAddress_v2") == nullptr
                          ? path + " does not export cuGetProcAddress_v2 (not a CUDA 12+ driver)"
                          : "";
    ::dlclose(h);
    return why;
  }
  if (rp.find("/stubs/") != std::string::npos)
    return path + " is the CUDA toolkit's link stub, not a driver";
  std::string ours = our_shim_dir();
  if (!ours.empty() && rp.rfind(ours + "/", 0) == 0)
    return path + " is rgpu's own libcuda.so.1 (under " + ours + ")";
  void* h = ::dlopen(rp.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = ::dlerror();
    return path + " cannot be loaded: " + (e ? e : "unknown error");
  }
  std::string why;
  for (const char* marker : kRgpuMarkerSymbols)
    if (::dlsym(h, marker) != nullptr)
      why = path + " is rgpu's own libcuda.so.1 (exports " + marker + ")";
  if (why.empty() && ::dlsym(h, "cuGetProcAddress_v2") == nullptr)
    why = path + " does not export cuGetProcAddress_v2 (not a CUDA 12+ driver)";
  ::dlclose(h);
  return why;
}

DriverSearch find_nvidia_driver(const std::string& explicit_path, bool any_driver) {
  DriverSearch r;
  if (!explicit_path.empty()) {
    std::string why = refuse_reason(explicit_path, any_driver);
    if (why.empty())
      r.path = real_path(explicit_path);
    else
      r.error = std::string("refusing ") + (any_driver ? "--cuda-driver " : "--driver ") +
                explicit_path + ": " + why;
    return r;
  }
  std::vector<std::string> cands = ldconfig_candidates();
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
                        "/usr/lib/aarch64-linux-gnu/libcuda.so.1", "/usr/lib/libcuda.so.1",
                        "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1"})
    cands.push_back(p);
  std::string tried;
  for (const auto& c : cands) {
    if (::access(c.c_str(), R_OK) != 0) continue;
    std::string why = refuse_reason(c);
    if (why.empty()) {
      r.path = real_path(c);
      return r;
    }
    tried += "; skipped " + why;
  }
  r.error = "no NVIDIA driver found (looked in the ldconfig cache and the usual paths" + tried +
            "); pass --driver /path/to/libcuda.so.1, or --backend sim for a machine without a GPU";
  return r;
}

CudaDriver::~CudaDriver() {
  // The driver stays loaded: unloading libcuda while contexts exist is unsafe, and the worker
  // process ends with its session anyway.
}

std::string CudaDriver::load(const std::string& path, bool any_driver) {
  std::string why = refuse_reason(path, any_driver);
  if (!why.empty()) return why;
  handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* e = ::dlerror();
    return "cannot load " + path + ": " + (e ? e : "unknown error");
  }
  path_ = path;
  auto gpa = reinterpret_cast<PFN_cuGetProcAddress_v12000>(::dlsym(handle_, "cuGetProcAddress_v2"));
  if (gpa == nullptr) return path + " does not export cuGetProcAddress_v2";
#define RGPU_CUDA_FN_LOAD(name, ver)                                                             \
  {                                                                                              \
    void* fn = nullptr;                                                                          \
    CUdriverProcAddressQueryResult q{};                                                          \
    CUresult rc = gpa(#name, &fn, ver, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &q);                   \
    if (rc != CUDA_SUCCESS || fn == nullptr)                                                     \
      return "driver " + path + " has no " #name " (ABI " #ver "): error " + std::to_string(rc); \
    name = reinterpret_cast<PFN_##name##_v##ver>(fn);                                            \
  }
  RGPU_CUDA_DRIVER_FNS(RGPU_CUDA_FN_LOAD)
#undef RGPU_CUDA_FN_LOAD
  return "";
}

}  // namespace rgpu::server
