// pool_manager/billing.cc — see billing.h.
#include "pool_manager/billing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rgpu::pool {
namespace {

// num / den rounded half up; both non-negative, den > 0.
int64_t div_round(__int128 num, __int128 den) {
  return static_cast<int64_t>((num + den / 2) / den);
}

}  // namespace

int64_t RateCard::gpu_hour_rate(const std::string& provider, const std::string& gpu_model) const {
  if (auto it = gpu_hour_by_provider.find(provider); it != gpu_hour_by_provider.end())
    return it->second;
  if (auto it = gpu_hour_by_model.find(gpu_model); it != gpu_hour_by_model.end()) return it->second;
  return gpu_hour;
}

Charge charge(const RateCard& rates, const SessionFacts& s) {
  Charge c;
  c.rate_version = rates.version;
  uint64_t billed = rates.bill_busy ? s.usage.busy_ns / 1'000'000 : s.usage.wall_ms;
  if (s.provider_lost && !rates.bill_busy && s.ended > s.started)
    billed = std::max<uint64_t>(billed, static_cast<uint64_t>(s.ended - s.started) * 1000);
  c.billed_ms = billed;
  const int64_t rate = rates.gpu_hour_rate(s.provider, s.gpu_model);
  const __int128 share_num = s.whole_gpu || s.gpu_lent == 0 ? 1 : s.vram;
  const __int128 share_den = s.whole_gpu || s.gpu_lent == 0 ? 1 : s.gpu_lent;
  const int64_t gpu = div_round(__int128(rate) * billed * share_num, share_den * 3'600'000);
  const double gib_hours = s.usage.mem_gb_s * 1e9 / (1073741824.0 * 3600.0);
  const int64_t mem = std::llround(static_cast<double>(rates.gib_hour) * gib_hours);
  const int64_t moved =
      div_round(__int128(rates.gb_moved) * (s.usage.bytes_in + s.usage.bytes_out), 1'000'000'000);
  c.cost = gpu + mem + moved;
  c.fee = div_round(__int128(c.cost) * rates.fee_ppm, 1'000'000);
  c.earnings = c.cost - c.fee;
  return c;
}

}  // namespace rgpu::pool
