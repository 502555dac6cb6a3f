// server/worker/joined_lanes.cc — see joined_lanes.h.
#include "server/worker/joined_lanes.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "protocol/handshake.h"
#include "server/lane_handoff.h"
#include "server/log.h"
#include "server/worker/lane.h"

namespace rgpu::server {

namespace {

// Constant-time comparison of the join key.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

JoinedLanes::JoinedLanes(Params p, Session& session, Gate& gate, SessionMeter& meter,
                         std::function<void(const std::string&)> on_lost)
    : p_(std::move(p)),
      session_(session),
      gate_(gate),
      meter_(meter),
      on_lost_(std::move(on_lost)) {}

JoinedLanes::~JoinedLanes() {
  stop();
}

void JoinedLanes::start() {
  if (p_.lane_fd < 0) return;
  receiver_ = std::thread([this] { receive_loop(); });
}

void JoinedLanes::wake_all(bool read_only) {
  std::lock_guard<std::mutex> g(mu_);
  stopping_ = true;
  for (net::Stream* s : live_) {
    if (read_only)
      ::shutdown(s->fd(), SHUT_RD);
    else
      s->shutdown();
  }
  for (int fd : joining_) ::shutdown(fd, SHUT_RDWR);
}

void JoinedLanes::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_ && !receiver_.joinable() && threads_.empty()) return;
  }
  wake_all();
  if (p_.lane_fd >= 0) ::shutdown(p_.lane_fd, SHUT_RDWR);
  if (receiver_.joinable()) receiver_.join();
  std::vector<LaneThread> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    ts.swap(threads_);
    finished_.clear();
  }
  for (auto& t : ts) t.thread.join();
  std::lock_guard<std::mutex> g(mu_);
  meter_.bytes_in += joined_in_;
  meter_.bytes_out += joined_out_;
  joined_in_ = joined_out_ = 0;
}

void JoinedLanes::reap_locked() {
  for (uint64_t id : finished_) {
    auto it = std::find_if(threads_.begin(), threads_.end(),
                           [id](const LaneThread& t) { return t.id == id; });
    if (it == threads_.end()) continue;
    it->thread.join();  // it has nothing left to do but return
    threads_.erase(it);
  }
  finished_.clear();
}

void JoinedLanes::receive_loop() {
  for (;;) {
    int fd = recv_fd(p_.lane_fd);
    if (fd < 0) return;
    std::lock_guard<std::mutex> g(mu_);
    reap_locked();
    if (!stopping_ && joining_.size() >= kMaxJoining) {
      // A flood of connections that have not authenticated: no thread, no slot, no answer.
      log_warn("closed a joining lane: %zu lanes of this session are still authenticating",
               joining_.size());
      ::close(fd);
      continue;
    }
    if (stopping_ || threads_.size() - joining_.size() >= kMaxLanes) {
      // Over the limit: answer so the client falls back to sharing a lane (over TLS: close it;
      // the client falls back the same way, and no handshake runs on this thread).
      if (p_.tls) {
        ::close(fd);
        continue;
      }
      try {
        auto s = net::adopt(fd, nullptr, true);
        refuse_hello(*s, stopping_ ? "session is ending" : "too many lanes in this session");
      } catch (const std::exception&) {
      }
      continue;
    }
    const int watch = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (watch < 0) {
      ::close(fd);
      continue;
    }
    const uint64_t id = next_id_++;
    joining_.push_back(watch);
    threads_.push_back({id, std::thread([this, fd, watch, id] {
                          serve_one(fd, watch);
                          std::lock_guard<std::mutex> done(mu_);
                          finished_.push_back(id);
                        })});
  }
}

void JoinedLanes::joined_or_gone(int watch) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find(joining_.begin(), joining_.end(), watch);
  if (it != joining_.end()) joining_.erase(it);
  ::close(watch);
}

void JoinedLanes::serve_one(int fd, int watch) {
  // Until its Hello is accepted, a duplicate of fd (`watch`, same socket) is in joining_:
  // stop() shuts the socket down through it, however fd itself is closed meanwhile (adopt()
  // closes it when a handshake fails). Every read before then has a deadline.
  const auto deadline = std::chrono::steady_clock::now() + p_.hello_timeout;
  const std::string peer = net::peer_name(fd);
  std::unique_ptr<net::Stream> raw;
  try {
    if (p_.tls) {
      uint64_t said = take_join_preamble(fd, static_cast<int>(p_.hello_timeout.count()));
      if (said != p_.session_id) {
        log_warn("refused a TLS lane from %s: its preamble names session %llu, this is %llu",
                 peer.c_str(), static_cast<unsigned long long>(said),
                 static_cast<unsigned long long>(p_.session_id));
        joined_or_gone(watch);
        ::close(fd);
        return;
      }
    }
    net::TlsConfig tls;
    if (p_.tls) {
      tls = *p_.tls;
      tls.handshake_timeout_ms = static_cast<int>(p_.hello_timeout.count());
    }
    raw = net::adopt(fd, p_.tls ? &tls : nullptr, true);
  } catch (const std::exception& e) {
    joined_or_gone(watch);
    log_warn("joining lane from %s: %s", peer.c_str(), e.what());
    return;
  }
  SessionMeter lane_meter;
  net::CountingStream s(*raw, &lane_meter.bytes_in, &lane_meter.bytes_out);
  s.set_read_deadline(deadline);
  bool accepted = false;
  std::string why;
  try {
    HelloReceived h;
    bool hello_ok = true;
    try {
      h = read_hello(s);
    } catch (const HandshakeError& e) {
      refuse_hello(s, e.what());
      hello_ok = false;
    }
    if (hello_ok) {
      const HelloParams& hp = h.params;
      const bool key_ok = same_key(p_.lane_key, hp.join_key);
      if (hp.join_session != p_.session_id || !key_ok) {
        refuse_hello(s, "lane refused: wrong session or join key");
        log_warn("refused a lane for session %llu from %s: wrong session or key",
                 static_cast<unsigned long long>(hp.join_session), s.peer().c_str());
      } else if (!h.negotiated.ok) {
        refuse_hello(s, h.negotiated.error);
      } else {
        HelloAccepted acc;
        acc.version = h.negotiated.version;
        acc.session_id = p_.session_id;
        acc.device_props.assign(reinterpret_cast<const char*>(&p_.props), sizeof p_.props);
        acc.vram_limit = p_.vram_limit;
        send_hello_reply(s, acc);
        accepted = true;
      }
    }
  } catch (const std::exception& e) {
    why = e.what();
    log_warn("joining lane from %s: %s", peer.c_str(), why.c_str());
  }
  if (!accepted) {
    joined_or_gone(watch);
    return;  // raw closes the connection
  }
  s.set_read_deadline({});
  {
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = std::find(joining_.begin(), joining_.end(), watch);
      if (it != joining_.end()) joining_.erase(it);
      ::close(watch);
      if (stopping_) raw->shutdown();
      live_.push_back(raw.get());
    }
    Lane lane(s, session_, gate_);
    bool goodbye = false;
    why = lane.serve(&goodbye);
    if (!goodbye) lane.say_goodbye();  // when the server ends the session: why, to the client
    {
      std::lock_guard<std::mutex> g(mu_);
      live_.erase(std::find(live_.begin(), live_.end(), raw.get()));
      joined_in_ += lane_meter.bytes_in;
      joined_out_ += lane_meter.bytes_out;
    }
    bool stopping;
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping = stopping_;
    }
    if (!goodbye && !stopping) on_lost_("a lane ended: " + why);
  }
}

}  // namespace rgpu::server
