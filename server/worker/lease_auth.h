// server/worker/lease_auth.h — a session worker's side of pool membership.
//
// Contract:
// - SupervisorChannel is the worker end of the SOCK_SEQPACKET socket the supervisor passes as
//   --control-fd (server/pool_membership.h holds the other end). claim_lease() asks the
//   supervisor, which holds the server's one LeaseReplayGuard, whether a lease id is used for
//   the first time; it answers within a few seconds or the claim fails (no supervisor = no
//   session). session_started()/session_ended() report the session's lease and how it ended;
//   the supervisor forwards them to the pool. With fd -1 (no pool) every call is a no-op and
//   claim_lease() refuses.
// - LeaseAuthenticator checks a Hello's lease: verify_lease() against the pool's public key, the
//   server's advertised endpoint and the clock (malformed, forged, expired and wrong-endpoint
//   leases are refused with the reason), the lease's provider id against this server's own
//   (--lease-provider, from the pool at registration), its GPU index against --gpu, then the replay
//   claim. On success AuthResult carries the lease id and its memory cap (vram_limit). A Hello
//   without a lease goes to `fallback` (the shared secret / insecure check) when the server was
//   started with one, else it is refused with a message naming the pool.
// - make_authenticator() picks LeaseAuthenticator when the worker was started for a pool
//   (--pool-pubkey), SecretAuthenticator otherwise; nullptr with *error on a bad key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "protocol/control/usage_receipt.h"

#include "server/config.h"
#include "server/worker/auth.h"

namespace rgpu::server {

class SupervisorChannel {
 public:
  explicit SupervisorChannel(int fd) : fd_(fd) {}
  bool active() const { return fd_ >= 0; }
  bool claim_lease(const std::string& lease_id, int64_t expires_unix, std::string* error);
  void session_started(const std::string& lease_id, uint64_t vram_cap);
  void session_ended(const std::string& reason);
  // A usage receipt for the session (the supervisor forwards it to the pool).
  void receipt(const control::UsageReceipt& r);
  // Why the pool ends the session, as the supervisor sent it ("K reason") before SIGUSR1;
  // "" if it sent none. Non-blocking.
  std::string kill_reason();
  // Reads what the supervisor sent, without blocking: a kill reason is kept for
  // kill_reason(); a warning for the program ("W text", a drain deadline ahead) goes to
  // *notice. Returns false once the supervisor is gone. One thread reads (the stop watcher).
  bool read_messages(std::string* notice);
  int fd() const { return fd_; }

 private:
  int fd_;
  std::string kill_;  // a "K" read by read_messages()
};

class LeaseAuthenticator final : public Authenticator {
 public:
  // `pool_keys`: the raw Ed25519 keys the pool signs leases with now, its current one first.
  LeaseAuthenticator(std::vector<std::string> pool_keys, std::string endpoint, std::string provider,
                     uint32_t gpu, SupervisorChannel* channel,
                     std::unique_ptr<Authenticator> fallback)
      : keys_(std::move(pool_keys)),
        endpoint_(std::move(endpoint)),
        provider_(std::move(provider)),
        gpu_(gpu),
        channel_(channel),
        fallback_(std::move(fallback)) {}
  AuthResult check(const HelloCredentials& c) const override;

 private:
  std::vector<std::string> keys_;
  std::string endpoint_;
  // This server's provider id at the pool: a lease placed on another provider is refused, even
  // one that names this endpoint (a provider cannot spend its leases on someone else's GPU).
  std::string provider_;
  uint32_t gpu_;
  SupervisorChannel* channel_;
  std::unique_ptr<Authenticator> fallback_;
};

std::unique_ptr<Authenticator> make_authenticator(const ServerOptions& o,
                                                  SupervisorChannel* channel, std::string* error);

}  // namespace rgpu::server
