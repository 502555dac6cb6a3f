// server/config.h — rgpu-server's command line.
//
// Contract: parse_options() fills ServerOptions from argv (and RGPU_SECRET / RGPU_SIM_PLUGINS
// from the environment) or returns false with an error naming the bad flag. It does no I/O
// beyond reading the environment and --secret-file / --join-token-file (which must be 0600);
// choosing the backend when --backend is absent (cuda if a driver is found) happens in the
// supervisor. The same options reach a worker: the supervisor execs the binary with the original
// arguments plus --worker-fd/--session-id (and --lane-fd: further lanes of the session arrive
// there, server/lane_handoff.h), minus the secrets: a worker never sees the join token, and gets
// the shared secret in RGPU_SECRET.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/size.h"
#include "server/log.h"

namespace rgpu::server {

struct ServerOptions {
  std::string listen = "0.0.0.0:7071";
  std::string backend;  // "cuda", "sim", or "" (decide at start)
  bool insecure = false;
  std::string secret;
  std::string tls_cert, tls_key, tls_ca;
  uint64_t vram = 0;  // 0: sim 16 GiB, cuda the card's memory
  uint32_t gpu = 0;
  std::string driver;  // --driver PATH, or --cuda-driver PATH (then any_driver)
  bool any_driver = false;
  std::vector<std::string> sim_plugins;
  uint32_t sim_threads = 0;       // --sim-threads: host threads per PTX launch (0: all cores)
  std::string sim_arch = "13.0";  // --sim-arch: the compute capability a sim device reports
  std::string sim_exec = "auto";  // --sim-exec ptx|plugin|auto (server/backend/sim_backend.h)
  std::string port_file;
  LogLevel log_level = LogLevel::kInfo;
  // Before authentication (server/admission.h): the Hello deadline, and caps on connections and
  // workers that have not authenticated, in all and per source address.
  int hello_timeout_ms = 10000;
  // A client that vanished without closing (power cut, NAT drop) ends its session after this
  // (TCP keepalive / TCP_USER_TIMEOUT, protocol/transport.h); 0: off.
  int peer_timeout_s = 60;
  // Host memory a worker may use beyond its sim device's memory (all of it on cuda); 0: none.
  uint64_t worker_mem_allowance = 2ull << 30;
  // --worker-cgroup (server/worker_cgroup.h): "auto", a directory, or "" (off).
  std::string worker_cgroup = "auto";
  size_t max_unauthenticated = 256;
  size_t max_unauthenticated_per_source = 64;
  // Pool membership (server/pool_membership.h): --pool, --join-token, --name, --label,
  // --schedule, --lend-mem, --pool-key, --advertise.
  std::string pool, join_token, schedule, name, pool_key_file, advertise;
  std::string state_dir;  // --state-dir: the used-lease list (pool members); empty: the default
  // --image-cache: where module images are kept across sessions (server/worker/image_cache.h);
  // "" = <--state-dir>/images or $STATE_DIRECTORY/images (else none), "off" = none.
  // --image-cache-size bounds it.
  std::string image_cache;
  uint64_t image_cache_bytes = 2ull << 30;
  std::string pool_tls_ca, pool_tls_cert, pool_tls_key;  // --pool-tls-*: TLS to the pool
  std::vector<std::string> labels;
  uint64_t lend_mem = 0;  // 0: all of the GPU's memory
  // --lend-compute: thousandths of the GPU's device time leases may claim (0: all;
  // protocol/control/compute_share.h).
  uint32_t lend_compute_milli = 0;
  // --receipt-interval: a session's usage receipt goes to the pool this often (workers get it
  // from the supervisor; protocol/control/usage_receipt.h).
  uint32_t receipt_interval_ms = 30000;
  std::string metrics_listen;   // --metrics-listen: Prometheus text at GET /metrics (pool members)
  int64_t min_price_micro = 0;  // --min-price: per GPU-hour it lends for (protocol/control/money.h)
  // Worker mode (internal).
  int worker_fd = -1;
  int lane_fd = -1;    // Unix socket on which the supervisor hands over joining lanes (SCM_RIGHTS)
  int shares_fd = -1;  // the GPU's compute-share table (server/worker/compute_share.h)
  uint64_t session_id = 0;
  std::string worker_cgroup_leaf;  // the cgroup v2 leaf the supervisor placed this worker in
  // Worker mode with a pool (internal, set by the supervisor; server/worker/lease_auth.h).
  int control_fd = -1;          // SOCK_SEQPACKET to the supervisor: lease claims, session events
  std::string pool_pubkey_hex;  // the pool's Ed25519 public keys (64 hex chars each, "A,B")
  std::string lease_endpoint;   // the endpoint leases must name (what the pool tells clients)
  std::string lease_provider;   // the provider id leases must name (this server's, from the pool)
  bool describe_gpu = false;    // --describe-gpu: write the device's DeviceProps to stdout, exit
  bool help = false;
};

inline constexpr uint64_t kDefaultSimVram = 16ull << 30;

bool parse_options(int argc, char** argv, ServerOptions* out, std::string* error);
const char* usage_text();

// The state directory when --state-dir is not given: $STATE_DIRECTORY (systemd), else
// $XDG_STATE_HOME/rgpu, else ~/.local/state/rgpu; "" when none of them is set.
std::string default_state_dir();
// Where this server keeps module images (--image-cache), "" when it keeps none: never under
// $HOME by default (a server run by hand, or a test's, leaves nothing behind).
std::string image_cache_dir(const ServerOptions& o);

}  // namespace rgpu::server
