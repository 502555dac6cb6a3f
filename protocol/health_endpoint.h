// protocol/health_endpoint.h — a daemon's readiness and metrics endpoint (rgpu-pool
// --health-listen, rgpu-server --metrics-listen).
//
// Contract: HealthEndpoint listens on its own TCP address and answers every connection with
// "HTTP/1.0 200 OK" and a one-line body ("ok") from one thread, then closes it: a Kubernetes
// httpGet probe (or curl) learns that the pool is up without touching the control plane.
// It waits at most 200 ms for a prober's request (a silent one costs that, on this thread
// only), never blocks the pool, and stops with stop() or the destructor.
// GET /metrics answers Prometheus text: what `render` returns, called on this thread (it must
// be thread-safe), or without one the text last published (publish_metrics(), which rgpu-pool
// calls from its own thread: this thread never touches PoolState).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/transport.h"

namespace rgpu::net {

class HealthEndpoint {
 public:
  // Throws net::NetError when the address cannot be bound.
  explicit HealthEndpoint(const std::string& listen, std::function<std::string()> render = nullptr);
  ~HealthEndpoint();
  uint16_t port() const;
  void stop();
  void publish_metrics(std::string text);

 private:
  std::function<std::string()> render_;
  std::unique_ptr<net::Listener> listener_;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::mutex metrics_mu_;
  std::string metrics_;  // under metrics_mu_
};

}  // namespace rgpu::net
