// protocol/tls_internal.h — private to protocol/: builds a TLS stream over a connected socket.
//
// Contract: runs the whole handshake before returning (server or client side); throws
// NetError(kTls) naming the reason (bad certificate, unknown CA, peer hung up) and closes fd.
#pragma once

#include <memory>

#include "protocol/transport.h"

namespace rgpu::net {

std::unique_ptr<Stream> make_tls_stream(int fd, const TlsConfig& cfg, bool server);

}  // namespace rgpu::net
