// protocol/control/acquire.cc — see acquire.h.
#include "protocol/control/acquire.h"

#include <algorithm>

#include <chrono>
#include <random>
#include <thread>

#include "protocol/control/control_version.h"
#include "protocol/control/pool_client.h"
#include "protocol/control/rtt_probe.h"

namespace rgpu::control {
namespace {

// Runs `fn` on a fresh thread so its kj event loop never meets the caller's.
template <typename F>
auto on_private_thread(F fn) {
  decltype(fn()) result;
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}

// Runs `call(c)`; when it fails (connection lost, no answer in time, a replica's error), runs it
// again through each other replica in turn. Only for calls that may run twice.
template <typename F>
auto with_failover(PoolConnection& c, F call) -> decltype(call(c)) {
  for (size_t tries = 1;; ++tries) {
    try {
      return call(c);
    } catch (const kj::Exception&) {
      if (tries >= c.endpoints() || !c.reopen().empty()) throw;
    }
  }
}

std::string new_request_id() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string id = "rq-";
  for (int i = 0; i < 24; ++i) id += hex[rd() % 16];
  return id;
}

// What acquire and candidates both say of the vGPUs wanted.
void fill_request(cp::AcquireRequest::Builder q, uint32_t count, uint64_t vram,
                  const std::map<std::string, std::string>& labels, int64_t max_price_micro,
                  uint32_t compute_milli) {
  q.setCount(count);
  q.setVramBytes(vram);
  q.setMaxPriceMicro(max_price_micro);
  q.setComputeMilli(compute_milli);
  auto ls = q.initLabels(static_cast<unsigned>(labels.size()));
  unsigned i = 0;
  for (auto& [k, v] : labels) {
    ls[i].setKey(k);
    ls[i++].setValue(v);
  }
}

AcquireResult acquire_once(PoolConnection& c, uint32_t count, uint64_t vram,
                           const std::map<std::string, std::string>& labels,
                           const std::string& policy, const std::string& client_name,
                           int64_t max_price_micro, uint32_t compute_milli,
                           const std::map<std::string, uint32_t>& rtts,
                           const std::string& request_id, bool* retryable) {
  AcquireResult r;
  auto req = c.session().acquireRequest();
  auto q = req.initReq();
  fill_request(q, count, vram, labels, max_price_micro, compute_milli);
  q.setRequestId(request_id);
  q.setPolicy(policy);
  q.setClientName(client_name);
  auto rs = q.initRtts(static_cast<unsigned>(rtts.size()));
  unsigned k = 0;
  for (const auto& [endpoint, us] : rtts) {
    rs[k].setEndpoint(endpoint);
    rs[k++].setRttUs(us);
  }
  auto resp = c.wait(req.send());
  *retryable = resp.getRetryable();
  if (resp.getError().size()) {
    r.error = resp.getError().cStr();
    return r;
  }
  for (auto g : resp.getGrants()) {
    LeaseGrant lg;
    lg.endpoint = g.getEndpoint().cStr();
    auto d = g.getLease();
    lg.lease.assign(reinterpret_cast<const char*>(d.begin()), d.size());
    lg.lease_id = g.getLeaseId().cStr();
    lg.provider_name = g.getProviderName().cStr();
    lg.gpu_index = g.getGpuIndex();
    lg.gpu_name = g.getGpuName().cStr();
    lg.vram_bytes = g.getVramBytes();
    lg.expires_unix = g.getExpiresUnix();
    lg.compute_milli = g.getComputeMilli();
    r.grants.push_back(std::move(lg));
  }
  r.ok = true;
  return r;
}

}  // namespace

std::string normalize_pool_endpoint(const std::string& text) {
  if (text.empty()) return kDefaultPoolEndpoint;
  if (text.back() == ']' || text.find(':') == std::string::npos) return text + ":7070";
  return text;
}

std::vector<std::string> split_pool_endpoints(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    std::string one = text.substr(at, comma - at);
    while (!one.empty() && one.front() == ' ') one.erase(0, 1);
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (!one.empty()) out.push_back(normalize_pool_endpoint(one));
    at = comma + 1;
  }
  if (out.empty()) out.push_back(kDefaultPoolEndpoint);
  return out;
}

