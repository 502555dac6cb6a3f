// bench/pool_load.cc — a load generator for rgpu-pool: N light fake providers and M users.
//
//   rgpu_pool_load --pools A[,B,...] --provider-token T --user-token T --providers N
//                  [--users M] [--rate R] [--seconds S] [--heartbeat-s 5] [--pids P[,P...]]
//                  [--tag TEXT] [--budget-ms B]
//
// The providers speak the control plane as rgpu-server does: each registers (one GPU lending
// 16 GiB, an endpoint of its own) and heartbeats every --heartbeat-s, staggered, through
// connections spread over the pools (a provider's heartbeats are not tied to a connection, so a
// few connections carry them all: this measures the pool's work per heartbeat, not its cost per
// connection); each lease a user is granted becomes a session on its provider, reported started
// by its next heartbeat and ended, with a final usage receipt, by the one after (so sessions
// last one to two heartbeat periods and settle). M users loop: acquire one 1 GiB vGPU through
// the next pool, at R placements per second in all (--rate, default 20; 0: as fast as the pool
// answers, which measures saturation rather than latency). All of it is asynchronous on one kj
// event loop; latencies are measured from send to answer.
//
// Prints one line: N, M, pools, placements/s, heartbeats/s, p50/p99 of each, the RPC baseline
// (p50 of listRates through the same connections, measured in the same run) and the p99s as
// ratios of it, and the pools' CPU (utime + stime of --pids, from /proc) per wall second and per
// 1,000 providers. Exit 1 when a registration or a heartbeat failed, or (--budget-ms) when the
// placement p99 is over B ms.
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/control/acquire.h"
#include "protocol/control/control_plane.capnp.h"
#include "protocol/control/control_version.h"

