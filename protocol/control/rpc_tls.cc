// protocol/control/rpc_tls.cc — see rpc_tls.h.
#include "protocol/control/rpc_tls.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rgpu::control {

namespace {

// Copies plain socket -> TLS until EOF or an error, then shuts the TLS stream down.
void plain_to_tls(int fd, net::Stream* tls) {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    try {
      tls->write_all(buf, static_cast<size_t>(n));
    } catch (const std::exception&) {
      break;
    }
  }
  tls->shutdown();
  ::shutdown(fd, SHUT_RDWR);
}

// Copies TLS -> plain socket until EOF or an error, then shuts the plain socket down.
void tls_to_plain(net::Stream* tls, int fd) {
  char buf[64 * 1024];
  for (;;) {
    size_t n = 0;
    try {
      n = tls->read_some(buf, sizeof buf);
    } catch (const std::exception&) {
      break;
    }
    if (n == 0) break;
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::send(fd, buf + done, n - done, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        done = n + 1;
        break;
      }
      done += static_cast<size_t>(w);
    }
    if (done > n) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  tls->shutdown();
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<TlsPipe> TlsPipe::open(const std::string& endpoint, const net::TlsConfig& tls,
                                       int timeout_ms) {
  std::unique_ptr<TlsPipe> p(new TlsPipe());
  p->tls_ = net::connect(net::Endpoint::parse(endpoint), &tls, timeout_ms);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw net::NetError(net::NetError::kBroken, std::string("socketpair: ") + std::strerror(errno));
  p->rpc_fd_ = sv[0];
  p->pump_fd_ = sv[1];
  net::Stream* s = p->tls_.get();
  int fd = p->pump_fd_;
  p->up_ = std::thread([fd, s] { plain_to_tls(fd, s); });
  p->down_ = std::thread([fd, s] { tls_to_plain(s, fd); });
  return p;
}

TlsPipe::~TlsPipe() {
  if (pump_fd_ >= 0) ::shutdown(pump_fd_, SHUT_RDWR);
  if (rpc_fd_ >= 0) ::shutdown(rpc_fd_, SHUT_RDWR);
  if (tls_) tls_->shutdown();
  if (up_.joinable()) up_.join();
  if (down_.joinable()) down_.join();
  if (pump_fd_ >= 0) ::close(pump_fd_);
  if (rpc_fd_ >= 0) ::close(rpc_fd_);
}

TlsFront::TlsFront(const std::string& public_endpoint, const net::TlsConfig& tls,
                   std::string inner_path)
    : listener_(net::Listener::listen(net::Endpoint::parse(public_endpoint), nullptr)),
      tls_(tls),
      inner_path_(std::move(inner_path)) {}

TlsFront::~TlsFront() {
  stop_.store(true);
  if (listener_) listener_->close();
  if (accept_.joinable()) accept_.join();
}

uint16_t TlsFront::port() const {
  return listener_->local().port;
}

void TlsFront::start() {
  accept_ = std::thread([this] {
    while (!stop_.load()) {
      pollfd p{listener_->fd(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      int fd = -1;
      try {
        fd = listener_->accept_fd();
      } catch (const std::exception&) {
        if (stop_.load()) return;
        continue;
      }
      if (fd < 0) continue;
      // Each connection on its own thread: a slow or failing handshake holds up no one.
      std::thread([fd, tls = tls_, inner = inner_path_] {
        std::unique_ptr<net::Stream> s;
        try {
          s = net::adopt(fd, &tls, true);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "rgpu-pool: refused a control-plane connection: %s\n", e.what());
          return;  // adopt closed the socket
        }
        int plain = connect_unix(inner);
        if (plain < 0) {
          std::fprintf(stderr, "rgpu-pool: cannot reach the RPC server at %s: %s\n", inner.c_str(),
                       std::strerror(errno));
          return;
        }
        std::thread down([&] { tls_to_plain(s.get(), plain); });
        plain_to_tls(plain, s.get());
        down.join();
        ::close(plain);
      }).detach();
    }
  });
}

int make_private_rpc_socket(const std::string& path, std::string* error) {
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) {
    *error = "socket path too long (over 107 bytes; use a shorter --data-dir): " + path;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  ::unlink(path.c_str());
  mode_t old = ::umask(0077);  // the socket file is 0600 from birth
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 128) != 0) {
    *error = "cannot listen on " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

net::TlsConfig control_tls_from_env() {
  net::TlsConfig t;
  auto get = [](const char* n) {
    const char* v = std::getenv(n);
    return v ? std::string(v) : std::string();
  };
  t.ca_file = get("RGPU_POOL_TLS_CA");
  t.cert_file = get("RGPU_POOL_TLS_CERT");
  t.key_file = get("RGPU_POOL_TLS_KEY");
  return t;
}

}  // namespace rgpu::control
