// protocol/control/provider_link.cc — see provider_link.h.
#include "protocol/control/provider_link.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <future>
#include <mutex>
#include <thread>

#include "protocol/control/pool_client.h"

namespace rgpu::control {

namespace {
struct Event {
  std::string lease_id;
  uint64_t session_id = 0;
  bool started = false;
  std::string reason;
  int64_t at = 0;
  uint64_t memory_peak = 0;
};
}  // namespace

struct ProviderLink::Impl {
  Options opts;
  std::thread thread;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool wake = false;
  std::vector<Event> pending;
  std::map<std::string, uint64_t> running;       // lease id -> session id
  std::map<std::string, UsageReceipt> receipts;  // lease id -> latest, until the pool has it
  std::string pubkey, provider_id;
  std::vector<std::string> pool_keys;  // the last heartbeat's (control plane 4); empty: pubkey
  uint32_t heartbeat_ms = 2000;
  std::atomic<bool> connected{false}, drained{false};

  void log(const std::string& m) {
    if (opts.log)
      opts.log(m);
    else
      fprintf(stderr, "rgpu-server: pool: %s\n", m.c_str());
  }

  std::string do_register(PoolConnection& c) {
    if (opts.info.min_price_micro && c.control_version() < 2)
      return "this pool speaks control plane " + std::to_string(c.control_version()) +
             ", which has no prices: --min-price cannot be honoured (upgrade rgpu-pool)";
    for (const GpuLend& g : opts.info.gpus)
      if (g.compute_lent && c.control_version() < 5)
        return "this pool speaks control plane " + std::to_string(c.control_version()) +
               ", which has no compute shares: --lend-compute cannot be honoured (upgrade "
               "rgpu-pool)";
    auto req = c.session().registerRequest();
    auto info = req.initInfo();
    const ProviderInfo& p = opts.info;
    info.setName(p.name);
    info.setEndpoint(p.endpoint);
    info.setSchedule(p.schedule);
    info.setServerVersion(p.server_version);
    info.setMinPriceMicro(p.min_price_micro);
    if (!opts.receipt_key.private_pem.empty())
      info.setReceiptKey(
          kj::arrayPtr(reinterpret_cast<const kj::byte*>(opts.receipt_key.public_raw.data()),
                       opts.receipt_key.public_raw.size()));
    auto ls = info.initLabels(static_cast<unsigned>(p.labels.size()));
    unsigned i = 0;
    for (auto& [k, v] : p.labels) {
      ls[i].setKey(k);
      ls[i].setValue(v);
      i++;
    }
    auto gs = info.initGpus(static_cast<unsigned>(p.gpus.size()));
    for (unsigned j = 0; j < p.gpus.size(); j++) {
      const GpuLend& g = p.gpus[j];
      gs[j].setIndex(g.index);
      gs[j].setName(g.name);
      gs[j].setMemoryTotal(g.memory_total);
      gs[j].setMemoryLent(g.memory_lent ? g.memory_lent : g.memory_total);
      gs[j].setComputeLent(g.compute_lent ? g.compute_lent : 1000);
      gs[j].setCcMajor(g.cc_major);
      gs[j].setCcMinor(g.cc_minor);
      gs[j].setDriverVersion(g.driver_version);
      gs[j].setUuid(g.uuid);
    }
    auto resp = c.wait(req.send());
    if (resp.getError().size()) return resp.getError().cStr();
    std::lock_guard<std::mutex> l(mu);
    provider_id = resp.getProviderId().cStr();
    auto k = resp.getPoolPublicKey();
    pubkey.assign(reinterpret_cast<const char*>(k.begin()), k.size());
    heartbeat_ms = opts.heartbeat_ms ? opts.heartbeat_ms
                                     : (resp.getHeartbeatMs() ? resp.getHeartbeatMs() : 2000);
    return "";
  }

