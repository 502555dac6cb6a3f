// server/worker/worker.cc — see worker.h.
#include "server/worker/worker.h"

#include <fcntl.h>
#include <kj/exception.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "protocol/control/compute_share.h"
#include "protocol/handshake.h"
#include "server/backend/factory.h"
#include "server/backend/va_window.h"
#include "server/lane_handoff.h"
#include "server/log.h"
#include "server/worker/auth.h"
#include "server/worker/compute_share.h"
#include "server/worker/gate.h"
#include "server/worker/host_memory.h"
#include "server/worker/image_cache.h"
#include "server/worker/joined_lanes.h"
#include "server/worker/lane.h"
#include "server/worker/lease_auth.h"
#include "server/worker/meter.h"
#include "server/worker/session.h"

namespace rgpu::server {

namespace {

// Sends the session's usage receipts to the supervisor every `every_ms` from its own thread
// until stop(); send_final() sends the last one (after the meter finished). No channel: none.
class ReceiptTicker {
 public:
  ReceiptTicker(SupervisorChannel* channel, const SessionMeter& meter, uint32_t every_ms)
      : channel_(channel), meter_(meter) {
    if (!channel_) return;
    thread_ = std::thread([this, every = std::chrono::milliseconds(every_ms)] {
      std::unique_lock<std::mutex> g(mu_);
      while (!cv_.wait_for(g, every, [this] { return stop_; }))
        channel_->receipt(meter_.receipt(++seq_, false));
    });
  }
  ~ReceiptTicker() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void send_final() {
    if (channel_) channel_->receipt(meter_.receipt(++seq_, true));
  }

 private:
  SupervisorChannel* channel_;
  const SessionMeter& meter_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t seq_ = 0;  // written by the thread, then (after stop) by send_final
  std::thread thread_;
};

volatile sig_atomic_t g_socket = -1;
volatile sig_atomic_t g_terminated = 0;
volatile sig_atomic_t g_killed = 0;
int g_stop_pipe[2] = {-1, -1};  // the signal handlers wake the stop watcher through it

// How long a worker told to stop may take to end its session the normal way (meter logged,
// pool told); then SIGALRM's default action ends the process whatever its lanes are doing.
constexpr unsigned kStopGraceSeconds = 5;

// SIGTERM (the supervisor shutting down, or gone: PR_SET_PDEATHSIG) and SIGUSR1 (the pool
// killed this session, or its drain deadline passed: server/pool_membership.h): wake the first
// lane by shutting its socket's reading side down, wake the stop watcher (it aborts the gate and
// wakes every joined lane, which a signal handler cannot), and arm the hard deadline.
void on_stop(int sig) {
  if (sig == SIGTERM) g_terminated = 1;
  if (sig == SIGUSR1) g_killed = 1;
  int saved = errno;
  // Reading only: the lane can still send its client a Goodbye saying why (protocol 7).
  if (g_socket >= 0) ::shutdown(g_socket, SHUT_RD);
  if (g_stop_pipe[1] >= 0) {
    char c = 's';
    ssize_t w = ::write(g_stop_pipe[1], &c, 1);
    (void)w;
  }
  ::alarm(kStopGraceSeconds);
  errno = saved;
}

uint64_t window_size_for(uint64_t cap) {
  uint64_t size = kDefaultVaSize;
  while (size < cap * 2 && size < (kMaxVa - kMinVa) / 2) size *= 2;
  return size;
}

}  // namespace

int run_worker(const ServerOptions& o) {
  set_log_tag("worker s" + std::to_string(o.session_id));
  g_socket = o.worker_fd;
  if (::pipe2(g_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) g_stop_pipe[0] = g_stop_pipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGUSR1, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGALRM, SIG_DFL);
  // A supervisor that dies (even by SIGKILL) takes its sessions with it; one that died before
  // this line leaves us with another parent.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() == 1) {
    log_warn("session %llu: the supervisor is gone", static_cast<unsigned long long>(o.session_id));
    return 1;
  }
  const auto hello_deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(o.hello_timeout_ms);
  SupervisorChannel channel(o.control_fd);
  net::TlsConfig tls;
  tls.cert_file = o.tls_cert;
  tls.key_file = o.tls_key;
  tls.ca_file = o.tls_ca;
  tls.handshake_timeout_ms = o.hello_timeout_ms;
  std::unique_ptr<net::Stream> raw;
  try {
    // A TLS lane that joins a session that is gone reaches a fresh worker with its routing
    // preamble still in front of the handshake: take it off (its Hello is refused below).
    if (!o.tls_cert.empty()) take_join_preamble(o.worker_fd, o.hello_timeout_ms);
    raw = net::adopt(o.worker_fd, o.tls_cert.empty() ? nullptr : &tls, true);
  } catch (const std::exception& e) {
    log_warn("session %llu: connection setup failed: %s",
             static_cast<unsigned long long>(o.session_id), e.what());
    return 1;
  }
  set_host_memory_cgroup(o.worker_cgroup_leaf);
  // Until the lease says how large the session is, the worker gets the allowance alone.
  if (std::string e = limit_host_memory(o.worker_mem_allowance); !e.empty())
    log_warn("session %llu: no host-memory limit: %s",
             static_cast<unsigned long long>(o.session_id), e.c_str());
  SessionMeter meter;
  meter.session_id = o.session_id;
  meter.peer = raw->peer();
  net::CountingStream s(*raw, &meter.bytes_in, &meter.bytes_out);
  s.set_read_deadline(hello_deadline);  // lifted once the client has authenticated
  if (!o.tls_cert.empty()) log_info("TLS connection from %s", meter.peer.c_str());

