// pool_manager/utilisation.cc — see utilisation.h.
#include "pool_manager/utilisation.h"

#include <algorithm>

#include "pool_manager/pool_state.h"

namespace rgpu::pool {

std::map<std::pair<std::string, uint32_t>, GpuLeases> gpu_leases(const PoolState& s) {
  std::map<std::pair<std::string, uint32_t>, GpuLeases> sums;
  for (const auto& l : s.all_leases()) {
    GpuLeases& u = sums[{l.provider_id, l.gpu_index}];
    u.busy_ns += l.usage.busy_ns;
    if (lease_open(l.state)) u.leased += l.vram;
    if (l.state == LeaseState::kActive) u.sessions++;
  }
  return sums;
}

void UtilisationHistory::sample(const PoolState& s, int64_t now_ms) {
  if (last_sample_ms_ && now_ms - last_sample_ms_ < period_ms_) return;
  last_sample_ms_ = now_ms;
  auto sums = gpu_leases(s);
  for (const auto& p : s.providers())
    for (const auto& g : p.gpus) {
      auto key = std::make_pair(p.id, g.index);
      Series& ser = series_[key];
      const GpuLeases& u = sums[key];
      UtilPoint pt;
      pt.t = now_ms / 1000;
      if (ser.last_ms && now_ms > ser.last_ms && u.busy_ns >= ser.busy_ns)
        pt.busy = std::clamp(double(u.busy_ns - ser.busy_ns) / (double(now_ms - ser.last_ms) * 1e6),
                             0.0, 1.0);
      pt.memory_leased = std::min(u.leased, g.memory_lent);
      pt.memory_lent = g.memory_lent;
      pt.sessions = u.sessions;
      ser.busy_ns = u.busy_ns;
      ser.last_ms = now_ms;
      ser.points.push_back(pt);
      while (ser.points.size() > keep_) ser.points.pop_front();
    }
}

const std::deque<UtilPoint>& UtilisationHistory::series(const std::string& provider_id,
                                                        uint32_t gpu) const {
  static const std::deque<UtilPoint> kNone;
  auto it = series_.find({provider_id, gpu});
  return it == series_.end() ? kNone : it->second.points;
}

}  // namespace rgpu::pool
