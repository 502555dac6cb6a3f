// server/supervisor.cc — see supervisor.h.
#include "server/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "protocol/transport.h"
#include "server/backend/cuda_driver.h"
#include "server/backend/factory.h"
#include "server/backend/sim_plugins.h"
#include "server/lane_handoff.h"
#include "server/log.h"
#include "server/pool_membership.h"

extern char** environ;

namespace rgpu::server {

namespace {

int g_wake[2] = {-1, -1};
volatile sig_atomic_t g_stop = 0;

void on_signal(int sig) {
  if (sig == SIGTERM || sig == SIGINT) g_stop = 1;
  int saved = errno;
  char c = static_cast<char>(sig);
  ssize_t w = ::write(g_wake[1], &c, 1);
  (void)w;
  errno = saved;
}

std::string peer_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "unix";
}

struct Worker {
  uint64_t session_id;
  std::string peer;
  int lanes = -1;  // our end of the socketpair that hands joining lanes to it (lane_handoff.h)
};

// Hands a connection that joins a live session to that session's worker. False: not a join,
// or no such session here (a fresh worker then answers the client with a clear refusal).
bool hand_over_lane(int fd, const std::map<pid_t, Worker>& workers, bool tls) {
  // Over TLS the lane says its session in a plaintext preamble; the worker does the handshake.
  uint64_t join = tls ? peek_tls_join(fd, 1000) : peek_join_session(fd, 1000);
  if (join == 0) return false;
  for (const auto& [pid, w] : workers)
    if (w.session_id == join && w.lanes >= 0) return send_fd(w.lanes, fd);
  return false;
}

bool readable(const std::string& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return buf;
}

std::string exit_text(int st) {
  if (WIFSIGNALED(st)) return std::string("worker died: ") + strsignal(WTERMSIG(st));
  if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
    return "worker exited with code " + std::to_string(WEXITSTATUS(st));
  return "session ended";
}

void reap(std::map<pid_t, Worker>* workers, PoolMembership* pool) {
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    if (pool) pool->worker_exited(pid, exit_text(st));
    auto it = workers->find(pid);
    unsigned long long sid = it == workers->end() ? 0 : it->second.session_id;
    std::string peer = it == workers->end() ? "?" : it->second.peer;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && g_stop) {
      log_info("worker %d (session %llu) stopped", pid, sid);
    } else if (WIFSIGNALED(st)) {
      log_error(
          "worker %d (session %llu, %s) crashed: signal %d (%s); other sessions are "
          "unaffected",
          pid, sid, peer.c_str(), WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
      log_warn("worker %d (session %llu, %s) exited with code %d", pid, sid, peer.c_str(),
               WEXITSTATUS(st));
    } else {
      log_debug("worker %d (session %llu) finished", pid, sid);
    }
    if (it != workers->end()) {
      if (it->second.lanes >= 0) ::close(it->second.lanes);
      workers->erase(it);
    }
  }
}

}  // namespace

