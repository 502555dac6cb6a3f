// pool_manager/placement.cc — see placement.h.
#include "pool_manager/placement.h"

#include "pool_manager/billing.h"
#include "protocol/control/compute_share.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace rgpu::pool {

bool parse_policy(const std::string& s, Policy* p) {
  if (s == "binpack" || s.empty())
    *p = Policy::kBinpack;
  else if (s == "spread")
    *p = Policy::kSpread;
  else if (s == "nearest")
    *p = Policy::kNearest;
  else
    return false;
  return true;
}

const char* policy_text(Policy p) {
  return p == Policy::kSpread ? "spread" : p == Policy::kNearest ? "nearest" : "binpack";
}

std::string format_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    snprintf(buf, sizeof buf, "%.1f GiB", double(b) / double(1ull << 30));
  else if (b >= (1ull << 20))
    snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1ull << 20));
  else
    snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

namespace {

bool price_fits(const ProviderView& p, const PlacementRequest& req) {
  if (p.min_price && p.price < p.min_price) return false;
  return !req.max_price || p.price <= req.max_price;
}

bool labels_match(const ProviderView& p, const std::map<std::string, std::string>& want) {
  for (auto& [k, v] : want) {
    auto it = p.labels.find(k);
    if (it == p.labels.end() || it->second != v) return false;
  }
  return true;
}

bool memory_fits(const GpuView& g, uint64_t vram) {
  if (vram == 0) return g.leases == 0 && g.lent > 0;
  return !g.whole && g.lent >= g.leased && g.lent - g.leased >= vram;
}

uint32_t compute_free(const GpuView& g) {
  return g.whole ? 0 : g.compute_lent - std::min(g.compute_lent, g.compute_leased);
}

bool fits(const GpuView& g, const PlacementRequest& req) {
  return memory_fits(g, req.vram) && (req.vram == 0 || compute_free(g) >= req.compute);
}

}  // namespace

