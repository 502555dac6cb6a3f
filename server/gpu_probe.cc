// server/gpu_probe.cc — see gpu_probe.h.
#include "server/gpu_probe.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/backend/factory.h"
#include "server/backend/va_window.h"

extern char** environ;

namespace rgpu::server {

int run_describe_gpu(const ServerOptions& o) {
  SimKernelRegistry kernels;
  std::string err;
  auto backend = make_backend(o, &kernels, &err);
  if (!backend) {
    std::fprintf(stderr, "rgpu-server: %s\n", err.c_str());
    return 1;
  }
  SessionWindow w;
  w.vram_cap = o.vram;
  if (w.vram_cap == 0 && backend->name() == std::string("sim")) w.vram_cap = kDefaultSimVram;
  w.va_base = kDefaultVaBase;
  w.va_size = kDefaultVaSize;
  Status st = backend->open(w);
  if (!st.ok()) {
    std::fprintf(stderr, "rgpu-server: cannot open the %s backend: %s\n", backend->name(),
                 st.text.c_str());
    return 1;
  }
  const DeviceProps& p = backend->props();
  const char* b = reinterpret_cast<const char*>(&p);
  size_t off = 0;
  while (off < sizeof p) {
    ssize_t n = ::write(1, b + off, sizeof p - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 1;
    off += static_cast<size_t>(n);
  }
  return 0;
}

bool describe_gpu(const std::vector<std::string>& args, DeviceProps* out, std::string* error) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::vector<std::string> a = args;
  a.push_back("--describe-gpu");
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, a[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    *error = std::string("cannot start the GPU probe: ") + std::strerror(rc);
    return false;
  }
  char* b = reinterpret_cast<char*>(out);
  size_t off = 0;
  while (off < sizeof *out) {
    ssize_t n = ::read(pipefd[0], b + off, sizeof *out - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(pipefd[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (off != sizeof *out || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    *error = "the GPU probe (rgpu-server --describe-gpu) failed";
    if (WIFSIGNALED(st)) *error += std::string(": ") + strsignal(WTERMSIG(st));
    *error += "; see the lines above";
    return false;
  }
  out->name[sizeof out->name - 1] = 0;
  return true;
}

}  // namespace rgpu::server
