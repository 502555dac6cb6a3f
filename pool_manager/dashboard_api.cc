// pool_manager/dashboard_api.cc — see dashboard_api.h.
#include "pool_manager/dashboard_api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "pool_manager/pool_state.h"
#include "pool_manager/utilisation.h"
#include "protocol/control/money.h"

namespace rgpu::pool {
namespace {

using control::format_money;
using nlohmann::json;

// Names come from providers and users (any bytes): invalid UTF-8 is replaced, never fatal.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
ApiReply error(int status, const std::string& why) {
  return {status, dump(json{{"error", why}})};
}
ApiReply ok(const json& j) {
  return {200, dump(j)};
}

// The providers `c` may see in full: all for admins, its own for a provider token.
std::vector<const ProviderRecord*> visible_providers(const PoolState& s, const Caller& c) {
  std::vector<const ProviderRecord*> out;
  for (const auto& p : s.providers())
    if (c.role == Role::kAdmin || (c.role == Role::kProvider && p.owner_token == c.token_id))
      out.push_back(&p);
  return out;
}

std::string provider_state(const PoolState& s, const ProviderRecord& p) {
  if (!s.provider_active(p)) return "missing";
  if (p.drained) return "drained";
  return s.provider_in_schedule(p) ? "active" : "off-schedule";
}

json providers_json(const PoolState& s, const Caller& c) {
  json out = json::array();
  const auto use = gpu_leases(s);
  for (const ProviderRecord* p : visible_providers(s, c)) {
    json gpus = json::array();
    for (const auto& g : p->gpus) {
      auto it = use.find({p->id, g.index});
      const GpuLeases u = it == use.end() ? GpuLeases{} : it->second;
      gpus.push_back({{"index", g.index},
                      {"name", g.name},
                      {"memory_total", g.memory_total},
                      {"memory_lent", g.memory_lent},
                      {"memory_leased", std::min(u.leased, g.memory_lent)},
                      {"sessions", u.sessions}});
    }
    out.push_back({{"id", p->id},
                   {"name", p->name},
                   {"endpoint", p->endpoint},
                   {"state", provider_state(s, *p)},
                   {"drain_reason", p->drain_reason},
                   {"min_price", format_money(p->min_price)},
                   {"last_heartbeat", p->last_heartbeat_ms / 1000},
                   {"gpus", gpus}});
  }
  return out;
}

json utilisation_json(const PoolState& s, const UtilisationHistory& h, const Caller& c,
                      const std::string& only, int64_t since) {
  json out = json::array();
  for (const ProviderRecord* p : visible_providers(s, c)) {
    if (!only.empty() && p->id != only && p->name != only) continue;
    for (const auto& g : p->gpus) {
      json pts = json::array();
      for (const auto& pt : h.series(p->id, g.index))
        if (pt.t >= since) pts.push_back({pt.t, pt.busy, pt.memory_leased, pt.sessions});
      out.push_back({{"provider", p->name},
                     {"provider_id", p->id},
                     {"gpu", g.index},
                     {"gpu_name", g.name},
                     {"memory_lent", g.memory_lent},
                     {"period_s", h.period_s()},
                     {"columns", {"t", "busy", "memory_leased", "sessions"}},
                     {"points", pts}});
    }
  }
  return out;
}

json sessions_json(const PoolState& s, const Caller& c) {
  std::vector<LeaseRecord> ls = s.leases(c, true);
  std::stable_sort(ls.begin(), ls.end(), [](const LeaseRecord& a, const LeaseRecord& b) {
    return a.created > b.created;
  });
  if (ls.size() > 1000) ls.resize(1000);
  const bool pays = c.role != Role::kProvider, earns = c.role != Role::kUser;
  json out = json::array();
  for (const auto& l : ls) {
    json r = {{"lease_id", l.id},
              {"session_id", l.session_id},
              {"provider", l.provider_name},
              {"gpu", l.gpu_index},
              {"gpu_model", l.gpu_model},
              {"vram", l.vram},
              {"state", lease_state_text(l.state)},
              {"client", l.client_name},
              {"created", l.created},
              {"started", l.started},
              {"ended", l.ended},
              {"end_reason", l.end_reason},
              {"wall_s", double(l.usage.wall_ms) / 1e3},
              {"busy_s", double(l.usage.busy_ns) / 1e9},
              {"bytes_in", l.usage.bytes_in},
              {"bytes_out", l.usage.bytes_out},
              {"settled", l.charge.settled_unix != 0},
              {"dispute", l.dispute}};
    if (pays) r["cost"] = format_money(l.charge.cost);
    if (earns) r["earnings"] = format_money(l.charge.earnings);
    if (c.role == Role::kAdmin) r["user"] = s.token_name(l.token_id);
    out.push_back(r);
  }
  return out;
}

json balances_json(const PoolState& s, const Caller& c) {
  json out = json::array();
  for (const auto& b : s.balances(c)) {
    json row = {{"kind", b.kind}, {"id", b.id}, {"name", b.name}, {"sessions", b.sessions}};
    if (b.kind == "provider") {
      row["earned"] = format_money(b.earned);
      row["paid"] = format_money(b.paid);
      row["pending"] = format_money(b.earned - b.paid);
    } else {
      row["spent"] = format_money(b.spent);
      row["credit_limit"] = format_money(b.credit_limit);
    }
    out.push_back(row);
  }
  return out;
}

json payouts_json(const PoolState& s, const Caller& c) {
  std::vector<const LedgerEntry*> es;
  s.ledger_entries(c, 0, &es);
  json out = json::array();
  for (const LedgerEntry* e : es) {
    if (e->kind != "payout") continue;
    json body = json::parse(e->body, nullptr, false);
    if (!body.is_object()) continue;
    out.push_back({{"index", e->index},
                   {"time", e->time},
                   {"provider", body.value("provider", "")},
                   {"amount", body.value("amount", "")},
                   {"ref", body.value("ref", "")}});
  }
  return out;
}

bool parse_since(const std::map<std::string, std::string>& q, int64_t* since) {
  auto it = q.find("since");
  *since = 0;
  if (it == q.end()) return true;
  char* end = nullptr;
  long long v = strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end || v < 0) return false;
  *since = v;
  return true;
}

}  // namespace

