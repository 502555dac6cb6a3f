// server/worker/auth.h — who may open a session on this server.
//
// Contract: check() looks at a hello's credentials and answers ok or an error a client can show
// to its user. Modes today: insecure (anyone; the server says so loudly at start) and shared
// secret (compared in constant time). A hello that carries a pool lease is refused by the secret
// check; a server in a pool uses LeaseAuthenticator (server/worker/lease_auth.h), which verifies
// the lease and returns its id and memory cap (lease_id, vram_limit).
#pragma once

#include <cstdint>
#include <string>

namespace rgpu::server {

struct HelloCredentials {
  std::string secret;
  std::string lease;  // bytes
  std::string client_name;
};

struct AuthResult {
  bool ok = false;
  std::string error;
  uint64_t vram_limit = 0;     // 0: the server's --vram
  std::string lease_id;        // the lease that opened the session (pool mode)
  uint32_t compute_milli = 0;  // the lease's compute share (compute_share.h); 0: none stated
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual AuthResult check(const HelloCredentials& c) const = 0;
};

class SecretAuthenticator final : public Authenticator {
 public:
  // An empty secret with insecure=false refuses everyone.
  SecretAuthenticator(std::string secret, bool insecure)
      : secret_(std::move(secret)), insecure_(insecure) {}
  AuthResult check(const HelloCredentials& c) const override;

 private:
  std::string secret_;
  bool insecure_;
};

}  // namespace rgpu::server
