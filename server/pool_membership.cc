// server/pool_membership.cc — see pool_membership.h.
#include "server/pool_membership.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "protocol/control/lease.h"
#include "protocol/version.h"
#include "server/gpu_probe.h"
#include "server/log.h"

namespace rgpu::server {

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

// The address clients dial: --advertise (its port defaults to the bound one), else the bound
// address, with a wildcard host replaced by this machine's name.
std::string advertised_endpoint(const ServerOptions& o, const net::Endpoint& bound) {
  std::string port = std::to_string(bound.port);
  if (!o.advertise.empty()) {
    const std::string& a = o.advertise;
    const bool bare_v6 = a[0] != '[' && a.find(':') != a.rfind(':');
    if (bare_v6) return "[" + a + "]:" + port;
    const size_t colon = a.rfind(':');
    const bool has_port = colon != std::string::npos && (a[0] != '[' || colon > a.find(']'));
    return has_port ? a : a + ":" + port;
  }
  if (bound.host.empty() || bound.host == "0.0.0.0" || bound.host == "::")
    return host_name() + ":" + port;
  return bound.str();
}

std::string hex_of(const uint8_t* b, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[b[i] >> 4];
    s += d[b[i] & 15];
  }
  return s;
}

}  // namespace

PoolMembership::~PoolMembership() {
  stop();
}

namespace {
// mkdir -p with mode 0700 for what it creates.
bool make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The receipt key at `path` (PEM, private, 0600), made there on first use; its public half
// goes to path with ".pub" (hex), for `rgpu ledger verify --provider-key`.
bool load_receipt_key(const std::string& path, control::PoolKey* key, std::string* err) {
  std::string pem;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    pem.assign(buf, n);
    if (!control::load_private_key(pem, key, err)) {
      *err = path + ": " + *err + " (remove it to make a new receipt key)";
      return false;
    }
  } else {
    try {
      *key = control::generate_pool_key();
    } catch (const std::exception& e) {
      *err = std::string("cannot make a receipt key: ") + e.what();
      return false;
    }
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, key->private_pem.data(), key->private_pem.size()) ==
                             static_cast<ssize_t>(key->private_pem.size());
    if (fd >= 0) ok = ::fsync(fd) == 0 && ok, ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      *err = "cannot write the receipt key " + path + ": " + strerror(errno) + " (set --state-dir)";
      return false;
    }
  }
  if (FILE* f = std::fopen((path + ".pub").c_str(), "w")) {
    std::fprintf(f, "%s\n", control::to_hex(key->public_raw).c_str());
    std::fclose(f);
  }
  return true;
}
}  // namespace

