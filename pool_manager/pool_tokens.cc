// pool_manager/pool_tokens.cc — PoolState's tokens: the first admin, authentication, creating,
// listing and revoking tokens (pool_state.h).
#include <openssl/evp.h>

#include <algorithm>

#include "pool_manager/pool_internal.h"
#include "pool_manager/pool_state.h"

namespace rgpu::pool {

using internal::need;
using internal::random_hex;

std::string hash_token(const std::string& secret) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr);
  return control::to_hex(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string PoolState::bootstrap_admin() {
  Writing w(*this);
  if (!tokens_.empty()) return "";
  std::string secret = "rgpu_" + random_hex(20);
  TokenRecord t{hash_token(secret).substr(0, 12), hash_token(secret), Role::kAdmin,
                "bootstrap admin", now_s()};
  store_.put_token(t);
  tokens_.push_back(t);
  return secret;
}

std::optional<Caller> PoolState::authenticate(const std::string& token) const {
  if (token.empty()) return std::nullopt;
  std::string h = hash_token(token);
  for (auto& t : tokens_)
    if (t.hash == h && !t.revoked) return Caller{t.id, t.role};
  return std::nullopt;
}

TokenRecord* PoolState::find_token(const std::string& id, std::string* error) {
  if (id.size() < 6) {
    *error = "name the token by its id (6 or more characters; see rgpu token list)";
    return nullptr;
  }
  TokenRecord* hit = nullptr;
  for (auto& t : tokens_) {
    if (t.id.rfind(id, 0) != 0) continue;
    if (hit) {
      *error = "'" + id + "' matches more than one token; give more of its id";
      return nullptr;
    }
    hit = &t;
  }
  if (!hit) *error = "no token '" + id + "'; see rgpu token list";
  return hit;
}

bool PoolState::token_valid(const std::string& token_id) const {
  for (auto& t : tokens_)
    if (t.id == token_id) return !t.revoked;
  return false;
}

std::string PoolState::token_name(const std::string& token_id) const {
  for (auto& t : tokens_)
    if (t.id == token_id) return t.name;
  return "";
}

std::string PoolState::revoke_token(const Caller& c, const std::string& id, std::string* name) {
  Writing w(*this);
  if (c.role != Role::kAdmin) return need("revoking a token", c);
  std::string err;
  TokenRecord* hit = find_token(id, &err);
  if (!hit) return err;
  if (hit->id == c.token_id)
    return "that is the token you are using; revoke it with another admin token";
  *name = hit->name;
  if (hit->revoked) return "";  // already revoked: nothing changes
  hit->revoked = now_s();
  store_.revoke_token(hit->id, hit->revoked);
  // What the token holds ends too: unused leases now, running sessions at the next heartbeat.
  for (auto& l : leases_) {
    if (l.token_id != hit->id) continue;
    if (l.state == LeaseState::kGranted) {
      end_lease(l, LeaseState::kReleased, "its token was revoked", now_s());
    } else if (l.state == LeaseState::kActive && !l.kill_requested) {
      l.kill_requested = true;
      l.kill_reason = "because its token was revoked by an admin";
      store_.put_lease(l);
    }
  }
  return "";
}

std::string PoolState::create_token(const Caller& c, Role role, const std::string& name,
                                    std::string* id, std::string* error) {
  Writing w(*this);
  if (c.role != Role::kAdmin) {
    *error = need("creating tokens", c);
    return "";
  }
  if (role == Role::kNone) {
    *error = "a token needs a role: admin, user or provider";
    return "";
  }
  std::string secret = "rgpu_" + random_hex(20);
  TokenRecord t{hash_token(secret).substr(0, 12), hash_token(secret), role, name, now_s()};
  store_.put_token(t);
  tokens_.push_back(t);
  *id = t.id;
  return secret;
}

std::vector<TokenRecord> PoolState::tokens(const Caller& c, std::string* error) const {
  if (c.role != Role::kAdmin) {
    *error = need("listing tokens", c);
    return {};
  }
  return tokens_;
}

}  // namespace rgpu::pool
