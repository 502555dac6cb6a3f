// server/worker/meter.cc — see meter.h.
#include "server/worker/meter.h"

#include <cstdio>

#include "protocol/ops.h"

namespace rgpu::server {

void SessionMeter::mem_changed(uint64_t bytes_now) {
  std::lock_guard<std::mutex> g(mem_mu_);
  auto now = Clock::now();
  mem_byte_seconds_ +=
      static_cast<double>(mem_bytes_) * std::chrono::duration<double>(now - mem_since_).count();
  mem_since_ = now;
  mem_bytes_ = bytes_now;
  if (bytes_now > mem_peak_) mem_peak_ = bytes_now;
}

void SessionMeter::finish() {
  uint64_t now_bytes;
  {
    std::lock_guard<std::mutex> g(mem_mu_);
    now_bytes = mem_bytes_;
  }
  mem_changed(now_bytes);
  ended = Clock::now();
}

double SessionMeter::seconds() const {
  auto end = ended == Clock::time_point{} ? Clock::now() : ended;
  return std::chrono::duration<double>(end - started).count();
}

double SessionMeter::mem_byte_seconds() const {
  std::lock_guard<std::mutex> g(mem_mu_);
  auto to = ended == Clock::time_point{} ? Clock::now() : ended;
  return mem_byte_seconds_ +
         static_cast<double>(mem_bytes_) * std::chrono::duration<double>(to - mem_since_).count();
}

uint64_t SessionMeter::mem_peak() const {
  std::lock_guard<std::mutex> g(mem_mu_);
  return mem_peak_;
}

uint64_t SessionMeter::mem_bytes() const {
  std::lock_guard<std::mutex> g(mem_mu_);
  return mem_bytes_;
}

bool SessionMeter::refresh_busy_due() {
  const int64_t now = Clock::now().time_since_epoch().count();
  int64_t last = busy_read_ns_.load(std::memory_order_relaxed);
  if (now - last < 1'000'000'000) return false;
  return busy_read_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

control::UsageReceipt SessionMeter::receipt(uint64_t seq, bool final) const {
  control::UsageReceipt r;
  r.session_id = session_id;
  r.seq = seq;
  r.final = final;
  r.wall_ms = static_cast<uint64_t>(seconds() * 1000);
  r.busy_ns = busy_ns;
  r.mem_gb_s = mem_gb_seconds();
  r.mem_peak = mem_peak();
  r.bytes_in = bytes_in;
  r.bytes_out = bytes_out;
  r.calls = sync_calls + async_calls;
  return r;
}

std::string SessionMeter::summary(const std::string& reason) const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "session %llu (%s, %s) ended after %.3f s (%s): busy %.3f ms, memory %.6f GB*s "
                "(peak %llu bytes), in %llu bytes, out %llu bytes, %llu sync + %llu async calls, "
                "%llu errors; ops",
                static_cast<unsigned long long>(session_id), client.c_str(), peer.c_str(),
                seconds(), reason.c_str(), busy_ns.load() / 1e6, mem_gb_seconds(),
                static_cast<unsigned long long>(mem_peak()),
                static_cast<unsigned long long>(bytes_in.load()),
                static_cast<unsigned long long>(bytes_out.load()),
                static_cast<unsigned long long>(sync_calls.load()),
                static_cast<unsigned long long>(async_calls.load()),
                static_cast<unsigned long long>(errors.load()));
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