std::string PoolMembership::start(const ServerOptions& o, const net::Endpoint& bound,
                                  const std::vector<std::string>& worker_argv) {
  if (bound.kind != net::Endpoint::kTcp)
    return "a pool provider must listen on TCP (clients placed by the pool dial host:port)";
  endpoint_ = advertised_endpoint(o, bound);
  name_ = o.name.empty() ? host_name() + ":" + std::to_string(bound.port) : o.name;
  gpu_ = o.gpu;
  receipt_interval_ms_ = o.receipt_interval_ms;

  std::string err;
  std::string dir = o.state_dir;
  // Used lease ids outlive this process (a restart must not make a used lease good again).
  {
    if (dir.empty()) dir = default_state_dir();
    if (dir.empty()) return "no place to keep used leases: set --state-dir";
    if (!make_dirs(dir))
      return "cannot create --state-dir " + dir + ": " + strerror(errno) + " (set --state-dir)";
    std::string file = "used-leases-" + endpoint_;
    for (char& c : file)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    if (!guard_.open(dir + "/" + file, &err)) return err + " (set --state-dir)";
    // The key this provider signs its usage receipts with, made once and kept beside them.
    std::string key_file = file;
    key_file.replace(0, std::string("used-leases-").size(), "receipt-key-");
    if (!load_receipt_key(dir + "/" + key_file, &receipt_key_, &err)) return err;
    log_info("usage receipts are signed with receipt key %s (%s/%s.pub)",
             control::to_hex(receipt_key_.public_raw).c_str(), dir.c_str(), key_file.c_str());
  }

  DeviceProps props{};
  if (!describe_gpu(worker_argv, &props, &err)) return err;
  if (o.lend_mem > props.total_mem)
    return "--lend-mem " + std::to_string(o.lend_mem) + " is more than GPU " +
           std::to_string(o.gpu) + "'s " + std::to_string(props.total_mem) + " bytes";

  control::ProviderLink::Options lo;
  lo.pool_endpoint = o.pool;
  lo.join_token = o.join_token;
  lo.pool_tls.ca_file = o.pool_tls_ca;
  lo.pool_tls.cert_file = o.pool_tls_cert;
  lo.pool_tls.key_file = o.pool_tls_key;
  lo.info.name = name_;
  lo.info.endpoint = endpoint_;
  for (const auto& l : o.labels) {
    auto eq = l.find('=');
    lo.info.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  lo.info.schedule = o.schedule == "always" ? "" : o.schedule;
  lo.info.server_version = "rgpu-server (data plane v" + std::to_string(kProtocolVersion) + ")";
  lo.info.min_price_micro = o.min_price_micro;
  lo.receipt_key = receipt_key_;
  control::GpuLend g;
  g.index = o.gpu;
  g.name = props.name;
  g.memory_total = props.total_mem;
  g.memory_lent = o.lend_mem;
  g.compute_lent = o.lend_compute_milli;
  g.cc_major = static_cast<uint32_t>(props.cc_major);
  g.cc_minor = static_cast<uint32_t>(props.cc_minor);
  g.driver_version = std::to_string(props.driver_version / 1000) + "." +
                     std::to_string(props.driver_version % 1000 / 10);
  g.uuid = hex_of(props.uuid, sizeof props.uuid);
  lo.info.gpus.push_back(g);
  gpu_name_ = props.name;
  gpu_total_ = props.total_mem;
  gpu_lent_ = o.lend_mem ? o.lend_mem : props.total_mem;
  lo.usage = [this] {
    control::GpuUseSample s;
    s.index = gpu_;
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [pid, m] : members_)
      if (!m.lease_id.empty()) {
        s.sessions++;
        s.memory_used += m.cap;
      }
    return std::vector<control::GpuUseSample>{s};
  };
  lo.on_kill = [this](const control::KillOrder& k) {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [pid, m] : members_)
      if (!m.lease_id.empty() && m.lease_id == k.lease_id) {
        if (m.kill_reason.empty())
          log_info("pool kills session %llu (lease %.12s): %s",
                   static_cast<unsigned long long>(m.session_id), m.lease_id.c_str(),
                   k.reason.c_str());
        m.kill_reason = k.reason.empty() ? "killed by the pool" : k.reason;
        {  // the reason first, so the worker can tell its client why (lease_auth.h)
          const std::string msg = "K " + m.kill_reason.substr(0, 900);
          ::send(m.fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        ::kill(pid, SIGUSR1);
      }
  };
  lo.on_drain = [this](bool drained, int64_t deadline, const std::string& reason) {
    std::lock_guard<std::mutex> lk(mu_);
    const int64_t d = drained ? deadline : 0;
    if (d == drain_deadline_ && reason == drain_reason_) return;
    drain_deadline_ = d;
    drain_reason_ = reason;
    if (!d) return;
    log_info("the pool drains this server (%s) with a deadline in %lld s: warning %zu session(s)",
             reason.c_str(), static_cast<long long>(d - std::time(nullptr)), members_.size());
    for (auto& [pid, m] : members_)
      if (!m.lease_id.empty()) warn_of_deadline(m);
  };
  lo.log = [](const std::string& line) { log_info("pool link: %s", line.c_str()); };

  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return std::string("pipe: ") + strerror(errno);
  link_ = std::make_unique<control::ProviderLink>(std::move(lo));
  err = link_->start();
  if (!err.empty()) {
    link_.reset();
    return "cannot join the pool at " + o.pool + ": " + err;
  }
  const std::string key = link_->pool_public_key();
  if (!o.pool_key_file.empty()) {
    std::string pinned;
    if (!control::read_public_key_file(o.pool_key_file, &pinned, &err)) {
      link_->stop();
      link_.reset();
      return "--pool-key " + o.pool_key_file + ": " + err;
    }
    if (pinned != key)
      log_warn("the pool's key differs from --pool-key %s: leases are checked with --pool-key",
               o.pool_key_file.c_str());
    pinned_hex_ = control::to_hex(pinned);
  }
  thread_ = std::thread([this] { serve_channels(); });
  log_info("joined pool %s as provider %s (%s), endpoint %s, GPU %u \"%s\" %llu bytes%s",
           o.pool.c_str(), name_.c_str(), link_->provider_id().c_str(), endpoint_.c_str(), o.gpu,
           props.name, static_cast<unsigned long long>(props.total_mem),
           o.lend_mem ? (", lending " + std::to_string(o.lend_mem)).c_str() : "");
  return "";
}

std::string PoolMembership::metrics_text() {
  uint64_t busy, in, out, calls, leased = 0, started;
  unsigned running = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    busy = ended_busy_ns_, in = ended_bytes_in_, out = ended_bytes_out_, calls = ended_calls_;
    started = sessions_started_;
    for (const auto& [pid, m] : members_) {
      if (m.lease_id.empty()) continue;
      running++;
      leased += m.cap;
      busy += m.usage.busy_ns, in += m.usage.bytes_in, out += m.usage.bytes_out;
      calls += m.usage.calls;
    }
  }
  std::string name;
  for (char c : gpu_name_) name += (c == '"' || c == '\\' || c == '\n') ? '_' : c;
  const std::string gpu = "gpu=\"" + std::to_string(gpu_) + "\",model=\"" + name + "\"";
  std::string o;
  auto metric = [&](const char* n, const char* type, const char* help) {
    o += std::string("# HELP ") + n + " " + help + "\n# TYPE " + n + " " + type + "\n";
  };
  auto sample = [&](const std::string& n, uint64_t v) { o += n + " " + std::to_string(v) + "\n"; };
  metric("rgpu_gpu_memory_total_bytes", "gauge", "The GPU's memory.");
  sample("rgpu_gpu_memory_total_bytes{" + gpu + "}", gpu_total_);
  metric("rgpu_gpu_memory_lent_bytes", "gauge", "Memory lent to the pool (--lend-mem).");
  sample("rgpu_gpu_memory_lent_bytes{" + gpu + "}", gpu_lent_);
  metric("rgpu_gpu_memory_leased_bytes", "gauge", "Memory held by running sessions' leases.");
  sample("rgpu_gpu_memory_leased_bytes{" + gpu + "}", leased);
  metric("rgpu_vgpu_sessions", "gauge", "Sessions running on this server.");
  sample("rgpu_vgpu_sessions{" + gpu + "}", running);
  metric("rgpu_vgpu_sessions_started_total", "counter", "Sessions opened since start.");
  sample("rgpu_vgpu_sessions_started_total{" + gpu + "}", started);
  metric("rgpu_gpu_busy_seconds_total", "counter",
         "Device busy time (kernels and copies) of the sessions, from their usage receipts.");
  char b[64];
  std::snprintf(b, sizeof b, "%.6f", static_cast<double>(busy) / 1e9);
  o += "rgpu_gpu_busy_seconds_total{" + gpu + "} " + b + "\n";
  metric("rgpu_transfer_bytes_total", "counter",
         "Bytes on the wire with clients (framing included), from the sessions' receipts.");
  sample("rgpu_transfer_bytes_total{direction=\"in\"}", in);
  sample("rgpu_transfer_bytes_total{direction=\"out\"}", out);
  metric("rgpu_calls_total", "counter", "Driver calls served (sync and async).");
  sample("rgpu_calls_total", calls);
  return o;
}

