// server/config.cc — see config.h.
#include "server/config.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "protocol/control/compute_share.h"
#include "protocol/control/money.h"
#include "server/backend/sim_plugins.h"
#include "server/backend/sim_props.h"

namespace rgpu::server {

const char* usage_text() {
  return R"(usage: rgpu-server [options]
Serves this machine's GPU (or a simulated one) to rgpu clients. Each session runs in its own
worker process.

  --listen HOST:PORT|unix:/path  where clients connect (default 0.0.0.0:7071; port 0 picks one)
  --port-file FILE               write the bound port there once listening
  --backend cuda|sim             cuda: the NVIDIA driver (default when one is found);
                                 sim: a host-memory device for machines without a GPU
  --driver PATH                  the NVIDIA libcuda.so.1 to load (default: from ldconfig)
  --cuda-driver PATH             any libcuda.so.1 for the cuda backend, rgpu's own included:
                                 chains this server through another rgpu server (tests the
                                 cuda backend without a GPU); implies --backend cuda
  --gpu N                        which GPU to serve (default 0)
  --vram SIZE                    per-session memory cap, e.g. 16GiB (default: sim 16GiB,
                                 cuda the card's memory)
  --worker-mem-allowance SIZE    host memory each session's worker may use beyond its vGPU's
                                 memory on a sim device, or in all on a real one (default
                                 2GiB; 0: no limit); past it the session ends with the reason
  --worker-cgroup auto|DIR|off   also cap each worker with a cgroup v2 memory.max in a leaf
                                 of DIR (a cgroup delegated to rgpu-server; auto: its own
                                 cgroup when delegated, e.g. systemd Delegate=memory; default
                                 auto, falling back to RLIMIT_DATA alone with a log line)
  --sim-plugin PATH              a host-kernel plugin for the sim backend (repeatable; also
                                 RGPU_SIM_PLUGINS=a.so:b.so)
  --sim-exec auto|ptx|plugin     how the sim runs kernels: ptx executes each module's PTX
                                 (every access checked), plugin only host twins, auto a twin
                                 when one is registered, else the PTX (default auto)
  --sim-threads N                host threads each PTX launch runs its blocks on (default 0:
                                 every core)
  --sim-arch MAJOR.MINOR         the compute capability a sim device reports (default 13.0:
                                 newer than any shipped SASS, so cudart and cuBLAS hand over
                                 their PTX, which the sim runs; at 12.0 cuBLAS sends sm_120
                                 cubins, which it cannot)
  --secret-file F                shared secret clients must present, read from a file (also
                                 RGPU_SECRET; --secret S works but shows it in `ps`)
  --insecure                     accept any client (local development only)
  --tls-cert F --tls-key F       serve TLS with this certificate and key
  --tls-ca F                     require client certificates signed by this CA
  --log-level debug|info|warn|error
  --peer-timeout SECONDS         a peer that vanished without closing (power cut, NAT drop)
                                 ends its session after this (TCP keepalive and
                                 TCP_USER_TIMEOUT; default 60, 0: off)
Before a client authenticates (see docs/security.md):
  --hello-timeout SECONDS        time a new connection has to send its Hello (and finish TLS)
                                 (default 10)
  --max-unauthenticated N        connections and workers not yet authenticated, in all
                                 (default 256); more are closed at once
  --max-unauthenticated-per-source N
                                 of those, from one address (default 64)
A plain HTTP request ("GET /healthz") is answered "ok" by the supervisor: a readiness probe
that starts no worker.
Pool membership (a provider; leases from the pool replace --secret/--insecure):
  --pool HOST:PORT[,HOST:PORT]   the pool manager to join (rgpu-pool); a list names its
                                 replicas: on a lost link the server moves to the next
  --join-token-file F            a provider (or admin) token from `rgpu token create`, read
                                 from a file (also RGPU_JOIN_TOKEN; --join-token T works but
                                 shows it in `ps`)
  --name NAME                    stable provider name (default: hostname:port)
  --label K=V                    a label clients can ask for with `rgpu run --label` (repeatable)
  --schedule WINDOWS             when the GPU may be used, e.g. 22:00-07:00 or
                                 "22:00-07:00,12:00-13:00" (default: always)
  --lend-mem SIZE                lend only this much of the GPU's memory (default: all)
  --lend-compute SHARE           lend only this share of the GPU's device time, e.g. 0.8 or
                                 80% (default: all); leases' --compute shares on it sum to at
                                 most this
  --min-price PRICE              lend only when the pool's GPU-hour rate for this GPU is at
                                 least PRICE credits (e.g. 0.40; default: any rate)
  --receipt-interval SECONDS     how often each session's usage receipt (cumulative totals)
                                 goes to the pool, 0.1 to 60 (default 30; one more at the end)
  --metrics-listen HOST:PORT     serve Prometheus text at GET /metrics there (e.g.
                                 127.0.0.1:9400): sessions, memory leased, device busy time
                                 and bytes moved, from the sessions' usage receipts
  --pool-key FILE                the pool's public key (PEM or hex) to check leases with
                                 (default: the key the pool sends at registration)
  --advertise HOST[:PORT]        the address clients dial (default: the --listen address;
                                 the hostname when listening on 0.0.0.0)
  --state-dir DIR                where the ids of leases already used are kept, so a lease
                                 opens one session even across restarts (default:
                                 $STATE_DIRECTORY, else $XDG_STATE_HOME/rgpu, else
                                 ~/.local/state/rgpu)
  --image-cache DIR|off          where module images are kept across sessions and restarts,
                                 so a program sends a digest instead of an image this server
                                 has seen (default: <--state-dir>/images, or
                                 $STATE_DIRECTORY/images under systemd; else off)
  --image-cache-size SIZE        the most it keeps, least recently used evicted (default 2GiB)
  --pool-tls-ca F                talk to a pool that serves TLS: its CA (also RGPU_POOL_TLS_CA)
  --pool-tls-cert F --pool-tls-key F
                                 this provider's certificate and key for the pool (also
                                 RGPU_POOL_TLS_CERT / RGPU_POOL_TLS_KEY)
  --help                         this text
)";
}

