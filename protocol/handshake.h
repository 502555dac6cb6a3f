// protocol/handshake.h — the data-plane hello exchange, for both ends.
//
// Contract: the client sends Hello (its version range, credentials, where it wants device
// addresses) and gets HelloReply. client_handshake() returns the accepted reply or throws
// HandshakeError carrying the server's reason (e.g. "protocol version mismatch: peer speaks 1..1,
// this end speaks 2..2"). On the server, read_hello() parses and negotiates; the caller checks
// credentials, then answers with send_hello_reply() (accept) or refuse_hello() (which names the
// reason). A refused peer is never served. Every HelloReply either end writes is written here.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "protocol/transport.h"
#include "protocol/version.h"

namespace rgpu {

class HandshakeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HelloParams {
  uint32_t min_version = kMinProtocolVersion;
  uint32_t max_version = kProtocolVersion;
  std::string lease;   // signed lease bytes, or empty
  std::string secret;  // shared secret, or empty
  std::string client_name;
  uint64_t va_base = 0;
  uint64_t join_session = 0;
  std::string join_key;
};

struct HelloAccepted {
  uint32_t version = 0;
  uint64_t session_id = 0;
  std::string lane_key;
  std::string device_props;  // raw DeviceProps bytes (protocol/device_props.h)
  uint64_t vram_limit = 0;
};

// Client side. Throws HandshakeError when refused, net::NetError when the connection fails.
HelloAccepted client_handshake(net::Stream& s, const HelloParams& p);

// The largest Hello meta a server reads (a lease is a few hundred bytes). A Hello never has a
// payload.
inline constexpr uint32_t kMaxHelloBytes = 64 * 1024;

struct HelloReceived {
  HelloParams params;     // what the client sent
  Negotiated negotiated;  // !ok: refuse with negotiated.error
};

// Server side. A Hello without a minimum version speaks only its protocolVersion. Throws
// HandshakeError when the first frame is a well-framed frame that is not a Hello, or a malformed
// Hello (its payload has been read: answer it with refuse_hello(e.what())), and net::NetError
// when the bytes are not a frame at all, the first frame's meta or payload is over
// kMaxHelloBytes, or the connection fails (answer nothing). The Hello comes from a peer not yet
// authenticated: the caller sets a read deadline on `s` first (Stream::set_read_deadline).
HelloReceived read_hello(net::Stream& s, uint32_t our_min = kMinProtocolVersion,
                         uint32_t our_max = kProtocolVersion);
void send_hello_reply(net::Stream& s, const HelloAccepted& a);
// our_version: the newest version this end speaks (the peer's logs name it).
void refuse_hello(net::Stream& s, const std::string& reason,
                  uint32_t our_version = kProtocolVersion);

}  // namespace rgpu
