// pool_manager/pool_billing.cc — PoolState's billing (pool_state.h): rate versions and
// settling ended sessions into charges (billing.h computes them).
#include <algorithm>

#include "pool_manager/pool_state.h"

namespace rgpu::pool {

std::string PoolState::set_rates(const Caller& c, const RateChangeIn& ch, int64_t* version) {
  if (c.role != Role::kAdmin)
    return std::string("permission denied: setting rates needs an admin token (this token is ") +
           role_text(c.role) + ")";
  if (!ch.model.empty() && !ch.provider.empty())
    return "a GPU-hour rate is for a GPU model or for a provider, not both";
  if ((!ch.model.empty() || !ch.provider.empty()) && !ch.gpu_hour)
    return "a GPU model or provider needs its GPU-hour rate (--gpu-hour)";
  if (ch.fee_ppm && *ch.fee_ppm > 1'000'000) return "the pool fee is a share from 0 to 100 %";
  RateCard r = current_rates();  // a new version keeps what the change does not touch
  r.version = current_rates().version + 1;
  r.set_unix = now_s();
  r.set_by = c.token_id;
  if (ch.gpu_hour) {
    if (!ch.model.empty())
      r.gpu_hour_by_model[ch.model] = *ch.gpu_hour;
    else if (!ch.provider.empty())
      r.gpu_hour_by_provider[ch.provider] = *ch.gpu_hour;
    else
      r.gpu_hour = *ch.gpu_hour;
  }
  if (ch.gib_hour) r.gib_hour = *ch.gib_hour;
  if (ch.gb_moved) r.gb_moved = *ch.gb_moved;
  if (ch.bill_busy) r.bill_busy = *ch.bill_busy;
  if (ch.fee_ppm) r.fee_ppm = *ch.fee_ppm;
  store_.put_rates(r);
  rates_.push_back(r);
  *version = r.version;
  return "";
}

const RateCard& PoolState::rate_card(int64_t version) const {
  for (const auto& r : rates_)
    if (r.version == version) return r;
  return no_rates_;
}

void PoolState::settle(LeaseRecord& l, bool provider_lost) {
  if (l.charge.settled_unix || !l.started || lease_open(l.state)) return;
  SessionFacts f;
  f.usage = l.usage;
  f.started = l.started;
  f.ended = l.ended;
  f.provider_lost = provider_lost;
  f.provider = l.provider_name;
  f.vram = l.vram;
  f.whole_gpu = l.whole_gpu;
  for (const auto& p : providers_)
    if (p.id == l.provider_id)
      for (const auto& g : p.gpus)
        if (g.index == l.gpu_index) f.gpu_model = g.name, f.gpu_lent = g.memory_lent;
  Charge c = charge(rate_card(l.rate_version), f);
  c.settled_unix = std::max<int64_t>(now_s(), 1);
  store_.put_charge(l.id, c);
  l.charge = c;
}

void PoolState::settle_overdue() {
  const int64_t now = now_s();
  for (auto& l : leases_)
    if (!l.charge.settled_unix && l.started && !lease_open(l.state) &&
        now - l.ended > int64_t(cfg_.lost_after_ms / 1000))
      settle(l, false);  // its final receipt never came: bill what the receipts showed
}

}  // namespace rgpu::pool
