// server/worker/lease_auth.cc — see lease_auth.h.
#include "server/worker/lease_auth.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "protocol/control/lease.h"

namespace rgpu::server {

namespace {

constexpr int kClaimTimeoutMs = 5000;

void send_msg(int fd, const std::string& m) {
  if (fd < 0) return;
  ssize_t n;
  do {
    n = ::send(fd, m.data(), m.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

}  // namespace

bool SupervisorChannel::claim_lease(const std::string& lease_id, int64_t expires_unix,
                                    std::string* error) {
  if (fd_ < 0) {
    *error = "lease refused: this worker has no supervisor to check lease reuse with";
    return false;
  }
  send_msg(fd_, "C " + lease_id + " " + std::to_string(expires_unix));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClaimTimeoutMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    char buf[64];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (n == 1 && buf[0] == 'Y') return true;
    if (n == 1 && buf[0] == 'N') {
      *error = "lease refused: lease " + lease_id.substr(0, 12) +
               " was already used for a session (replay)";
      return false;
    }
    break;
  }
  *error = "lease refused: the server could not check lease reuse (supervisor not answering)";
  return false;
}

void SupervisorChannel::session_started(const std::string& lease_id, uint64_t vram_cap) {
  send_msg(fd_, "S " + lease_id + " " + std::to_string(vram_cap));
}

void SupervisorChannel::session_ended(const std::string& reason) {
  send_msg(fd_, "E " + reason.substr(0, 900));
}

bool SupervisorChannel::read_messages(std::string* notice) {
  for (;;) {
    char buf[1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    if (n > 2 && buf[0] == 'K' && buf[1] == ' ') kill_.assign(buf + 2, static_cast<size_t>(n - 2));
    if (n > 2 && buf[0] == 'W' && buf[1] == ' ')
      notice->assign(buf + 2, static_cast<size_t>(n - 2));
  }
}

std::string SupervisorChannel::kill_reason() {
  std::string why = kill_;
  for (;;) {
    char buf[1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (n > 2 && buf[0] == 'K' && buf[1] == ' ') why.assign(buf + 2, static_cast<size_t>(n - 2));
  }
  return why;
}

void SupervisorChannel::receipt(const control::UsageReceipt& r) {
  send_msg(fd_, control::receipt_line(r));
}

AuthResult LeaseAuthenticator::check(const HelloCredentials& c) const {
  AuthResult r;
  if (c.lease.empty()) {
    if (fallback_) return fallback_->check(c);
    r.error =
        "this server takes sessions only through its pool: run the program with `rgpu run` or "
        "set RGPU_POOL (a lease is required)";
    return r;
  }
  // Each key the pool signs with now. The key that signed it says whether it is good (or why
  // not: expired, another server); when none did, the current key (the first) says why.
  control::LeaseCheck lc;
  for (size_t i = 0; i < keys_.size(); ++i) {
    control::LeaseCheck k = control::verify_lease(c.lease, keys_[i], std::time(nullptr), endpoint_);
    const bool signer = k.signed_by_key;
    if (i == 0 || signer) lc = std::move(k);
    if (signer) break;
  }
  if (!lc.ok) {
    r.error = lc.error;
    return r;
  }
  if (provider_.empty() || lc.claims.provider_id != provider_) {
    r.error =
        "lease refused: placed on provider " + lc.claims.provider_id + ", this server is " +
        (provider_.empty() ? std::string("not registered with its pool") : "provider " + provider_);
    return r;
  }
  if (lc.claims.gpu_index != gpu_) {
    r.error = "lease refused: issued for GPU " + std::to_string(lc.claims.gpu_index) +
              ", this server lends GPU " + std::to_string(gpu_);
    return r;
  }
  if (lc.claims.vram_bytes == 0) {
    r.error = "lease refused: it grants no memory";
    return r;
  }
  std::string err;
  if (!channel_->claim_lease(lc.claims.lease_id, lc.claims.expires_unix, &err)) {
    r.error = err;
    return r;
  }
  r.ok = true;
  r.vram_limit = lc.claims.vram_bytes;
  r.lease_id = lc.claims.lease_id;
  r.compute_milli = lc.claims.compute_milli;
  return r;
}

std::unique_ptr<Authenticator> make_authenticator(const ServerOptions& o,
                                                  SupervisorChannel* channel, std::string* error) {
  if (o.pool_pubkey_hex.empty()) return std::make_unique<SecretAuthenticator>(o.secret, o.insecure);
  std::vector<std::string> keys;  // "HEX,HEX": the pool's keys during a rotation
  size_t at = 0;
  while (at <= o.pool_pubkey_hex.size()) {
    size_t comma = o.pool_pubkey_hex.find(',', at);
    if (comma == std::string::npos) comma = o.pool_pubkey_hex.size();
    std::string raw;
    if (!control::parse_public_key(o.pool_pubkey_hex.substr(at, comma - at), &raw, error))
      return nullptr;
    keys.push_back(std::move(raw));
    at = comma + 1;
  }
  std::unique_ptr<Authenticator> fallback;
  if (o.insecure || !o.secret.empty())
    fallback = std::make_unique<SecretAuthenticator>(o.secret, o.insecure);
  return std::make_unique<LeaseAuthenticator>(std::move(keys), o.lease_endpoint, o.lease_provider,
                                              o.gpu, channel, std::move(fallback));
}

}  // namespace rgpu::server
