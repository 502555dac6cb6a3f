// pool_manager/health.h — rgpu-pool's readiness endpoint (--health-listen).
//
// Contract: HealthEndpoint listens on its own TCP address and answers every connection with
// "HTTP/1.0 200 OK" and a one-line body ("ok") from one thread, then closes it: a Kubernetes
// httpGet probe (or curl) learns that the pool is up without touching the control plane.
// It waits at most 200 ms for a prober's request (a silent one costs that, on this thread
// only), never blocks the pool, and stops with stop() or the destructor.
// GET /metrics answers the Prometheus text the pool last published (publish_metrics(), called
// from the pool's own thread: this thread never touches PoolState).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/transport.h"

namespace rgpu::pool {

class HealthEndpoint {
 public:
  // Throws net::NetError when the address cannot be bound.
  explicit HealthEndpoint(const std::string& listen);
  ~HealthEndpoint();
  uint16_t port() const;
  void stop();
  void publish_metrics(std::string text);

 private:
  std::unique_ptr<net::Listener> listener_;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::mutex metrics_mu_;
  std::string metrics_;  // under metrics_mu_
};

}  // namespace rgpu::pool
