// protocol/transport.cc — plain TCP and Unix-socket streams and listeners (TLS in tls.cc).
#include "protocol/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "protocol/tls_internal.h"

namespace rgpu::net {

namespace {

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void set_buffers(int fd) {
  // Large socket buffers let bulk copies stream without stalling on the window.
  int sz = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

std::atomic<int> g_peer_timeout_s{60};

// Idle: probes from timeout/3 on, every timeout/6, four unanswered end it (~ the timeout).
// Busy: TCP_USER_TIMEOUT ends it when sent data stays unacknowledged that long.
void set_peer_timeout(int fd, int seconds) {
  if (seconds <= 0) return;
  int one = 1;
  int idle = std::max(1, seconds / 3), intvl = std::max(1, seconds / 6), count = 4;
  unsigned user_ms = static_cast<unsigned>(seconds) * 1000u;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof user_ms);
}

bool is_tcp(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

}  // namespace

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "unix";
}

// With a deadline: waits until fd is readable (or hung up) or throws kTimeout when it passes.
void wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point{}) return;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) throw NetError(NetError::kTimeout, "the peer sent nothing in time");
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (pr > 0) return;
    if (pr < 0 && errno != EINTR) throw NetError(NetError::kBroken, errno_text("poll"));
  }
}

namespace {

class SocketStream final : public Stream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  ~SocketStream() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void write_all(const void* data, size_t len) override {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
      ssize_t n = ::send(fd_, p, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw NetError(NetError::kBroken, errno_text("send"));
      }
      p += n;
      len -= static_cast<size_t>(n);
    }
  }

  void writev_all(const struct iovec* iov_in, int iovcnt) override {
    iovec iov[16];
    if (iovcnt > 16) {
      for (int i = 0; i < iovcnt; ++i) write_all(iov_in[i].iov_base, iov_in[i].iov_len);
      return;
    }
    std::memcpy(iov, iov_in, sizeof(iovec) * iovcnt);
    iovec* cur = iov;
    int left = iovcnt;
    while (left > 0) {
      msghdr msg{};
      msg.msg_iov = cur;
      msg.msg_iovlen = static_cast<size_t>(left);
      ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw NetError(NetError::kBroken, errno_text("send"));
      }
      size_t done = static_cast<size_t>(n);
      while (left > 0 && done >= cur->iov_len) {
        done -= cur->iov_len;
        ++cur;
        --left;
      }
      if (left > 0) {
        cur->iov_base = static_cast<char*>(cur->iov_base) + done;
        cur->iov_len -= done;
      }
    }
  }

  void read_exact(void* data, size_t len) override {
    char* p = static_cast<char*>(data);
    size_t got = 0;
    while (got < len) {
      wait_readable(fd_, deadline_);
      ssize_t n = ::recv(fd_, p + got, len - got, 0);
      if (n == 0) {
        if (got == 0) throw NetError(NetError::kClosed, "peer closed the connection");
        throw NetError(NetError::kBroken, "peer closed the connection mid-message");
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        throw NetError(NetError::kBroken, errno_text("recv"));
      }
      got += static_cast<size_t>(n);
    }
  }

  size_t read_some(void* data, size_t len) override {
    for (;;) {
      wait_readable(fd_, deadline_);
      ssize_t n = ::recv(fd_, data, len, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      throw NetError(NetError::kBroken, errno_text("recv"));
    }
  }

  bool try_read_some(void* data, size_t len, size_t* got) override {
    for (;;) {
      ssize_t n = ::recv(fd_, data, len, MSG_DONTWAIT);
      if (n >= 0) {
        *got = static_cast<size_t>(n);
        return true;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno == EINTR) continue;
      throw NetError(NetError::kBroken, errno_text("recv"));
    }
  }

  void set_read_deadline(std::chrono::steady_clock::time_point d) override { deadline_ = d; }
  void shutdown() override { ::shutdown(fd_, SHUT_RDWR); }
  int fd() const override { return fd_; }
  std::string peer() const override { return peer_name(fd_); }

 private:
  int fd_;
  std::chrono::steady_clock::time_point deadline_{};  // set_read_deadline(); {}: none
};