ApiReply dashboard_get(PoolState& s, const UtilisationHistory& h, const std::string& token,
                       const std::string& path, const std::map<std::string, std::string>& query) {
  if (token.empty()) return error(401, "log in with a token (Authorization: Bearer TOKEN)");
  std::optional<Caller> who = s.authenticate(token);
  if (!who) return error(401, "this token is not valid (unknown or revoked)");
  const Caller& c = *who;
  const bool sees_providers = c.role == Role::kAdmin || c.role == Role::kProvider;
  auto providers_only = [&] {
    return error(403, std::string("permission denied: providers' data needs an admin or provider "
                                  "token (this token is ") +
                          role_text(c.role) + ")");
  };
  if (path == "whoami")
    return ok({{"role", role_text(c.role)},
               {"token_id", c.token_id},
               {"name", s.token_name(c.token_id)},
               {"pool", {{"version", s.config().version}, {"started", s.started_unix()}}}});
  if (path == "providers") return sees_providers ? ok(providers_json(s, c)) : providers_only();
  if (path == "utilisation") {
    if (!sees_providers) return providers_only();
    auto it = query.find("provider");
    int64_t since = 0;
    if (!parse_since(query, &since)) return error(400, "since wants unix seconds");
    return ok(utilisation_json(s, h, c, it == query.end() ? "" : it->second, since));
  }
  if (path == "sessions") return ok(sessions_json(s, c));
  if (path == "usage") {
    int64_t since = 0;
    if (!parse_since(query, &since)) return error(400, "since wants unix seconds");
    auto it = query.find("by");
    std::string why;
    auto rows = s.usage(c, since, it == query.end() ? "" : it->second, &why);
    if (!why.empty()) return error(why.rfind("permission", 0) == 0 ? 403 : 400, why);
    json out = json::array();
    for (const auto& u : rows) {
      json row = {{"key", u.key},
                  {"kind", u.kind},
                  {"name", u.name},
                  {"sessions", u.sessions},
                  {"gpu_seconds", u.gpu_seconds},
                  {"busy_seconds", u.busy_seconds},
                  {"bytes", u.bytes}};
      // As in sessions: users see what they paid, providers what they earned.
      if (c.role != Role::kProvider) row["cost"] = format_money(u.cost);
      if (c.role != Role::kUser) row["earnings"] = format_money(u.earnings);
      out.push_back(row);
    }
    return ok(out);
  }
  if (path == "balances") return ok(balances_json(s, c));
  if (path == "payouts") return ok(payouts_json(s, c));
  if (path == "ledger") {
    control::TreeHead head = s.ledger_head();
    const std::vector<std::string> keys = s.ledger_keys();
    json j = {{"size", head.size},
              {"time", head.time},
              {"root", control::to_hex(head.root)},
              {"signature_ok", std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
                 return control::verify_tree_head(head, k);
               })}};
    if (c.role == Role::kAdmin) {
      // Audited once per ledger size (a tab refreshing every 10 s must not rehash it each time).
      // Keyed by the signed root, which names the ledger's whole contents.
      static std::string audited_root;
      static std::string audit;
      if (audited_root != head.root + head.signature) {
        audit = s.ledger().audit(keys);
        audited_root = head.root + head.signature;
      }
      j["audit"] = audit.empty() ? "ok" : audit;
    }
    return ok(j);
  }
  return error(404, "no such API path: /api/v1/" + path);
}

}  // namespace rgpu::pool