Placement place(const std::vector<ProviderView>& providers, const PlacementRequest& req) {
  Placement out;
  // Providers whose GPUs took a slot, copied once and updated as slots are taken (the rest are
  // read where they are: a pool of 10,000 is not copied per placement).
  std::vector<int32_t> copy_of(providers.size(), -1);
  std::vector<ProviderView> copies;
  auto view = [&](size_t pi) -> const ProviderView& {
    return copy_of[pi] < 0 ? providers[pi] : copies[static_cast<size_t>(copy_of[pi])];
  };
  const std::string what =
      std::to_string(req.count) + " x " +
      (req.vram ? format_bytes(req.vram) : std::string("whole GPU")) +
      (req.compute ? " with compute " + control::compute_share_text(req.compute) : std::string());
  if (req.count == 0) {
    out.reason = "ask for at least one vGPU";
    return out;
  }
  for (uint32_t n = 0; n < req.count; n++) {
    bool found = false;
    size_t best_p = 0, best_g = 0;
    std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t> best_key{};
    for (size_t pi = 0; pi < providers.size(); pi++) {
      const ProviderView& p = view(pi);
      if (!p.active || p.drained || !p.in_schedule || !labels_match(p, req.labels) ||
          !price_fits(p, req))
        continue;
      uint64_t rtt = 0;  // nearest: measured first, lowest first
      if (req.policy == Policy::kNearest) {
        auto it = req.rtt_us.find(p.id);
        rtt = it == req.rtt_us.end() ? UINT64_MAX : it->second;
      }
      uint64_t p_leases = 0, p_free = 0;
      for (auto& g : p.gpus) {
        p_leases += g.leases;
        p_free += g.whole ? 0 : g.lent - std::min(g.lent, g.leased);
      }
      for (size_t gi = 0; gi < p.gpus.size(); gi++) {
        const GpuView& g = p.gpus[gi];
        if (!fits(g, req)) continue;
        uint64_t free_after = req.vram ? g.lent - g.leased - req.vram : 0;
        std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t> key;
        if (req.policy == Policy::kSpread)
          key = {0, g.leases, p_leases, UINT64_MAX - (g.lent - g.leased), pi};
        else
          key = {rtt, free_after, p_free, pi, gi};  // (nearest,) fullest GPU, fullest provider
        if (!found || key < best_key) {
          found = true;
          best_key = key;
          best_p = pi;
          best_g = gi;
        }
      }
    }
    if (!found) break;
    if (copy_of[best_p] < 0) {
      copy_of[best_p] = static_cast<int32_t>(copies.size());
      copies.push_back(providers[best_p]);
    }
    GpuView& g = copies[static_cast<size_t>(copy_of[best_p])].gpus[best_g];
    Slot s{best_p, g.index, req.vram ? req.vram : g.lent, req.vram == 0,
           req.vram ? req.compute : 0};
    g.leased += s.vram;
    g.compute_leased += s.compute;
    g.leases++;
    g.whole = s.whole;
    out.slots.push_back(s);
  }
  if (out.slots.size() == req.count) {
    out.ok = true;
    return out;
  }
  // Explain: classify every provider by the first thing that rules it out.
  size_t missing = 0, drained = 0, sched = 0, labels = 0, memory = 0, compute = 0, below_min = 0,
         above_max = 0;
  uint64_t most_free = 0;
  uint32_t most_compute = 0;
  for (auto& p : providers) {
    if (!p.active)
      missing++;
    else if (p.drained)
      drained++;
    else if (!p.in_schedule)
      sched++;
    else if (!labels_match(p, req.labels))
      labels++;
    else if (p.min_price && p.price < p.min_price)
      below_min++;
    else if (req.max_price && p.price > req.max_price)
      above_max++;
    else if (req.compute && std::any_of(p.gpus.begin(), p.gpus.end(), [&](const GpuView& g) {
               return memory_fits(g, req.vram) && compute_free(g) < req.compute;
             })) {
      compute++;  // memory for it somewhere, but not the compute share beside it
      for (auto& g : p.gpus)
        if (memory_fits(g, req.vram)) most_compute = std::max(most_compute, compute_free(g));
    } else {
      memory++;
      for (auto& g : p.gpus)
        if (!g.whole) most_free = std::max(most_free, g.lent - std::min(g.lent, g.leased));
    }
  }
  out.slots.clear();
  if (providers.empty()) {
    out.reason = "no vGPU for " + what +
                 ": no provider is registered with the pool (start rgpu-server --pool ... "
                 "--join-token ...)";
    return out;
  }
  std::string r = "no vGPU for " + what + ": " + std::to_string(providers.size()) + " provider" +
                  (providers.size() == 1 ? "" : "s");
  std::vector<std::string> parts;
  if (missing) parts.push_back(std::to_string(missing) + " missing (no heartbeat)");
  if (drained) parts.push_back(std::to_string(drained) + " drained");
  if (sched) parts.push_back(std::to_string(sched) + " outside their lending schedule");
  if (labels) {
    std::string want;
    for (auto& [k, v] : req.labels) want += (want.empty() ? "" : ",") + k + "=" + v;
    parts.push_back(std::to_string(labels) + " without labels " + want);
  }
  if (below_min)
    parts.push_back(std::to_string(below_min) +
                    " asking more than the pool's rate (their --min-price is above it)");
  if (above_max)
    parts.push_back(std::to_string(above_max) + " priced above your --max-price " +
                    format_money(req.max_price) + " per GPU-hour");
  if (memory)
    parts.push_back(std::to_string(memory) + " without enough free memory" +
                    (req.vram ? " (most free on one GPU: " + format_bytes(most_free) + ")"
                              : " (no GPU is entirely free)"));
  if (compute)
    parts.push_back(
        std::to_string(compute) + " without " + control::compute_share_text(req.compute) +
        " of a GPU's compute free beside the memory (most free: " +
        (most_compute ? control::compute_share_text(most_compute) : std::string("0")) + ")");
  for (size_t i = 0; i < parts.size(); i++) r += (i ? ", " : ": ") + parts[i];
  out.reason = r;
  return out;
}

std::vector<size_t> eligible(const std::vector<ProviderView>& providers,
                             const PlacementRequest& req, size_t limit) {
  std::vector<size_t> out;
  for (size_t pi = 0; pi < providers.size() && out.size() < limit; pi++) {
    const ProviderView& p = providers[pi];
    if (!p.active || p.drained || !p.in_schedule || !labels_match(p, req.labels) ||
        !price_fits(p, req))
      continue;
    if (std::any_of(p.gpus.begin(), p.gpus.end(), [&](const GpuView& g) { return fits(g, req); }))
      out.push_back(pi);
  }
  return out;
}

}  // namespace rgpu::pool