// A Unix stream socket, and in *sa the address of ep.path (Endpoint::parse checked its length).
int unix_socket(const Endpoint& ep, sockaddr_un* sa) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw NetError(NetError::kBroken, errno_text("socket"));
  *sa = sockaddr_un{};
  sa->sun_family = AF_UNIX;
  std::strncpy(sa->sun_path, ep.path.c_str(), sizeof(sa->sun_path) - 1);
  return fd;
}

int connect_with_timeout(int fd, const sockaddr* sa, socklen_t len, int timeout_ms) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, sa, len);
  if (rc != 0 && errno != EINPROGRESS) return -1;
  if (rc != 0) {
    pollfd pfd{fd, POLLOUT, 0};
    int pr;
    do {
      pr = ::poll(&pfd, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) {
      errno = err;
      return -1;
    }
  }
  fcntl(fd, F_SETFL, flags);
  return 0;
}

std::unique_ptr<Stream> wrap(int fd, const TlsConfig* tls, bool server) {
  if (is_tcp(fd)) {
    set_nodelay(fd);
    set_buffers(fd);
    set_peer_timeout(fd, g_peer_timeout_s.load());
  }
  if (tls == nullptr) return std::make_unique<SocketStream>(fd);
  return make_tls_stream(fd, *tls, server);
}

class SocketListener final : public Listener {
 public:
  SocketListener(int fd, Endpoint local, const TlsConfig* tls)
      : fd_(fd), local_(std::move(local)), has_tls_(tls != nullptr) {
    if (tls) tls_ = *tls;
  }
  ~SocketListener() override { close(); }

  int accept_fd() override {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      // Nothing waiting (a non-blocking listener), a connection gone before accept, or out of
      // descriptors for now: no connection this time, the listener stays usable.
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN || errno == EWOULDBLOCK ||
          errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        return -1;
      throw NetError(NetError::kBroken, errno_text("accept"));
    }
    return c;
  }

  std::unique_ptr<Stream> accept() override {
    for (;;) {
      int c = accept_fd();
      if (c < 0) continue;
      return wrap(c, has_tls_ ? &tls_ : nullptr, true);
    }
  }

  Endpoint local() const override { return local_; }
  int fd() const override { return fd_; }
  void close() override {
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_RDWR);
      ::close(fd_);
      fd_ = -1;
      if (local_.kind == Endpoint::kUnix) ::unlink(local_.path.c_str());
    }
  }

 private:
  int fd_;
  Endpoint local_;
  bool has_tls_;
  TlsConfig tls_;
};

}  // namespace

Endpoint Endpoint::parse(std::string_view text) {
  Endpoint ep;
  std::string_view t = text;
  if (t.rfind("unix:", 0) == 0 || (!t.empty() && t[0] == '/')) {
    ep.kind = kUnix;
    ep.path = std::string(t.rfind("unix:", 0) == 0 ? t.substr(5) : t);
    if (ep.path.empty() || ep.path.size() >= sizeof(sockaddr_un{}.sun_path))
      throw NetError(NetError::kInvalid, "bad unix socket path in '" + std::string(text) + "'");
    return ep;
  }
  if (t.rfind("tcp://", 0) == 0) t = t.substr(6);
  size_t colon;
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string_view::npos || close + 1 >= t.size() || t[close + 1] != ':')
      throw NetError(NetError::kInvalid,
                     "bad endpoint '" + std::string(text) + "' (want [v6]:port)");
    ep.host = std::string(t.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = t.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
      throw NetError(NetError::kInvalid,
                     "bad endpoint '" + std::string(text) + "' (want host:port or unix:/path)");
    ep.host = std::string(t.substr(0, colon));
  }
  std::string_view port = t.substr(colon + 1);
  if (port.empty() || port.size() > 5)
    throw NetError(NetError::kInvalid, "bad port in '" + std::string(text) + "'");
  unsigned v = 0;
  for (char c : port) {
    if (c < '0' || c > '9')
      throw NetError(NetError::kInvalid, "bad port in '" + std::string(text) + "'");
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535)
    throw NetError(NetError::kInvalid, "port out of range in '" + std::string(text) + "'");
  ep.port = static_cast<uint16_t>(v);
  return ep;
}

