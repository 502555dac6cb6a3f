// server/worker/auth.cc — see auth.h.
#include "server/worker/auth.h"

namespace rgpu::server {

namespace {
bool equal_ct(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}
}  // namespace

AuthResult SecretAuthenticator::check(const HelloCredentials& c) const {
  AuthResult r;
  if (insecure_) {
    r.ok = true;
    return r;
  }
  if (!c.lease.empty() && c.secret.empty()) {
    r.error =
        "this server is not attached to a pool and does not accept leases; "
        "use its shared secret (RGPU_SECRET)";
    return r;
  }
  if (secret_.empty() || !equal_ct(c.secret, secret_)) {
    r.error = "authentication failed: wrong or missing shared secret";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace rgpu::server
