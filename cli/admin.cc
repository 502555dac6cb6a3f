// cli/admin.cc — `rgpu server|session|vgpu|token|status|usage`: admin and listing verbs.
#include <cstdio>
#include <ctime>

#include "cli/cli.h"
#include "cli/output.h"
#include "cli/pool_call.h"
#include "protocol/control/compute_share.h"
#include "protocol/control/money.h"
#include "protocol/control/pool_client.h"

namespace rgpu::cli {
namespace {

const char* kServerUsage =
    "usage: rgpu server list [--json]\n"
    "       rgpu server info NAME|ID [--json]\n"
    "       rgpu server drain NAME|ID --reason TEXT [--deadline 30m|2h|SECONDS]   (admin)\n"
    "         no new sessions; running ones finish (or end at the deadline)\n"
    "       rgpu server undrain NAME|ID                                         (admin)\n"
    "       rgpu server remove NAME|ID [--force]                                (admin)\n";
const char* kSessionUsage =
    "usage: rgpu session list [--all] [--json]   running sessions (--all: with ended ones)\n"
    "       rgpu session kill LEASE|SESSION_ID [--reason TEXT]\n";
const char* kVgpuUsage = "usage: rgpu vgpu list [--json]   placed vGPUs (open leases)\n";
const char* kTokenUsage =
    "usage: rgpu token create --role admin|user|provider [--name TEXT] [--json]   (admin)\n"
    "       rgpu token list [--json]                                            (admin)\n"
    "       rgpu token revoke ID      the token authenticates nothing again      (admin)\n"
    "       rgpu token limit ID AMOUNT   what a user token may spend (0: no limit) (admin)\n";
const char* kStatusUsage = "usage: rgpu status [--json]   pool summary\n";
const char* kUsageUsage =
    "usage: rgpu usage [--since 24h|7d|YYYY-MM-DD] [--by session|provider|user|day] [--json]\n"
    "  sessions, time held, busy time, bytes moved, cost and earnings. Admins see everyone\n"
    "  (default: by provider and by user), providers their GPUs' sessions (default: by\n"
    "  provider; rgpu earnings for balances), users their own (default: one row a session).\n";

std::string labels_text(capnp::List<cp::Label>::Reader ls) {
  std::string s;
  for (auto l : ls)
    s += (s.empty() ? "" : ",") + std::string(l.getKey().cStr()) + "=" + l.getValue().cStr();
  return s.empty() ? "-" : s;
}

void json_labels(Json& j, capnp::List<cp::Label>::Reader ls) {
  j.obj();
  for (auto l : ls) j.key(l.getKey().cStr()).str(l.getValue().cStr());
  j.end();
}

void json_provider(Json& j, cp::ProviderRow::Reader p) {
  j.obj();
  j.key("id").str(p.getId().cStr()).key("name").str(p.getName().cStr());
  j.key("endpoint").str(p.getEndpoint().cStr()).key("state").str(p.getState().cStr());
  j.key("drained").boolean(p.getDrained()).key("drain_reason").str(p.getDrainReason().cStr());
  j.key("drain_deadline").num(int64_t(p.getDrainDeadlineUnix()));
  j.key("in_schedule").boolean(p.getInSchedule()).key("schedule").str(p.getSchedule().cStr());
  j.key("labels");
  json_labels(j, p.getLabels());
  j.key("gpus").arr();
  auto use = p.getUse();
  for (unsigned i = 0; i < p.getGpus().size(); i++) {
    auto g = p.getGpus()[i];
    j.obj().key("index").num(g.getIndex()).key("name").str(g.getName().cStr());
    j.key("memory_total").num(g.getMemoryTotal()).key("memory_lent").num(g.getMemoryLent());
    j.key("compute_lent")
        .str(g.getComputeLent() ? control::compute_share_text(g.getComputeLent()) : "");
    j.key("cc").str(std::to_string(g.getCcMajor()) + "." + std::to_string(g.getCcMinor()));
    j.key("driver").str(g.getDriverVersion().cStr()).key("uuid").str(g.getUuid().cStr());
    if (i < use.size())
      j.key("memory_used").num(use[i].getMemoryUsed()).key("sessions").num(use[i].getSessions());
    j.end();
  }
  j.end();
  j.key("active_leases").num(p.getActiveLeases());
  j.key("last_heartbeat").num(int64_t(p.getLastHeartbeatUnix()));
  j.key("owner_token").str(p.getOwnerToken().cStr());
  j.key("server_version").str(p.getServerVersion().cStr());
  j.end();
}

std::string state_text(cp::ProviderRow::Reader p) {
  std::string s = p.getState().cStr();
  if (p.getDrained()) s += ",drained";
  if (!p.getInSchedule()) s += ",off-schedule";
  return s;
}

bool parse_deadline(const std::string& t, int64_t* out) {
  if (t.empty()) {
    *out = 0;
    return true;
  }
  char* end = nullptr;
  double v = strtod(t.c_str(), &end);
  std::string unit = end;
  double mul = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  if (mul == 0 || v <= 0) return false;
  double secs = v * mul;
  *out = secs > 1e9 ? int64_t(secs) : int64_t(time(nullptr)) + int64_t(secs);
  return true;
}

}  // namespace

int cmd_server(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kServerUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  if (sub == "drain" && a.get("--reason").empty())
    return usage_error("drain needs --reason TEXT", kServerUsage);
  int64_t deadline = 0;
  if (sub == "drain" && !parse_deadline(a.get("--deadline"), &deadline))
    return usage_error("--deadline wants 30m, 2h, SECONDS or a Unix time", kServerUsage);
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    if (sub == "list" || sub == "info") {
      auto resp = c->wait(c->session().listProvidersRequest().send());
      if (refused(resp)) return 1;
      auto ps = resp.getProviders();
      if (sub == "info") {
        for (auto p : ps) {
          if (p.getName() != a.pos[0].c_str() && p.getId() != a.pos[0].c_str()) continue;
          if (a.json) {
            Json j;
            json_provider(j, p);
            j.print();
            return 0;
          }
          printf("id:        %s\nname:      %s\nendpoint:  %s\nstate:     %s\n", p.getId().cStr(),
                 p.getName().cStr(), p.getEndpoint().cStr(), state_text(p).c_str());
          if (p.getDrained())
            printf("drained:   %s (deadline %s)\n", p.getDrainReason().cStr(),
                   human_time(p.getDrainDeadlineUnix()).c_str());
          printf("schedule:  %s\nlabels:    %s\nleases:    %u\nheartbeat: %s\nversion:   %s\n",
                 p.getSchedule().cStr(), labels_text(p.getLabels()).c_str(), p.getActiveLeases(),
                 human_time(p.getLastHeartbeatUnix()).c_str(), p.getServerVersion().cStr());
          Table t({"GPU", "NAME", "CC", "LENT", "TOTAL", "COMPUTE", "USED", "SESSIONS", "DRIVER"});
          auto use = p.getUse();
          for (unsigned i = 0; i < p.getGpus().size(); i++) {
            auto g = p.getGpus()[i];
            t.add({std::to_string(g.getIndex()), g.getName().cStr(),
                   std::to_string(g.getCcMajor()) + "." + std::to_string(g.getCcMinor()),
                   gib(g.getMemoryLent()), gib(g.getMemoryTotal()),
                   g.getComputeLent() ? control::compute_share_text(g.getComputeLent()) : "-",
                   i < use.size() ? gib(use[i].getMemoryUsed()) : "-",
                   i < use.size() ? std::to_string(use[i].getSessions()) : "-",
                   g.getDriverVersion().cStr()});
          }
          t.print();
          return 0;
        }
        return error("no server '" + a.pos[0] + "'; see: rgpu server list");
      }
      if (a.json) {
        Json j;
        j.arr();
        for (auto p : ps) json_provider(j, p);
        j.end().print();
        return 0;
      }
      if (ps.size() == 0) {
        printf("no servers registered (start: rgpu-server --pool %s --join-token ...)\n",
               c->endpoint().c_str());
        return 0;
      }
      Table t({"ID", "NAME", "ENDPOINT", "STATE", "GPUS", "LENT", "LEASES", "SCHEDULE", "LABELS"});
      for (auto p : ps) {
        uint64_t lent = 0;
        for (auto g : p.getGpus()) lent += g.getMemoryLent();
        t.add({p.getId().cStr(), p.getName().cStr(), p.getEndpoint().cStr(), state_text(p),
               std::to_string(p.getGpus().size()), gib(lent), std::to_string(p.getActiveLeases()),
               p.getSchedule().cStr(), labels_text(p.getLabels())});
      }
      t.print();
      return 0;
    }
    std::string err;
    if (sub == "drain") {
      auto req = c->session().drainRequest();
      req.setProvider(a.pos[0]);
      req.setReason(a.get("--reason"));
      req.setDeadlineUnix(deadline);
      err = c->wait(req.send()).getError().cStr();
    } else if (sub == "undrain") {
      auto req = c->session().undrainRequest();
      req.setProvider(a.pos[0]);
      err = c->wait(req.send()).getError().cStr();
    } else {
      auto req = c->session().removeRequest();
      req.setProvider(a.pos[0]);
      req.setForce(a.has("--force"));
      err = c->wait(req.send()).getError().cStr();
    }
    if (!err.empty()) return error(err);
    printf("%s: %s\n",
           sub == "drain"     ? "drained"
           : sub == "undrain" ? "undrained"
                              : "removed",
           a.pos[0].c_str());
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

namespace {

int list_leases(const Args& a, bool sessions) {
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto req = c->session().listLeasesRequest();
    req.setAll(a.has("--all"));
    auto resp = c->wait(req.send());
    if (refused(resp)) return 1;
    auto ls = resp.getLeases();
    if (a.json) {
      Json j;
      j.arr();
      for (auto l : ls) {
        j.obj().key("lease_id").str(l.getLeaseId().cStr()).key("state").str(l.getState().cStr());
        j.key("session_id").num(l.getSessionId()).key("provider").str(l.getProviderName().cStr());
        j.key("provider_id").str(l.getProviderId().cStr());
        j.key("endpoint").str(l.getEndpoint().cStr()).key("gpu").num(l.getGpuIndex());
        j.key("vram_bytes").num(l.getVramBytes()).key("whole_gpu").boolean(l.getWholeGpu());
        j.key("compute").str(l.getComputeMilli() ? control::compute_share_text(l.getComputeMilli())
                                                 : "");
        j.key("token_id").str(l.getTokenId().cStr()).key("client").str(l.getClientName().cStr());
        j.key("created")
            .num(int64_t(l.getCreatedUnix()))
            .key("expires")
            .num(int64_t(l.getExpiresUnix()));
        j.key("started")
            .num(int64_t(l.getStartedUnix()))
            .key("ended")
            .num(int64_t(l.getEndedUnix()));
        j.key("end_reason").str(l.getEndReason().cStr());
        auto u = l.getUsage();  // the provider's receipts, merged (usage_receipt.h)
        j.key("receipts").num(l.getReceipts());
        j.key("usage").obj().key("final").boolean(u.getFinal()).key("wall_ms").num(u.getWallMs());
        j.key("busy_ns").num(u.getBusyNs()).key("mem_gb_s").num(u.getMemGbS());
        j.key("mem_peak").num(u.getMemPeak()).key("bytes_in").num(u.getBytesIn());
        j.key("bytes_out").num(u.getBytesOut()).key("calls").num(u.getCalls());
        j.end();
        j.key("client_tally").obj().key("wall_ms").num(l.getTallyWallMs());
        j.key("bytes_in").num(l.getTallyBytesIn()).key("bytes_out").num(l.getTallyBytesOut());
        j.end().key("dispute").str(l.getDispute().cStr());
        auto ch = l.getCharge();  // money as decimal strings: never a float
        j.key("rate_version").num(int64_t(l.getRateVersion()));
        j.key("charge").obj().key("settled").num(int64_t(ch.getSettledUnix()));
        j.key("rate_version")
            .num(int64_t(ch.getRateVersion()))
            .key("billed_ms")
            .num(ch.getBilledMs());
        j.key("cost").str(control::format_money(ch.getCost()));
        j.key("fee").str(control::format_money(ch.getFee()));
        j.key("earnings").str(control::format_money(ch.getEarnings()));
        j.end();
        j.end();
      }
      j.end().print();
      return 0;
    }
    if (sessions) {
      Table t({"SESSION", "LEASE", "STATE", "SERVER", "GPU", "VRAM", "CLIENT", "STARTED", "NOTE"});
      for (auto l : ls) {
        if (!a.has("--all") && std::string(l.getState().cStr()) != "active") continue;
        t.add({l.getSessionId() ? std::to_string(l.getSessionId()) : "-",
               std::string(l.getLeaseId().cStr()).substr(0, 12), l.getState().cStr(),
               l.getProviderName().cStr(), std::to_string(l.getGpuIndex()), gib(l.getVramBytes()),
               l.getClientName().cStr(), human_time(l.getStartedUnix()), l.getEndReason().cStr()});
      }
      if (t.size() == 0)
        printf("no sessions\n");
      else
        t.print();
    } else {
      Table t(
          {"LEASE", "SERVER", "ENDPOINT", "GPU", "VRAM", "COMPUTE", "KIND", "STATE", "EXPIRES"});
      for (auto l : ls)
        t.add({std::string(l.getLeaseId().cStr()).substr(0, 12), l.getProviderName().cStr(),
               l.getEndpoint().cStr(), std::to_string(l.getGpuIndex()), gib(l.getVramBytes()),
               l.getComputeMilli() ? control::compute_share_text(l.getComputeMilli()) : "-",
               l.getWholeGpu() ? "whole" : "slice", l.getState().cStr(),
               l.getState() == "granted" ? human_time(l.getExpiresUnix()) : "-"});
      if (t.size() == 0)
        printf("no vGPUs placed\n");
      else
        t.print();
    }
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

}  // namespace

int cmd_session(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kSessionUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  if (sub == "list") return list_leases(a, true);
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto req = c->session().killSessionRequest();
    req.setId(a.pos[0]);
    req.setReason(a.get("--reason"));
    auto resp = c->wait(req.send());
    if (refused(resp)) return 1;
    printf("kill requested for lease %s (the server ends the session at its next heartbeat)\n",
           resp.getLeaseId().cStr());
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

int cmd_vgpu(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kVgpuUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  return list_leases(a, false);
}

int cmd_token(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kTokenUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  cp::Role role = cp::Role::NONE;
  if (sub == "create" && !control::parse_role(a.get("--role"), &role))
    return usage_error("--role wants admin, user or provider", kTokenUsage);
  int64_t limit = 0;
  if (sub == "limit" && !control::parse_money(a.pos[1], &limit))
    return usage_error("AMOUNT wants credits, e.g. 100 (0: no limit)", kTokenUsage);
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    if (sub == "limit") {
      auto req = c->session().setCreditLimitRequest();
      req.setTokenId(a.pos[0]);
      req.setLimit(limit);
      auto resp = c->wait(req.send());
      if (refused(resp)) return 1;
      fprintf(stderr, "rgpu: token %s may spend %s\n", a.pos[0].c_str(),
              limit ? control::format_money(limit).c_str() : "without limit");
      return 0;
    }
    if (sub == "create") {
      auto req = c->session().createTokenRequest();
      req.setRole(role);
      req.setName(a.get("--name"));
      auto resp = c->wait(req.send());
      if (refused(resp)) return 1;
      if (a.json) {
        Json j;
        j.obj().key("id").str(resp.getId().cStr()).key("role").str(a.get("--role"));
        j.key("token").str(resp.getToken().cStr()).end().print();
      } else {
        printf("%s\n", resp.getToken().cStr());
        fprintf(stderr, "rgpu: %s token %s created; it is shown only now\n",
                a.get("--role").c_str(), resp.getId().cStr());
      }
      return 0;
    }
    if (sub == "revoke") {
      auto req = c->session().revokeTokenRequest();
      req.setId(a.pos[0]);
      auto resp = c->wait(req.send());
      if (refused(resp)) return 1;
      fprintf(stderr, "rgpu: token %s (%s) revoked\n", a.pos[0].c_str(), resp.getName().cStr());
      return 0;
    }
    auto resp = c->wait(c->session().listTokensRequest().send());
    if (refused(resp)) return 1;
    if (a.json) {
      Json j;
      j.arr();
      for (auto t : resp.getTokens())
        j.obj()
            .key("id")
            .str(t.getId().cStr())
            .key("role")
            .str(control::role_name(t.getRole()))
            .key("name")
            .str(t.getName().cStr())
            .key("created")
            .num(int64_t(t.getCreatedUnix()))
            .key("revoked")
            .num(int64_t(t.getRevokedUnix()))
            .end();
      j.end().print();
      return 0;
    }
    Table t({"ID", "ROLE", "NAME", "CREATED", "REVOKED"});
    for (auto r : resp.getTokens())
      t.add({r.getId().cStr(), control::role_name(r.getRole()), r.getName().cStr(),
             human_time(r.getCreatedUnix()),
             r.getRevokedUnix() ? human_time(r.getRevokedUnix()) : "-"});
    t.print();
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

int cmd_status(const Args& a) {
  if (a.help) {
    printf("%s", kStatusUsage);
    return 0;
  }
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto resp = c->wait(c->session().statusRequest().send());
    if (refused(resp)) return 1;
    auto s = resp.getStatus();
    if (a.json) {
      Json j;
      j.obj().key("pool").str(c->endpoint()).key("version").str(s.getVersion().cStr());
      j.key("role").str(control::role_name(c->role())).key("policy").str(s.getPolicy().cStr());
      j.key("providers").num(s.getProviders()).key("providers_active").num(s.getProvidersActive());
      j.key("providers_missing").num(s.getProvidersMissing());
      j.key("providers_drained").num(s.getProvidersDrained()).key("gpus").num(s.getGpus());
      j.key("memory_lent").num(s.getMemoryLent()).key("memory_leased").num(s.getMemoryLeased());
      j.key("leases_granted")
          .num(s.getLeasesGranted())
          .key("leases_active")
          .num(s.getLeasesActive());
      j.key("started").num(int64_t(s.getStartedUnix())).end().print();
      return 0;
    }
    printf("pool:      %s (%s, you are %s)\n", c->endpoint().c_str(), s.getVersion().cStr(),
           control::role_name(c->role()));
    printf("providers: %u (%u active, %u missing, %u drained)\n", s.getProviders(),
           s.getProvidersActive(), s.getProvidersMissing(), s.getProvidersDrained());
    printf("gpus:      %u, %s lent, %s leased\n", s.getGpus(), gib(s.getMemoryLent()).c_str(),
           gib(s.getMemoryLeased()).c_str());
    printf("leases:    %u granted, %u with a running session\n", s.getLeasesGranted(),
           s.getLeasesActive());
    printf("policy:    %s\nstarted:   %s\n", s.getPolicy().cStr(),
           human_time(s.getStartedUnix()).c_str());
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

int cmd_usage(const Args& a) {
  if (a.help) {
    printf("%s", kUsageUsage);
    return 0;
  }
  const int64_t since = parse_since(a.get("--since"));
  if (since < 0) return usage_error("--since wants 24h, 7d, 90m or YYYY-MM-DD", kUsageUsage);
  const std::string by = a.get("--by");
  if (!by.empty() && by != "session" && by != "provider" && by != "user" && by != "day")
    return usage_error("--by wants session, provider, user or day", kUsageUsage);
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto req = c->session().usageRequest();
    req.setSinceUnix(since);
    req.setBy(by);
    auto resp = c->wait(req.send());
    if (refused(resp)) return 1;
    if (a.json) {
      Json j;
      j.arr();
      for (auto r : resp.getRows()) {
        j.obj().key("kind").str(r.getKind().cStr()).key("key").str(r.getKey().cStr());
        j.key("name").str(r.getName().cStr()).key("sessions").num(r.getSessions());
        j.key("vgpu_seconds").num(r.getGpuSeconds()).key("gib_seconds").num(r.getGibSeconds());
        j.key("busy_seconds").num(r.getBusySeconds()).key("bytes").num(r.getBytes());
        j.key("cost").str(control::format_money(r.getCost()));
        j.key("earnings").str(control::format_money(r.getEarnings()));
        if (r.getKind() == "session") j.key("started").num(int64_t(r.getStartedUnix()));
        j.end();
      }
      j.end().print();
      return 0;
    }
    Table t({"BY", "NAME", "KEY", "SESSIONS", "VGPU-HOURS", "GIB-HOURS", "BUSY-H", "GB MOVED",
             "COST", "EARNINGS"});
    for (auto r : resp.getRows()) {
      char h[32], g[32], b[32], m[32];
      snprintf(h, sizeof h, "%.3f", r.getGpuSeconds() / 3600);
      snprintf(g, sizeof g, "%.3f", r.getGibSeconds() / 3600);
      snprintf(b, sizeof b, "%.3f", r.getBusySeconds() / 3600);
      snprintf(m, sizeof m, "%.3f", r.getBytes() / 1e9);
      t.add({r.getKind().cStr(), r.getName().cStr(), r.getKey().cStr(),
             std::to_string(r.getSessions()), h, g, b, m, control::format_money(r.getCost()),
             control::format_money(r.getEarnings())});
    }
    if (t.size() == 0)
      printf("no sessions%s\n", since ? " in that time" : "");
    else
      t.print();
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

}  // namespace rgpu::cli
