// protocol/control/pool_client.h — one authenticated Cap'n Proto RPC connection to rgpu-pool.
//
// Contract: construct on the thread that will use it; that thread must not already run a kj
// event loop (the connection brings its own). open() dials, calls Pool.connect with the token and
// the control-plane version range, and returns "" or a message saying what to do (pool
// unreachable, token refused, version mismatch naming both ranges). Afterwards session() is the
// role-checked capability; wait() runs a request with the connection's timeout and turns any
// transport failure into a kj::Exception whose description explain_error() makes readable.
// TLS: with `tls` (or, when it is null, RGPU_POOL_TLS_CA / _CERT / _KEY in the environment) the
// connection runs over mutual TLS (rpc_tls.h); a TLS failure says so and names the variables.
// Replicas: `endpoint` may list several pools serving one store ("a:7070,b:7070"). open() dials
// them in turn, starting with the one that last answered in this process, until one answers;
// a pool that answers with a refusal (token, version) is not passed over, since every replica
// would say the same. reopen() drops the connection and dials the next one.
#pragma once

#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/control/control_plane.capnp.h"
#include "protocol/control/rpc_tls.h"

namespace rgpu::control {

class PoolConnection {
 public:
  PoolConnection(std::string endpoint, std::string token, std::string client_name,
                 uint32_t timeout_ms = 5000, const net::TlsConfig* tls = nullptr);
  ~PoolConnection();

  std::string open();
  std::string reopen();  // after a transport failure: the next endpoint (then the others)
  size_t endpoints() const { return endpoints_.size(); }
  cp::Session::Client& session() { return *session_; }
  cp::Role role() const { return role_; }
  uint32_t control_version() const { return version_; }  // negotiated at open()
  const std::string& token_id() const { return token_id_; }
  const std::string& endpoint() const { return endpoint_; }

  // Waits for `p` at most the timeout; throws kj::Exception on failure or timeout.
  template <typename T>
  T wait(kj::Promise<T>&& p) {
    auto& timer = client_->getIoProvider().getTimer();
    return p
        .exclusiveJoin(timer.afterDelay(timeout_ms_ * kj::MILLISECONDS).then([this]() -> T {
          KJ_FAIL_REQUIRE("no answer from the pool within timeout", endpoint_);
        }))
        .wait(client_->getWaitScope());
  }
  kj::Timer& timer() { return client_->getIoProvider().getTimer(); }
  kj::WaitScope& wait_scope() { return client_->getWaitScope(); }

 private:
  std::string open_one(bool* answered);  // endpoint_; *answered: the pool replied (yes or no)
  void close();
  std::vector<std::string> endpoints_;  // normalized, in the order given
  std::string list_;                    // as given: the key of the last-good memo
  size_t at_ = 0;                       // endpoints_[at_] is endpoint_
  std::string endpoint_, token_, client_name_;
  uint32_t timeout_ms_;
  net::TlsConfig tls_;             // ca_file empty: plain TCP
  std::unique_ptr<TlsPipe> pipe_;  // outlives client_ (declared first, destroyed last)
  std::unique_ptr<capnp::EzRpcClient> client_;
  std::unique_ptr<cp::Session::Client> session_;
  cp::Role role_ = cp::Role::NONE;
  uint32_t version_ = 0;
  std::string token_id_;
};

// A readable line for a kj::Exception from the pool link.
std::string explain_error(const kj::Exception& e, const std::string& endpoint);

const char* role_name(cp::Role r);
bool parse_role(const std::string& s, cp::Role* r);

}  // namespace rgpu::control