std::string Endpoint::str() const {
  if (kind == kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {
// The plaintext bytes before a TLS handshake (blocking socket: one send loop).
void send_preamble(int fd, const std::string& preamble) {
  size_t done = 0;
  while (done < preamble.size()) {
    ssize_t n = ::send(fd, preamble.data() + done, preamble.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string msg = errno_text("send");
      ::close(fd);
      throw NetError(NetError::kBroken, msg);
    }
    done += static_cast<size_t>(n);
  }
}
}  // namespace

std::unique_ptr<Stream> connect(const Endpoint& ep, const TlsConfig* tls, int timeout_ms,
                                const std::string& preamble) {
  if (ep.kind == Endpoint::kUnix) {
    sockaddr_un sa;
    int fd = unix_socket(ep, &sa);
    if (connect_with_timeout(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa), timeout_ms) != 0) {
      std::string msg = "cannot connect to " + ep.str() + ": " + std::strerror(errno);
      ::close(fd);
      throw NetError(NetError::kRefused, msg);
    }
    send_preamble(fd, preamble);
    return wrap(fd, tls, false);
  }
  // A TLS client checks the server's certificate against the name or address it dialled.
  TlsConfig named;
  if (tls && tls->server_name.empty()) {
    named = *tls;
    named.server_name = ep.host;
    tls = &named;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  int gai = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0)
    throw NetError(NetError::kRefused, "cannot resolve '" + ep.host + "': " + gai_strerror(gai));
  std::string last = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0) {
      freeaddrinfo(res);
      send_preamble(fd, preamble);
      return wrap(fd, tls, false);
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  throw NetError(NetError::kRefused, "cannot connect to " + ep.str() + ": " + last);
}

void set_peer_timeout_seconds(int seconds) {
  g_peer_timeout_s = seconds;
}
int peer_timeout_seconds() {
  return g_peer_timeout_s.load();
}

std::unique_ptr<Stream> adopt(int fd, const TlsConfig* tls, bool server) {
  return wrap(fd, tls, server);
}

std::unique_ptr<Listener> Listener::listen(const Endpoint& ep, const TlsConfig* tls) {
  if (ep.kind == Endpoint::kUnix) {
    sockaddr_un sa;
    int fd = unix_socket(ep, &sa);
    ::unlink(ep.path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 128) != 0) {
      std::string msg = "cannot listen on " + ep.str() + ": " + std::strerror(errno);
      ::close(fd);
      throw NetError(NetError::kInvalid, msg);
    }
    return std::make_unique<SocketListener>(fd, ep, tls);
  }
  // A TLS client checks the server's certificate against the name or address it dialled.
  TlsConfig named;
  if (tls && tls->server_name.empty()) {
    named = *tls;
    named.server_name = ep.host;
    tls = &named;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  const char* host = ep.host.empty() || ep.host == "*" ? nullptr : ep.host.c_str();
  int gai = getaddrinfo(host, port.c_str(), &hints, &res);
  if (gai != 0)
    throw NetError(NetError::kInvalid, "cannot resolve '" + ep.host + "': " + gai_strerror(gai));
  std::string last = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      Endpoint local = ep;
      local.port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      freeaddrinfo(res);
      return std::make_unique<SocketListener>(fd, local, tls);
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  throw NetError(NetError::kInvalid, "cannot listen on " + ep.str() + ": " + last);
}

}  // namespace rgpu::net
