// server/lane_handoff.h — how a connection that joins an existing session reaches its worker.
//
// A client opens one lane (connection) per thread (interpose/lane.h); each lane after the first
// sends a Hello with joinSession/joinKey. The supervisor spawns a worker per session, so a
// joining connection must be passed to the session's existing worker:
// - peek_opening() looks at what a new connection has sent so far without consuming it
//   (MSG_PEEK) and without ever waiting: the supervisor calls it again when more may have come
//   (server/admission.h). A plaintext connection is classified once its whole Hello is there
//   (a new session, or a join naming its session); the worker then reads the same Hello itself
//   and checks the credentials or join key.
// - send_fd()/recv_fd() pass the socket over the Unix socketpair between the supervisor and
//   the worker (SCM_RIGHTS). send_fd() never blocks (a worker that does not take its lanes
//   makes it fail, not wait). recv_fd() returns -1 when the supervisor's end is closed. The
//   worker writes one byte, kWorkerAuthenticated, on the same socketpair when its first lane
//   authenticated: only then does the supervisor hand it lanes or stop counting it among the
//   unauthenticated connections.
// - Over TLS the Hello is encrypted, and TLS state cannot move between processes. So a joining
//   TLS lane starts with a plaintext preamble naming its session (protocol/lane_preamble.h):
//   peek_tls_join() looks for it without consuming it (0: none, e.g. a TLS ClientHello), the
//   supervisor hands the raw connection over, and the worker takes the preamble off
//   (take_join_preamble()) and runs the TLS handshake itself before reading the Hello.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rgpu::server {

enum class Opening {
  kIncomplete,  // not enough bytes yet to tell
  kClosed,      // the peer closed (or the socket failed) before sending anything useful
  kNewSession,  // a Hello without joinSession (plaintext), or a TLS ClientHello: a new worker
  kJoin,        // a Hello (or, over TLS, a routing preamble) naming a session to join
  kHealth,      // "GET " or "HEAD": a readiness probe, answered by the supervisor itself
  kRefuse,      // a well-framed plaintext opening that is no acceptable Hello: refuse, with why
  kNotRgpu,     // bytes that are no rgpu opening at all
};
struct PeekedOpening {
  Opening kind = Opening::kIncomplete;
  uint64_t join_session = 0;  // kJoin
  const char* why = "";       // kRefuse
  size_t bytes = 0;           // bytes seen so far
};
PeekedOpening peek_opening(int fd, bool tls);

inline constexpr char kWorkerAuthenticated = 'A';
// Reads the preamble off the connection when there is one (its session), else reads nothing and
// returns 0.
uint64_t take_join_preamble(int fd, int timeout_ms);
bool send_fd(int via, int fd);  // non-blocking: false when `via` is full or gone
int recv_fd(int via);

}  // namespace rgpu::server
