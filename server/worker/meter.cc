// server/worker/meter.cc — see meter.h.
#include "server/worker/meter.h"

#include <cstdio>

#include "protocol/ops.h"

namespace rgpu::server {

void SessionMeter::mem_changed(uint64_t bytes_now) {
  auto now = Clock::now();
  mem_byte_seconds +=
      static_cast<double>(mem_bytes) * std::chrono::duration<double>(now - mem_since).count();
  mem_since = now;
  mem_bytes = bytes_now;
  if (bytes_now > mem_peak) mem_peak = bytes_now;
}

void SessionMeter::finish() {
  mem_changed(mem_bytes);
  ended = Clock::now();
}

double SessionMeter::seconds() const {
  auto end = ended == Clock::time_point{} ? Clock::now() : ended;
  return std::chrono::duration<double>(end - started).count();
}

std::string SessionMeter::summary(const std::string& reason) const {
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "session %llu (%s, %s) ended after %.3f s (%s): busy %.3f ms, memory %.6f GB*s "
      "(peak %llu bytes), in %llu bytes, out %llu bytes, %llu sync + %llu async calls, "
      "%llu errors; ops",
      static_cast<unsigned long long>(session_id), client.c_str(), peer.c_str(), seconds(),
      reason.c_str(), busy_ns / 1e6, mem_gb_seconds(), static_cast<unsigned long long>(mem_peak),
      static_cast<unsigned long long>(bytes_in), static_cast<unsigned long long>(bytes_out),
      static_cast<unsigned long long>(sync_calls), static_cast<unsigned long long>(async_calls),
      static_cast<unsigned long long>(errors));
  std::string s = buf;
  for (size_t i = 0; i < op_calls.size(); ++i) {
    if (op_calls[i] == 0) continue;
    std::string_view n = op_name(static_cast<Op>(i));
    s += " ";
    s += n.empty() ? "op" + std::to_string(i) : std::string(n);
    s += "=" + std::to_string(op_calls[i]);
  }
  return s;
}

}  // namespace rgpu::server
