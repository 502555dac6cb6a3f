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

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/health_endpoint.h"
#include "protocol/transport.h"
#include "protocol/version.h"
#include "server/admission.h"
#include "server/backend/cuda_driver.h"
#include "server/backend/factory.h"
#include "server/backend/sim_plugins.h"
#include "server/lane_handoff.h"
#include "server/log.h"
#include "server/pool_membership.h"
#include "server/worker/compute_share.h"
#include "server/worker_cgroup.h"

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

struct Worker {
  uint64_t session_id;
  std::string peer;
  int lanes = -1;  // our end of the socketpair that hands joining lanes to it (lane_handoff.h)
  bool authenticated = false;  // it wrote kWorkerAuthenticated: lanes may join it
  std::string cgroup;          // its cgroup v2 leaf (worker_cgroup.h), "" for none
};

// A readiness probe ("GET /healthz", "HEAD /"): answered here, no worker, no log above debug.
void answer_health(int fd, size_t sessions) {
  std::string body = "ok sessions=" + std::to_string(sessions) + "\n";
  std::string reply = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  ssize_t w = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  ::shutdown(fd, SHUT_WR);
}

// A plaintext opening refused by the supervisor itself (a join for a session that is not here,
// a first frame that is no acceptable Hello), in one small non-blocking write, with the reason.
void refuse_opening(int fd, const std::string& why) {
  capnp::MallocMessageBuilder mb;
  auto r = mb.initRoot<wire::HelloReply>();
  r.setOk(false);
  r.setProtocolVersion(kProtocolVersion);
  r.setError(why);
  std::vector<uint8_t> bytes = encode_frame(FrameKind::kHelloReply, mb);
  ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
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

void reap(std::map<pid_t, Worker>* workers, PoolMembership* pool, Admission* admission,
          const WorkerCgroups& cgroups, ShareTable* shares) {
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    if (shares) shares->release_pid(pid);
    if (admission) admission->worker_gone(pid);
    auto it = workers->find(pid);
    unsigned long long sid = it == workers->end() ? 0 : it->second.session_id;
    std::string peer = it == workers->end() ? "?" : it->second.peer;
    const bool over_limit = it != workers->end() && cgroups.finish(it->second.cgroup);
    if (over_limit) {
      log_error(
          "worker %d (session %llu, %s) was killed by the kernel: it exceeded its host-memory "
          "limit (cgroup memory.max, see --worker-mem-allowance); other sessions are "
          "unaffected",
          pid, sid, peer.c_str());
      if (pool) pool->worker_exited(pid, "the session's worker exceeded its host-memory limit");
    } else if (pool) {
      pool->worker_exited(pid, exit_text(st));
    }
    if (over_limit) {
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && g_stop) {
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
    DriverSearch d = find_nvidia_driver(o.driver, o.any_driver);
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
  // Each worker in its own cgroup v2 leaf with memory.max, where one is delegated to us.
  std::unique_ptr<WorkerCgroups> cgroups = WorkerCgroups::open(o.worker_cgroup, &err);
  if (!cgroups) {
    log_error("%s", err.c_str());
    return 2;
  }
  if (o.worker_mem_allowance == 0) {
    log_info("worker host memory: no limit (--worker-mem-allowance 0)");
  } else if (cgroups->enabled()) {
    log_info("worker host memory: RLIMIT_DATA and cgroup v2 memory.max in leaves of %s",
             cgroups->dir().c_str());
  } else {
    log_info("worker host memory: RLIMIT_DATA alone (no cgroup v2 memory.max: %s)",
             cgroups->why_off().c_str());
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
  ::fcntl(listener->fd(), F_SETFL, ::fcntl(listener->fd(), F_GETFL, 0) | O_NONBLOCK);
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
  // Secrets never go into a worker's argv (anyone on the host can read argv): the join token
  // stays in the supervisor, the shared secret reaches workers through their environment.
  std::vector<std::string> base_args;
  base_args.push_back(exe);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool secret = false;
    for (const char* f : {"--join-token", "--join-token-file", "--secret", "--secret-file"}) {
      if (a == f) {
        secret = true;
        ++i;  // and its value
      } else if (a.rfind(std::string(f) + "=", 0) == 0) {
        secret = true;
      }
    }
    if (!secret) base_args.push_back(a);
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    if (v.rfind("RGPU_JOIN_TOKEN=", 0) == 0 || v.rfind("RGPU_SECRET=", 0) == 0) continue;
    env_strings.push_back(v);
  }
  if (!o.secret.empty()) env_strings.push_back("RGPU_SECRET=" + o.secret);
  std::vector<char*> worker_env;
  for (auto& v : env_strings) worker_env.push_back(v.data());
  worker_env.push_back(nullptr);
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
  std::unique_ptr<net::HealthEndpoint> metrics;
  if (pool && !o.metrics_listen.empty()) {
    try {
      PoolMembership* p = pool.get();
      metrics = std::make_unique<net::HealthEndpoint>(o.metrics_listen,
                                                      [p] { return p->metrics_text(); });
    } catch (const std::exception& e) {
      log_error("cannot serve --metrics-listen %s: %s", o.metrics_listen.c_str(), e.what());
      return 2;
    }
    const std::string host = o.metrics_listen.substr(0, o.metrics_listen.rfind(':'));
    log_info("Prometheus metrics at http://%s:%u/metrics", host.c_str(), metrics->port());
  }

  std::map<pid_t, Worker> workers;
  // The GPU's device time among its sessions (server/worker/compute_share.h), fd 6 of workers.
  std::string share_err;
  std::unique_ptr<ShareTable> shares = ShareTable::create(&share_err);
  if (!shares) log_warn("compute shares are not enforced: %s", share_err.c_str());
  uint64_t next_session = 1;
  AdmissionLimits limits;
  limits.hello_timeout = std::chrono::milliseconds(o.hello_timeout_ms);
  limits.max_total = o.max_unauthenticated;
  limits.max_per_source = o.max_unauthenticated_per_source;
  Admission admission(limits, !o.tls_cert.empty());
  auto last_refusal_log = std::chrono::steady_clock::time_point{};
  size_t refused_since_log = 0;

  // Starts a worker for a connection whose Hello (or TLS ClientHello) has arrived.
  auto start_worker = [&](const Admission::Ready& r) {
    const int fd = r.fd;
    const uint64_t sid = next_session++;
    int child_fd = fd;
    if (fd == 3) child_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    std::vector<std::string> args = base_args;
    args.push_back("--worker-fd");
    args.push_back("3");
    args.push_back("--session-id");
    args.push_back(std::to_string(sid));
    std::string cgroup_err;
    const std::string leaf =
        o.worker_mem_allowance ? cgroups->prepare(sid, o.worker_mem_allowance, &cgroup_err) : "";
    if (!cgroup_err.empty())
      log_warn("session %llu: no cgroup memory limit: %s", static_cast<unsigned long long>(sid),
               cgroup_err.c_str());
    if (!leaf.empty()) {
      args.push_back("--worker-cgroup-leaf");
      args.push_back(leaf);
    }
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
    }
    int pool_child = -1, pool_parent = -1;  // the worker's channel to PoolMembership, as fd 5
    if (pool) {
      int c = pool->open_channel(&pool_parent);
      if (c >= 0) {
        pool_child = ::fcntl(c, F_DUPFD_CLOEXEC, 10);
        ::close(c);
        posix_spawn_file_actions_adddup2(&fa, pool_child, 5);
        for (auto& a : pool->worker_args(5)) args.push_back(a);
      }
    }
    if (shares) {
      posix_spawn_file_actions_adddup2(&fa, shares->fd(), 6);
      args.push_back("--shares-fd");
      args.push_back("6");
    }
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
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
    int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, cargv.data(), worker_env.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (child_fd != fd) ::close(child_fd);
    ::close(fd);
    if (lane_pair[1] >= 0) ::close(lane_pair[1]);
    if (pool_child >= 0) ::close(pool_child);
    if (pool && rc == 0) pool->worker_started(pid, sid, pool_parent);
    if (pool && rc != 0 && pool_parent >= 0) ::close(pool_parent);
    if (rc == 0 && !leaf.empty() && !cgroups->place(pid, leaf, &cgroup_err))
      log_warn("session %llu: no cgroup memory limit: %s", static_cast<unsigned long long>(sid),
               cgroup_err.c_str());
    if (rc != 0) {
      cgroups->finish(leaf);
      if (lane_pair[0] >= 0) ::close(lane_pair[0]);
      log_error("cannot start a worker for %s: %s", r.peer.c_str(), std::strerror(rc));
      return;
    }
    if (lane_pair[0] >= 0) {
      int flags = ::fcntl(lane_pair[0], F_GETFL, 0);
      ::fcntl(lane_pair[0], F_SETFL, flags | O_NONBLOCK);
    }
    workers[pid] = {sid, r.peer, lane_pair[0], lane_pair[0] < 0, leaf};
    if (lane_pair[0] >= 0)
      admission.worker_started(pid, r.source, std::chrono::steady_clock::now());
    log_info("session %llu from %s: worker %d", static_cast<unsigned long long>(sid),
             r.peer.c_str(), pid);
  };

  // Hands a joining lane to its session's worker, never waiting on it.
  auto hand_over = [&](const Admission::Ready& r) {
    const uint64_t join = r.opening.join_session;
    for (auto& [pid, w] : workers) {
      if (w.session_id != join || w.lanes < 0 || !w.authenticated) continue;
      if (!send_fd(w.lanes, r.fd))
        log_warn("closed a lane from %s for session %llu: its worker is not taking lanes",
                 r.peer.c_str(), static_cast<unsigned long long>(join));
      ::close(r.fd);
      return;
    }
    if (r.opening.kind == Opening::kJoin && o.tls_cert.empty()) {
      refuse_opening(r.fd,
                     "no session " + std::to_string(join) + " to join on this server (it ended)");
      ::close(r.fd);
      return;
    }
    start_worker(r);  // over TLS the refusal travels inside TLS: a fresh worker gives it
  };

  std::vector<pollfd> fds;
  std::vector<pid_t> polled_workers;
  while (!g_stop) {
    fds.clear();
    polled_workers.clear();
    fds.push_back({listener->fd(), POLLIN, 0});
    fds.push_back({g_wake[0], POLLIN, 0});
    for (const auto& [pid, w] : workers)
      if (!w.authenticated && w.lanes >= 0) {
        fds.push_back({w.lanes, POLLIN, 0});
        polled_workers.push_back(pid);
      }
    const size_t conn_base = fds.size();
    admission.poll_fds(&fds);
    const int timeout = admission.partial() ? static_cast<int>(Admission::kRecheck.count()) : 1000;
    int pr = ::poll(fds.data(), fds.size(), timeout);
    if (pr < 0 && errno != EINTR) {
      log_error("poll: %s", std::strerror(errno));
      break;
    }
    if (fds[1].revents & POLLIN) {
      char drain[64];
      while (::read(g_wake[0], drain, sizeof drain) > 0) {
      }
    }
    // Workers that authenticated (before any pending join is looked at: the worker says so
    // before it answers its client, so a lane that follows always finds it ready).
    for (size_t i = 0; i < polled_workers.size(); ++i) {
      if (!(fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto it = workers.find(polled_workers[i]);
      if (it == workers.end()) continue;
      char c = 0;
      if (::recv(it->second.lanes, &c, 1, MSG_DONTWAIT) == 1 && c == kWorkerAuthenticated) {
        it->second.authenticated = true;
        admission.worker_authenticated(it->first);
      }
    }
    (void)conn_base;
    reap(&workers, pool.get(), &admission, *cgroups, shares.get());
    if (g_stop) break;
    auto now = std::chrono::steady_clock::now();
    for (pid_t pid : admission.expired_workers(now)) {
      log_warn("worker %d did not authenticate its client in time: killed", pid);
      ::kill(pid, SIGKILL);
      admission.worker_gone(pid);
    }
    // Accept everything waiting (never blocks: the listener is non-blocking).
    if (fds[0].revents & POLLIN) {
      for (int k = 0; k < 64; ++k) {
        int fd = listener->accept_fd();
        if (fd < 0) break;
        std::string why;
        if (!admission.admit(fd, now, &why)) {
          ::close(fd);
          ++refused_since_log;
          if (now - last_refusal_log > std::chrono::seconds(5)) {
            log_warn("refusing connections: %s (%zu refused)", why.c_str(), refused_since_log);
            last_refusal_log = now;
            refused_since_log = 0;
          }
        }
      }
    }
    for (const Admission::Ready& r : admission.take_ready(now)) {
      switch (r.opening.kind) {
        case Opening::kHealth:
          answer_health(r.fd, workers.size());
          ::close(r.fd);
          break;
        case Opening::kJoin:
          hand_over(r);
          break;
        case Opening::kRefuse:
          log_info("refused %s: %s", r.peer.c_str(), r.opening.why);
          refuse_opening(r.fd, r.opening.why);
          ::close(r.fd);
          break;
        default:
          start_worker(r);
          break;
      }
    }
  }

  log_info("shutting down: %zu worker(s) running", workers.size());
  listener->close();
  for (auto& [pid, w] : workers) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!workers.empty() && std::chrono::steady_clock::now() < deadline) {
    reap(&workers, pool.get(), nullptr, *cgroups, shares.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& [pid, w] : workers) ::kill(pid, SIGKILL);
  while (!workers.empty()) {
    int st;
    pid_t pid = ::waitpid(-1, &st, 0);
    if (pid <= 0) break;
    if (pool) pool->worker_exited(pid, exit_text(st));
    if (auto it = workers.find(pid); it != workers.end()) cgroups->finish(it->second.cgroup);
    workers.erase(pid);
  }
  if (pool) pool->stop();
  return 0;
}

}  // namespace rgpu::server
