// pool_manager/dashboard_http.cc — see dashboard_http.h.
#include "pool_manager/dashboard_http.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>

namespace rgpu::pool {

// Built from pool_manager/web/ (cmake/embed_assets.cmake).
extern const char kDashboardIndexHtml[];
extern const char kDashboardAppJs[];
extern const char kDashboardStyleCss[];

namespace {

constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

// httplib's ThreadPool queues without limit, each queued connection holding a descriptor: a
// flood of idle connections would use up the pool's descriptors (and then its control plane's
// accept()). Here the accepting thread waits while kQueue connections are already waiting, so
// the rest stay in the kernel's listen backlog. At shutdown, queued ones are dropped and
// workers are not waited for (a peer may be trickling bytes).
class BoundedPool : public httplib::TaskQueue {
 public:
  static constexpr size_t kWorkers = 8, kQueue = 32;
  BoundedPool() {
    for (size_t i = 0; i < kWorkers; i++) std::thread([this] { work(); }).detach();
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> l(mu_);
    room_.wait(l, [&] { return stopping_ || jobs_.size() < kQueue; });
    if (stopping_) return;
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  void shutdown() override {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    jobs_.clear();
    ready_.notify_all();
    room_.notify_all();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> l(mu_);
        ready_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
};

void secure(httplib::Response& res) {
  if (res.has_header("Content-Security-Policy")) return;
  res.set_header("Content-Security-Policy", kPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
}

std::string bearer(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string kPrefix = "Bearer ";
  return h.rfind(kPrefix, 0) == 0 ? h.substr(kPrefix.size()) : "";
}

}  // namespace

DashboardServer::DashboardServer(const std::string& listen, const net::TlsConfig& tls, Api api) {
  net::Endpoint ep = net::Endpoint::parse(listen);
  if (ep.kind != net::Endpoint::kTcp) throw std::runtime_error("--http wants HOST:PORT");
  host_ = ep.host;
  if (!tls.cert_file.empty()) {
    auto s = std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(), tls.key_file.c_str());
    if (!s->is_valid())
      throw std::runtime_error("cannot use " + tls.cert_file + " and " + tls.key_file +
                               " for HTTPS");
    http_ = std::move(s);
    tls_ = true;
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& h = *http_;
  // Leaked at exit on purpose when a worker is stuck on a peer (see ~DashboardServer).
  h.new_task_queue = [] { return new BoundedPool(); };
  h.set_read_timeout(5, 0);
  h.set_write_timeout(5, 0);
  h.set_keep_alive_timeout(5);
  h.set_payload_max_length(8192);
  auto asset = [](const char* body, const char* type) {
    return [body, type](const httplib::Request&, httplib::Response& res) {
      secure(res);
      res.set_content(body, type);
    };
  };
  h.Get("/", asset(kDashboardIndexHtml, "text/html; charset=utf-8"));
  h.Get("/app.js", asset(kDashboardAppJs, "text/javascript; charset=utf-8"));
  h.Get("/style.css", asset(kDashboardStyleCss, "text/css; charset=utf-8"));
  h.Get(R"(/api/v1/([a-z]+))", [api](const httplib::Request& req, httplib::Response& res) {
    secure(res);
    std::map<std::string, std::string> q;
    for (const auto& [k, v] : req.params) q[k] = v;
    ApiReply r;
    try {
      r = api(bearer(req), req.matches[1], q);
    } catch (const std::exception& e) {
      r = {503,
           nlohmann::json{{"error", std::string("the pool is not answering: ") + e.what()}}.dump(
               -1, ' ', false, nlohmann::json::error_handler_t::replace)};
    }
    res.status = r.status;
    if (r.status == 401) res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(r.body, "application/json");
  });
  h.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    secure(res);
    if (res.body.empty())
      res.set_content("{\"error\":\"no such page (HTTP " + std::to_string(res.status) + ")\"}",
                      "application/json");
  });
  int port = ep.port ? (h.bind_to_port(host_, ep.port) ? ep.port : -1) : h.bind_to_any_port(host_);
  if (port <= 0) throw std::runtime_error("cannot listen on " + listen + ": " + strerror(errno));
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    done_ = true;
  });
}

DashboardServer::~DashboardServer() {
  // stop() does nothing until listen_after_bind() has begun: wait for it (briefly).
  for (int i = 0; i < 200 && !http_->is_running(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  http_->stop();
  // The listening thread returns once its task queue has shut down (BoundedPool does not wait
  // for its workers); should it still not, the process is ending: leave it rather than hang.
  for (int i = 0; i < 400 && !done_; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (done_) {
    thread_.join();
  } else {
    thread_.detach();
    (void)http_.release();
  }
}

}  // namespace rgpu::pool
