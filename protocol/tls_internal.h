// protocol/tls_internal.h — private to protocol/: builds a TLS stream over a connected socket.
//
// Contract: runs the whole handshake before returning (server or client side); throws
// NetError(kTls) naming the reason (bad certificate, unknown CA, peer hung up) and closes fd.
#pragma once

#include <memory>

#include "protocol/transport.h"

namespace rgpu::net {

std::unique_ptr<Stream> make_tls_stream(int fd, const TlsConfig& cfg, bool server);

// Waits until fd is readable or hung up; throws NetError(kTimeout) once `deadline` has passed.
// time_point{}: no deadline (returns at once; the caller's read blocks).
void wait_readable(int fd, std::chrono::steady_clock::time_point deadline);

}  // namespace rgpu::net