namespace {

// A secret kept in a file: its first line, without the newline. The file must not be readable
// by others (like ssh keys): a secret anyone can read protects nothing.
bool read_secret_file(const std::string& path, std::string* out, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    *error = path + " is readable by others (chmod 600 " + path + ")";
    return false;
  }
  std::ifstream in(path);
  if (!in || !std::getline(in, *out) || out->empty()) {
    *error = "cannot read a secret from " + path;
    return false;
  }
  while (!out->empty() && (out->back() == '\r' || out->back() == ' ')) out->pop_back();
  return !out->empty();
}

}  // namespace

bool parse_options(int argc, char** argv, ServerOptions* o, std::string* error) {
  if (const char* s = std::getenv("RGPU_SECRET")) o->secret = s;
  if (const char* s = std::getenv("RGPU_SIM_PLUGINS"))
    for (auto& p : split_plugin_list(s)) o->sim_plugins.push_back(p);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        val = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
    }
    auto need = [&](std::string* dst) {
      if (has_inline) {
        *dst = val;
        return true;
      }
      if (i + 1 >= argc) {
        *error = a + " needs a value";
        return false;
      }
      *dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      o->help = true;
    } else if (a == "--insecure") {
      o->insecure = true;
    } else if (a == "--listen") {
      if (!need(&o->listen)) return false;
    } else if (a == "--backend") {
      if (!need(&o->backend)) return false;
      if (o->backend != "cuda" && o->backend != "sim") {
        *error = "--backend must be cuda or sim, not '" + o->backend + "'";
        return false;
      }
    } else if (a == "--secret") {
      if (!need(&o->secret)) return false;
    } else if (a == "--tls-cert") {
      if (!need(&o->tls_cert)) return false;
    } else if (a == "--tls-key") {
      if (!need(&o->tls_key)) return false;
    } else if (a == "--tls-ca") {
      if (!need(&o->tls_ca)) return false;
    } else if (a == "--vram") {
      if (!need(&v)) return false;
      if (!parse_size(v, &o->vram)) {
        *error = "--vram: '" + v + "' is not " + kSizeHint;
        return false;
      }
    } else if (a == "--gpu") {
      if (!need(&v)) return false;
      char* end = nullptr;
      unsigned long g = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || g > 1024) {
        *error = "--gpu: '" + v + "' is not a GPU index";
        return false;
      }
      o->gpu = static_cast<uint32_t>(g);
    } else if (a == "--driver") {
      if (!need(&o->driver)) return false;
    } else if (a == "--cuda-driver") {
      if (!need(&o->driver)) return false;
      o->any_driver = true;
      if (o->backend.empty()) o->backend = "cuda";
    } else if (a == "--sim-plugin") {
      if (!need(&v)) return false;
      o->sim_plugins.push_back(v);
    } else if (a == "--port-file") {
      if (!need(&o->port_file)) return false;
    } else if (a == "--log-level") {
      if (!need(&v)) return false;
      if (!parse_log_level(v, &o->log_level)) {
        *error = "--log-level must be debug, info, warn or error";
        return false;
      }
    } else if (a == "--pool") {
      if (!need(&o->pool)) return false;
    } else if (a == "--join-token") {
      if (!need(&o->join_token)) return false;
    } else if (a == "--join-token-file" || a == "--secret-file") {
      if (!need(&v)) return false;
      std::string text;
      if (!read_secret_file(v, &text, error)) {
        *error = a + ": " + *error;
        return false;
      }
      (a == "--secret-file" ? o->secret : o->join_token) = text;
    } else if (a == "--image-cache") {
      if (!need(&o->image_cache)) return false;
    } else if (a == "--image-cache-size") {
      if (!need(&v)) return false;
      if (!parse_size(v, &o->image_cache_bytes) || o->image_cache_bytes < (1ull << 20)) {
        *error = "--image-cache-size: '" + v + "' is not a size of at least 1MiB";
        return false;
      }
    } else if (a == "--worker-mem-allowance") {
      if (!need(&v)) return false;
      if (v == "0") {
        o->worker_mem_allowance = 0;
      } else if (!parse_size(v, &o->worker_mem_allowance) ||
                 o->worker_mem_allowance < (16ull << 20)) {
        *error = "--worker-mem-allowance: '" + v + "' is not a size of at least 16MiB (or 0)";
        return false;
      }
    } else if (a == "--sim-threads") {
      if (!need(&v)) return false;
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != 0 || n < 0 || n > 1024) {
        *error = "--sim-threads wants a count of threads (0: every core), not '" + v + "'";
        return false;
      }
      o->sim_threads = static_cast<uint32_t>(n);
    } else if (a == "--sim-arch") {
      if (!need(&v)) return false;
      SimArch arch;
      if (!parse_sim_arch(v, &arch)) {
        *error = "--sim-arch wants a compute capability MAJOR.MINOR such as 12.0, not '" + v + "'";
        return false;
      }
      o->sim_arch = v;
    } else if (a == "--sim-exec") {
      if (!need(&v)) return false;
      if (v != "ptx" && v != "plugin" && v != "auto") {
        *error = "--sim-exec wants ptx, plugin or auto, not '" + v + "'";
        return false;
      }
      o->sim_exec = v;
    } else if (a == "--worker-cgroup") {
      if (!need(&v)) return false;
      if (v != "auto" && v != "off" && (v.empty() || v[0] != '/')) {
        *error = "--worker-cgroup wants auto, off or an absolute directory, not '" + v + "'";
        return false;
      }
      o->worker_cgroup = v == "off" ? "" : v;
    } else if (a == "--worker-cgroup-leaf") {
      if (!need(&o->worker_cgroup_leaf)) return false;
    } else if (a == "--peer-timeout") {
      if (!need(&v)) return false;
      char* end = nullptr;
      long secs = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != 0 || secs < 0 || secs > 86400) {
        *error = "--peer-timeout wants whole seconds (0 to 86400; 0: off), not '" + v + "'";
        return false;
      }
      o->peer_timeout_s = static_cast<int>(secs);
    } else if (a == "--hello-timeout") {
      if (!need(&v)) return false;
      char* end = nullptr;
      double secs = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != 0 || !(secs > 0) || secs > 3600) {
        *error = "--hello-timeout wants seconds (0 < s <= 3600), not '" + v + "'";
        return false;
      }
      o->hello_timeout_ms = static_cast<int>(secs * 1000);
      if (o->hello_timeout_ms < 1) o->hello_timeout_ms = 1;
    } else if (a == "--max-unauthenticated" || a == "--max-unauthenticated-per-source") {
      if (!need(&v)) return false;
      char* end = nullptr;
      unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != 0 || n == 0 || n > 100000) {
        *error = a + " wants a count (1..100000), not '" + v + "'";
        return false;
      }
      (a == "--max-unauthenticated" ? o->max_unauthenticated : o->max_unauthenticated_per_source) =
          n;
    } else if (a == "--schedule") {
      if (!need(&o->schedule)) return false;
    } else if (a == "--label") {
      if (!need(&v)) return false;
      if (v.find('=') == std::string::npos || v[0] == '=') {
        *error = "--label wants KEY=VALUE, not '" + v + "'";
        return false;
      }
      o->labels.push_back(v);
    } else if (a == "--name") {
      if (!need(&o->name)) return false;
    } else if (a == "--pool-key") {
      if (!need(&o->pool_key_file)) return false;
    } else if (a == "--metrics-listen") {
      if (!need(&o->metrics_listen)) return false;
    } else if (a == "--state-dir") {
      if (!need(&o->state_dir)) return false;
    } else if (a == "--advertise") {
      if (!need(&o->advertise)) return false;
    } else if (a == "--pool-tls-ca") {
      if (!need(&o->pool_tls_ca)) return false;
    } else if (a == "--pool-tls-cert") {
      if (!need(&o->pool_tls_cert)) return false;
    } else if (a == "--pool-tls-key") {
      if (!need(&o->pool_tls_key)) return false;
    } else if (a == "--lend-mem") {
      if (!need(&v)) return false;
      if (!parse_size(v, &o->lend_mem)) {
        *error = "--lend-mem: '" + v + "' is not " + kSizeHint;
        return false;
      }
    } else if (a == "--lend-compute") {
      if (!need(&v)) return false;
      if (!control::parse_compute_share(v, &o->lend_compute_milli)) {
        *error = "--lend-compute: '" + v +
                 "' is not a share of the GPU above 0 and at most 1 (e.g. 0.5 or 50%)";
        return false;
      }
    } else if (a == "--min-price") {
      if (!need(&v)) return false;
      if (!control::parse_money(v, &o->min_price_micro)) {
        *error = "--min-price: '" + v + "' is not an amount of credits (e.g. 0.40)";
        return false;
      }
    } else if (a == "--receipt-interval") {
      if (!need(&v)) return false;
      char* end = nullptr;
      const double sec = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(sec >= 0.1 && sec <= 60)) {
        *error = "--receipt-interval: '" + v + "' is not a number of seconds from 0.1 to 60";
        return false;
      }
      o->receipt_interval_ms = static_cast<uint32_t>(sec * 1000);
    } else if (a == "--control-fd") {
      if (!need(&v)) return false;
      o->control_fd = std::atoi(v.c_str());
      if (o->control_fd < 0) {
        *error = "--control-fd must be a file descriptor";
        return false;
      }
    } else if (a == "--pool-pubkey") {
      if (!need(&o->pool_pubkey_hex)) return false;
    } else if (a == "--lease-endpoint") {
      if (!need(&o->lease_endpoint)) return false;
    } else if (a == "--lease-provider") {
      if (!need(&o->lease_provider)) return false;
    } else if (a == "--describe-gpu") {
      o->describe_gpu = true;
    } else if (a == "--worker-fd") {
      if (!need(&v)) return false;
      o->worker_fd = std::atoi(v.c_str());
      if (o->worker_fd < 0) {
        *error = "--worker-fd must be a file descriptor";
        return false;
      }
    } else if (a == "--lane-fd") {
      if (!need(&v)) return false;
      o->lane_fd = std::atoi(v.c_str());
      if (o->lane_fd < 0) {
        *error = "--lane-fd must be a file descriptor";
        return false;
      }
    } else if (a == "--shares-fd") {
      if (!need(&v)) return false;
      o->shares_fd = std::atoi(v.c_str());
      if (o->shares_fd < 0) {
        *error = "--shares-fd must be a file descriptor";
        return false;
      }
    } else if (a == "--session-id") {
      if (!need(&v)) return false;
      o->session_id = std::strtoull(v.c_str(), nullptr, 10);
    } else {
      *error = "unknown option '" + a + "' (see --help)";
      return false;
    }
  }
  if (o->insecure && !o->secret.empty()) {
    *error = "--insecure and --secret/RGPU_SECRET exclude each other";
    return false;
  }
  if (o->tls_cert.empty() != o->tls_key.empty()) {
    *error = "--tls-cert and --tls-key go together";
    return false;
  }
  if (o->pool_tls_cert.empty() != o->pool_tls_key.empty()) {
    *error = "--pool-tls-cert and --pool-tls-key go together";
    return false;
  }
  if (o->pool.empty() && (!o->pool_tls_ca.empty() || !o->pool_tls_cert.empty()) &&
      o->worker_fd < 0) {
    *error = "--pool-tls-ca/--pool-tls-cert/--pool-tls-key need --pool";
    return false;
  }
  if (o->pool.empty() &&
      (!o->join_token.empty() || !o->name.empty() || !o->labels.empty() || !o->schedule.empty() ||
       o->lend_mem || o->lend_compute_milli || !o->pool_key_file.empty() || !o->advertise.empty() ||
       o->min_price_micro || !o->metrics_listen.empty()) &&
      o->worker_fd < 0 && !o->describe_gpu) {
    *error =
        "--join-token/--name/--label/--schedule/--lend-mem/--lend-compute/--pool-key/--advertise/"
        "--min-price/"
        "--metrics-listen need --pool";
    return false;
  }
  if (const char* s = std::getenv("RGPU_JOIN_TOKEN");
      s && !o->pool.empty() && o->join_token.empty())
    o->join_token = s;
  if (!o->pool.empty() && o->join_token.empty() && o->worker_fd < 0 && !o->describe_gpu) {
    *error = "--pool needs --join-token (or RGPU_JOIN_TOKEN): a provider token from the pool";
    return false;
  }
  if (!o->tls_ca.empty() && o->tls_cert.empty()) {
    *error = "--tls-ca needs --tls-cert and --tls-key";
    return false;
  }
  return true;
}

std::string default_state_dir() {
  const char* sd = std::getenv("STATE_DIRECTORY");  // systemd's StateDirectory=
  const char* xdg = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  return sd && *sd       ? std::string(sd)
         : xdg && *xdg   ? std::string(xdg) + "/rgpu"
         : home && *home ? std::string(home) + "/.local/state/rgpu"
                         : std::string();
}

std::string image_cache_dir(const ServerOptions& o) {
  if (o.image_cache == "off") return "";
  if (!o.image_cache.empty()) return o.image_cache;
  if (!o.state_dir.empty()) return o.state_dir + "/images";
  const char* sd = std::getenv("STATE_DIRECTORY");  // a deployed server (systemd)
  return sd && *sd ? std::string(sd) + "/images" : "";
}

}  // namespace rgpu::server