void PoolMembership::warn_of_deadline(Member& m) {
  const long long left = std::max<long long>(0, drain_deadline_ - std::time(nullptr));
  char when[32] = "?";
  time_t t = static_cast<time_t>(drain_deadline_);
  struct tm tm_utc;
  if (gmtime_r(&t, &tm_utc)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm_utc);
  const std::string msg = "W this GPU's provider is draining its server (" +
                          drain_reason_.substr(0, 300) + "): the session will be ended at " + when +
                          ", in " + std::to_string(left / 60) + " min " +
                          std::to_string(left % 60) + " s; save your work before then";
  ::send(m.fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void PoolMembership::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (link_) link_->stop();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [pid, m] : members_)
    if (m.fd >= 0) ::close(m.fd);
  members_.clear();
  for (int& f : wake_)
    if (f >= 0) ::close(f), f = -1;
}

std::vector<std::string> PoolMembership::worker_args(int child_fd) const {
  // The keys the pool signs with now (during a rotation, the old and the new), as its last
  // heartbeat said; a session's worker checks its lease against each.
  std::string keys = pinned_hex_;
  if (keys.empty())
    for (const std::string& k : link_->pool_public_keys())
      keys += (keys.empty() ? "" : ",") + control::to_hex(k);
  return {"--control-fd",       std::to_string(child_fd),
          "--pool-pubkey",      keys,
          "--lease-endpoint",   endpoint_,
          "--lease-provider",   link_->provider_id(),
          "--receipt-interval", std::to_string(receipt_interval_ms_ / 1000.0)};
}

int PoolMembership::open_channel(int* parent_end) {
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return -1;
  ::fcntl(sp[0], F_SETFL, O_NONBLOCK);
  *parent_end = sp[0];
  return sp[1];
}

