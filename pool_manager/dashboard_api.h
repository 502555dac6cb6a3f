// pool_manager/dashboard_api.h — the dashboard's JSON API: what the web UI shows, by role.
//
// Contract:
// - dashboard_get() answers one GET on the pool's thread (it reads PoolState). It authenticates
//   `token` on every call (a revoked token is refused at once) and answers JSON: 200 with the
//   data, or 401 / 403 / 404 / 400 with {"error": "..."} saying why.
// - Paths (all under /api/v1/): whoami; providers (admins: all, a provider: those its token
//   registered, users: 403); utilisation (the same providers' GPUs over time, utilisation.h);
//   sessions (the caller's, as PoolState::leases() filters them, newest first, at most 1000;
//   a user never sees another user's, a provider only its own GPUs'); usage?by=day|session|
//   provider|user&since=UNIX (PoolState::usage()); balances (PoolState::balances()); payouts
//   (the payout entries the caller may see); ledger (the signed head; admins also get the
//   ledger audited again, Ledger::audit()).
// - Money is the exact decimal text of format_money(), as `rgpu ... --json` prints it; times
//   are unix seconds; bytes are integers.
#pragma once

#include <map>
#include <string>

namespace rgpu::pool {

class PoolState;
class UtilisationHistory;

struct ApiReply {
  int status = 200;
  std::string body;  // JSON
};

ApiReply dashboard_get(PoolState& s, const UtilisationHistory& h, const std::string& token,
                       const std::string& path, const std::map<std::string, std::string>& query);

}  // namespace rgpu::pool