AcquireResult acquire_leases(const std::string& pool_endpoint, const std::string& token,
                             uint32_t count, uint64_t vram_bytes,
                             const std::map<std::string, std::string>& labels, double wait_seconds,
                             const std::string& policy, const std::string& client_name,
                             int64_t max_price_micro, uint32_t compute_milli) {
  return on_private_thread([&]() -> AcquireResult {
    AcquireResult r;
    if (count == 0) {
      r.error = "ask for at least one vGPU (-n 1 or more)";
      return r;
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
    PoolConnection c(pool_endpoint, token, client_name);
    std::string err = c.open();
    if (!err.empty()) {
      r.error = err;
      return r;
    }
    if (max_price_micro && c.control_version() < 2) {
      r.error = "this pool speaks control plane " + std::to_string(c.control_version()) +
                ", which has no prices: --max-price cannot be honoured (upgrade rgpu-pool)";
      return r;
    }
    if (compute_milli && c.control_version() < 5) {
      r.error = "this pool speaks control plane " + std::to_string(c.control_version()) +
                ", which has no compute shares: --compute cannot be honoured (upgrade rgpu-pool)";
      return r;
    }
    // Policy "nearest": measure the candidates the pool names before asking (again while
    // waiting, as long as none could be measured: nothing fitted yet).
    std::map<std::string, uint32_t> rtts;
    if (policy == "nearest" && c.control_version() < 5) {
      r.error = "this pool speaks control plane " + std::to_string(c.control_version()) +
                ", which has no policy nearest (upgrade rgpu-pool)";
      return r;
    }
    auto measure = [&]() -> std::string {
      if (policy != "nearest") return "";
      try {
        auto req = c.session().candidatesRequest();
        fill_request(req.initReq(), count, vram_bytes, labels, max_price_micro, compute_milli);
        auto resp = c.wait(req.send());
        if (resp.getError().size()) return resp.getError().cStr();
        std::vector<std::string> endpoints;
        for (auto e : resp.getEndpoints()) endpoints.push_back(e.cStr());
        rtts = probe_all(endpoints);
        return "";
      } catch (const kj::Exception& e) {
        return explain_error(e, c.endpoint());
      }
    };
    if (std::string e = measure(); !e.empty()) {
      r.error = e;
      return r;
    }
    // One id for every try: a try whose answer was lost, repeated through another replica,
    // gets the leases it was granted. Before control plane 4 a pool ignores the id, so a lost
    // answer is not retried there.
    const std::string request_id = new_request_id();
    const bool retries = c.control_version() >= 4;
    for (;;) {
      bool retryable = false;
      try {
        auto once = [&](PoolConnection& pc) {
          // A replica reached by failover that ignores request ids could grant a second set.
          KJ_REQUIRE(!retries || pc.control_version() >= 4,
                     "a pool replica older than control plane 4 cannot take a retried acquire");
          KJ_REQUIRE(!compute_milli || pc.control_version() >= 5,
                     "a pool replica older than control plane 5 cannot place a compute share");
          return acquire_once(pc, count, vram_bytes, labels, policy, client_name, max_price_micro,
                              compute_milli, rtts, request_id, &retryable);
        };
        r = retries ? with_failover(c, once) : once(c);
      } catch (const kj::Exception& e) {
        r.ok = false;
        r.error = explain_error(e, c.endpoint());
        return r;
      }
      if (r.ok || !retryable || std::chrono::steady_clock::now() >= deadline) break;
      c.timer().afterDelay(1 * kj::SECONDS).wait(c.wait_scope());
      if (rtts.empty()) measure();  // (an error here leaves the acquire to say what is wrong)
    }
    r.rtts = rtts;
    if (!r.ok && wait_seconds > 0)
      r.error += " (waited " + std::to_string(static_cast<int64_t>(wait_seconds)) + " s)";
    return r;
  });
}

std::string release_leases(const std::string& pool_endpoint, const std::string& token,
                           const std::vector<std::string>& lease_ids) {
  return on_private_thread([&]() -> std::string {
    PoolConnection c(pool_endpoint, token, "release");
    std::string err = c.open();
    if (!err.empty()) return err;
    try {
      return with_failover(c, [&](PoolConnection& pc) -> std::string {  // releasing twice is once
        auto req = pc.session().releaseRequest();
        auto ids = req.initLeaseIds(static_cast<unsigned>(lease_ids.size()));
        for (unsigned i = 0; i < lease_ids.size(); i++) ids.set(i, lease_ids[i]);
        auto resp = pc.wait(req.send());
        return resp.getError().cStr();
      });
    } catch (const kj::Exception& e) {
      return explain_error(e, c.endpoint());
    }
  });
}

std::string report_tally(const std::string& pool_endpoint, const std::string& token,
                         const std::string& lease_id, uint64_t wall_ms, uint64_t bytes_in,
                         uint64_t bytes_out) {
  return on_private_thread([&]() -> std::string {
    PoolConnection c(pool_endpoint, token, "rgpu run");
    std::string err = c.open();
    if (!err.empty()) return err;
    try {
      auto req = c.session().reportTallyRequest();
      req.setLeaseId(lease_id);
      req.setWallMs(wall_ms);
      req.setBytesIn(bytes_in);
      req.setBytesOut(bytes_out);
      return c.wait(req.send()).getError().cStr();
    } catch (const kj::Exception& e) {
      return explain_error(e, c.endpoint());
    }
  });
}

std::vector<std::string> why_sessions_ended(const std::string& pool_endpoint,
                                            const std::string& token,
                                            const std::vector<std::string>& lease_ids) {
  return on_private_thread([&]() -> std::vector<std::string> {
    std::vector<std::string> out;
    PoolConnection c(pool_endpoint, token, "rgpu run");
    if (!c.open().empty()) return out;
    try {
      auto resp = with_failover(c, [&](PoolConnection& pc) {
        auto req = pc.session().listLeasesRequest();
        req.setAll(true);
        return pc.wait(req.send());
      });
      for (auto l : resp.getLeases()) {
        const std::string id = l.getLeaseId().cStr(), state = l.getState().cStr();
        std::string why = l.getEndReason().cStr();
        if (std::find(lease_ids.begin(), lease_ids.end(), id) == lease_ids.end()) continue;
        const std::string requested = "kill requested: ";
        if (why.rfind(requested, 0) == 0)
          why = why.substr(requested.size());
        else if (state != "killed" && why.rfind("provider lost", 0) != 0)
          continue;
        out.push_back("the session on " + std::string(l.getProviderName().cStr()) + " ended " +
                      (why.rfind("provider lost", 0) == 0 ? "because its " + why : why));
      }
    } catch (const kj::Exception&) {
    }
    return out;
  });
}

}  // namespace rgpu::control
