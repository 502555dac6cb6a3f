// pool_manager/utilisation.h — each lent GPU's use over time, for the dashboard's charts.
//
// Contract:
// - sample() runs on the pool's thread (it reads PoolState) and takes one point per lent GPU
//   every `period_s`; it does nothing between. A point holds the device's busy fraction over the
//   period before it, the memory leased on it, the memory lent, and its running sessions.
// - Busy time comes from usage receipts (protocol/control/usage_receipt.h): the growth of the
//   summed busy_ns of every lease ever placed on the GPU, over the period's wall time, held to
//   [0, 1]. Receipts arrive every --receipt-interval, so a period shorter than that shows busy
//   time in steps. The first point of a GPU only primes the sum (busy 0).
// - At most `keep` points per GPU (the oldest go first): bounded memory whatever the uptime.
//   Kept in memory only: the history starts when the pool does.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace rgpu::pool {

class PoolState;

struct UtilPoint {
  int64_t t = 0;               // unix s
  double busy = 0;             // 0..1 over the period before t
  uint64_t memory_leased = 0;  // bytes held by open leases on the GPU
  uint64_t memory_lent = 0;
  uint32_t sessions = 0;  // active leases
};

// What the leases placed on each GPU add up to now, by (provider id, GPU index): receipted busy
// time of every lease ever placed there, memory of its open leases, its active sessions.
struct GpuLeases {
  uint64_t busy_ns = 0, leased = 0;
  uint32_t sessions = 0;
};
std::map<std::pair<std::string, uint32_t>, GpuLeases> gpu_leases(const PoolState& s);

class UtilisationHistory {
 public:
  explicit UtilisationHistory(int64_t period_s = 10, size_t keep = 8640)
      : period_ms_(period_s * 1000), keep_(keep) {}
  void sample(const PoolState& s, int64_t now_ms);
  // The points of one GPU, oldest first (empty when unknown).
  const std::deque<UtilPoint>& series(const std::string& provider_id, uint32_t gpu) const;
  int64_t period_s() const { return period_ms_ / 1000; }

 private:
  struct Series {
    std::deque<UtilPoint> points;
    uint64_t busy_ns = 0;  // the summed receipts at the last point
    int64_t last_ms = 0;
  };
  int64_t period_ms_;
  size_t keep_;
  int64_t last_sample_ms_ = 0;
  std::map<std::pair<std::string, uint32_t>, Series> series_;  // by (provider id, GPU index)
};

}  // namespace rgpu::pool
