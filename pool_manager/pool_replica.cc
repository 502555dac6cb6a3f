// pool_manager/pool_replica.cc — see pool_state.h: PoolState's memory and the store beneath it.
// Loading and the indexes over it; with a store several replicas share (store.h), catching up
// with what the others wrote and exchanging the heartbeats each saw.
#include <algorithm>

#include "pool_manager/pool_internal.h"
#include "pool_manager/pool_state.h"
#include "pool_manager/signing_keys.h"

namespace rgpu::pool {

std::string request_key(const LeaseRecord& l) {  // token + the request id without its "#k"
  return l.token_id + "\n" + l.request_id.substr(0, l.request_id.rfind('#'));
}

void PoolState::load_all(bool ledger_too) {
  rev_ = store_.current_rev();  // first: what is loaded below is at least this new
  tokens_ = store_.load_tokens();
  std::map<std::string, int64_t> seen;  // a reload keeps what heartbeats showed
  for (auto& p : providers_) seen[p.id] = p.last_heartbeat_ms;
  providers_ = store_.load_providers();
  for (auto& p : providers_) {  // grace after a restart
    auto it = seen.find(p.id);
    p.last_heartbeat_ms = it == seen.end() ? now_ms_() : it->second;
  }
  leases_ = store_.load_leases();
  for (auto& l : leases_) l.last_seen_ms = std::max(l.last_receipt_ms, l.started * 1000);
  rates_ = store_.load_rates();
  published_keys_ = rgpu::pool::published_keys(store_, key_.public_raw, now_s());
  if (ledger_too) ledger_.reload();
  paid_.clear();
  for (const auto& e : ledger_.entries()) count_payout(e);
  index();
}

void PoolState::index() {
  providers_gen_++;
  granted_by_expiry_.clear();
  provider_at_.clear(), provider_named_.clear(), lease_at_.clear();
  provider_at_endpoint_.clear();
  open_on_.clear(), requested_.clear();
  for (size_t i = 0; i < providers_.size(); ++i) {
    provider_at_[providers_[i].id] = i;
    provider_named_[providers_[i].name] = i;
    provider_at_endpoint_.emplace(internal::lowercase_host(providers_[i].endpoint), i);
  }
  for (size_t i = 0; i < leases_.size(); ++i) {
    const LeaseRecord& l = leases_[i];
    lease_at_[l.id] = i;
    if (lease_open(l.state)) open_on_[l.provider_id].push_back(i);
    if (l.state == LeaseState::kGranted) granted_by_expiry_.emplace(l.expires, i);
    if (!l.request_id.empty()) requested_[request_key(l)].push_back(i);
  }
}

ProviderRecord* PoolState::find_provider(const std::string& key) {
  if (auto it = provider_at_.find(key); it != provider_at_.end()) return &providers_[it->second];
  if (auto it = provider_named_.find(key); it != provider_named_.end())
    return &providers_[it->second];
  return nullptr;
}

LeaseRecord* PoolState::find_lease(const std::string& id) {
  auto it = lease_at_.find(id);
  return it == lease_at_.end() ? nullptr : &leases_[it->second];
}

void PoolState::add_lease(LeaseRecord l) {
  const size_t i = leases_.size();
  lease_at_[l.id] = i;
  if (lease_open(l.state)) open_on_[l.provider_id].push_back(i);
  if (l.state == LeaseState::kGranted) granted_by_expiry_.emplace(l.expires, i);
  if (!l.request_id.empty()) requested_[request_key(l)].push_back(i);
  leases_.push_back(std::move(l));
}

std::vector<size_t>& PoolState::open_on(const std::string& id) {
  auto it = open_on_.find(id);
  if (it == open_on_.end()) {  // none: not an entry (heartbeats of idle providers add nothing)
    no_leases_.clear();
    return no_leases_;
  }
  std::vector<size_t>& v = it->second;
  v.erase(
      std::remove_if(v.begin(), v.end(), [&](size_t i) { return !lease_open(leases_[i].state); }),
      v.end());
  return v;
}

void PoolState::catch_up() {
  StoreChanges ch;
  if (!store_.changes_since(rev_, ledger_.size(), ledger_.last_head_size(),
                            rates_.empty() ? 0 : rates_.back().version, &ch))
    return;
  rev_ = ch.rev;
  if (ch.empty()) return;
  for (auto& t : ch.tokens) {
    auto it = std::find_if(tokens_.begin(), tokens_.end(),
                           [&](const TokenRecord& x) { return x.id == t.id; });
    if (it == tokens_.end())
      tokens_.push_back(std::move(t));
    else
      *it = std::move(t);
  }
  bool reindex = false;
  for (auto& p : ch.providers) {
    auto it = provider_at_.find(p.id);
    if (it == provider_at_.end()) {  // registered through another replica: heard from just now
      p.last_heartbeat_ms = now_ms_();
      provider_at_[p.id] = providers_.size();
      provider_named_[p.name] = providers_.size();
      provider_at_endpoint_.emplace(internal::lowercase_host(p.endpoint), providers_.size());
      providers_.push_back(std::move(p));
      continue;
    }
    ProviderRecord& mine = providers_[it->second];
    p.last_heartbeat_ms = mine.last_heartbeat_ms;
    for (auto& g : p.gpus)  // the live use its heartbeats showed here
      for (auto& h : mine.gpus)
        if (h.index == g.index)
          g.memory_used = h.memory_used, g.sessions = h.sessions, g.utilization = h.utilization;
    if (p.name != mine.name || p.endpoint != mine.endpoint) reindex = true;
    mine = std::move(p);
  }
  for (auto& id : ch.removed_providers) {
    if (!provider_at_.count(id)) continue;
    providers_.erase(std::remove_if(providers_.begin(), providers_.end(),
                                    [&](const ProviderRecord& r) { return r.id == id; }),
                     providers_.end());
    removed_[id] = true;
    reindex = true;
  }
  for (auto& l : ch.leases) {
    auto it = lease_at_.find(l.id);
    if (it == lease_at_.end()) {
      l.last_seen_ms = std::max(l.last_receipt_ms, l.started * 1000);
      add_lease(std::move(l));
      continue;
    }
    LeaseRecord& mine = leases_[it->second];
    l.last_seen_ms = std::max(mine.last_seen_ms, std::max(l.last_receipt_ms, l.started * 1000));
    const bool was_open = lease_open(mine.state);
    mine = std::move(l);
    if (!was_open && lease_open(mine.state)) open_on_[mine.provider_id].push_back(it->second);
    if (!was_open && mine.state == LeaseState::kGranted)
      granted_by_expiry_.emplace(mine.expires, it->second);
  }
  for (auto& r : ch.rates) rates_.push_back(std::move(r));
  for (const LedgerEntry* e : ledger_.adopt(std::move(ch.ledger), ch.heads)) count_payout(*e);
  if (reindex)
    index();
  else if (!ch.providers.empty())
    providers_gen_++;
}

void PoolState::refresh() {
  if (!store_.shared()) return;
  // One row per provider (its newest heartbeat); dropped even if the write fails: liveness is
  // not money, and the next heartbeats bring it again.
  std::unordered_map<std::string, int64_t> newest_seen;
  for (const Liveness& l : seen_) {
    int64_t& ms = newest_seen[l.provider_id];
    ms = std::max(ms, l.ms);
  }
  seen_.clear();
  std::vector<Liveness> rows;
  for (auto& [id, ms] : newest_seen) rows.push_back({id, ms});
  store_.put_liveness(rows);
  // The rows read at the previous refresh, their ages as of then.
  const int64_t now = now_ms_();
  for (const Liveness& l : store_.load_liveness(&liveness_mark_)) {
    auto it = provider_at_.find(l.provider_id);
    if (it != provider_at_.end())
      providers_[it->second].last_heartbeat_ms =
          std::max(providers_[it->second].last_heartbeat_ms, liveness_asked_ms_ - l.age_ms);
  }
  liveness_asked_ms_ = now;
  published_keys_ = rgpu::pool::published_keys(store_, key_.public_raw, now_s());
  if (write_depth_ == 0) catch_up();
}

std::vector<std::string> PoolState::ledger_keys() {
  return rgpu::pool::ledger_keys(store_, key_.public_raw);
}

bool PoolState::refresh_for_unknown_token() {
  if (!store_.shared() || write_depth_ > 0) return false;
  const int64_t now = now_ms_();
  if (now - unknown_token_refresh_ms_ < 250) return false;
  unknown_token_refresh_ms_ = now;
  try {
    catch_up();
  } catch (const std::exception&) {  // the store's trouble is not told to an unknown caller
    return false;
  }
  return true;
}

}  // namespace rgpu::pool
