// server/lane_handoff.cc — see lane_handoff.h.
#include "server/lane_handoff.h"

#include <capnp/serialize.h>
#include <kj/exception.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/handshake.h"
#include "protocol/lane_preamble.h"

namespace rgpu::server {

namespace {

// Between two MSG_PEEKs: waits until more bytes may be there. False when the deadline passed or
// the connection hung up. `partial`: some bytes are already buffered, so POLLIN is ready again
// at once; wait a little instead of spinning.
bool wait_for_more(int fd, std::chrono::steady_clock::time_point deadline, bool partial) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  if (left <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  if (p.revents & (POLLHUP | POLLERR)) return false;
  if (partial) ::usleep(200);
  return true;
}

}  // namespace

PeekedOpening peek_opening(int fd, bool tls) {
  // One buffer for the supervisor's single thread: a Hello's header and its largest meta.
  static std::vector<capnp::word> buf((sizeof(FrameHeader) + kMaxHelloBytes) / sizeof(capnp::word));
  char* bytes = reinterpret_cast<char*>(buf.data());
  PeekedOpening out;
  ssize_t n;
  do {
    n = ::recv(fd, bytes, buf.size() * sizeof(capnp::word), MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    out.kind = errno == EAGAIN || errno == EWOULDBLOCK ? Opening::kIncomplete : Opening::kClosed;
    return out;
  }
  if (n == 0) {
    out.kind = Opening::kClosed;
    return out;
  }
  const size_t got = static_cast<size_t>(n);
  out.bytes = got;
  auto starts = [&](const char* word) {
    return std::memcmp(bytes, word, std::min<size_t>(got, 4)) == 0;
  };
  if (starts("GET ") || starts("HEAD")) {
    out.kind = got >= 4 ? Opening::kHealth : Opening::kIncomplete;
    return out;
  }
  if (tls) {
    // A TLS ClientHello starts 0x16 0x03: one byte tells it from the preamble's 'R'.
    if (static_cast<uint8_t>(bytes[0]) != static_cast<uint8_t>(kJoinPreambleMagic[0])) {
      out.kind = Opening::kNewSession;
      return out;
    }
    if (!starts(kJoinPreambleMagic)) {
      out.kind = Opening::kNotRgpu;
      return out;
    }
    if (got < kJoinPreambleBytes) return out;
    out.join_session = parse_join_preamble(reinterpret_cast<const uint8_t*>(bytes));
    out.kind = out.join_session != 0 ? Opening::kJoin : Opening::kNotRgpu;
    return out;
  }
  FrameHeader h;
  std::memcpy(&h, bytes, std::min(got, sizeof h));
  if (std::memcmp(&h.magic, &kFrameMagic, std::min<size_t>(got, 4)) != 0) {
    out.kind = Opening::kNotRgpu;
    return out;
  }
  if (got < sizeof h) return out;
  // A first frame that is no small Hello is refused with the reason, without a worker.
  out.kind = Opening::kRefuse;
  if (h.kind != static_cast<uint16_t>(FrameKind::kHello)) {
    out.why = "expected a Hello frame first";
    return out;
  }
  if (h.meta_len == 0 || h.meta_len % 8 != 0 || h.meta_len > kMaxHelloBytes) {
    out.why = "malformed Hello: bad length";
    return out;
  }
  if (h.payload_len != 0) {
    out.why = "a Hello carries no payload";
    return out;
  }
  out.kind = Opening::kIncomplete;
  if (got < sizeof h + h.meta_len) return out;
  try {
    kj::ArrayPtr<const capnp::word> words(buf.data() + sizeof(FrameHeader) / 8, h.meta_len / 8);
    capnp::FlatArrayMessageReader r(words);
    out.join_session = r.getRoot<wire::Hello>().getJoinSession();
  } catch (const kj::Exception&) {
    out.kind = Opening::kRefuse;
    out.why = "malformed Hello";
    return out;
  }
  out.kind = out.join_session != 0 ? Opening::kJoin : Opening::kNewSession;
  return out;
}

namespace {

uint64_t peek_tls_join(int fd, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uint8_t b[kJoinPreambleBytes];
  for (;;) {
    ssize_t n = ::recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 0;  // closed
    if (n > 0) {
      if (std::memcmp(b, kJoinPreambleMagic, std::min<size_t>(n, 4)) != 0) return 0;
      if (static_cast<size_t>(n) == sizeof b) return parse_join_preamble(b);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return 0;
    }
    if (!wait_for_more(fd, deadline, n > 0)) return 0;
  }
}

}  // namespace

uint64_t take_join_preamble(int fd, int timeout_ms) {
  uint64_t session = peek_tls_join(fd, timeout_ms);
  if (session == 0) return 0;
  uint8_t b[kJoinPreambleBytes];
  size_t got = 0;
  while (got < sizeof b) {  // already in the socket buffer (peeked)
    ssize_t n = ::recv(fd, b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    got += static_cast<size_t>(n);
  }
  return session;
}

bool send_fd(int via, int fd) {
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    ssize_t n = ::sendmsg(via, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

int recv_fd(int via) {
  for (;;) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    ssize_t n = ::recvmsg(via, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
  }
}

}  // namespace rgpu::server
