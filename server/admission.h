// server/admission.h — the supervisor's view of everyone who has not authenticated yet.
//
// Contract: anyone who can reach the port can open connections, so nothing they do before
// authenticating may block the supervisor, cost a process, or last:
// - admit() takes a freshly accepted connection (made non-blocking) unless a cap is reached:
//   at most limits.max_total unauthenticated connections and workers together, and at most
//   limits.max_per_source of them from one source address (IP; every Unix-socket peer is one
//   source). Over a cap the caller closes the connection at once.
// - A connection stays here until peek_opening() (server/lane_handoff.h) can classify it, which
//   for plaintext means its whole Hello has arrived. poll_fds() lists those that have sent
//   nothing yet (wait for POLLIN); those with a partial opening are re-peeked on every pass
//   (poll with at most kRecheck while partial() is true), so a peer that drips bytes costs one
//   recv per pass and never a wait. take_ready() hands back the classified ones and closes
//   those that hung up, sent no rgpu opening, or missed their hello_timeout.
// - A worker counts as unauthenticated from worker_started() until worker_authenticated() (its
//   first lane passed the credential check) or worker_gone(). expired_workers() names those
//   still unauthenticated past twice the hello timeout (their own deadline failed): the
//   supervisor kills them.
// Single-threaded: the supervisor's loop owns it.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/lane_handoff.h"

namespace rgpu::server {

struct AdmissionLimits {
  std::chrono::milliseconds hello_timeout{10000};
  size_t max_total = 256;
  size_t max_per_source = 64;
};

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRecheck{10};

  Admission(AdmissionLimits limits, bool tls) : limits_(limits), tls_(tls) {}
  ~Admission();

  // False (and the reason in *why): over a cap; the caller closes fd.
  bool admit(int fd, Clock::time_point now, std::string* why);

  void poll_fds(std::vector<pollfd>* out) const;
  bool partial() const;

  struct Ready {
    int fd;
    std::string peer;
    std::string source;
    PeekedOpening opening;
  };
  std::vector<Ready> take_ready(Clock::time_point now);

  void worker_started(pid_t pid, const std::string& source, Clock::time_point now);
  void worker_authenticated(pid_t pid);
  void worker_gone(pid_t pid);
  std::vector<pid_t> expired_workers(Clock::time_point now) const;

  size_t unauthenticated() const { return conns_.size() + workers_.size(); }
  const AdmissionLimits& limits() const { return limits_; }

 private:
  struct Conn {
    std::string peer, source;
    Clock::time_point deadline;
    size_t seen = 0;  // bytes seen at the last peek (0: wait for POLLIN)
  };
  struct PendingWorker {
    std::string source;
    Clock::time_point started;
  };
  size_t from(const std::string& source) const;

  AdmissionLimits limits_;
  bool tls_;
  std::map<int, Conn> conns_;
  std::map<pid_t, PendingWorker> workers_;
  std::map<std::string, size_t> per_source_;  // conns_ and workers_ by source
};

// The source address of a connected socket ("1.2.3.4", "::1", "unix").
std::string source_of(int fd);

}  // namespace rgpu::server
