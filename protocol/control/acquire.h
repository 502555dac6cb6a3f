// protocol/control/acquire.h — a small synchronous pool client: get leases, give them back.
//
// Contract:
// - acquire_leases() asks the pool at `pool_endpoint` for `count` vGPUs of `vram_bytes` each
//   (0 = whole GPUs) on providers whose labels match `labels`. If nothing fits it retries every
//   second until `wait_seconds` have passed, then returns ok=false with the pool's reason (no
//   provider, not enough memory, labels, schedule, drained, missing). With `compute_milli` each
//   vGPU also gets that compute share (compute_share.h), refused by a pool older than control
//   plane 5 rather than silently ignored. With policy "nearest" it first asks the pool which
//   providers could take the request, measures its round trip to each (rtt_probe.h) and sends
//   them with the request; the pool places on the nearest. Never throws.
// - It runs its RPC on a private thread with its own kj event loop, so it is safe to call from
//   any thread of any process (the shim calls it at cuInit when RGPU_POOL is set and no
//   RGPU_LEASE is given), including one that already runs a kj event loop.
// - release_leases() tells the pool that leases that never opened a session may be freed
//   (`rgpu run` calls it after the command exits).
// - Endpoints are "host:port"; a pool endpoint without a port gets 7070. A list ("a,b") names
//   replicas of one pool: a call whose connection is lost or times out moves to the next one.
//   acquire carries a request id made once per call, so a retry through another replica gets
//   the leases the first try was granted, never a second set.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rgpu::control {

inline constexpr const char* kDefaultPoolEndpoint = "127.0.0.1:7070";

struct LeaseGrant {
  std::string endpoint;  // data-plane host:port of the server
  std::string lease;     // signed lease wire bytes (Hello.lease)
  std::string lease_id;
  std::string provider_name;
  uint32_t gpu_index = 0;
  std::string gpu_name;
  uint64_t vram_bytes = 0;
  int64_t expires_unix = 0;
  uint32_t compute_milli = 0;  // the compute share placed (compute_share.h); 0: none
};

struct AcquireResult {
  bool ok = false;
  std::vector<LeaseGrant> grants;
  std::string error;
  std::map<std::string, uint32_t> rtts;  // policy "nearest": endpoint -> round trip measured, us
};

AcquireResult acquire_leases(const std::string& pool_endpoint, const std::string& token,
                             uint32_t count, uint64_t vram_bytes,
                             const std::map<std::string, std::string>& labels = {},
                             double wait_seconds = 0, const std::string& policy = "",
                             const std::string& client_name = "",
                             int64_t max_price_micro = 0,  // per GPU-hour; 0: no limit
                             uint32_t compute_milli = 0);  // thousandths of a GPU; 0: none

// For `rgpu run`'s last line: why the pool ended any of `lease_ids` (a kill, a drain deadline,
// a revoked token, a lost provider), one sentence each ("the session on NAME ended by an admin
// (alice): over quota"); empty when none was ended by the pool or the pool cannot be asked.
std::vector<std::string> why_sessions_ended(const std::string& pool_endpoint,
                                            const std::string& token,
                                            const std::vector<std::string>& lease_ids);

// `rgpu run` at the end: the shim's own count of a lease's session (interpose/tally.h), for the
// pool to hold the provider's receipts against. Returns "" or why not.
std::string report_tally(const std::string& pool_endpoint, const std::string& token,
                         const std::string& lease_id, uint64_t wall_ms, uint64_t bytes_in,
                         uint64_t bytes_out);

// Returns "" on success, else the reason.
std::string release_leases(const std::string& pool_endpoint, const std::string& token,
                           const std::vector<std::string>& lease_ids);

// "host" -> "host:7070"; "" -> kDefaultPoolEndpoint.
std::string normalize_pool_endpoint(const std::string& text);
// "a,b:7071" -> {"a:7070", "b:7071"}: the replicas of one pool, in order; never empty.
std::vector<std::string> split_pool_endpoints(const std::string& text);

}  // namespace rgpu::control
