// server/worker/meter.h — what one session used, counted from its first frame.
//
// Contract: SessionMeter is plain data plus small helpers; the worker's lanes and Session fill
// it, and at session end summary() is written to the log. The pool reporting (ProviderLink
// session_ended) reads the same struct later. Memory use is integrated over time: call
// mem_changed() with the new total after every allocation change and finish() at the end;
// mem_byte_seconds then holds the integral (divide by 1e9 for GB*s).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace rgpu::server {

struct SessionMeter {
  using Clock = std::chrono::steady_clock;

  uint64_t session_id = 0;
  std::string client;  // Hello.clientName
  std::string peer;    // address
  Clock::time_point started = Clock::now();
  Clock::time_point ended{};

  uint64_t busy_ns = 0;                  // device time, from the backend's timing
  uint64_t bytes_in = 0, bytes_out = 0;  // on the wire, framing included
  uint64_t sync_calls = 0, async_calls = 0, errors = 0;
  std::array<uint64_t, 256> op_calls{};  // by op wire number (codes >= 256 are not counted)

  double mem_byte_seconds = 0;
  uint64_t mem_bytes = 0, mem_peak = 0;
  Clock::time_point mem_since = started;

  void count_call(uint16_t op, bool sync) {
    (sync ? sync_calls : async_calls)++;
    if (op < op_calls.size()) op_calls[op]++;
  }
  void mem_changed(uint64_t bytes_now);
  void finish();
  double seconds() const;
  double mem_gb_seconds() const { return mem_byte_seconds / 1e9; }
  // One log line: "session 7 (client, peer) ended after 1.2 s: busy 3.4 ms, ..., ops MemAlloc=2".
  std::string summary(const std::string& reason) const;
};

}  // namespace rgpu::server
