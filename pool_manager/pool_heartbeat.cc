// pool_manager/pool_heartbeat.cc — see pool_state.h: a provider's heartbeat (live use, session
// events, usage receipts, the leases it still runs), answered from memory when it changes nothing
// durable and as one store transaction when it does.
#include <algorithm>
#include <set>

#include "pool_manager/pool_internal.h"
#include "pool_manager/pool_state.h"

namespace rgpu::pool {

bool PoolState::heartbeat_ends_something(const ProviderRecord& p,
                                         const std::vector<std::string>& listed, int64_t now) {
  const bool deadline_passed = p.drained && p.drain_deadline && now >= p.drain_deadline;
  for (size_t i : open_on(p.id)) {
    const LeaseRecord& l = leases_[i];
    if (l.state != LeaseState::kActive) continue;
    if (deadline_passed && !l.kill_requested) return true;
    if (std::find(listed.begin(), listed.end(), l.id) == listed.end()) return true;
  }
  return false;
}

HeartbeatOut PoolState::heartbeat(const Caller& c, const std::string& provider_id,
                                  const std::vector<GpuRecord>& use,
                                  const std::vector<SessionEventIn>& events,
                                  const std::vector<std::string>& active_leases,
                                  const std::vector<control::UsageReceipt>& receipts) {
  HeartbeatOut out;
  if (c.role != Role::kProvider && c.role != Role::kAdmin) {
    out.error = "permission denied: heartbeats need a provider token";
    return out;
  }
  if (removed_.count(provider_id)) {
    out.error = "this provider was removed from the pool by an admin";
    return out;
  }
  const ProviderRecord* known = find_provider(provider_id);
  if (known && known->id != provider_id) known = nullptr;  // a name, not this id
  if (known && c.role != Role::kAdmin && known->owner_token != c.token_id) {
    out.error = "permission denied: provider " + provider_id + " belongs to another token";
    return out;
  }
  // Most heartbeats change nothing durable (no event, no receipt, every session it runs still
  // listed): those are answered from memory, without a store transaction, however many
  // replicas share the store. The others catch up first (a provider or lease another replica
  // made) and are one transaction. One clock reading decides both.
  const int64_t now_ms = now_ms_();
  if (!events.empty() || !receipts.empty() || !known ||
      heartbeat_ends_something(*known, active_leases, now_ms / 1000)) {
    Writing w(*this);
    out = heartbeat_at(c, provider_id, use, events, active_leases, receipts, now_ms);
    w.commit();
    return out;
  }
  return heartbeat_at(c, provider_id, use, events, active_leases, receipts, now_ms);
}

HeartbeatOut PoolState::heartbeat_at(const Caller& c, const std::string& provider_id,
                                     const std::vector<GpuRecord>& use,
                                     const std::vector<SessionEventIn>& events,
                                     const std::vector<std::string>& active_leases,
                                     const std::vector<control::UsageReceipt>& receipts,
                                     const int64_t now_ms) {
  HeartbeatOut out;
  if (removed_.count(provider_id)) {
    out.error = "this provider was removed from the pool by an admin";
    return out;
  }
  ProviderRecord* p = find_provider(provider_id);
  if (p && p->id != provider_id) p = nullptr;
  if (!p) {
    out.reregister = true;
    return out;
  }
  if (c.role != Role::kAdmin && p->owner_token != c.token_id) {
    out.error = "permission denied: provider " + provider_id + " belongs to another token";
    return out;
  }
  p->last_heartbeat_ms = now_ms;
  if (store_.shared()) seen_.push_back({p->id, p->last_heartbeat_ms});
  for (auto& u : use)
    for (auto& g : p->gpus)
      if (g.index == u.index) {
        g.memory_used = u.memory_used;
        g.sessions = u.sessions;
        g.utilization = u.utilization;
      }
  const int64_t now = now_ms / 1000;
  // Receipts first, so a session's final totals are in before its end is recorded.
  for (const auto& r : receipts) {
    LeaseRecord* l = find_lease(r.lease_id);
    if (!l || l->provider_id != p->id) continue;
    if (l->charge.settled_unix) continue;  // settled: its usage and ledger stay as charged
    // A provider that registered a receipt key vouches for every receipt: one that does not
    // verify (forged, altered, or unsigned) counts for nothing.
    if (!p->receipt_key.empty() &&
        !control::ed25519_verify(control::receipt_message(r), r.signature, p->receipt_key)) {
      receipts_refused_++;
      continue;
    }
    const control::UsageReceipt before = l->usage;
    const control::UsageReceipt held = bounded(*l, r, now_ms);
    control::merge_receipt(&l->usage, held);
    l->usage.lease_id = l->id;
    if (!l->usage.session_id) l->usage.session_id = r.session_id;
    l->receipts++;
    l->last_receipt_ms = now_ms;
    if (lease_open(l->state)) l->last_seen_ms = now_ms;
    store_.atomically([&] {  // the totals and their ledger entry, together
      store_.put_lease_usage(*l);
      // The provider's signature goes with the entry when the totals are exactly the ones
      // it signed (not held to bounds, nothing merged from another receipt).
      const bool as_signed = !r.signature.empty() && !receipt_changed(l->usage, r) &&
                             !receipt_changed(held, r) && l->usage.final == r.final;
      if (receipt_changed(before, l->usage)) ledger_receipt(*l, as_signed ? r.signature : "");
    });
    if (l->usage.final) check_dispute(*l);
    if (!lease_open(l->state) && l->usage.final) settle(*l, false);
  }
  for (auto& id : active_leases)
    if (LeaseRecord* l = find_lease(id); l && l->provider_id == p->id && lease_open(l->state))
      l->last_seen_ms = now_ms;
  std::set<std::string> killed_now;
  for (auto& e : events) {
    LeaseRecord* l = find_lease(e.lease_id);
    if (!l || l->provider_id != p->id) continue;
    int64_t at = e.at ? e.at : now;
    if (e.started) {
      if (l->state == LeaseState::kGranted) {
        l->state = LeaseState::kActive;
        l->session_id = e.session_id;
        l->started = at;
        l->last_seen_ms = std::max(l->last_seen_ms, at * 1000);
        store_.put_lease(*l);
      } else if (lease_open(l->state) == false) {
        // The lease was released, expired or killed before its session started: end it.
        l->session_id = e.session_id;
        out.kills.push_back(
            {l->id, e.session_id, "lease is " + std::string(lease_state_text(l->state))});
        killed_now.insert(l->id);
      }
    } else {
      if (!l->started) l->started = at;
      if (l->session_id == 0) l->session_id = e.session_id;
      if (l->state == LeaseState::kActive || l->state == LeaseState::kGranted)
        end_lease(*l, l->kill_requested ? LeaseState::kKilled : LeaseState::kEnded,
                  l->kill_requested ? l->kill_reason : e.reason, at);
    }
  }
  // Sessions the pool thinks run but the server no longer reports have ended.
  std::set<std::string> listed(active_leases.begin(), active_leases.end());
  const std::vector<size_t> open = open_on(p->id);
  for (size_t i : open) {
    LeaseRecord& l = leases_[i];
    if (l.state != LeaseState::kActive || listed.count(l.id)) continue;
    end_lease(l, l.kill_requested ? LeaseState::kKilled : LeaseState::kEnded,
              l.kill_requested ? l.kill_reason : "server no longer reports the session", now);
  }
  // A session the server still runs on a lease the pool has ended (killed, released, expired).
  for (auto& id : active_leases) {
    LeaseRecord* l = find_lease(id);
    if (!l || l->provider_id != p->id || lease_open(l->state) || killed_now.count(id)) continue;
    out.kills.push_back(
        {l->id, l->session_id, "lease is " + std::string(lease_state_text(l->state))});
    killed_now.insert(id);
  }
  // Drain deadline passed: end what still runs.
  bool deadline_passed = p->drained && p->drain_deadline && now >= p->drain_deadline;
  for (size_t i : open) {
    LeaseRecord& l = leases_[i];
    if (l.state != LeaseState::kActive) continue;
    if (deadline_passed && !l.kill_requested) {
      l.kill_requested = true;
      l.kill_reason =
          "at its provider's drain deadline (drain deadline passed: " + p->drain_reason + ")";
      store_.put_lease(l);
    }
    if (l.kill_requested && !killed_now.count(l.id))
      out.kills.push_back({l.id, l.session_id, l.kill_reason});
  }
  out.drained = p->drained;
  out.drain_reason = p->drained ? p->drain_reason : "";
  out.drain_deadline = p->drained ? p->drain_deadline : 0;
  return out;
}

}  // namespace rgpu::pool
