// pool_manager/pool_state.cc — see pool_state.h: providers, placement and leases (heartbeats:
// pool_heartbeat.cc; tokens: pool_tokens.cc; billing, the ledger and usage: pool_billing.cc).
#include "pool_manager/pool_state.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <set>

#include "pool_manager/pool_internal.h"
#include "pool_manager/schedule.h"
#include "protocol/control/compute_share.h"

namespace rgpu::pool {

using internal::need;
using internal::random_hex;

const char* role_text(Role r) {
  switch (r) {
    case Role::kAdmin:
      return "admin";
    case Role::kUser:
      return "user";
    case Role::kProvider:
      return "provider";
    default:
      return "none";
  }
}

const char* lease_state_text(LeaseState s) {
  switch (s) {
    case LeaseState::kGranted:
      return "granted";
    case LeaseState::kActive:
      return "active";
    case LeaseState::kEnded:
      return "ended";
    case LeaseState::kExpired:
      return "expired";
    case LeaseState::kReleased:
      return "released";
    case LeaseState::kKilled:
      return "killed";
  }
  return "?";
}

bool parse_lease_state(const std::string& s, LeaseState* out) {
  for (auto st : {LeaseState::kGranted, LeaseState::kActive, LeaseState::kEnded,
                  LeaseState::kExpired, LeaseState::kReleased, LeaseState::kKilled}) {
    if (s == lease_state_text(st)) {
      *out = st;
      return true;
    }
  }
  return false;
}

PoolState::PoolState(Store& store, control::PoolKey key, PoolConfig cfg, Clock now_ms)
    : store_(store),
      key_(std::move(key)),
      cfg_(cfg),
      now_ms_(std::move(now_ms)),
      ledger_(store_, key_) {
  started_ms_ = now_ms_();
  load_all(false);  // the ledger loaded itself
}

bool PoolState::provider_active(const ProviderRecord& p) const {
  return now_ms_() - p.last_heartbeat_ms <= int64_t(cfg_.missing_after_ms);
}

bool PoolState::provider_in_schedule(const ProviderRecord& p) const {
  Schedule s;
  if (!Schedule::parse(p.schedule, &s, nullptr)) return false;
  return s.allows(Schedule::local_minute(now_s()));
}

uint32_t PoolState::open_leases_on(const std::string& provider_id) const {
  uint32_t n = 0;
  if (auto it = open_on_.find(provider_id); it != open_on_.end())
    for (size_t i : it->second) n += lease_open(leases_[i].state);
  return n;
}

using internal::lowercase_host;

std::string PoolState::register_provider(const Caller& c, ProviderRecord info, std::string* id) {
  Writing w(*this);
  if (c.role != Role::kProvider && c.role != Role::kAdmin)
    return std::string(
               "permission denied: registering a server needs a provider token (this "
               "token is ") +
           role_text(c.role) + "); create one with: rgpu token create --role provider";
  if (info.name.empty()) return "a provider needs a name";
  if (info.endpoint.empty()) return "a provider needs the endpoint clients dial (host:port)";
  if (info.gpus.empty()) return "a provider must lend at least one GPU";
  if (!info.receipt_key.empty() && info.receipt_key.size() != 32)
    return "a receipt key is an Ed25519 public key of 32 bytes (got " +
           std::to_string(info.receipt_key.size()) + ")";
  Schedule sched;
  std::string err;
  if (!Schedule::parse(info.schedule, &sched, &err)) return err;
  for (auto& g : info.gpus) {
    if (g.memory_lent == 0 || g.memory_lent > g.memory_total) g.memory_lent = g.memory_total;
    // 0: a server from before control plane 5, which would ignore a lease's share: no stated
    // share is placed on it (placement.h).
    if (g.compute_lent > control::kWholeComputeMilli) g.compute_lent = control::kWholeComputeMilli;
    if (g.memory_total == 0) return "GPU " + std::to_string(g.index) + " reports no memory";
  }
  ProviderRecord* p = find_provider(info.name);
  if (p && p->name != info.name) p = nullptr;  // matched an id, not the name
  // An endpoint belongs to the one provider registered with it: a registration under another
  // name is refused, whichever token and whether or not the holder is live (another token's
  // leases would land on someone else's GPU, past their limits and the pool's metering; two
  // of one token's would hand out one GPU twice). Servers also refuse leases naming another
  // provider (server/worker/lease_auth.h), whatever endpoint they name.
  const auto [first, last] = provider_at_endpoint_.equal_range(lowercase_host(info.endpoint));
  for (auto it = first; it != last; ++it) {
    const ProviderRecord& q = providers_[it->second];
    if (q.name == info.name) continue;
    return "endpoint " + lowercase_host(info.endpoint) + " is served by provider " + q.name +
           (q.owner_token != c.token_id ? " (another token's)" : "") +
           "; advertise this server's own address (--advertise), keep its --name, or have an "
           "admin remove " +
           q.name + " (rgpu server remove " + q.name + ")";
  }
  if (p) {
    if (c.role != Role::kAdmin && p->owner_token != c.token_id)
      return "permission denied: provider name '" + info.name +
             "' belongs to another token; choose another --name or use that provider's token";
    info.id = p->id;
    info.owner_token = p->owner_token;
    info.drained = p->drained;
    info.drain_reason = p->drain_reason;
    info.drain_deadline = p->drain_deadline;
    info.registered = p->registered;
  } else {
    info.id = "p-" + random_hex(4);
    info.owner_token = c.token_id;
    info.registered = now_s();
  }
  info.last_heartbeat_ms = now_ms_();
  store_.put_provider(info);
  providers_gen_++;
  if (p) {
    const bool moved = lowercase_host(p->endpoint) != lowercase_host(info.endpoint);
    *p = info;
    if (moved) index();
  } else {
    provider_at_[info.id] = providers_.size();
    provider_named_[info.name] = providers_.size();
    provider_at_endpoint_.emplace(lowercase_host(info.endpoint), providers_.size());
    providers_.push_back(info);
  }
  removed_.erase(info.id);
  *id = info.id;
  return "";
}

void PoolState::end_lease(LeaseRecord& l, LeaseState s, const std::string& reason, int64_t at) {
  l.state = s;
  l.ended = at;
  l.end_reason = reason;
  store_.put_lease(l);
  if (l.usage.final) settle(l, false);
}

const std::vector<ProviderView>& PoolState::views() {
  // What changes only with the provider records or the rates is rebuilt only then; what moves
  // with time and leases (liveness, drain, schedule, memory leased) is refreshed every call.
  const int64_t rates = current_rates().version;
  if (view_gen_ != providers_gen_ || view_rates_ != rates) {
    view_cache_.clear();
    view_schedules_.clear();
    for (auto& p : providers_) {
      ProviderView v;
      v.id = p.id;
      v.name = p.name;
      v.labels = p.labels;
      v.min_price = p.min_price;
      v.price = current_rates().gpu_hour_rate(p.name, p.gpus.empty() ? "" : p.gpus[0].name);
      for (auto& g : p.gpus) {
        GpuView gv;
        gv.index = g.index;
        gv.name = g.name;
        gv.lent = g.memory_lent;
        gv.compute_lent = g.compute_lent;
        v.gpus.push_back(gv);
      }
      view_cache_.push_back(std::move(v));
      Schedule sched;
      const bool ok = Schedule::parse(p.schedule, &sched, nullptr);
      view_schedules_.push_back(ok ? (sched.always() ? 1 : 2) : 0);
    }
    view_gen_ = providers_gen_;
    view_rates_ = rates;
  }
  const int minute = Schedule::local_minute(now_s());
  for (size_t i = 0; i < providers_.size(); ++i) {
    const ProviderRecord& p = providers_[i];
    ProviderView& v = view_cache_[i];
    v.active = provider_active(p);
    v.drained = p.drained;
    v.in_schedule = view_schedules_[i] == 1 || (view_schedules_[i] == 2 && [&] {
                      Schedule sched;
                      return Schedule::parse(p.schedule, &sched, nullptr) && sched.allows(minute);
                    }());
    for (auto& g : v.gpus) g.leased = 0, g.compute_leased = 0, g.leases = 0, g.whole = false;
  }
  for (auto& [provider, open] : open_on_) {
    if (open.empty()) continue;
    auto at = provider_at_.find(provider);
    if (at == provider_at_.end()) continue;
    ProviderView& v = view_cache_[at->second];
    for (size_t i : open) {
      const LeaseRecord& l = leases_[i];
      if (!lease_open(l.state)) continue;
      for (auto& g : v.gpus)
        if (g.index == l.gpu_index) {
          g.leased += l.vram;
          g.compute_leased += l.compute_milli;
          g.leases++;
          g.whole = g.whole || l.whole_gpu;
        }
    }
  }
  return view_cache_;
}

void PoolState::expire_granted() {
  const int64_t now = now_s();
  while (!granted_by_expiry_.empty() && granted_by_expiry_.begin()->first <= now) {
    const size_t i = granted_by_expiry_.begin()->second;
    granted_by_expiry_.erase(granted_by_expiry_.begin());
    LeaseRecord& l = leases_[i];
    if (l.state == LeaseState::kGranted && now >= l.expires)
      end_lease(l, LeaseState::kExpired, "no session started before the lease expired", now);
  }
}

namespace {
// In the order the first answer had (request_id "ID#k"; any replica may have loaded them in
// another order).
void sort_grants(AcquireOut* out) {
  auto slot = [](const GrantOut& g) {
    return std::stoul(g.lease.request_id.substr(g.lease.request_id.rfind('#') + 1));
  };
  std::sort(out->grants.begin(), out->grants.end(),
            [&](const GrantOut& a, const GrantOut& b) { return slot(a) < slot(b); });
}
}  // namespace

GrantOut PoolState::grant_of(const LeaseRecord& l) const {
  control::LeaseClaims claims;
  claims.lease_id = l.id;
  claims.endpoint = l.endpoint;
  claims.provider_id = l.provider_id;
  claims.gpu_index = l.gpu_index;
  claims.vram_bytes = l.vram;
  claims.whole_gpu = l.whole_gpu;
  claims.issued_unix = l.created;
  claims.expires_unix = l.expires;
  claims.compute_milli = l.compute_milli;
  GrantOut g;
  g.signed_lease = control::sign_lease(claims, key_);
  g.gpu_name = l.gpu_model;
  g.lease = l;
  return g;
}

std::string PoolState::placement_request(const AcquireIn& in, PlacementRequest* req) const {
  req->count = in.count;
  req->vram = in.vram;
  req->labels = in.labels;
  req->policy = cfg_.policy;
  req->max_price = in.max_price;
  if (in.compute_milli > control::kWholeComputeMilli)
    return "a compute share is at most 1 (the whole GPU)";
  if (in.compute_milli && in.vram == 0)
    return "a compute share is for a slice of a GPU (give --vram too); a whole GPU has all of "
           "its compute";
  req->compute = in.compute_milli;
  if (!in.policy.empty() && !parse_policy(in.policy, &req->policy))
    return "unknown placement policy '" + in.policy + "'; use binpack, spread or nearest";
  if (!in.rtt_us.empty())  // by endpoint from the client (at most kMaxCandidates), by id here
    for (const ProviderRecord& p : providers_)
      if (auto it = in.rtt_us.find(p.endpoint); it != in.rtt_us.end())
        req->rtt_us[p.id] = it->second;
  return "";
}

CandidatesOut PoolState::candidates(const Caller& c, const AcquireIn& in) {
  CandidatesOut out;
  if (c.role != Role::kUser && c.role != Role::kAdmin) {
    out.error = "permission denied: listing candidates needs a user token";
    return out;
  }
  // What this replica holds now: the acquire that follows decides on the whole truth.
  PlacementRequest req;
  if (std::string e = placement_request(in, &req); !e.empty()) {
    out.error = e;
    return out;
  }
  const std::vector<ProviderView>& vs = views();
  for (size_t i : eligible(vs, req, kMaxCandidates))
    out.endpoints.push_back(providers_[i].endpoint);
  return out;
}

AcquireOut PoolState::acquire(const Caller& c, const AcquireIn& in) {
  AcquireOut out;
  if (c.role != Role::kUser && c.role != Role::kAdmin) {
    out.error =
        std::string("permission denied: acquiring vGPUs needs a user token (this token is ") +
        role_text(c.role) + "); create one with: rgpu token create --role user";
    return out;
  }
  if (in.count == 0 || in.count > 64) {
    out.error = "ask for 1 to 64 vGPUs";
    return out;
  }
  if (in.request_id.size() > 64) {
    out.error = "a request id has at most 64 characters";
    return out;
  }
  Writing w(*this);  // checks first: a refused call takes no cluster-wide lock
  if (published_keys_.empty() || published_keys_.front() != key_.public_raw) {
    out.error =
        "this pool replica's signing key was retired (key rotation) and servers no longer "
        "accept its leases; try another replica, and have an admin restart this one "
        "with the current --key-file";
    out.retryable = false;
    return out;
  }
  if (!in.request_id.empty()) {  // a retry: the leases the first try was granted, whatever since
    auto it = requested_.find(c.token_id + "\n" + in.request_id);
    if (it != requested_.end()) {
      for (size_t i : it->second) out.grants.push_back(grant_of(leases_[i]));
      sort_grants(&out);
      return out;
    }
  }
  for (const auto& t : tokens_)
    if (t.id == c.token_id && t.credit_limit > 0) {
      const int64_t spent = spent_by(t.id);
      if (spent >= t.credit_limit) {
        out.error = "credit limit reached: this token has spent " + format_money(spent) +
                    " of its " + format_money(t.credit_limit) + "; ask an admin to raise it";
        return out;
      }
    }
  PlacementRequest req;
  if (std::string e = placement_request(in, &req); !e.empty()) {
    out.error = e;
    return out;
  }
  expire_granted();  // their memory is free for this placement
  const std::vector<ProviderView>& vs = views();
  Placement pl = place(vs, req);
  if (!pl.ok) {
    out.error = pl.reason;
    out.retryable = true;
    refused_++;
    return out;
  }
  placed_ += pl.slots.size();
  int64_t now = now_s();
  for (auto& s : pl.slots) {
    const ProviderRecord& p = providers_[s.provider];
    LeaseRecord l;
    l.id = control::new_lease_id();
    l.provider_id = p.id;
    l.provider_name = p.name;
    l.endpoint = p.endpoint;
    l.gpu_index = s.gpu_index;
    l.vram = s.vram;
    l.whole_gpu = s.whole;
    l.compute_milli = s.compute;
    l.token_id = c.token_id;
    l.client_name = in.client_name;
    // "ID#k": the k-th vGPU of request ID, so a repeat answers in the first answer's order.
    if (!in.request_id.empty())
      l.request_id = in.request_id + "#" + std::to_string(out.grants.size());
    l.created = now;
    l.expires = now + cfg_.lease_ttl_s;
    l.rate_version = current_rates().version;
    for (auto& gr : p.gpus)
      if (gr.index == s.gpu_index) l.gpu_model = gr.name, l.gpu_lent = gr.memory_lent;
    store_.put_lease(l);
    out.grants.push_back(grant_of(l));
    add_lease(std::move(l));
  }
  return out;
}

std::string PoolState::release(const Caller& c, const std::vector<std::string>& ids) {
  Writing w(*this);
  if (c.role != Role::kUser && c.role != Role::kAdmin)
    return "permission denied: releasing leases needs a user token";
  int64_t now = now_s();
  for (auto& id : ids) {
    LeaseRecord* l = find_lease(id);
    if (!l) return "no lease " + id;
    if (c.role != Role::kAdmin && l->token_id != c.token_id)
      return "permission denied: lease " + id + " belongs to another token";
    if (l->state == LeaseState::kGranted) end_lease(*l, LeaseState::kReleased, "released", now);
  }
  return "";
}

std::string PoolState::drain(const Caller& c, const std::string& provider,
                             const std::string& reason, int64_t deadline) {
  Writing w(*this);
  if (c.role != Role::kAdmin) return need("drain", c);
  if (reason.empty()) return "drain needs a --reason (shown to users and in server list)";
  ProviderRecord* p = find_provider(provider);
  if (!p) return "no provider '" + provider + "'; see: rgpu server list";
  p->drained = true;
  p->drain_reason = reason;
  p->drain_deadline = deadline;
  store_.put_provider(*p);
  return "";
}

std::string PoolState::undrain(const Caller& c, const std::string& provider) {
  Writing w(*this);
  if (c.role != Role::kAdmin) return need("undrain", c);
  ProviderRecord* p = find_provider(provider);
  if (!p) return "no provider '" + provider + "'; see: rgpu server list";
  p->drained = false;
  p->drain_reason.clear();
  p->drain_deadline = 0;
  store_.put_provider(*p);
  return "";
}

std::string PoolState::remove(const Caller& c, const std::string& provider, bool force) {
  Writing w(*this);
  if (c.role != Role::kAdmin) return need("remove", c);
  ProviderRecord* p = find_provider(provider);
  if (!p) return "no provider '" + provider + "'; see: rgpu server list";
  uint32_t open = open_leases_on(p->id);
  if (open && !force)
    return "provider " + p->name + " has " + std::to_string(open) +
           " open lease(s); drain it first and wait, or pass --force";
  int64_t now = now_s();
  for (size_t i : std::vector<size_t>(open_on(p->id)))
    end_lease(leases_[i], LeaseState::kKilled, "provider removed", now);
  std::string id = p->id;
  store_.delete_provider(id);
  providers_.erase(std::remove_if(providers_.begin(), providers_.end(),
                                  [&](const ProviderRecord& r) { return r.id == id; }),
                   providers_.end());
  removed_[id] = true;
  index();
  return "";
}

std::string PoolState::kill(const Caller& c, const std::string& id, const std::string& reason,
                            std::string* lease_id) {
  Writing w(*this);
  if (c.role != Role::kAdmin && c.role != Role::kUser)
    return "permission denied: killing a session needs an admin or user token";
  LeaseRecord* l = nullptr;
  int matches = 0;
  for (auto& r : leases_) {
    bool hit = r.id == id || (id.size() >= 6 && r.id.rfind(id, 0) == 0) ||
               (r.session_id != 0 && std::to_string(r.session_id) == id && lease_open(r.state));
    if (hit) {
      l = &r;
      matches++;
    }
  }
  if (matches == 0) return "no session or lease '" + id + "'; see: rgpu session list";
  if (matches > 1) return "'" + id + "' matches several leases; give the full lease id";
  if (c.role != Role::kAdmin && l->token_id != c.token_id)
    return "permission denied: that session belongs to another token";
  *lease_id = l->id;
  // Why, as the user's program is told: "session ended " + this.
  std::string who = role_text(c.role);
  for (const auto& t : tokens_)
    if (t.id == c.token_id && !t.name.empty()) who += " (" + t.name + ")";
  const std::string why = c.role == Role::kAdmin
                              ? "by an " + who + (reason.empty() ? "" : ": " + reason)
                              : "by its " + who + (reason.empty() ? "" : ": " + reason);
  if (l->state == LeaseState::kGranted) {
    end_lease(*l, LeaseState::kKilled, why, now_s());
  } else if (l->state == LeaseState::kActive) {
    l->kill_requested = true;
    l->kill_reason = why;
    store_.put_lease(*l);
  } else {
    return "lease " + l->id + " already " + lease_state_text(l->state);
  }
  return "";
}

std::vector<LeaseRecord> PoolState::leases(const Caller& c, bool all) const {
  std::vector<LeaseRecord> out;
  std::set<std::string> mine;
  for (auto& p : providers_)
    if (p.owner_token == c.token_id) mine.insert(p.id);
  for (auto& l : leases_) {
    if (!all && !lease_open(l.state)) continue;
    bool visible = c.role == Role::kAdmin || l.token_id == c.token_id ||
                   (c.role == Role::kProvider && mine.count(l.provider_id));
    if (visible) out.push_back(l);
  }
  return out;
}

void PoolState::sweep() {
  Writing w(*this);
  expire_granted();
  const int64_t now_ms = now_ms_();
  // Sessions on a provider silent past lost_after_ms end when they were last seen running.
  for (auto it = open_on_.begin(); it != open_on_.end();) {
    const ProviderRecord* p = find_provider(it->first);
    const int64_t silent_ms = p ? now_ms - p->last_heartbeat_ms : 0;
    if (p && silent_ms > int64_t(cfg_.lost_after_ms))
      for (size_t i : std::vector<size_t>(it->second)) {
        LeaseRecord& l = leases_[i];
        if (l.state != LeaseState::kActive) continue;
        const int64_t at = std::max(l.started, std::max(l.last_seen_ms, l.last_receipt_ms) / 1000);
        end_lease(l, LeaseState::kEnded,
                  "provider lost: no heartbeat from " + p->name + " for " +
                      std::to_string(silent_ms / 1000) + " s",
                  at);
        settle(l, true);
      }
    if (open_on(it->first).empty())
      it = open_on_.erase(it);  // the index holds only providers with open leases
    else
      ++it;
  }
  settle_overdue();
}

}  // namespace rgpu::pool
