// server/worker/host_memory.cc — see host_memory.h.
#include "server/worker/host_memory.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "server/worker_cgroup.h"

namespace rgpu::server {

#if defined(__SANITIZE_ADDRESS__)
#define RGPU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RGPU_ASAN 1
#endif
#endif

bool host_memory_limit_supported() {
#ifdef RGPU_ASAN
  return false;
#else
  return true;
#endif
}

namespace {
std::string g_cgroup_leaf;

std::string set_cgroup_max(uint64_t bytes) {
  if (g_cgroup_leaf.empty()) return "";
  return write_cgroup_control(g_cgroup_leaf + "/memory.max",
                              std::to_string(cgroup_memory_max(bytes)));
}
}  // namespace

void set_host_memory_cgroup(const std::string& leaf) {
  g_cgroup_leaf = leaf;
}

std::string limit_host_memory(uint64_t bytes) {
  if (bytes == 0) return "";
  if (std::string e = set_cgroup_max(bytes); !e.empty()) return e;
  if (!host_memory_limit_supported()) return "";
  rlimit r{};
  if (::getrlimit(RLIMIT_DATA, &r) != 0) return std::string("getrlimit: ") + std::strerror(errno);
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? bytes : std::min<rlim_t>(bytes, r.rlim_max);
  if (::setrlimit(RLIMIT_DATA, &r) != 0) return std::string("setrlimit: ") + std::strerror(errno);
  return "";
}

uint64_t host_memory_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_DATA, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return r.rlim_cur;
}

}  // namespace rgpu::server
