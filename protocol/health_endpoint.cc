// protocol/health_endpoint.cc — see health_endpoint.h.
#include "protocol/health_endpoint.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace rgpu::net {

HealthEndpoint::HealthEndpoint(const std::string& listen, std::function<std::string()> render)
    : render_(std::move(render)) {
  listener_ = Listener::listen(Endpoint::parse(listen));
  ::fcntl(listener_->fd(), F_SETFL, ::fcntl(listener_->fd(), F_GETFL, 0) | O_NONBLOCK);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] {
    static const char kReply[] =
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        "Connection: close\r\n\r\nok\n";
    auto metrics_reply = [this] {
      std::string body;
      if (render_) {
        body = render_();
      } else {
        std::lock_guard<std::mutex> g(metrics_mu_);
        body = metrics_;
      }
      return "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    };
    for (;;) {
      pollfd p[2] = {{listener_->fd(), POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(p, wake_[0] >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR) return;
      if (p[1].revents) return;
      for (;;) {
        int fd = listener_->accept_fd();
        if (fd < 0) break;
        // Read the request first (closing on unread bytes would reset the connection before
        // the prober reads the answer); a silent prober gets 200 ms.
        pollfd q{fd, POLLIN, 0};
        std::string request;
        if (::poll(&q, 1, 200) > 0) {
          char buf[1024];
          ssize_t n;
          while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
            if (request.size() < 4096) request.append(buf, static_cast<size_t>(n));
        }
        if (request.rfind("GET /metrics", 0) == 0) {
          // Blocking with a bound: a scraper that does not read gets 2 s, then the close.
          timeval tv{2, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
          const std::string r = metrics_reply();
          ssize_t w = ::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
          (void)w;
        } else {
          ssize_t w = ::send(fd, kReply, sizeof kReply - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
          (void)w;
        }
        ::shutdown(fd, SHUT_WR);
        ::close(fd);
      }
    }
  });
}

HealthEndpoint::~HealthEndpoint() {
  stop();
}

uint16_t HealthEndpoint::port() const {
  return listener_->local().port;
}

void HealthEndpoint::publish_metrics(std::string text) {
  std::lock_guard<std::mutex> g(metrics_mu_);
  metrics_ = std::move(text);
}

void HealthEndpoint::stop() {
  if (thread_.joinable()) {
    char c = 'q';
    ssize_t w = ::write(wake_[1], &c, 1);
    (void)w;
    thread_.join();
  }
  for (int& fd : wake_)
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
}

}  // namespace rgpu::net