  // One heartbeat; returns false if the link must re-register, throws on transport failure.
  bool heartbeat(PoolConnection& c, bool* removed) {
    std::vector<Event> events;
    std::vector<UsageReceipt> sent;
    std::vector<std::string> active;
    std::string pid;
    {
      std::lock_guard<std::mutex> l(mu);
      events = pending;
      for (auto& [id, r] : receipts) sent.push_back(r);
      for (auto& [id, s] : running) active.push_back(id);
      pid = provider_id;
    }
    std::vector<GpuUseSample> use;
    if (opts.usage) use = opts.usage();
    auto req = c.session().heartbeatRequest();
    req.setProviderId(pid);
    auto us = req.initUse(static_cast<unsigned>(use.size()));
    for (unsigned i = 0; i < use.size(); i++) {
      us[i].setIndex(use[i].index);
      us[i].setMemoryUsed(use[i].memory_used);
      us[i].setSessions(use[i].sessions);
      us[i].setUtilization(use[i].utilization);
    }
    auto es = req.initEvents(static_cast<unsigned>(events.size()));
    for (unsigned i = 0; i < events.size(); i++) {
      es[i].setLeaseId(events[i].lease_id);
      es[i].setSessionId(events[i].session_id);
      es[i].setStarted(events[i].started);
      es[i].setReason(events[i].reason);
      es[i].setAtUnix(events[i].at);
      es[i].setMemoryPeak(events[i].memory_peak);
    }
    auto rs = req.initReceipts(static_cast<unsigned>(sent.size()));
    for (unsigned i = 0; i < sent.size(); i++) {
      const UsageReceipt& r = sent[i];
      rs[i].setLeaseId(r.lease_id);
      rs[i].setSessionId(r.session_id);
      rs[i].setSeq(r.seq);
      rs[i].setFinal(r.final);
      rs[i].setWallMs(r.wall_ms);
      rs[i].setBusyNs(r.busy_ns);
      rs[i].setMemGbS(r.mem_gb_s);
      rs[i].setMemPeak(r.mem_peak);
      rs[i].setBytesIn(r.bytes_in);
      rs[i].setBytesOut(r.bytes_out);
      rs[i].setCalls(r.calls);
      if (!r.signature.empty())  // signed once in receipt(), as merged
        rs[i].setSignature(kj::arrayPtr(reinterpret_cast<const kj::byte*>(r.signature.data()),
                                        r.signature.size()));
    }
    auto as = req.initActiveLeases(static_cast<unsigned>(active.size()));
    for (unsigned i = 0; i < active.size(); i++) as.set(i, active[i]);
    auto resp = c.wait(req.send());
    if (resp.getReregister()) return false;
    if (resp.getError().size()) {
      log(std::string("heartbeat refused: ") + resp.getError().cStr());
      *removed = true;
      return true;
    }
    {
      std::lock_guard<std::mutex> l(mu);
      pending.erase(pending.begin(), pending.begin() + static_cast<long>(events.size()));
      for (const auto& r : sent) {  // the pool has these; a newer one waits for the next beat
        auto it = receipts.find(r.lease_id);
        if (it != receipts.end() && it->second.seq == r.seq && it->second.final == r.final)
          receipts.erase(it);
      }
    }
    if (resp.hasPoolKeys()) {
      std::vector<std::string> keys;
      for (auto k : resp.getPoolKeys())
        if (k.size() == 32) keys.emplace_back(reinterpret_cast<const char*>(k.begin()), k.size());
      std::lock_guard<std::mutex> l(mu);
      pool_keys = std::move(keys);
    }
    drained = resp.getDrained();
    connected = true;
    if (opts.on_drain)
      opts.on_drain(resp.getDrained(), resp.getDrainDeadlineUnix(), resp.getDrainReason().cStr());
    for (auto k : resp.getKill()) {
      KillOrder o{k.getLeaseId().cStr(), k.getSessionId(), k.getReason().cStr()};
      log("pool asks to end session " + std::to_string(o.session_id) + " (lease " + o.lease_id +
          "): " + o.reason);
      if (opts.on_kill) opts.on_kill(o);
    }
    return true;
  }

