// Fuzz target: what the supervisor peeks at on a new connection before any credential
// (server/lane_handoff.h peek_opening: Hello header, TLS join preamble, health probe), on a real
// socket, plain and TLS, and the preamble parser itself.
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/lane_preamble.h"
#include "server/lane_handoff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 60000) return 0;  // within one socket buffer
  if (size >= rgpu::kJoinPreambleBytes) (void)rgpu::parse_join_preamble(data);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  int buf = 1 << 17;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (size) (void)::send(sv[0], data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(sv[0], SHUT_WR);
  for (bool tls : {false, true}) {
    auto p = rgpu::server::peek_opening(sv[1], tls);
    if (p.bytes > size) __builtin_trap();
  }
  ::close(sv[0]);
  ::close(sv[1]);
  return 0;
}