void PoolMembership::worker_started(pid_t pid, uint64_t session_id, int parent_end) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    Member& m = members_[pid];
    m.session_id = session_id;
    m.fd = parent_end;
  }
  wake();
}

void PoolMembership::worker_exited(pid_t pid, const std::string& how) {
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = members_.find(pid);
    if (it == members_.end()) return;
    Member& m = it->second;
    if (m.fd >= 0) {
      drain(m, &events);
      ::close(m.fd);
      m.fd = -1;
    }
    if (!m.lease_id.empty()) {
      std::string why = !m.kill_reason.empty()  ? "killed: " + m.kill_reason
                        : !m.end_reason.empty() ? m.end_reason
                                                : how;
      events.push_back({false, m.lease_id, m.session_id, why});
    }
    ended_busy_ns_ += m.usage.busy_ns;
    ended_bytes_in_ += m.usage.bytes_in;
    ended_bytes_out_ += m.usage.bytes_out;
    ended_calls_ += m.usage.calls;
    members_.erase(it);
  }
  wake();
  send_events(events);
}

bool PoolMembership::drain(Member& m, std::vector<Event>* events) {
  for (;;) {
    char buf[1024];
    ssize_t n = ::recv(m.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    std::string msg(buf, static_cast<size_t>(n));
    if (msg.size() > 2 && msg[0] == 'C' && msg[1] == ' ') {
      // "C <lease id> <expires>": claim a lease id for this worker's session.
      auto sp = msg.find(' ', 2);
      std::string id = msg.substr(2, sp == std::string::npos ? std::string::npos : sp - 2);
      long long exp = sp == std::string::npos ? 0 : std::atoll(msg.c_str() + sp + 1);
      bool fresh = !id.empty() && m.lease_id.empty() && guard_.claim(id, exp, std::time(nullptr));
      if (!fresh)
        log_warn("session %llu: lease %.12s refused as a replay",
                 static_cast<unsigned long long>(m.session_id), id.c_str());
      char r = fresh ? 'Y' : 'N';
      ::send(m.fd, &r, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else if (msg.size() > 2 && msg[0] == 'S' && msg[1] == ' ') {
      // "S <lease id> <cap>": the session opened.
      auto sp = msg.find(' ', 2);
      m.lease_id = msg.substr(2, sp == std::string::npos ? std::string::npos : sp - 2);
      m.cap = sp == std::string::npos ? 0 : std::strtoull(msg.c_str() + sp + 1, nullptr, 10);
      events->push_back({true, m.lease_id, m.session_id, ""});
      sessions_started_++;
      if (drain_deadline_) warn_of_deadline(m);
    } else if (msg.size() > 2 && msg[0] == 'E' && msg[1] == ' ') {
      m.end_reason = msg.substr(2);
    } else if (msg.size() > 2 && msg[0] == 'U' && msg[1] == ' ') {
      // "U <totals>": a usage receipt for the session (protocol/control/usage_receipt.h).
      control::UsageReceipt r;
      if (m.lease_id.empty() || !control::parse_receipt_line(msg, &r)) {
        log_warn("session %llu: malformed usage receipt from its worker",
                 static_cast<unsigned long long>(m.session_id));
      } else if (link_) {
        r.lease_id = m.lease_id;
        r.session_id = m.session_id;
        control::merge_receipt(&m.usage, r);
        link_->receipt(r);
      }
    } else {
      log_warn("session %llu: unexpected message on the worker channel",
               static_cast<unsigned long long>(m.session_id));
    }
  }
}

void PoolMembership::send_events(const std::vector<Event>& events) {
  if (!link_) return;
  for (const auto& e : events) {
    if (e.started)
      link_->session_started(e.lease_id, e.session_id);
    else
      link_->session_ended(e.lease_id, e.session_id, e.reason);
  }
}

void PoolMembership::wake() {
  if (wake_[1] < 0) return;
  char c = 1;
  ssize_t w = ::write(wake_[1], &c, 1);
  (void)w;
}

void PoolMembership::serve_channels() {
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return;
      for (auto& [pid, m] : members_)
        if (m.fd >= 0) fds.push_back({m.fd, POLLIN, 0});
    }
    int pr = ::poll(fds.data(), fds.size(), 1000);
    if (pr < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      char b[64];
      while (::read(wake_[0], b, sizeof b) > 0) {
      }
    }
    std::vector<Event> events;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        for (auto& [pid, m] : members_) {
          if (m.fd != fds[i].fd) continue;
          if (!drain(m, &events)) {
            ::close(m.fd);  // the worker is gone; worker_exited() reports the end
            m.fd = -1;
          }
        }
      }
    }
    send_events(events);
  }
}

}  // namespace rgpu::server
