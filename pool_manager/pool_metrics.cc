// pool_manager/pool_metrics.cc — PoolState::metrics_text() (pool_state.h): Prometheus text
// exposition, named by Prometheus conventions (base units, _total for counters).
#include <cstdio>
#include <map>

#include "pool_manager/pool_state.h"

namespace rgpu::pool {
namespace {

// A label value, escaped as the exposition format wants (backslash, quote, newline).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void metric(std::string* out, const char* name, const char* type, const char* help) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string* out, const std::string& name, double v) {
  char b[64];
  std::snprintf(b, sizeof b, " %.15g\n", v);
  *out += name + b;
}

// Money exactly, from micro-units ("0.000500"), never through a double.
void sample_money(std::string* out, const std::string& name, int64_t micro) {
  *out += name + " " + format_money(micro) + "\n";
}

}  // namespace

std::string PoolState::metrics_text() const {
  std::string o;
  uint32_t active = 0, missing = 0, drained = 0;
  uint64_t lent = 0, leased = 0;
  for (const auto& p : providers_) {
    (provider_active(p) ? active : missing)++;
    if (p.drained) drained++;
    for (const auto& g : p.gpus) lent += g.memory_lent;
  }
  uint32_t sessions = 0, granted = 0;
  double busy = 0;
  uint64_t in = 0, out = 0;
  int64_t spend = 0;
  std::map<std::string, int64_t> earned;  // provider name -> settled earnings
  for (const auto& p : providers_) earned[p.name] = 0;
  for (const auto& l : leases_) {
    if (lease_open(l.state)) leased += l.vram;
    if (l.state == LeaseState::kActive) sessions++;
    if (l.state == LeaseState::kGranted) granted++;
    busy += l.usage.busy_ns / 1e9;
    in += l.usage.bytes_in;
    out += l.usage.bytes_out;
    spend += l.charge.cost;
    if (l.charge.settled_unix) earned[l.provider_name] += l.charge.earnings;
  }
  metric(&o, "rgpu_providers", "gauge", "Providers registered with the pool, by state.");
  sample(&o, "rgpu_providers{state=\"active\"}", active);
  sample(&o, "rgpu_providers{state=\"missing\"}", missing);
  sample(&o, "rgpu_providers{state=\"drained\"}", drained);
  metric(&o, "rgpu_gpu_memory_lent_bytes", "gauge", "GPU memory the providers lend.");
  sample(&o, "rgpu_gpu_memory_lent_bytes", static_cast<double>(lent));
  metric(&o, "rgpu_gpu_memory_leased_bytes", "gauge", "GPU memory held by open leases.");
  sample(&o, "rgpu_gpu_memory_leased_bytes", static_cast<double>(leased));
  metric(&o, "rgpu_vgpu_sessions", "gauge", "vGPU sessions running.");
  sample(&o, "rgpu_vgpu_sessions", sessions);
  metric(&o, "rgpu_vgpu_leases_granted", "gauge", "Leases granted whose session has not started.");
  sample(&o, "rgpu_vgpu_leases_granted", granted);
  metric(&o, "rgpu_placements_total", "counter", "vGPUs placed and requests refused, since start.");
  sample(&o, "rgpu_placements_total{result=\"placed\"}", static_cast<double>(placed_));
  sample(&o, "rgpu_placements_total{result=\"refused\"}", static_cast<double>(refused_));
  metric(&o, "rgpu_receipts_refused_total", "counter",
         "Usage receipts refused since start: their signature did not verify under the key "
         "their provider registered.");
  sample(&o, "rgpu_receipts_refused_total", static_cast<double>(receipts_refused_));
  metric(&o, "rgpu_gpu_busy_seconds_total", "counter",
         "Device busy time of every session, from usage receipts.");
  sample(&o, "rgpu_gpu_busy_seconds_total", busy);
  metric(&o, "rgpu_transfer_bytes_total", "counter",
         "Bytes between clients and servers, from usage receipts (in: to the servers).");
  sample(&o, "rgpu_transfer_bytes_total{direction=\"in\"}", static_cast<double>(in));
  sample(&o, "rgpu_transfer_bytes_total{direction=\"out\"}", static_cast<double>(out));
  metric(&o, "rgpu_provider_earnings_total", "counter",
         "What each provider earned from settled sessions, in credits.");
  for (const auto& [name, micro] : earned)
    sample_money(&o, "rgpu_provider_earnings_total{provider=\"" + label(name) + "\"}", micro);
  metric(&o, "rgpu_user_spend_total", "counter", "What users were charged, in credits.");
  sample_money(&o, "rgpu_user_spend_total", spend);
  metric(&o, "rgpu_ledger_entries", "gauge", "Entries in the pool's signed ledger.");
  sample(&o, "rgpu_ledger_entries", static_cast<double>(ledger_.size()));
  return o;
}

}  // namespace rgpu::pool
