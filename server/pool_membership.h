// server/pool_membership.h — rgpu-server as a pool provider (the supervisor's side).
//
// Contract:
// - start() builds the provider's description (name: --name or hostname:port; endpoint: the
//   address clients dial, i.e. --advertise or the bound --listen address, never port 0; labels,
//   schedule; the GPU from describe_gpu(), lending --lend-mem or all of it), starts a
//   control::ProviderLink and waits for the first registration. It returns "" or why it
//   failed (bad token, pool unreachable, bad --pool-key, --lend-mem larger than the GPU).
//   The key leases are checked with is --pool-key when given, else the one the pool sent.
// - Each worker gets a SOCK_SEQPACKET channel (open_channel(): the child's end goes to the
//   worker as --control-fd, see worker_args()). Over it the worker asks to claim a lease id
//   (answered from the server's single LeaseReplayGuard, so a lease opens at most one session
//   across all workers, and kept in --state-dir so it stays used across restarts) and reports
//   its session's start (lease id, memory cap) and end reason.
//   A private thread answers the channels.
// - worker_exited() (called by the supervisor when it reaps a worker) reports the session's
//   end to the pool: the reason the worker gave, else how it died; kills say who ordered them.
// - Kill orders from the pool reach the worker running that lease as SIGUSR1 (the worker ends
//   the session; its client sees the connection close with an error).
// - Heartbeats carry per-GPU use: the number of sessions and the memory their leases reserve.
// - stop() ends the link and the thread; the destructor calls it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/control/provider_link.h"
#include "protocol/control/replay_guard.h"
#include "protocol/transport.h"
#include "server/config.h"

namespace rgpu::server {

class PoolMembership {
 public:
  PoolMembership() = default;
  ~PoolMembership();
  PoolMembership(const PoolMembership&) = delete;
  PoolMembership& operator=(const PoolMembership&) = delete;

  // worker_argv: the supervisor's argv for workers (used to run the GPU probe).
  std::string start(const ServerOptions& o, const net::Endpoint& bound,
                    const std::vector<std::string>& worker_argv);
  void stop();

  const std::string& endpoint() const { return endpoint_; }
  const std::string& name() const { return name_; }
  // The flags a worker needs (fd number the child end will have in the worker).
  std::vector<std::string> worker_args(int child_fd) const;
  // A fresh channel: returns the child's end (close it after spawning) and sets *parent_end;
  // -1 on failure.
  int open_channel(int* parent_end);
  void worker_started(pid_t pid, uint64_t session_id, int parent_end);
  void worker_exited(pid_t pid, const std::string& how);
  // Prometheus text (--metrics-listen): this GPU's memory total, lent and leased, running
  // sessions, and from the sessions' receipts device busy time, bytes each way and calls since
  // start. No per-session label. Thread-safe.
  std::string metrics_text();

 private:
  struct Member {
    uint64_t session_id = 0;
    int fd = -1;
    std::string lease_id;
    uint64_t cap = 0;
    std::string end_reason, kill_reason;
    control::UsageReceipt usage;  // its latest receipt (cumulative)
  };
  struct Event {
    bool started;
    std::string lease_id;
    uint64_t session_id;
    std::string reason;
  };
  void serve_channels();
  // Reads what the worker sent (non-blocking); mu_ held. Returns false at EOF.
  bool drain(Member& m, std::vector<Event>* events);
  void send_events(const std::vector<Event>& events);
  // Tells a member's worker (for its program's stderr) when the drain deadline ends it. mu_ held.
  void warn_of_deadline(Member& m);
  void wake();

  std::string endpoint_, name_;
  std::string pinned_hex_;  // --pool-key: the one key leases are checked with; "": the pool's
  uint32_t receipt_interval_ms_ = 30000;  // --receipt-interval, passed on to workers
  uint32_t gpu_ = 0;
  std::unique_ptr<control::ProviderLink> link_;
  control::LeaseReplayGuard guard_;
  control::PoolKey receipt_key_;
  // Totals of the sessions that ended, from their last receipts (under mu_).
  uint64_t ended_busy_ns_ = 0, ended_bytes_in_ = 0, ended_bytes_out_ = 0, ended_calls_ = 0;
  uint64_t sessions_started_ = 0;
  std::string gpu_name_;
  uint64_t gpu_total_ = 0, gpu_lent_ = 0;
  int64_t drain_deadline_ = 0;  // the pool's drain deadline for this server (unix s; 0: none)
  std::string drain_reason_;    // signs this provider's usage receipts (kept in --state-dir)
  std::mutex mu_;
  std::map<pid_t, Member> members_;
  bool stopping_ = false;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace rgpu::server
