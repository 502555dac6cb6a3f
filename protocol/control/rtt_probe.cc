// protocol/control/rtt_probe.cc — see rtt_probe.h.
#include "protocol/control/rtt_probe.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <thread>

#include "protocol/transport.h"

namespace rgpu::control {

uint32_t probe_rtt_us(const std::string& endpoint, int timeout_ms, int tries, std::string* error) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  uint64_t best = 0;
  for (int t = 0; t < tries && Clock::now() < deadline; ++t) {
    try {
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      auto s = net::connect(net::Endpoint::parse(endpoint), nullptr, std::max(left, 1));
      s->set_read_deadline(deadline);
      static const char kAsk[] = "GET /healthz HTTP/1.0\r\n\r\n";
      const auto sent = Clock::now();
      s->write_all(kAsk, sizeof kAsk - 1);
      char c;
      s->read_exact(&c, 1);
      const uint64_t us = uint64_t(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count());
      best = best ? std::min(best, us) : std::max<uint64_t>(us, 1);
    } catch (const std::exception& e) {
      if (error) *error = endpoint + ": " + e.what();
    }
  }
  if (!best && error && error->empty()) *error = endpoint + ": no answer";
  return static_cast<uint32_t>(std::min<uint64_t>(best, UINT32_MAX));
}

std::map<std::string, uint32_t> probe_all(const std::vector<std::string>& endpoints, int timeout_ms,
                                          int tries) {
  std::vector<uint32_t> rtt(endpoints.size(), 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    try {
      threads.emplace_back(
          [&, i] { rtt[i] = probe_rtt_us(endpoints[i], timeout_ms, tries, nullptr); });
    } catch (const std::system_error&) {  // no thread: probe it here
      rtt[i] = probe_rtt_us(endpoints[i], timeout_ms, tries, nullptr);
    }
  }
  for (auto& t : threads) t.join();
  std::map<std::string, uint32_t> out;
  for (size_t i = 0; i < endpoints.size(); ++i)
    if (rtt[i]) out[endpoints[i]] = rtt[i];
  return out;
}

}  // namespace rgpu::control
