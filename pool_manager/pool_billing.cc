// pool_manager/pool_billing.cc — PoolState's billing (pool_state.h): rate versions, settling
// ended sessions into charges (billing.h computes them), the ledger's entries, payouts,
// balances, credit limits, the client's tally and usage reports.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "pool_manager/pool_internal.h"
#include "pool_manager/pool_state.h"

namespace rgpu::pool {

std::string PoolState::set_rates(const Caller& c, const RateChangeIn& ch, int64_t* version) {
  Writing w(*this);
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
  nlohmann::json body = {{"version", r.version},
                         {"set_by", r.set_by},
                         {"gpu_hour", format_money(r.gpu_hour)},
                         {"gib_hour", format_money(r.gib_hour)},
                         {"gb_moved", format_money(r.gb_moved)},
                         {"bill", r.bill_busy ? "busy" : "wall"},
                         {"fee_ppm", r.fee_ppm}};
  for (auto& [k, v] : r.gpu_hour_by_model) body["gpu_hour_by_model"][k] = format_money(v);
  for (auto& [k, v] : r.gpu_hour_by_provider) body["gpu_hour_by_provider"][k] = format_money(v);
  store_.atomically([&] {  // the version and its ledger entry, together
    store_.put_rates(r);
    ledger_.append(r.set_unix, "rate", body.dump(), "", "");
  });
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
  f.gpu_model = l.gpu_model;  // the GPU as it was when granted
  f.gpu_lent = l.gpu_lent;
  f.receipts = l.receipts;
  Charge c = charge(rate_card(l.rate_version), f);
  c.settled_unix = std::max<int64_t>(now_s(), 1);
  nlohmann::json body = {{"lease", l.id},
                         {"session", l.session_id},
                         {"provider", l.provider_name},
                         {"token", l.token_id},
                         {"rate_version", c.rate_version},
                         {"billed_ms", c.billed_ms},
                         {"cost", format_money(c.cost)},
                         {"fee", format_money(c.fee)},
                         {"earnings", format_money(c.earnings)},
                         {"provider_lost", provider_lost}};
  store_.atomically([&] {  // the charge and its ledger entry, together
    store_.put_charge(l.id, c);
    ledger_.append(c.settled_unix, "charge", body.dump(), l.provider_id, l.token_id);
  });
  l.charge = c;
}

bool PoolState::receipt_changed(const control::UsageReceipt& a, const control::UsageReceipt& b) {
  return a.seq != b.seq || a.final != b.final || a.wall_ms != b.wall_ms || a.busy_ns != b.busy_ns ||
         a.mem_gb_s != b.mem_gb_s || a.mem_peak != b.mem_peak || a.bytes_in != b.bytes_in ||
         a.bytes_out != b.bytes_out || a.calls != b.calls;
}

void PoolState::ledger_receipt(const LeaseRecord& l, const std::string& provider_signature) {
  const control::UsageReceipt& u = l.usage;
  nlohmann::json body = {
      {"lease", l.id},          {"session", u.session_id},  {"provider", l.provider_name},
      {"seq", u.seq},           {"final", u.final},         {"wall_ms", u.wall_ms},
      {"busy_ns", u.busy_ns},   {"mem_gb_s", u.mem_gb_s},   {"mem_peak", u.mem_peak},
      {"bytes_in", u.bytes_in}, {"bytes_out", u.bytes_out}, {"calls", u.calls}};
  if (!provider_signature.empty()) body["provider_signature"] = control::to_hex(provider_signature);
  ledger_.append(now_s(), "receipt", body.dump(), l.provider_id, l.token_id);
}

control::UsageReceipt PoolState::bounded(const LeaseRecord& l, control::UsageReceipt r,
                                         int64_t now_ms) const {
  const int64_t since = (l.started ? std::min(l.started, l.created) : l.created) * 1000;
  const uint64_t held_ms = static_cast<uint64_t>(std::max<int64_t>(0, now_ms - since)) + 60'000;
  r.wall_ms = std::min<uint64_t>(r.wall_ms, held_ms);
  r.busy_ns = std::min<uint64_t>(r.busy_ns, r.wall_ms * 1'000'000);
  const double cap_gb_s = static_cast<double>(l.vram) / 1e9 * (r.wall_ms / 1000.0) * 1.01;
  r.mem_gb_s = std::isfinite(r.mem_gb_s) && r.mem_gb_s > 0 ? std::min(r.mem_gb_s, cap_gb_s) : 0;
  r.mem_peak = std::min<uint64_t>(r.mem_peak, l.vram);
  return r;
}

std::string PoolState::record_payout(const Caller& c, const std::string& provider, int64_t amount,
                                     const std::string& ref) {
  Writing w(*this);
  if (c.role != Role::kAdmin)
    return std::string(
               "permission denied: recording a payout needs an admin token (this token is ") +
           role_text(c.role) + ")";
  if (amount <= 0) return "a payout is more than 0";
  if (ref.empty()) return "a payout needs --ref: the transfer's reference on the payment rail";
  std::string id, name;
  for (const auto& q : providers_)
    if (q.id == provider || q.name == provider) id = q.id, name = q.name;
  if (id.empty())  // a removed provider is still owed what it earned: by its id
    for (const auto& l : leases_)
      if (l.provider_id == provider && l.charge.settled_unix)
        id = l.provider_id, name = l.provider_name;
  if (id.empty())
    return "no provider '" + provider +
           "'; see rgpu server list (a removed one: its id, from rgpu earnings)";
  nlohmann::json body = {
      {"provider", name}, {"amount", format_money(amount)}, {"ref", ref}, {"by", c.token_id}};
  ledger_.append(now_s(), "payout", body.dump(), id, "");
  paid_[id] += amount;
  return "";
}

int64_t PoolState::spent_by(const std::string& token_id) const {
  int64_t spent = 0;
  for (const auto& l : leases_)
    if (l.token_id == token_id && l.charge.settled_unix) spent += l.charge.cost;
  return spent;
}

std::string PoolState::set_credit_limit(const Caller& c, const std::string& id, int64_t limit) {
  Writing w(*this);
  if (c.role != Role::kAdmin)
    return std::string("permission denied: credit limits need an admin token (this token is ") +
           role_text(c.role) + ")";
  std::string err;
  TokenRecord* hit = find_token(id, &err);
  if (!hit) return err;
  if (hit->role != Role::kUser) return "credit limits are for user tokens";
  hit->credit_limit = limit;
  store_.put_credit_limit(hit->id, limit);
  return "";
}

std::string PoolState::report_tally(const Caller& c, const std::string& lease_id, uint64_t wall_ms,
                                    uint64_t bytes_in, uint64_t bytes_out) {
  Writing w(*this);
  LeaseRecord* l = find_lease(lease_id);
  if (!l) return "no lease " + lease_id;
  if (c.role != Role::kAdmin && l->token_id != c.token_id)
    return "permission denied: that lease belongs to another token";
  if (l->tally_reported) return "";  // once: a repeat changes nothing
  l->tally_reported = true;
  l->tally_wall_ms = wall_ms, l->tally_bytes_in = bytes_in, l->tally_bytes_out = bytes_out;
  store_.put_lease_tally(*l);
  check_dispute(*l);
  return "";
}

void PoolState::check_dispute(LeaseRecord& l) {
  if (!l.tally_reported || !l.usage.final || !l.dispute.empty()) return;
  auto off = [](uint64_t a, uint64_t b) {  // beyond 1 % and 16 KiB
    const uint64_t d = a > b ? a - b : b - a;
    return d > 16384 && d * 100 > std::max(a, b);
  };
  std::string why;
  // The server's bytes in are the client's bytes out, and the other way round.
  if (off(l.usage.bytes_in, l.tally_bytes_out) || off(l.usage.bytes_out, l.tally_bytes_in))
    why = "bytes: receipts " + std::to_string(l.usage.bytes_in) + " in / " +
          std::to_string(l.usage.bytes_out) + " out, client " + std::to_string(l.tally_bytes_out) +
          " out / " + std::to_string(l.tally_bytes_in) + " in";
  const uint64_t dw = l.usage.wall_ms > l.tally_wall_ms ? l.usage.wall_ms - l.tally_wall_ms
                                                        : l.tally_wall_ms - l.usage.wall_ms;
  if (dw > 2000)
    why += std::string(why.empty() ? "" : "; ") + "wall time: receipts " +
           std::to_string(l.usage.wall_ms) + " ms, client " + std::to_string(l.tally_wall_ms) +
           " ms";
  if (why.empty()) return;
  l.dispute = why;
  store_.put_lease_tally(l);
}

control::TreeHead PoolState::ledger_head() {
  if (ledger_.has_head(ledger_.size())) return ledger_.head(now_s());
  Writing w(*this);  // a head to sign: one replica at a time, on the ledger as it is now
  return ledger_.head(now_s());
}

void PoolState::count_payout(const LedgerEntry& e) {
  if (e.kind != "payout") return;
  int64_t amount = 0;
  auto j = nlohmann::json::parse(e.body, nullptr, false);
  if (j.is_object() && j.contains("amount") && j["amount"].is_string() &&
      parse_money(j["amount"].get<std::string>(), &amount))
    paid_[e.provider_id] += amount;
  else
    throw StoreError("ledger entry " + std::to_string(e.index) + " is a malformed payout");
}

std::vector<PoolState::Balance> PoolState::balances(const Caller& c) const {
  std::vector<Balance> out;
  for (const auto& p : providers_) {
    if (c.role != Role::kAdmin && !(c.role == Role::kProvider && p.owner_token == c.token_id))
      continue;
    Balance b{"provider", p.id, p.name};
    for (const auto& l : leases_)
      if (l.provider_id == p.id && l.charge.settled_unix)
        b.sessions++, b.earned += l.charge.earnings;
    if (auto it = paid_.find(p.id); it != paid_.end()) b.paid = it->second;
    out.push_back(b);
  }
  // Providers an admin removed keep what they earned and were paid (money is never dropped):
  // admins see them, named from their sessions, until their balance is paid out.
  if (c.role == Role::kAdmin) {
    std::map<std::string, Balance> gone;
    std::set<std::string> known;
    for (const auto& p : providers_) known.insert(p.id);
    for (const auto& l : leases_)
      if (l.charge.settled_unix && !known.count(l.provider_id)) {
        Balance& b = gone[l.provider_id];
        b.kind = "provider", b.id = l.provider_id, b.name = l.provider_name + " (removed)";
        b.sessions++, b.earned += l.charge.earnings;
      }
    for (const auto& [id, amount] : paid_)
      if (!known.count(id)) {
        Balance& b = gone[id];
        b.kind = "provider", b.id = id;
        if (b.name.empty()) b.name = id + " (removed)";
        b.paid = amount;
      }
    for (auto& [id, b] : gone) out.push_back(b);
  }
  for (const auto& t : tokens_) {
    if (t.role != Role::kUser && t.role != Role::kAdmin) continue;
    if (c.role != Role::kAdmin && t.id != c.token_id) continue;
    Balance b{"user", t.id, t.name};
    for (const auto& l : leases_)
      if (l.token_id == t.id && l.charge.settled_unix) b.sessions++, b.spent += l.charge.cost;
    b.credit_limit = t.credit_limit;
    if (c.role == Role::kAdmin && b.sessions == 0 && t.role == Role::kAdmin) continue;
    out.push_back(b);
  }
  return out;
}

std::string PoolState::ledger_entries(const Caller& c, int64_t since,
                                      std::vector<const LedgerEntry*>* out) const {
  if (c.role == Role::kNone) return "permission denied: the ledger needs a token";
  std::set<std::string> mine;  // the providers this token registered
  for (const auto& p : providers_)
    if (p.owner_token == c.token_id) mine.insert(p.id);
  for (const auto& e : ledger_.entries()) {
    if (e.time < since) continue;
    const bool visible = c.role == Role::kAdmin || e.kind == "rate" ||
                         (c.role == Role::kProvider && mine.count(e.provider_id)) ||
                         (!e.token_id.empty() && e.token_id == c.token_id);
    if (visible) out->push_back(&e);
  }
  return "";
}

void PoolState::settle_overdue() {
  const int64_t now = now_s();
  for (auto& l : leases_)
    if (!l.charge.settled_unix && l.started && !lease_open(l.state) &&
        now - l.ended > int64_t(cfg_.lost_after_ms / 1000))
      settle(l, false);  // its final receipt never came: bill what the receipts showed
}

std::vector<UsageOut> PoolState::usage(const Caller& c, int64_t since, const std::string& by,
                                       std::string* error) const {
  if (c.role == Role::kNone) {
    *error = "permission denied: usage needs a token";
    return {};
  }
  if (!by.empty() && by != "session" && by != "provider" && by != "user" && by != "day") {
    *error = "usage --by wants session, provider, user or day";
    return {};
  }
  std::vector<std::string> kinds;
  if (!by.empty())
    kinds = {by};
  else if (c.role == Role::kAdmin)
    kinds = {"provider", "user"};
  else
    kinds = {c.role == Role::kProvider ? "provider" : "session"};
  std::map<std::string, std::string> token_names;
  for (const auto& t : tokens_) token_names[t.id] = t.name;
  std::set<std::string> mine;  // a provider token's providers
  for (const auto& p : providers_)
    if (p.owner_token == c.token_id) mine.insert(p.id);
  std::map<std::pair<std::string, std::string>, UsageOut> acc;
  const int64_t now = now_s();
  for (const auto& l : leases_) {
    if (!l.started) continue;
    const int64_t end = l.ended ? l.ended : now;
    if (end < since) continue;
    const bool visible = c.role == Role::kAdmin ||
                         (c.role == Role::kProvider && mine.count(l.provider_id)) ||
                         l.token_id == c.token_id;
    if (!visible) continue;
    const double held = l.receipts ? l.usage.wall_ms / 1000.0
                                   : static_cast<double>(std::max<int64_t>(0, end - l.started));
    const std::string user = token_names.count(l.token_id) ? token_names[l.token_id] : l.token_id;
    for (const auto& kind : kinds) {
      std::string key, name;
      if (kind == "session") {
        key = l.id.substr(0, 12), name = l.provider_name + " / " + user;
      } else if (kind == "provider") {
        key = l.provider_id, name = l.provider_name;
      } else if (kind == "user") {
        key = l.token_id, name = user;
      } else {
        char day[16];
        const time_t t = l.started;
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
        key = name = day;
      }
      UsageOut& u = acc[{kind, key}];
      u.kind = kind, u.key = key, u.name = name;
      u.sessions++;
      u.gpu_seconds += held;
      u.gib_seconds += held * static_cast<double>(l.vram) / double(1ull << 30);
      u.busy_seconds += l.usage.busy_ns / 1e9;
      u.bytes += l.usage.bytes_in + l.usage.bytes_out;
      u.cost += l.charge.cost;
      u.earnings += l.charge.earnings;
      if (kind == "session") u.started = l.started;
    }
  }
  std::vector<UsageOut> out;
  for (auto& [k, v] : acc) out.push_back(v);
  return out;
}

}  // namespace rgpu::pool
