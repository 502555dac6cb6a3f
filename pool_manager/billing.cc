// pool_manager/billing.cc — see billing.h.
#include "pool_manager/billing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rgpu::pool {
namespace {

// num / den rounded half up; both non-negative, den > 0.
__int128 div_round(__int128 num, __int128 den) {
  return (num + den / 2) / den;
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
  uint64_t billed =
      rates.bill_busy ? std::min(s.usage.busy_ns / 1'000'000, s.usage.wall_ms) : s.usage.wall_ms;
  if ((s.provider_lost || s.receipts == 0) && !rates.bill_busy && s.ended > s.started)
    billed = std::max<uint64_t>(billed, static_cast<uint64_t>(s.ended - s.started) * 1000);
  const int64_t rate = rates.gpu_hour_rate(s.provider, s.gpu_model);
  const bool whole = s.whole_gpu || s.gpu_lent == 0;
  const __int128 share_num = whole ? 1 : std::min(s.vram, s.gpu_lent);
  const __int128 share_den = whole ? 1 : s.gpu_lent;
  // Whole-GPU time first (at most 2^60 after the clamp), then the slice's share: no term can
  // overflow 128 bits whatever the inputs.
  billed = std::min<uint64_t>(billed, uint64_t{1} << 40);  // 34 years of milliseconds
  __int128 gpu = div_round(__int128(rate) * billed, 3'600'000);
  if (gpu > kMaxCost) gpu = kMaxCost;
  gpu = div_round(gpu * share_num, share_den);
  c.billed_ms = billed;
  const double mem_gb_s =
      std::isfinite(s.usage.mem_gb_s) && s.usage.mem_gb_s > 0 ? s.usage.mem_gb_s : 0;
  const double gib_hours = mem_gb_s * 1e9 / (1073741824.0 * 3600.0);
  const double mem_d = static_cast<double>(rates.gib_hour) * gib_hours;
  const __int128 mem = mem_d >= static_cast<double>(kMaxCost) ? kMaxCost : std::llround(mem_d);
  const __int128 moved = div_round(
      __int128(rates.gb_moved) * (__int128(s.usage.bytes_in) + s.usage.bytes_out), 1'000'000'000);
  const __int128 total = gpu + mem + moved;
  c.cost = total > kMaxCost ? kMaxCost : static_cast<int64_t>(total);
  c.fee = static_cast<int64_t>(div_round(__int128(c.cost) * rates.fee_ppm, 1'000'000));
  c.earnings = c.cost - c.fee;
  return c;
}

}  // namespace rgpu::pool