namespace cp = rgpu::cp;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double cpu_seconds(const std::vector<int>& pids) {  // utime + stime of each, in seconds
  double total = 0;
  for (int pid : pids) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t close = s.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream in(s.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    total += static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return total;
}

struct Link {  // one authenticated connection to one pool
  std::unique_ptr<capnp::EzRpcClient> rpc;
  std::unique_ptr<cp::Session::Client> session;
};

Link open_link(const std::string& endpoint, const std::string& token, capnp::EzRpcClient** first) {
  Link l;
  l.rpc = std::make_unique<capnp::EzRpcClient>(endpoint, 7070);
  if (!*first) *first = l.rpc.get();
  auto req = l.rpc->getMain<cp::Pool>().connectRequest();
  req.setToken(token);
  req.setControlVersion(rgpu::control::kControlVersion);
  req.setMinControlVersion(rgpu::control::kMinControlVersion);
  req.setClientName("rgpu_pool_load");
  auto resp = req.send().wait(l.rpc->getWaitScope());
  if (resp.getError().size()) {
    fprintf(stderr, "rgpu_pool_load: %s refused the token: %s\n", endpoint.c_str(),
            resp.getError().cStr());
    exit(1);
  }
  l.session = std::make_unique<cp::Session::Client>(resp.getSession());
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  std::string pools, ptok, utok, tag, pid_list;
  long providers = 100, users = 4;
  double rate = 20, budget_ms = 0;
  double seconds = 20, heartbeat_s = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "rgpu_pool_load: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--pools")
      pools = val();
    else if (a == "--provider-token")
      ptok = val();
    else if (a == "--user-token")
      utok = val();
    else if (a == "--providers")
      providers = std::atol(val().c_str());
    else if (a == "--users")
      users = std::atol(val().c_str());
    else if (a == "--seconds")
      seconds = std::atof(val().c_str());
    else if (a == "--rate")
      rate = std::atof(val().c_str());
    else if (a == "--budget-ms")
      budget_ms = std::atof(val().c_str());
    else if (a == "--heartbeat-s")
      heartbeat_s = std::atof(val().c_str());
    else if (a == "--pids")
      pid_list = val();
    else if (a == "--tag")
      tag = val();
    else {
      fprintf(stderr, "rgpu_pool_load: unknown argument %s (see the head of bench/pool_load.cc)\n",
              a.c_str());
      return 2;
    }
  }
  if (pools.empty() || ptok.empty() || utok.empty() || providers < 1) {
    fprintf(stderr,
            "rgpu_pool_load: --pools, --provider-token, --user-token and --providers "
            "are required\n");
    return 2;
  }
  std::vector<int> pids;
  for (const char* p = pid_list.c_str(); *p;) {  // "P,P,...": the pools' pids
    char* end = nullptr;
    const long pid = std::strtol(p, &end, 10);
    if (end == p) break;
    pids.push_back(static_cast<int>(pid));
    p = *end == ',' ? end + 1 : end;
  }
  const std::vector<std::string> eps = rgpu::control::split_pool_endpoints(pools);

  // Connections: 4 provider links and one user link per pool, on the first client's loop.
  capnp::EzRpcClient* first = nullptr;
  std::vector<Link> plinks, ulinks;
  for (const auto& e : eps) {
    for (int k = 0; k < 4; ++k) plinks.push_back(open_link(e, ptok, &first));
    ulinks.push_back(open_link(e, utok, &first));
  }
  kj::WaitScope& ws = first->getWaitScope();
  kj::Timer& timer = first->getIoProvider().getTimer();

  // Register, 256 at a time.
  std::vector<std::string> ids(static_cast<size_t>(providers));
  for (long base = 0; base < providers; base += 256) {
    kj::Vector<kj::Promise<void>> batch;
    for (long i = base; i < std::min(providers, base + 256); ++i) {
      auto req = plinks[static_cast<size_t>(i) % plinks.size()].session->registerRequest();
      auto info = req.initInfo();
      info.setName("fake-" + std::to_string(i));
      info.setEndpoint("fake-" + std::to_string(i) + ".bench:7071");
      info.setServerVersion("rgpu_pool_load");
      auto g = info.initGpus(1);
      g[0].setIndex(0);
      g[0].setName("fake GPU");
      g[0].setMemoryTotal(24ull << 30);
      g[0].setMemoryLent(16ull << 30);
      batch.add(req.send().then([&ids, i](auto&& r) {
        if (r.getError().size()) {
          fprintf(stderr, "rgpu_pool_load: registration refused: %s\n", r.getError().cStr());
          exit(1);
        }
        ids[static_cast<size_t>(i)] = r.getProviderId().cStr();
      }));
    }
    kj::joinPromises(batch.releaseAsArray()).wait(ws);
  }

  // Baseline: the RPC round trip of a cheap call (listRates), through the same connections.
  std::vector<double> base;
  for (int k = 0; k < 200; ++k) {
    auto t = Clock::now();
    ulinks[static_cast<size_t>(k) % ulinks.size()].session->listRatesRequest().send().wait(ws);
    base.push_back(ms_since(t));
  }

  std::vector<double> hb_ms, place_ms;
  long hb_failed = 0, refused = 0;
  const double cpu0 = cpu_seconds(pids);
  const auto start = Clock::now();
  const auto end = start + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  bool running = true;

  // Heartbeats: every provider once per heartbeat_s, spread over 10 ms ticks.
  struct Errors : kj::TaskSet::ErrorHandler {
    long* failed;
    void taskFailed(kj::Exception&& e) override {
      (*failed)++;
      if (*failed < 5) fprintf(stderr, "rgpu_pool_load: %s\n", e.getDescription().cStr());
    }
  } errors;
  errors.failed = &hb_failed;
  kj::TaskSet tasks(errors);
  const long ticks = std::max(1L, static_cast<long>(heartbeat_s * 100));
  long next = 0;
  // Each granted lease becomes a session on its provider: its next heartbeat reports it
  // started (and lists it), the one after reports it ended with its final usage receipt.
  struct FakeSession {
    std::string lease;
    uint64_t id = 0;
    bool running = false;
  };
  std::vector<std::vector<FakeSession>> sessions(static_cast<size_t>(providers));
  uint64_t next_session = 1;
  auto beat = [&](long i) {
    auto req = plinks[static_cast<size_t>(i) % plinks.size()].session->heartbeatRequest();
    req.setProviderId(ids[static_cast<size_t>(i)]);
    auto u = req.initUse(1);
    u[0].setIndex(0);
    u[0].setUtilization(-1);
    auto& mine = sessions[static_cast<size_t>(i)];
    if (!mine.empty()) {
      size_t running = 0, ended = 0;
      for (auto& f : mine) (f.running ? ended : running)++;  // running now: reported started
      auto ev = req.initEvents(static_cast<unsigned>(mine.size()));
      auto act = req.initActiveLeases(static_cast<unsigned>(running));
      auto rc = req.initReceipts(static_cast<unsigned>(ended));
      unsigned e = 0, a = 0, k = 0;
      const int64_t now_unix = std::time(nullptr);
      for (auto& f : mine) {
        ev[e].setLeaseId(f.lease);
        ev[e].setSessionId(f.id);
        ev[e].setStarted(!f.running);
        ev[e].setReason(f.running ? "done" : "");
        ev[e++].setAtUnix(now_unix);
        if (!f.running) {
          act.set(a++, f.lease);
        } else {
          rc[k].setLeaseId(f.lease);
          rc[k].setSessionId(f.id);
          rc[k].setSeq(1);
          rc[k].setFinal(true);
          rc[k].setWallMs(static_cast<uint64_t>(heartbeat_s * 1000));
          rc[k].setBytesIn(1 << 20);
          rc[k++].setCalls(100);
        }
      }
      std::vector<FakeSession> still;
      for (auto& f : mine)
        if (!f.running) still.push_back({f.lease, f.id, true});
      mine = std::move(still);
    }
    auto t = Clock::now();
    tasks.add(req.send().then([&, t](auto&& r) {
      hb_ms.push_back(ms_since(t));
      if (r.getError().size() || r.getReregister()) hb_failed++;
    }));
  };
  // Users: acquire through the next pool, again at the pace.
  std::function<kj::Promise<void>(size_t)> user = [&](size_t k) -> kj::Promise<void> {
    if (!running) return kj::READY_NOW;
    auto& link = ulinks[k % ulinks.size()];
    auto req = link.session->acquireRequest();
    req.initReq().setCount(1);
    req.getReq().setVramBytes(1ull << 30);
    auto t = Clock::now();
    return req.send().then([&, k, t](auto&& r) -> kj::Promise<void> {
      place_ms.push_back(ms_since(t));
      if (r.getError().size() || r.getGrants().size() == 0) {
        refused++;
        return timer.afterDelay(10 * kj::MILLISECONDS).then([&, k] { return user(k + 1); });
      }
      // The session runs on its provider (reported by its heartbeats, above) and ends there.
      const std::string provider = r.getGrants()[0].getProviderName().cStr();
      const long at = std::atol(provider.c_str() + provider.find('-') + 1);
      if (at >= 0 && at < providers)
        sessions[static_cast<size_t>(at)].push_back(
            {r.getGrants()[0].getLeaseId().cStr(), next_session++, false});
      // Paced: each user starts its next placement 1 / (R / M) s after this one started.
      const double gap_ms = rate > 0 ? 1000.0 * static_cast<double>(users) / rate : 0;
      const double wait_ms = std::max(0.0, gap_ms - ms_since(t));
      return timer.afterDelay(static_cast<uint64_t>(wait_ms * 1000) * kj::MICROSECONDS)
          .then([&, k] { return user(k + 1); });
    });
  };
  for (long u = 0; u < users; ++u) tasks.add(user(static_cast<size_t>(u)));
  for (long tick = 0; Clock::now() < end; ++tick) {
    const long upto = std::min(providers, (tick % ticks + 1) * providers / ticks);
    for (; next < upto; ++next) beat(next);
    if (tick % ticks == ticks - 1) next = 0;
    timer.afterDelay(10 * kj::MILLISECONDS).wait(ws);
  }
  running = false;
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds(pids) - cpu0;
  tasks.onEmpty().wait(ws);

  const double b50 = pct(base, 0.5), p50 = pct(place_ms, 0.5), p99 = pct(place_ms, 0.99);
  const double h50 = pct(hb_ms, 0.5), h99 = pct(hb_ms, 0.99);
  printf(
      "%-22s N=%-6ld M=%-3ld pools=%zu  placements/s %7.1f  p50 %6.2f ms  p99 %6.2f ms "
      "(%.1fx rpc)  heartbeats/s %7.1f  p50 %6.2f ms  p99 %6.2f ms (%.1fx rpc)  rpc p50 "
      "%.2f ms  pool CPU %.2f s/s, %.3f per 1k providers  refused %ld\n",
      tag.c_str(), providers, users, eps.size(), static_cast<double>(place_ms.size()) / wall, p50,
      p99, b50 > 0 ? p99 / b50 : 0, static_cast<double>(hb_ms.size()) / wall, h50, h99,
      b50 > 0 ? h99 / b50 : 0, b50, cpu / wall,
      cpu / wall / (static_cast<double>(providers) / 1000.0), refused);
  fflush(stdout);
  if (budget_ms > 0) {
    printf("%-6s N=%-6ld placement p99 %.2f ms: %s the %.0f ms budget\n", tag.c_str(), providers,
           p99, p99 <= budget_ms ? "within" : "OVER", budget_ms);
    if (p99 > budget_ms) return 1;
  }
  if (hb_failed) {
    fprintf(stderr, "rgpu_pool_load: %ld heartbeats failed or were told to re-register\n",
            hb_failed);
    return 1;
  }
  return 0;
}
