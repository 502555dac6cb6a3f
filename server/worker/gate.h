// server/worker/gate.h — one session's lanes take turns: exclusive access, in the client's order.
//
// Contract (DESIGN contract 4, protocol/schema/data_plane.capnp "Order across lanes"):
// - Every Request and Batch a lane runs is wrapped in a Turn. While a Turn is held, no other
//   lane of the session touches the Session or the backend.
// - A frame numbered seq > 0 gets its Turn only after every lower number has had its own: the
//   numbers are one per-session counter on the client, so the worker runs frames from all lanes
//   in exactly the order the client numbered them. Numbers are 1, 2, 3, ... without gaps; a
//   number at or below the last one run (a replay or a bug) is refused (enter() returns false)
//   rather than waited for.
// - seq 0 (a client with a single lane) is not ordered against other frames: it waits only for
//   exclusivity.
// - abort() (the session is ending) wakes every waiter; enter() then returns false.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace rgpu::server {

class Gate {
 public:
  class Turn {
   public:
    Turn() = default;
    Turn(Turn&& o) noexcept : g_(o.g_), seq_(o.seq_) { o.g_ = nullptr; }
    Turn& operator=(Turn&&) = delete;
    ~Turn() {
      if (g_) g_->leave(seq_);
    }
    explicit operator bool() const { return g_ != nullptr; }

   private:
    friend class Gate;
    Turn(Gate* g, uint64_t seq) : g_(g), seq_(seq) {}
    Gate* g_ = nullptr;
    uint64_t seq_ = 0;
  };

  // Blocks until it is seq's turn (and the session is free). An empty Turn when aborted or when
  // seq was already used.
  Turn enter(uint64_t seq) {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      if (aborted_) return Turn();
      if (seq != 0 && seq < next_) return Turn();
      if (!busy_ && (seq == 0 || seq == next_)) break;
      cv_.wait(l);
    }
    busy_ = true;
    return Turn(this, seq);
  }

  void abort() {
    std::lock_guard<std::mutex> l(mu_);
    aborted_ = true;
    cv_.notify_all();
  }

  uint64_t next() const {
    std::lock_guard<std::mutex> l(mu_);
    return next_;
  }

 private:
  void leave(uint64_t seq) {
    std::lock_guard<std::mutex> l(mu_);
    busy_ = false;
    if (seq != 0) next_ = seq + 1;
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 1;
  bool busy_ = false;
  bool aborted_ = false;
};

}  // namespace rgpu::server
