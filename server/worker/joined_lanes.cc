// server/worker/joined_lanes.cc — see joined_lanes.h.
#include "server/worker/joined_lanes.h"

#include <capnp/message.h>
#include <kj/exception.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/version.h"
#include "server/lane_handoff.h"
#include "server/log.h"
#include "server/worker/lane.h"

namespace rgpu::server {

namespace {

bool same_key(const std::string& a, const uint8_t* b, size_t n) {
  if (a.size() != n || n == 0) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= static_cast<uint8_t>(a[i]) ^ b[i];
  return diff == 0;
}

void refuse(net::Stream& s, const std::string& why) {
  capnp::MallocMessageBuilder msg;
  auto r = msg.initRoot<wire::HelloReply>();
  r.setOk(false);
  r.setProtocolVersion(kProtocolVersion);
  r.setError(why);
  write_frame(s, FrameKind::kHelloReply, msg);
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

void JoinedLanes::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_ && !receiver_.joinable() && threads_.empty()) return;
    stopping_ = true;
    for (net::Stream* s : live_) s->shutdown();
  }
  if (p_.lane_fd >= 0) ::shutdown(p_.lane_fd, SHUT_RDWR);
  if (receiver_.joinable()) receiver_.join();
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    ts.swap(threads_);
  }
  for (auto& t : ts) t.join();
  std::lock_guard<std::mutex> g(mu_);
  meter_.bytes_in += joined_in_;
  meter_.bytes_out += joined_out_;
  joined_in_ = joined_out_ = 0;
}

void JoinedLanes::receive_loop() {
  for (;;) {
    int fd = recv_fd(p_.lane_fd);
    if (fd < 0) return;
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_ || threads_.size() >= kMaxLanes) {
      // Over the limit: answer so the client falls back to sharing a lane.
      try {
        auto s = net::adopt(fd, nullptr, true);
        refuse(*s, stopping_ ? "session is ending" : "too many lanes in this session");
      } catch (const std::exception&) {
      }
      continue;
    }
    threads_.emplace_back([this, fd] { serve_one(fd); });
  }
}

void JoinedLanes::serve_one(int fd) {
  std::unique_ptr<net::Stream> raw;
  try {
    raw = net::adopt(fd, nullptr, true);
  } catch (const std::exception& e) {
    log_warn("joining lane: %s", e.what());
    return;
  }
  SessionMeter lane_meter;
  CountingStream s(*raw, lane_meter);
  bool accepted = false;
  std::string why;
  try {
    InFrame f = read_frame(s);
    if (f.kind != FrameKind::kHello) {
      skip_payload(s, f.payload_len);
      refuse(s, "expected a Hello frame first");
    } else {
      skip_payload(s, f.payload_len);
      uint32_t peer_min = 0, peer_max = 0;
      uint64_t join = 0;
      bool key_ok = false;
      try {
        auto r = f.reader();
        auto h = r.getRoot<wire::Hello>();
        peer_max = h.getProtocolVersion();
        peer_min = h.getMinProtocolVersion() ? h.getMinProtocolVersion() : peer_max;
        join = h.getJoinSession();
        auto k = h.getJoinKey();
        key_ok = same_key(p_.lane_key, k.begin(), k.size());
      } catch (const kj::Exception&) {
      }
      Negotiated n = negotiate(peer_min, peer_max);
      if (join != p_.session_id || !key_ok) {
        refuse(s, "lane refused: wrong session or join key");
        log_warn("refused a lane for session %llu from %s: wrong session or key",
                 static_cast<unsigned long long>(join), s.peer().c_str());
      } else if (!n.ok) {
        refuse(s, n.error);
      } else {
        capnp::MallocMessageBuilder msg;
        auto r = msg.initRoot<wire::HelloReply>();
        r.setOk(true);
        r.setProtocolVersion(n.version);
        r.setSessionId(p_.session_id);
        r.setDeviceProps(
            capnp::Data::Reader(reinterpret_cast<const uint8_t*>(&p_.props), sizeof p_.props));
        r.setVramLimit(p_.vram_limit);
        write_frame(s, FrameKind::kHelloReply, msg);
        accepted = true;
      }
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (accepted) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_) raw->shutdown();
      live_.push_back(raw.get());
    }
    Lane lane(s, session_, gate_);
    bool goodbye = false;
    why = lane.serve(&goodbye);
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
