// tests/protocol/socket_pair.h — a connected client/server stream pair over a real listener.
#pragma once

#include <future>
#include <memory>
#include <utility>

#include "protocol/transport.h"

namespace rgpu::testing {

struct StreamPair {
  std::unique_ptr<net::Stream> client;
  std::unique_ptr<net::Stream> server;
};

inline StreamPair connect_pair(const net::Endpoint& where,
                               const net::TlsConfig* server_tls = nullptr,
                               const net::TlsConfig* client_tls = nullptr) {
  auto listener = net::Listener::listen(where, server_tls);
  net::Endpoint ep = listener->local();
  if (ep.kind == net::Endpoint::kTcp && (ep.host.empty() || ep.host == "0.0.0.0"))
    ep.host = "127.0.0.1";
  auto accepted = std::async(std::launch::async, [&] { return listener->accept(); });
  StreamPair p;
  p.client = net::connect(ep, client_tls, 5000);
  p.server = accepted.get();
  return p;
}

}  // namespace rgpu::testing
