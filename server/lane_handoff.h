// server/lane_handoff.h — how a connection that joins an existing session reaches its worker.
//
// A client opens one lane (connection) per thread (interpose/lane.h); each lane after the first
// sends a Hello with joinSession/joinKey. The supervisor spawns a worker per session, so a
// joining connection must be passed to the session's existing worker:
// - peek_join_session() looks at the Hello at the head of a plaintext connection without
//   consuming it (MSG_PEEK) and returns its joinSession, or 0 when it is a new session, not a
//   Hello, or nothing complete arrived within timeout_ms. The worker then reads the same Hello
//   itself and checks the join key.
// - send_fd()/recv_fd() pass the socket over the Unix socketpair between the supervisor and
//   the worker (SCM_RIGHTS). recv_fd() returns -1 when the supervisor's end is closed.
// - Over TLS the Hello is encrypted, and TLS state cannot move between processes. So a joining
//   TLS lane starts with a plaintext preamble naming its session (protocol/lane_preamble.h):
//   peek_tls_join() looks for it without consuming it (0: none, e.g. a TLS ClientHello), the
//   supervisor hands the raw connection over, and the worker takes the preamble off
//   (take_join_preamble()) and runs the TLS handshake itself before reading the Hello.
#pragma once

#include <cstdint>

namespace rgpu::server {

uint64_t peek_join_session(int fd, int timeout_ms);
uint64_t peek_tls_join(int fd, int timeout_ms);
// Reads the preamble off the connection when there is one (its session), else reads nothing and
// returns 0.
uint64_t take_join_preamble(int fd, int timeout_ms);
bool send_fd(int via, int fd);
int recv_fd(int via);

}  // namespace rgpu::server
