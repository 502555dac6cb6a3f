// protocol/control/pool_client.cc — see pool_client.h.
#include "protocol/control/pool_client.h"

#include <map>
#include <mutex>

#include "protocol/control/acquire.h"
#include "protocol/control/control_version.h"

namespace rgpu::control {
namespace {
// The endpoint of each list that last answered, process-wide: a new connection starts there.
std::mutex g_good_mu;
std::map<std::string, size_t> g_good;
}  // namespace

PoolConnection::PoolConnection(std::string endpoint, std::string token, std::string client_name,
                               uint32_t timeout_ms, const net::TlsConfig* tls)
    : endpoints_(split_pool_endpoints(endpoint)),
      list_(endpoint),
      token_(std::move(token)),
      client_name_(std::move(client_name)),
      timeout_ms_(timeout_ms),
      tls_(tls ? *tls : control_tls_from_env()) {
  std::lock_guard<std::mutex> l(g_good_mu);
  if (auto it = g_good.find(list_); it != g_good.end() && it->second < endpoints_.size())
    at_ = it->second;
  endpoint_ = endpoints_[at_];
}

PoolConnection::~PoolConnection() {
  close();
}

void PoolConnection::close() {
  session_.reset();
  client_.reset();
  pipe_.reset();
}

std::string PoolConnection::open() {
  std::string errors;
  for (size_t k = 0; k < endpoints_.size(); ++k) {
    endpoint_ = endpoints_[at_];
    bool answered = false;  // the pool itself said yes or no (every replica would say the same)
    std::string err = open_one(&answered);
    if (err.empty() || answered) {
      if (err.empty()) {
        std::lock_guard<std::mutex> l(g_good_mu);
        g_good[list_] = at_;
      }
      return err;
    }
    close();
    errors += (errors.empty() ? "" : "; then ") + err;
    at_ = (at_ + 1) % endpoints_.size();
  }
  return errors;
}

std::string PoolConnection::reopen() {
  close();
  at_ = (at_ + 1) % endpoints_.size();
  return open();
}

std::string PoolConnection::open_one(bool* answered) {
  if (tls_.ca_file.empty() && (!tls_.cert_file.empty() || !tls_.key_file.empty()))
    return "a client certificate is set for the pool at " + endpoint_ +
           " but no CA: TLS that checks no pool would trust anyone; set RGPU_POOL_TLS_CA (or "
           "--pool-tls-ca) to the CA that signed the pool's certificate";
  if (!tls_.ca_file.empty()) {
    try {
      pipe_ = TlsPipe::open(endpoint_, tls_, static_cast<int>(timeout_ms_));
    } catch (const std::exception& e) {
      return "cannot reach the pool at " + endpoint_ + " over TLS: " + e.what() +
             " (check RGPU_POOL_TLS_CA, RGPU_POOL_TLS_CERT and RGPU_POOL_TLS_KEY, and that "
             "rgpu-pool serves TLS)";
    }
  }
  try {
    client_ = pipe_ ? std::make_unique<capnp::EzRpcClient>(pipe_->rpc_fd())
                    : std::make_unique<capnp::EzRpcClient>(endpoint_, 7070);
    auto pool = client_->getMain<cp::Pool>();
    auto req = pool.connectRequest();
    req.setToken(token_);
    req.setControlVersion(kControlVersion);
    req.setMinControlVersion(kMinControlVersion);
    req.setClientName(client_name_);
    auto resp = wait(req.send());
    *answered = true;
    if (resp.getError().size() != 0) return resp.getError().cStr();
    role_ = resp.getRole();
    version_ = resp.getControlVersion();
    token_id_ = resp.getTokenId().cStr();
    session_ = std::make_unique<cp::Session::Client>(resp.getSession());
    return "";
  } catch (const kj::Exception& e) {
    std::string m = explain_error(e, endpoint_);
    // TLS 1.3 tells a client its certificate was missing only by closing the connection.
    if (pipe_ && tls_.cert_file.empty())
      m += " (over TLS without a client certificate: a pool that asks for one closes the "
           "connection; set RGPU_POOL_TLS_CERT and RGPU_POOL_TLS_KEY)";
    return m;
  }
}

std::string explain_error(const kj::Exception& e, const std::string& endpoint) {
  std::string d = e.getDescription().cStr();
  if (d.find("within timeout") != std::string::npos)
    return "the pool at " + endpoint + " did not answer in time; check that rgpu-pool runs there";
  if (d.find("DNS lookup failed") != std::string::npos)
    return "cannot resolve the pool's host in " + endpoint +
           " (check the name in --pool or RGPU_POOL): " + d.substr(0, d.find(';'));
  if (e.getType() == kj::Exception::Type::DISCONNECTED || d.find("connect") != std::string::npos ||
      d.find("refused") != std::string::npos)
    return "cannot reach the pool at " + endpoint +
           " (is rgpu-pool running? set --pool or RGPU_POOL; a pool that serves TLS needs "
           "RGPU_POOL_TLS_CA, RGPU_POOL_TLS_CERT and RGPU_POOL_TLS_KEY): " +
           d;
  return "pool request failed: " + d;
}

const char* role_name(cp::Role r) {
  switch (r) {
    case cp::Role::ADMIN:
      return "admin";
    case cp::Role::USER:
      return "user";
    case cp::Role::PROVIDER:
      return "provider";
    default:
      return "none";
  }
}

bool parse_role(const std::string& s, cp::Role* r) {
  if (s == "admin")
    *r = cp::Role::ADMIN;
  else if (s == "user")
    *r = cp::Role::USER;
  else if (s == "provider")
    *r = cp::Role::PROVIDER;
  else
    return false;
  return true;
}

}  // namespace rgpu::control
