// protocol/control/provider_link.h — rgpu-server's link to the pool (provider side).
//
// Contract:
// - start() connects to the pool, states the control-plane version, authenticates with the join
//   token (role provider or admin) and registers the provider (name, endpoint, labels, schedule,
//   the GPUs it lends). It blocks until the first registration answers: on success the pool's
//   Ed25519 public key is available (pool_public_key()) for verify_lease(); on failure it returns
//   the pool's error (bad token, version mismatch, name owned by another token, unreachable).
// - After start() a background thread sends a heartbeat every heartbeat interval (the pool says
//   how often; Options::heartbeat_ms overrides) carrying live GPU use (Options::usage), queued
//   session events and the lease ids of running sessions. The pool answers with sessions to kill;
//   each is passed to Options::on_kill (on the link's thread; keep it short, e.g. signal the
//   worker). The server then ends the session and calls session_ended() as usual. Heartbeats
//   also carry the sessions' latest usage receipts (receipt()).
// - session_started()/session_ended() may be called from any thread; they queue an event and
//   wake the link, which sends it at once. Events survive a lost connection: the link reconnects
//   with backoff, registers again (same name = same provider id) and resends them.
// - stop() (or the destructor) ends the thread; it never blocks longer than one RPC timeout.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "protocol/control/lease.h"
#include "protocol/control/usage_receipt.h"
#include "protocol/transport.h"

namespace rgpu::control {

struct GpuLend {
  uint32_t index = 0;         // server device ordinal
  std::string name;           // e.g. "NVIDIA H100 80GB HBM3" or "rgpu sim"
  uint64_t memory_total = 0;  // bytes
  uint64_t memory_lent = 0;   // bytes lent (0 = all of memory_total)
  uint32_t cc_major = 0, cc_minor = 0;
  std::string driver_version;
  std::string uuid;
  uint32_t compute_lent = 0;  // thousandths of its device time lent (0 = all)
};

struct ProviderInfo {
  std::string name;      // stable name; default: hostname + ":" + port
  std::string endpoint;  // host:port clients dial (the server's actual listen address)
  std::map<std::string, std::string> labels;  // --label k=v
  std::string schedule;                       // --schedule "22:00-07:00" ("" = always)
  std::vector<GpuLend> gpus;
  std::string server_version;
  int64_t min_price_micro = 0;  // --min-price: per GPU-hour it lends for; 0: any
};

struct GpuUseSample {
  uint32_t index = 0;
  uint64_t memory_used = 0;
  uint32_t sessions = 0;
  float utilization = -1.f;
};

struct KillOrder {
  std::string lease_id;
  uint64_t session_id = 0;
  std::string reason;
};

class ProviderLink {
 public:
  struct Options {
    std::string pool_endpoint;  // --pool HOST:PORT
    std::string join_token;     // --join-token
    net::TlsConfig pool_tls;    // --pool-tls-*: TLS to the pool (empty ca_file: environment)
    ProviderInfo info;
    uint32_t heartbeat_ms = 0;  // 0: what the pool asks for
    uint32_t rpc_timeout_ms = 5000;
    std::function<std::vector<GpuUseSample>()> usage;  // live use, called per heartbeat
    std::function<void(const KillOrder&)> on_kill;
    // After each heartbeat: the drain the pool asks for (deadline unix s, 0: none; reason).
    std::function<void(bool drained, int64_t deadline, const std::string& reason)> on_drain;
    std::function<void(const std::string&)> log;  // diagnostics; default stderr
    // Signs every receipt sent and is registered with the pool (control plane 3); a key with
    // no private half: receipts go unsigned.
    PoolKey receipt_key;
  };

  explicit ProviderLink(Options opts);
  ~ProviderLink();
  ProviderLink(const ProviderLink&) = delete;
  ProviderLink& operator=(const ProviderLink&) = delete;

  // Registers and starts the heartbeat thread. Returns "" on success, else the reason.
  std::string start();
  void stop();

  std::string pool_public_key() const;  // raw 32 bytes, valid after start() succeeded
  // Every key the pool signs leases with now (its replicas' during a key rotation), as its last
  // heartbeat answer listed them (control plane 4); before one, or from an older pool, the key
  // registration gave.
  std::vector<std::string> pool_public_keys() const;
  std::string provider_id() const;
  bool connected() const;  // the last heartbeat reached the pool
  bool drained() const;    // the pool says: no new sessions will be placed here

  void session_started(const std::string& lease_id, uint64_t session_id);
  void session_ended(const std::string& lease_id, uint64_t session_id, const std::string& reason,
                     uint64_t memory_peak = 0);
  // A session's usage receipt: kept (merged with any not yet sent for that lease) until a
  // heartbeat carrying it is answered, across reconnects.
  void receipt(const UsageReceipt& r);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rgpu::control