  // --- hello ---------------------------------------------------------------------------
  try {
    HelloReceived hello;
    try {
      hello = read_hello(s);
    } catch (const HandshakeError& e) {
      refuse_hello(s, e.what());
      log_warn("refused %s: %s", meter.peer.c_str(), e.what());
      return 0;
    }
    HelloCredentials cred;
    cred.lease = hello.params.lease;
    cred.secret = hello.params.secret;
    cred.client_name = hello.params.client_name;
    const uint64_t va_base = hello.params.va_base;
    const uint64_t join = hello.params.join_session;
    meter.client = cred.client_name;
    const Negotiated& n = hello.negotiated;
    if (!n.ok) {
      refuse_hello(s, n.error);
      log_warn("refused %s (%s): %s", meter.peer.c_str(), meter.client.c_str(), n.error.c_str());
      return 0;
    }
    std::string auth_err;
    auto auth = make_authenticator(o, &channel, &auth_err);
    if (!auth) {
      refuse_hello(s, "server misconfigured: " + auth_err);
      log_error("session %llu: %s", static_cast<unsigned long long>(o.session_id),
                auth_err.c_str());
      return 1;
    }
    AuthResult ar = auth->check(cred);
    if (!ar.ok) {
      refuse_hello(s, ar.error);
      log_warn("refused %s (%s): %s", meter.peer.c_str(), meter.client.c_str(), ar.error.c_str());
      return 0;
    }
    if (join != 0) {
      // Joining lanes are handed to the session's worker by the supervisor; one that reaches a
      // fresh worker names a session that is gone (lane_handoff.h).
      refuse_hello(s, "no session " + std::to_string(join) + " to join on this server (it ended)");
      return 0;
    }
    s.set_read_deadline({});
    // Tell the supervisor before the client hears anything: from now on this worker no longer
    // counts as unauthenticated, and lanes may join it (server/admission.h).
    if (o.lane_fd >= 0) {
      char c = kWorkerAuthenticated;
      ssize_t w = ::send(o.lane_fd, &c, 1, MSG_NOSIGNAL);
      (void)w;
    }

    // --- backend ---------------------------------------------------------------------------
    SimKernelRegistry kernels;
    std::string err;
    auto backend = make_backend(o, &kernels, &err);
    if (!backend) {
      refuse_hello(s, err);
      log_error("session %llu: %s", static_cast<unsigned long long>(o.session_id), err.c_str());
      return 1;
    }
    SessionWindow w;
    w.vram_cap = ar.vram_limit ? ar.vram_limit : o.vram;
    if (w.vram_cap == 0 && backend->name() == std::string("sim")) w.vram_cap = kDefaultSimVram;
    if (o.worker_mem_allowance) {
      const bool host_device = backend->name() == std::string("sim");
      uint64_t limit = o.worker_mem_allowance + (host_device ? w.vram_cap : 0);
      if (limit < o.worker_mem_allowance) limit = UINT64_MAX;  // overflow: no cap
      if (std::string e = limit_host_memory(limit); !e.empty())
        log_warn("session %llu: no host-memory limit: %s",
                 static_cast<unsigned long long>(o.session_id), e.c_str());
    }
    w.va_base = va_base ? va_base : kDefaultVaBase;
    w.va_size = window_size_for(w.vram_cap);
    Status st = backend->open(w);
    if (!st.ok()) {
      refuse_hello(s, "cannot open the device: " + st.text);
      log_error("session %llu: cannot open the %s backend: %s",
                static_cast<unsigned long long>(o.session_id), backend->name(), st.text.c_str());
      return st.code == CUDA_ERROR_INVALID_VALUE ? 0 : 1;
    }
    // The GPU's device time, shared with the other sessions on it (compute_share.h). A lease
    // that states a share is refused where it cannot be enforced.
    std::unique_ptr<ComputeShare> share;
    if (o.shares_fd >= 0) {
      std::string serr;
      share = ComputeShare::join(o.shares_fd, ar.compute_milli,
                                 backend->name() == std::string("sim"), &serr);
      ::close(o.shares_fd);  // the mapping stays; nothing else needs the fd
      if (!share && ar.compute_milli) {
        refuse_hello(s, "this server cannot enforce the lease's compute share: " + serr);
        log_error("session %llu: %s", static_cast<unsigned long long>(o.session_id), serr.c_str());
        return 1;
      }
      if (!share)
        log_warn("session %llu: sessions' compute shares are not enforced for it: %s",
                 static_cast<unsigned long long>(o.session_id), serr.c_str());
      else if (ar.compute_milli)
        log_info("session %llu: compute share %s of the GPU",
                 static_cast<unsigned long long>(o.session_id),
                 control::compute_share_text(ar.compute_milli).c_str());
    } else if (ar.compute_milli) {
      refuse_hello(s,
                   "this server cannot enforce the lease's compute share (a worker started "
                   "without its supervisor's table)");
      return 1;
    }
    const DeviceProps& props = backend->props();
    uint8_t key[16];
    const bool have_key = getrandom(key, sizeof key, 0) == static_cast<ssize_t>(sizeof key);
    const bool lanes_join = have_key && o.lane_fd >= 0 && (o.tls_cert.empty() || n.version >= 4);
    {
      HelloAccepted acc;
      acc.version = n.version;
      acc.session_id = o.session_id;
      // No key (no randomness), no hand-over channel, or a TLS client older than protocol 4
      // (it cannot send the join preamble): the client keeps one lane.
      if (lanes_join) acc.lane_key.assign(reinterpret_cast<const char*>(key), sizeof key);
      acc.device_props.assign(reinterpret_cast<const char*>(&props), sizeof props);
      acc.vram_limit = props.total_mem;
      send_hello_reply(s, acc);
    }
    log_info("session %llu: %s (%s) on %s backend \"%s\", cap %llu bytes, window 0x%llx+0x%llx",
             static_cast<unsigned long long>(o.session_id), meter.peer.c_str(),
             meter.client.c_str(), backend->name(), props.name,
             static_cast<unsigned long long>(props.total_mem),
             static_cast<unsigned long long>(props.va_base),
             static_cast<unsigned long long>(props.va_size));

    if (!ar.lease_id.empty()) channel.session_started(ar.lease_id, props.total_mem);
    // Usage receipts (protocol/control/usage_receipt.h): cumulative totals to the supervisor
    // every --receipt-interval while the session runs, and a final one at its end.
    const bool receipts = !ar.lease_id.empty() && channel.active();
    ReceiptTicker ticker(receipts ? &channel : nullptr, meter, o.receipt_interval_ms);

    // --- serve -----------------------------------------------------------------------------
    Session session(*backend, meter);
    session.set_compute_share(share.get());
    session.set_protocol_version(n.version);
    const std::string cache_dir = image_cache_dir(o);
    ImageCache image_cache(cache_dir, o.image_cache_bytes);
    if (!cache_dir.empty()) session.set_image_cache(&image_cache);
    Gate gate;
    JoinedLanes::Params jp;
    jp.lane_fd = lanes_join ? o.lane_fd : -1;
    jp.tls = o.tls_cert.empty() ? nullptr : &tls;
    jp.session_id = o.session_id;
    jp.lane_key.assign(reinterpret_cast<const char*>(key), sizeof key);
    jp.props = props;
    jp.vram_limit = props.total_mem;
    jp.hello_timeout = std::chrono::milliseconds(o.hello_timeout_ms);
    std::string lost;
    std::mutex lost_mu;
    JoinedLanes joined(jp, session, gate, meter, [&](const std::string& why) {
      {
        std::lock_guard<std::mutex> g(lost_mu);
        if (lost.empty()) lost = why;
      }
      gate.abort();
      if (share) share->abort();
      ::shutdown(o.worker_fd, SHUT_RDWR);
    });
    joined.start();
    // The stop watcher: a signal (on_stop) ends every lane, whatever it waits for.
    std::thread watcher;
    if (g_stop_pipe[0] >= 0)
      watcher = std::thread([&] {
        // Also the supervisor's messages: a warning (a drain deadline ahead) for the program,
        // carried by the session's next reply.
        pollfd p[2] = {{g_stop_pipe[0], POLLIN, 0}, {receipts ? channel.fd() : -1, POLLIN, 0}};
        for (;;) {
          int r = ::poll(p, 2, -1);
          if (r < 0 && errno == EINTR) continue;
          if (r < 0 || p[0].revents) break;
          if (p[1].revents) {
            std::string notice;
            if (!channel.read_messages(&notice)) p[1].fd = -1;  // the supervisor is gone
            if (!notice.empty()) session.set_notice(notice);
          }
        }
        if (g_killed || g_terminated) {
          // The server ends the session: each lane stops reading, then tells its client why
          // (Lane::say_goodbye) before it closes.
          std::string why = g_killed ? channel.kill_reason() : "";
          if (g_killed && why.empty()) why = "by its pool";
          if (g_terminated) why = "because its server is shutting down";
          session.set_ending(why);
          gate.abort();
          if (share) share->abort();
          joined.wake_all(true);
          ::shutdown(o.worker_fd, SHUT_RD);
          // A moment for the Goodbyes; then wake a lane stuck writing to a client that stopped
          // reading (a Goodbye already written still goes out before the FIN).
          ::poll(nullptr, 0, 300);
          ::shutdown(o.worker_fd, SHUT_RDWR);
          joined.wake_all();
          return;
        }
        gate.abort();
        if (share) share->abort();
        joined.wake_all();
        ::shutdown(o.worker_fd, SHUT_RDWR);
      });
    Lane lane(s, session, gate);
    std::string why = lane.serve();
    // The signal handler woke this lane before the watcher wrote why: wait for it (briefly).
    for (int i = 0; i < 200 && (g_killed || g_terminated) && session.ending().empty(); ++i)
      ::poll(nullptr, 0, 5);
    lane.say_goodbye();  // when the server ends the session: why, to the client
    if (!session.ending().empty() && session.protocol_version() >= 7) {
      // Keep the connection a moment before closing it: a client still sending would otherwise
      // get a reset that can discard the Goodbye before it reads it (at its next sync call).
      ::poll(nullptr, 0, 1000);
    }
    gate.abort();
    if (share) share->abort();
    joined.stop();
    if (watcher.joinable()) {
      char c = 'e';  // the session ended: let the watcher go
      ssize_t w = ::write(g_stop_pipe[1], &c, 1);
      (void)w;
      watcher.join();
    }
    {
      std::lock_guard<std::mutex> g(lost_mu);
      if (!lost.empty()) why = lost;
    }
    if (g_terminated) why = "server shutting down";
    if (g_killed) why = "killed by the pool";
    ticker.stop();
    meter.busy_ns = backend->busy_ns();
    meter.finish();
    ticker.send_final();
    channel.session_ended(why);
    log_info("%s", meter.summary(why).c_str());
    return 0;
  } catch (const net::NetError& e) {
    log_warn("session %llu: %s before the session started",
             static_cast<unsigned long long>(o.session_id), e.what());
    return 0;
  }
}

}  // namespace rgpu::server