int run_supervisor(ServerOptions o, int argc, char** argv) {
  set_log_tag("");
  // --- configuration checks ------------------------------------------------------------
  std::string err;
  o.backend = resolve_backend(o, &err);
  if (o.backend.empty()) {
    log_error("%s", err.c_str());
    return 2;
  }
  if (o.backend == "cuda") {
    DriverSearch d = find_nvidia_driver(o.driver);
    if (d.path.empty()) {
      log_error("%s", d.error.c_str());
      return 2;
    }
    log_info("backend cuda: NVIDIA driver %s, GPU %u", d.path.c_str(), o.gpu);
    o.driver = d.path;
  } else {
    SimKernelRegistry check;
    for (const auto& p : o.sim_plugins) {
      std::string e = check.load(p);
      if (!e.empty()) {
        log_error("%s", e.c_str());
        return 2;
      }
    }
    log_info("backend sim: %zu host kernel(s) from %zu plugin(s), default cap %llu bytes",
             check.size(), o.sim_plugins.size(),
             static_cast<unsigned long long>(o.vram ? o.vram : kDefaultSimVram));
  }
  if (!o.insecure && o.secret.empty() && o.pool.empty()) {
    log_error(
        "no authentication configured: join a pool (--pool, --join-token), pass --secret S "
        "(or RGPU_SECRET), or --insecure for local development");
    return 2;
  }
  for (const auto* f : {&o.tls_cert, &o.tls_key, &o.tls_ca})
    if (!f->empty() && !readable(*f)) {
      log_error("cannot read TLS file %s", f->c_str());
      return 2;
    }
  if (o.insecure) {
    log_warn("**********************************************************************");
    log_warn("*** INSECURE MODE: --insecure accepts ANY client without credentials. ***");
    log_warn("*** Anyone who can reach this port can run code on this machine's GPU. ***");
    log_warn("*** Use it for local development only.                               ***");
    log_warn("**********************************************************************");
  }
  std::string exe = self_exe();
  if (exe.empty()) {
    log_error("cannot find this executable (/proc/self/exe) to start workers");
    return 2;
  }

  // --- listen --------------------------------------------------------------------------
  std::unique_ptr<net::Listener> listener;
  try {
    listener = net::Listener::listen(net::Endpoint::parse(o.listen));
  } catch (const std::exception& e) {
    log_error("cannot listen on %s: %s", o.listen.c_str(), e.what());
    return 2;
  }
  ::fcntl(listener->fd(), F_SETFD, FD_CLOEXEC);
  net::Endpoint local = listener->local();
  if (o.tls_cert.empty() && local.kind == net::Endpoint::kTcp && local.host != "127.0.0.1" &&
      local.host != "::1" && local.host != "localhost")
    log_warn("serving without TLS on %s: traffic (including the secret) is in clear text",
             local.str().c_str());
  if (!o.port_file.empty()) {
    std::string tmp = o.port_file + ".tmp";
    {
      std::ofstream pf(tmp);
      pf << local.port << "\n";
    }
    if (std::rename(tmp.c_str(), o.port_file.c_str()) != 0) {
      log_error("cannot write --port-file %s", o.port_file.c_str());
      return 2;
    }
  }
  log_info("listening on %s (backend %s, %s)", local.str().c_str(), o.backend.c_str(),
           !o.pool.empty() ? "pool leases"
           : o.insecure    ? "INSECURE"
                           : "shared secret");

  // --- signals ---------------------------------------------------------------------------
  if (::pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    log_error("pipe2: %s", std::strerror(errno));
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGCHLD, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Worker argv: the original arguments, the resolved backend/driver, then the worker flags.
  std::vector<std::string> base_args;
  base_args.push_back(exe);
  for (int i = 1; i < argc; ++i) base_args.push_back(argv[i]);
  base_args.push_back("--backend");
  base_args.push_back(o.backend);
  if (o.backend == "cuda") {
    base_args.push_back("--driver");
    base_args.push_back(o.driver);
  }

  // --- pool membership (server/pool_membership.h) ----------------------------------------
  std::unique_ptr<PoolMembership> pool;
  if (!o.pool.empty()) {
    pool = std::make_unique<PoolMembership>();
    std::string perr = pool->start(o, local, base_args);
    if (!perr.empty()) {
      log_error("%s", perr.c_str());
      return 2;
    }
  }

  std::map<pid_t, Worker> workers;
  uint64_t next_session = 1;
  while (!g_stop) {
    pollfd fds[2] = {{listener->fd(), POLLIN, 0}, {g_wake[0], POLLIN, 0}};
    int pr = ::poll(fds, 2, 1000);
    if (fds[1].revents & POLLIN) {
      char drain[64];
      while (::read(g_wake[0], drain, sizeof drain) > 0) {
      }
    }
    reap(&workers, pool.get());
    if (g_stop) break;
    if (pr <= 0 || !(fds[0].revents & POLLIN)) continue;
    int fd = listener->accept_fd();
    if (fd < 0) continue;
    if (hand_over_lane(fd, workers, !o.tls_cert.empty())) {
      ::close(fd);
      continue;
    }
    const uint64_t sid = next_session++;
    std::string peer = peer_of(fd);
    int child_fd = fd;
    if (fd == 3) child_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    std::vector<std::string> args = base_args;
    args.push_back("--worker-fd");
    args.push_back("3");
    args.push_back("--session-id");
    args.push_back(std::to_string(sid));
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_fd, 3);
    int lane_pair[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lane_pair) == 0) {
      for (int& e : lane_pair) {  // keep both ends clear of fds 3 and 4
        int high = ::fcntl(e, F_DUPFD_CLOEXEC, 10);
        ::close(e);
        e = high;
      }
      posix_spawn_file_actions_adddup2(&fa, lane_pair[1], 4);
      args.push_back("--lane-fd");
      args.push_back("4");
      cargv.clear();
      for (auto& a : args) cargv.push_back(a.data());
      cargv.push_back(nullptr);
    }
    int pool_child = -1, pool_parent = -1;  // the worker's channel to PoolMembership, as fd 5
    if (pool) {
      int c = pool->open_channel(&pool_parent);
      if (c >= 0) {
        pool_child = ::fcntl(c, F_DUPFD_CLOEXEC, 10);
        ::close(c);
        posix_spawn_file_actions_adddup2(&fa, pool_child, 5);
        for (auto& a : pool->worker_args(5)) args.push_back(a);
        cargv.clear();
        for (auto& a : args) cargv.push_back(a.data());
        cargv.push_back(nullptr);
      }
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (child_fd != fd) ::close(child_fd);
    ::close(fd);
    if (lane_pair[1] >= 0) ::close(lane_pair[1]);
    if (pool_child >= 0) ::close(pool_child);
    if (pool && rc == 0) pool->worker_started(pid, sid, pool_parent);
    if (pool && rc != 0 && pool_parent >= 0) ::close(pool_parent);
    if (rc != 0) {
      if (lane_pair[0] >= 0) ::close(lane_pair[0]);
      log_error("cannot start a worker for %s: %s", peer.c_str(), std::strerror(rc));
      continue;
    }
    workers[pid] = {sid, peer, lane_pair[0]};
    log_info("session %llu from %s: worker %d", static_cast<unsigned long long>(sid), peer.c_str(),
             pid);
  }

  log_info("shutting down: %zu worker(s) running", workers.size());
  listener->close();
  for (auto& [pid, w] : workers) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!workers.empty() && std::chrono::steady_clock::now() < deadline) {
    reap(&workers, pool.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& [pid, w] : workers) ::kill(pid, SIGKILL);
  while (!workers.empty()) {
    int st;
    pid_t pid = ::waitpid(-1, &st, 0);
    if (pid <= 0) break;
    if (pool) pool->worker_exited(pid, exit_text(st));
    workers.erase(pid);
  }
  if (pool) pool->stop();
  return 0;
}

}  // namespace rgpu::server
