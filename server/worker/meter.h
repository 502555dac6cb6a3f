// server/worker/meter.h — what one session used, counted from its first frame.
//
// Contract: the worker's lanes and Session fill a SessionMeter while it runs; the counters are
// atomics so the receipt thread can read them at any time (receipt(): cumulative totals for a
// usage receipt, protocol/control/usage_receipt.h), and at session end summary() is written
// to the log. A joined lane's bytes are added when that lane ends. Memory use is
// integrated over time: call mem_changed() with the new total after every allocation change
// and finish() at the end; mem_byte_seconds() is the integral so far (divide by 1e9 for
// GB*s). busy_ns is the backend's device time as last read on the session's thread
// (refresh_busy_due() says when to read it again).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "protocol/control/usage_receipt.h"

namespace rgpu::server {

struct SessionMeter {
  using Clock = std::chrono::steady_clock;

  uint64_t session_id = 0;
  std::string client;  // Hello.clientName
  std::string peer;    // address
  Clock::time_point started = Clock::now();
  Clock::time_point ended{};

  std::atomic<uint64_t> busy_ns{0};                 // device time, from the backend's timing
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};  // on the wire, framing included
  std::atomic<uint64_t> sync_calls{0}, async_calls{0}, errors{0};
  std::array<uint64_t, 256> op_calls{};  // by op wire number (codes >= 256 are not counted)

  void count_call(uint16_t op, bool sync) {
    (sync ? sync_calls : async_calls)++;
    if (op < op_calls.size()) op_calls[op]++;
  }
  void mem_changed(uint64_t bytes_now);
  void finish();
  double seconds() const;
  double mem_byte_seconds() const;
  double mem_gb_seconds() const { return mem_byte_seconds() / 1e9; }
  uint64_t mem_peak() const;
  uint64_t mem_bytes() const;  // mapped now
  // True at most once a second: time for the session's thread to store the backend's busy_ns.
  bool refresh_busy_due();
  // Cumulative totals now, for receipt number `seq` (`final`: the session has ended).
  control::UsageReceipt receipt(uint64_t seq, bool final) const;
  // One log line: "session 7 (client, peer) ended after 1.2 s: busy 3.4 ms, ..., ops MemAlloc=2".
  std::string summary(const std::string& reason) const;

 private:
  mutable std::mutex mem_mu_;  // guards the memory integral below
  double mem_byte_seconds_ = 0;
  uint64_t mem_bytes_ = 0, mem_peak_ = 0;
  Clock::time_point mem_since_ = started;
  std::atomic<int64_t> busy_read_ns_{0};  // steady-clock time busy_ns was last refreshed
};

}  // namespace rgpu::server
