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
// - A number that waits for a gap no lower frame fills within kGapTimeout (no frame ran
//   meanwhile) is given up: enter() returns false. A client's lanes fill gaps within a round
//   trip; one that never does is broken or hostile, and must not pin a lane thread forever.
// - abort() (the session is ending) wakes every waiter; enter() then returns false.
#pragma once

#include <chrono>
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

  static constexpr std::chrono::seconds kGapTimeout{30};

  // Blocks until it is seq's turn (and the session is free). An empty Turn when aborted, when
  // seq was already used, or when the gap before it stayed open for gap_timeout.
  Turn enter(uint64_t seq, std::chrono::milliseconds gap_timeout = kGapTimeout) {
    std::unique_lock<std::mutex> l(mu_);
    uint64_t seen_next = next_;
    auto gap_since = std::chrono::steady_clock::now();
    for (;;) {
      if (aborted_) return Turn();
      if (seq != 0 && seq < next_) return Turn();
      if (!busy_ && (seq == 0 || seq == next_)) break;
      if (seq > next_) {
        auto now = std::chrono::steady_clock::now();
        if (next_ != seen_next) {
          seen_next = next_;
          gap_since = now;
        } else if (now - gap_since >= gap_timeout) {
          return Turn();
        }
        cv_.wait_for(l, gap_timeout - (now - gap_since));
        continue;
      }
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
