// server/admission.cc — see admission.h.
#include "server/admission.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/transport.h"
#include "server/log.h"

namespace rgpu::server {

std::string source_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    return buf;
  }
  if (ss.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    return buf;
  }
  return "unix";
}

Admission::~Admission() {
  for (auto& [fd, c] : conns_) ::close(fd);
}

size_t Admission::from(const std::string& source) const {
  auto it = per_source_.find(source);
  return it == per_source_.end() ? 0 : it->second;
}

bool Admission::admit(int fd, Clock::time_point now, std::string* why) {
  std::string source = source_of(fd);
  if (unauthenticated() >= limits_.max_total) {
    *why = std::to_string(unauthenticated()) + " connections have not authenticated yet (limit " +
           std::to_string(limits_.max_total) + ")";
    return false;
  }
  if (from(source) >= limits_.max_per_source) {
    *why = std::to_string(from(source)) + " connections from " + source +
           " have not authenticated yet (limit " + std::to_string(limits_.max_per_source) + ")";
    return false;
  }
  int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  Conn c;
  c.peer = net::peer_name(fd);
  c.source = source;
  c.deadline = now + limits_.hello_timeout;
  conns_[fd] = std::move(c);
  per_source_[source]++;
  return true;
}

void Admission::poll_fds(std::vector<pollfd>* out) const {
  for (const auto& [fd, c] : conns_)
    if (c.seen == 0) out->push_back({fd, POLLIN, 0});
}

bool Admission::partial() const {
  for (const auto& [fd, c] : conns_)
    if (c.seen != 0) return true;
  return false;
}

std::vector<Admission::Ready> Admission::take_ready(Clock::time_point now) {
  std::vector<Ready> ready;
  for (auto it = conns_.begin(); it != conns_.end();) {
    const int fd = it->first;
    Conn& c = it->second;
    PeekedOpening p = peek_opening(fd, tls_);
    bool drop = false;
    if (p.kind == Opening::kIncomplete) {
      c.seen = p.bytes;
      if (now >= c.deadline) {
        log_info("closed a connection from %s: no complete Hello within %lld ms", c.peer.c_str(),
                 static_cast<long long>(limits_.hello_timeout.count()));
        drop = true;
      } else {
        ++it;
        continue;
      }
    } else if (p.kind == Opening::kClosed) {
      log_debug("connection from %s closed before its Hello", c.peer.c_str());
      drop = true;
    } else if (p.kind == Opening::kNotRgpu) {
      log_info("closed a connection from %s: not an rgpu client", c.peer.c_str());
      drop = true;
    }
    if (drop) {
      ::close(fd);
    } else {
      int flags = ::fcntl(fd, F_GETFL, 0);
      if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      ready.push_back({fd, c.peer, c.source, p});
    }
    if (--per_source_[c.source] == 0) per_source_.erase(c.source);
    it = conns_.erase(it);
  }
  return ready;
}

void Admission::worker_started(pid_t pid, const std::string& source, Clock::time_point now) {
  workers_[pid] = {source, now};
  per_source_[source]++;
}

void Admission::worker_authenticated(pid_t pid) {
  worker_gone(pid);
}

void Admission::worker_gone(pid_t pid) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;
  if (--per_source_[it->second.source] == 0) per_source_.erase(it->second.source);
  workers_.erase(it);
}

std::vector<pid_t> Admission::expired_workers(Clock::time_point now) const {
  std::vector<pid_t> out;
  for (const auto& [pid, w] : workers_)
    if (now - w.started > 2 * limits_.hello_timeout) out.push_back(pid);
  return out;
}

}  // namespace rgpu::server
