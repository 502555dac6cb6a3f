// pool_manager/dashboard_http.h — rgpu-pool's web UI and its JSON API over HTTP(S).
//
// Contract:
// - Serves on `listen` (HOST:PORT; port 0 picks one) from its own threads (8 requests at once,
//   32 more accepted and waiting; beyond that connections wait in the listen backlog), over TLS
//   with `tls`'s certificate and key when they are set (the pool's own; no client certificate is
//   asked for: the dashboard logs in with a token).
// - GET / (the page), /app.js, /style.css: the UI, built into the binary (pool_manager/web/).
//   GET /api/v1/PATH: `api` answers it (dashboard_api.h) with the token of the request's
//   "Authorization: Bearer TOKEN" header; `api` is called from the HTTP threads and must itself
//   run the work on the pool's thread.
// - Bounded: requests over 8 KiB are refused, a peer silent for 5 s is dropped (one that
//   trickles bytes is not: expose the dashboard beyond a trusted network through a proxy that
//   bounds whole requests), answers are
//   never cached, and every page forbids scripts, styles and frames from anywhere but itself
//   (Content-Security-Policy), so data shown is never run.
// - Throws std::runtime_error when it cannot listen, saying why.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "pool_manager/dashboard_api.h"
#include "protocol/transport.h"

namespace httplib {
class Server;
}

namespace rgpu::pool {

class DashboardServer {
 public:
  using Api = std::function<ApiReply(const std::string& token, const std::string& path,
                                     const std::map<std::string, std::string>& query)>;
  DashboardServer(const std::string& listen, const net::TlsConfig& tls, Api api);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  uint16_t port() const { return port_; }
  bool tls() const { return tls_; }
  const std::string& host() const { return host_; }

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string host_;
  uint16_t port_ = 0;
  bool tls_ = false;
  std::atomic<bool> done_{false};  // the listening thread has returned
};

}  // namespace rgpu::pool
