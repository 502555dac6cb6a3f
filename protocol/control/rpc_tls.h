// protocol/control/rpc_tls.h — the control plane's Cap'n Proto RPC over mutual TLS, carried by
// the data plane's TLS streams (protocol/transport.h: OpenSSL 3, certificates checked against a
// CA) rather than a second TLS stack, so the self-contained shim needs nothing new.
//
// Contract:
// - TlsPipe (client side): open() connects to `endpoint` with TLS (our certificate, the CA the
//   pool's certificate must chain to) and returns a pipe whose rpc_fd() is a plain connected
//   socket for capnp::EzRpcClient(int); two threads copy bytes between it and the TLS stream
//   until either side closes. Throws net::NetError when the connection or handshake fails.
//   Destroy the EzRpcClient first; destruction closes both ends and joins the threads.
// - TlsFront (server side): listens on `public_endpoint`; each connection runs the TLS
//   handshake on its own thread (the client must present a certificate signed by the CA when
//   the config names one) and is then joined to a fresh connection to `inner_path`, the Unix
//   socket the pool's EzRpcServer listens on (make_private_rpc_socket: mode 0600, so only the
//   pool's own user can reach the plaintext side). A failed handshake is logged and closed;
//   other connections are untouched. port() is the bound port.
// - control_tls_from_env(): the client config named by RGPU_POOL_TLS_CA, RGPU_POOL_TLS_CERT and
//   RGPU_POOL_TLS_KEY; empty ca_file (no TLS) when RGPU_POOL_TLS_CA is unset.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "protocol/transport.h"

namespace rgpu::control {

class TlsPipe {
 public:
  static std::unique_ptr<TlsPipe> open(const std::string& endpoint, const net::TlsConfig& tls,
                                       int timeout_ms);
  ~TlsPipe();
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;
  int rpc_fd() const { return rpc_fd_; }

 private:
  TlsPipe() = default;
  std::unique_ptr<net::Stream> tls_;
  int rpc_fd_ = -1, pump_fd_ = -1;
  std::thread up_, down_;
};

class TlsFront {
 public:
  TlsFront(const std::string& public_endpoint, const net::TlsConfig& tls, std::string inner_path);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;
  uint16_t port() const;
  void start();

 private:
  std::unique_ptr<net::Listener> listener_;
  net::TlsConfig tls_;
  std::string inner_path_;
  std::atomic<bool> stop_{false};
  std::thread accept_;
};

// A Unix socket listening at `path` that only this user may connect to (0600); -1 and *error on
// failure.
int make_private_rpc_socket(const std::string& path, std::string* error);

net::TlsConfig control_tls_from_env();

}  // namespace rgpu::control
