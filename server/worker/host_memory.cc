// server/worker/host_memory.cc — see host_memory.h.
#include "server/worker/host_memory.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

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

std::string limit_host_memory(uint64_t bytes) {
  if (bytes == 0 || !host_memory_limit_supported()) return "";
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