  void run(std::promise<std::string>* first) {
    uint32_t backoff_ms = 500;
    bool announced = false;
    while (true) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (stopping) break;
      }
      std::string err;
      try {
        PoolConnection c(opts.pool_endpoint, opts.join_token, "rgpu-server " + opts.info.name,
                         opts.rpc_timeout_ms,
                         opts.pool_tls.ca_file.empty() && opts.pool_tls.cert_file.empty() &&
                                 opts.pool_tls.key_file.empty()
                             ? nullptr
                             : &opts.pool_tls);
        err = c.open();
        if (err.empty()) err = do_register(c);
        if (!announced) {
          first->set_value(err);
          announced = true;
          if (!err.empty()) return;
        }
        if (err.empty()) {
          if (backoff_ms > 500) log("registered again with the pool");
          backoff_ms = 500;
          bool removed = false;
          while (true) {
            if (!heartbeat(c, &removed)) break;  // re-register
            if (removed) {
              connected = false;
              return;
            }
            std::unique_lock<std::mutex> l(mu);
            cv.wait_for(l, std::chrono::milliseconds(heartbeat_ms),
                        [&] { return stopping || wake; });
            wake = false;
            if (stopping) return;
          }
          continue;
        }
      } catch (const kj::Exception& e) {
        err = explain_error(e, normalize(opts.pool_endpoint));
        if (!announced) {
          first->set_value(err);
          return;
        }
      }
      if (connected.exchange(false) || backoff_ms == 500) log("lost the pool: " + err);
      std::unique_lock<std::mutex> l(mu);
      cv.wait_for(l, std::chrono::milliseconds(backoff_ms), [&] { return stopping; });
      backoff_ms = std::min<uint32_t>(backoff_ms * 2, 10000);
    }
  }

  static std::string normalize(const std::string& e) { return e; }

  void queue(Event ev) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (ev.started)
        running[ev.lease_id] = ev.session_id;
      else
        running.erase(ev.lease_id);
      pending.push_back(std::move(ev));
      wake = true;
    }
    cv.notify_all();
  }
};

ProviderLink::ProviderLink(Options opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}

ProviderLink::~ProviderLink() {
  stop();
}

std::string ProviderLink::start() {
  if (impl_->thread.joinable()) return "the pool link is already started";
  std::promise<std::string> first;
  auto f = first.get_future();
  impl_->thread = std::thread([this, &first] { impl_->run(&first); });
  std::string err = f.get();
  if (!err.empty()) {
    impl_->thread.join();
    return err;
  }
  impl_->connected = true;
  return "";
}

void ProviderLink::stop() {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string ProviderLink::pool_public_key() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->pubkey;
}

std::vector<std::string> ProviderLink::pool_public_keys() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->pool_keys.empty()) return {impl_->pubkey};
  return impl_->pool_keys;
}

std::string ProviderLink::provider_id() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->provider_id;
}

bool ProviderLink::connected() const {
  return impl_->connected;
}
bool ProviderLink::drained() const {
  return impl_->drained;
}

void ProviderLink::receipt(const UsageReceipt& r) {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->receipts.find(r.lease_id);
  if (it == impl_->receipts.end())
    it = impl_->receipts.emplace(r.lease_id, r).first;
  else
    merge_receipt(&it->second, r);
  // Signed once, as merged; heartbeats resend it unchanged until the pool has it.
  it->second.signature = impl_->opts.receipt_key.private_pem.empty()
                             ? std::string()
                             : ed25519_sign(receipt_message(it->second), impl_->opts.receipt_key);
}

void ProviderLink::session_started(const std::string& lease_id, uint64_t session_id) {
  impl_->queue({lease_id, session_id, true, "", static_cast<int64_t>(time(nullptr)), 0});
}

void ProviderLink::session_ended(const std::string& lease_id, uint64_t session_id,
                                 const std::string& reason, uint64_t memory_peak) {
  impl_->queue(
      {lease_id, session_id, false, reason, static_cast<int64_t>(time(nullptr)), memory_peak});
}

}  // namespace rgpu::control
