// server/worker/joined_lanes.h — the further lanes of a session (one per client thread).
//
// Contract: start() begins receiving connections that the supervisor hands over on lane_fd
// (server/lane_handoff.h). Each runs on its own thread: over TLS it first takes the routing
// preamble off (it must name this session) and runs the TLS handshake; it reads the Hello itself,
// accepts it only when joinSession is this session and joinKey equals the key this worker gave
// out (constant-time compare) and the protocol version negotiates, answers a HelloReply like the
// first lane's, then serves the lane (server/worker/lane.h) on the shared Session under the
// shared Gate. At most kMaxLanes accepted lanes run at once (a refused or ended one no longer
// counts); later ones are refused (the client then shares a lane). A lane that has not yet
// authenticated holds no such slot: at most kMaxJoining of them wait at once (more are closed at
// once), each must finish its preamble, TLS handshake and Hello within hello_timeout, and
// stop() wakes them as it wakes accepted lanes, so nothing a stranger sends can hold the
// session's end or use up its lanes. A joined lane that ends without a Goodbye
// ends the whole session (on_lost is called): the client's process is gone or broken, and a frame
// number it took may never arrive. stop() closes every joined lane, stops receiving and joins the
// threads; their bytes are added to the session's meter.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/device_props.h"
#include "protocol/transport.h"
#include "server/worker/gate.h"
#include "server/worker/meter.h"
#include "server/worker/session.h"

namespace rgpu::server {

class JoinedLanes {
 public:
  static constexpr size_t kMaxLanes = 64;
  static constexpr size_t kMaxJoining = 16;

  struct Params {
    int lane_fd = -1;
    const net::TlsConfig* tls = nullptr;  // TLS session: lanes bring a preamble, then TLS
    uint64_t session_id = 0;
    std::string lane_key;
    DeviceProps props{};
    uint64_t vram_limit = 0;
    std::chrono::milliseconds hello_timeout{10000};
  };

  JoinedLanes(Params p, Session& session, Gate& gate, SessionMeter& meter,
              std::function<void(const std::string&)> on_lost);
  ~JoinedLanes();

  void start();
  void stop();
  // Wakes every lane (shuts its connection down) without waiting for any: safe from any thread,
  // e.g. a watchdog ending the session on a signal. stop() still joins them.
  // Wakes every lane's thread; read_only: they stop reading but may still send their Goodbye
  // (the caller wakes them fully a moment later, in case one is stuck writing).
  void wake_all(bool read_only = false);

 private:
  void receive_loop();
  void serve_one(int fd, int watch);
  void joined_or_gone(int watch);  // leaves joining_ and closes watch

  Params p_;
  Session& session_;
  Gate& gate_;
  SessionMeter& meter_;
  std::function<void(const std::string&)> on_lost_;
  std::thread receiver_;
  std::mutex mu_;
  bool stopping_ = false;
  // Lane threads still running; a finished one puts its id in finished_ and is joined and
  // dropped by the receive loop, so refused or ended lanes do not use up kMaxLanes.
  struct LaneThread {
    uint64_t id;
    std::thread thread;
  };
  std::vector<LaneThread> threads_;
  std::vector<uint64_t> finished_;
  uint64_t next_id_ = 0;
  void reap_locked();
  std::vector<net::Stream*> live_;           // accepted lanes
  std::vector<int> joining_;                 // connections still authenticating (their fds)
  uint64_t joined_in_ = 0, joined_out_ = 0;  // bytes of ended lanes, added to meter_ by stop()
};

}  // namespace rgpu::server
