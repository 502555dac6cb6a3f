// pool_manager/main.cc — rgpu-pool: the control plane daemon.
//
//   rgpu-pool --listen HOST:PORT --data-dir DIR [--policy binpack|spread] [--heartbeat-ms N]
//             [--missing-after-ms N] [--lost-after-ms N] [--lease-ttl SECONDS] [--port-file FILE]
//             [--tls-cert F --tls-key F [--tls-ca F]]
//
// First start in DIR: creates the Ed25519 key pair (pool.key 0600, pool.pub) and an admin token
// (printed once, written to DIR/admin.token 0600). State lives in DIR/pool.db (SQLite, WAL), or
// in the PostgreSQL database --store (or RGPU_POOL_STORE) names, which any number of rgpu-pool
// replicas serve at once: each with its own DIR, all with the same signing key (--key-file); the
// database remembers the key's public half and a replica holding another key refuses to start.
// Everything in DIR is private to the pool's user (umask 077; pool.db and its -wal/-shm are
// made 0600 at every start), and DIR/pool.lock (flock) keeps a second rgpu-pool off the same
// DIR: it refuses to start and names the running one.
#include <capnp/ez-rpc.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "pool_manager/dashboard_http.h"
#include "pool_manager/pool_state.h"
#include "pool_manager/rpc_service.h"
#include "pool_manager/signing_keys.h"
#include "pool_manager/utilisation.h"
#include "protocol/control/control_version.h"
#include "protocol/control/rpc_tls.h"
#include "protocol/health_endpoint.h"

namespace {

const char* kUsage =
    "usage: rgpu-pool [--listen HOST:PORT] [--data-dir DIR] [options]\n"
    "  --listen HOST:PORT      where to serve the control plane (default 127.0.0.1:7070;\n"
    "                          port 0 picks a free one)\n"
    "  --data-dir DIR          state: pool.db, pool.key, pool.pub, admin.token (default\n"
    "                          ./rgpu-pool-data)\n"
    "  --store URL             keep the state in PostgreSQL (postgresql://USER@HOST:PORT/DB;\n"
    "                          or set RGPU_POOL_STORE, which keeps a password off the\n"
    "                          command line); any number of replicas may serve one database\n"
    "                          (default: SQLite, DIR/pool.db, one pool)\n"
    "  --key-file FILE         the lease signing key (Ed25519 PEM; default DIR/pool.key, made\n"
    "                          at first start); replicas of one database share one\n"
    "  --new-key               this key replaces the one the database knows (key rotation:\n"
    "                          see docs/deploy.md)\n"
    "  --replica NAME          this replica's name in the database (default HOST-PID)\n"
    "  --policy binpack|spread default placement policy (default binpack)\n"
    "  --heartbeat-ms N        how often providers heartbeat (default 2000)\n"
    "  --missing-after-ms N    a provider silent this long is missing (default 3 heartbeats)\n"
    "  --lost-after-ms N       a provider silent this long has lost its sessions: they end\n"
    "                          when last seen running (default 60000)\n"
    "  --lease-ttl SECONDS     a lease must open its session within this (default 300)\n"
    "  --port-file FILE        write the port actually bound (for scripts)\n"
    "  --health-listen HOST:PORT  answer HTTP GETs there with 200 \"ok\" (a readiness probe\n"
    "                          that touches nothing else); GET /metrics: Prometheus text,\n"
    "                          refreshed every second\n"
    "  --http HOST:PORT        serve the dashboard (a web UI, token login) and its JSON API\n"
    "                          (/api/v1/...) there; off by default; over HTTPS with\n"
    "                          --tls-cert/--tls-key when they are given\n"
    "  --util-sample-s N       how often the dashboard samples each GPU's use (default 10)\n"
    "  --tls-cert F --tls-key F  serve the control plane over TLS with this certificate\n"
    "  --tls-ca F              and require client certificates signed by this CA (servers,\n"
    "                          the CLI and the shim then set RGPU_POOL_TLS_CA/_CERT/_KEY or\n"
    "                          rgpu-server --pool-tls-*)\n";

bool write_private(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  fchmod(fd, 0600);
  close(fd);
  return ok;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

int fail(const std::string& m) {
  fprintf(stderr, "rgpu-pool: %s\n", m.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:7070", dir = "rgpu-pool-data", port_file, health_listen,
              http_listen;
  long long util_sample_s = 10;
  std::string store_spec, key_file, replica;
  bool new_key = false;
  if (const char* e = getenv("RGPU_POOL_STORE")) store_spec = e;
  rgpu::net::TlsConfig tls;
  rgpu::pool::PoolConfig cfg;
  bool missing_set = false, lost_set = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "rgpu-pool: %s needs a value\n%s", name, kUsage);
        exit(2);
      }
      return argv[++i];
    };
    auto num = [&](const char* name) -> long long {
      std::string v = val(name);
      char* end = nullptr;
      long long n = strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) {
        fprintf(stderr, "rgpu-pool: %s wants a non-negative number, got '%s'\n", name, v.c_str());
        exit(2);
      }
      return n;
    };
    if (a == "--help" || a == "-h") {
      printf("%s", kUsage);
      return 0;
    } else if (a == "--listen") {
      listen = val("--listen");
    } else if (a == "--data-dir") {
      dir = val("--data-dir");
    } else if (a == "--store") {
      store_spec = val("--store");
    } else if (a == "--key-file") {
      key_file = val("--key-file");
    } else if (a == "--new-key") {
      new_key = true;
    } else if (a == "--replica") {
      replica = val("--replica");
    } else if (a == "--port-file") {
      port_file = val("--port-file");
    } else if (a == "--health-listen") {
      health_listen = val("--health-listen");
    } else if (a == "--http") {
      http_listen = val("--http");
    } else if (a == "--util-sample-s") {
      util_sample_s = std::max(1LL, num("--util-sample-s"));
    } else if (a == "--policy") {
      std::string p = val("--policy");
      if (!rgpu::pool::parse_policy(p, &cfg.policy))
        return fail("unknown --policy '" + p + "'; use binpack or spread");
    } else if (a == "--heartbeat-ms") {
      cfg.heartbeat_ms = static_cast<uint32_t>(std::max(50LL, num("--heartbeat-ms")));
    } else if (a == "--missing-after-ms") {
      cfg.missing_after_ms = static_cast<uint32_t>(num("--missing-after-ms"));
      missing_set = true;
    } else if (a == "--lost-after-ms") {
      cfg.lost_after_ms = static_cast<uint32_t>(num("--lost-after-ms"));
      lost_set = true;
    } else if (a == "--lease-ttl") {
      cfg.lease_ttl_s = std::max(1LL, num("--lease-ttl"));
    } else if (a == "--tls-cert") {
      tls.cert_file = val("--tls-cert");
    } else if (a == "--tls-key") {
      tls.key_file = val("--tls-key");
    } else if (a == "--tls-ca") {
      tls.ca_file = val("--tls-ca");
    } else {
      fprintf(stderr, "rgpu-pool: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (!missing_set) cfg.missing_after_ms = cfg.heartbeat_ms * 3;
  if (!lost_set) cfg.lost_after_ms = std::max(cfg.lost_after_ms, cfg.missing_after_ms);
  if (cfg.lost_after_ms < cfg.missing_after_ms)
    return fail("--lost-after-ms must be at least --missing-after-ms (" +
                std::to_string(cfg.missing_after_ms) + ")");
  if (tls.cert_file.empty() != tls.key_file.empty())
    return fail("--tls-cert and --tls-key go together");
  if (!tls.ca_file.empty() && tls.cert_file.empty())
    return fail("--tls-ca needs --tls-cert and --tls-key (the pool's own certificate)");
  for (const std::string* f : {&tls.cert_file, &tls.key_file, &tls.ca_file})
    if (!f->empty() && access(f->c_str(), R_OK) != 0)
      return fail("cannot read TLS file " + *f + ": " + strerror(errno));
  const bool serve_tls = !tls.cert_file.empty();
  umask(077);  // pool.db, its -wal/-shm, the RPC socket: the pool's user's alone
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail("cannot create --data-dir " + dir + ": " + strerror(errno));
  // One pool per data directory: two would hand out the same GPUs from one database.
  const std::string lock_path = dir + "/pool.lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return fail("cannot open " + lock_path + ": " + strerror(errno));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = pread(lock_fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return fail("another rgpu-pool (pid " + pid + ") is serving --data-dir " + dir +
                "; stop it first, or use another --data-dir");
  }
  {
    std::string me = std::to_string(getpid()) + "\n";
    if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, me.data(), me.size(), 0) < 0)
      return fail("cannot write " + lock_path + ": " + strerror(errno));
  }
  for (const char* f : {"/pool.db", "/pool.db-wal", "/pool.db-shm"}) chmod((dir + f).c_str(), 0600);

  // Key pair: made once, kept.
  rgpu::control::PoolKey key;
  std::string pem, err;
  const std::string key_path = key_file.empty() ? dir + "/pool.key" : key_file,
                    pub_path = dir + "/pool.pub";
  try {
    if (read_file(key_path, &pem)) {
      if (!rgpu::control::load_private_key(pem, &key, &err)) return fail(key_path + ": " + err);
    } else if (!key_file.empty()) {
      return fail("cannot read --key-file " + key_file + ": " + strerror(errno));
    } else {
      key = rgpu::control::generate_pool_key();
      if (!write_private(key_path, key.private_pem)) return fail("cannot write " + key_path);
    }
    std::ofstream(pub_path) << rgpu::control::public_key_pem(key.public_raw);
    chmod(pub_path.c_str(), 0644);  // public by nature: providers pin it (--pool-key)
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  try {
    if (replica.empty()) {
      char host[256] = {0};
      gethostname(host, sizeof host - 1);
      replica = std::string(host) + "-" + std::to_string(getpid());
    }
    auto store =
        rgpu::pool::open_store(store_spec.empty() ? dir + "/pool.db" : store_spec, replica);
    auto now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    // Replicas sign leases with one key: the store keeps its public half (signing_keys.h).
    {
      std::string note;
      const std::string refusal = rgpu::pool::adopt_signing_key(
          *store, key.public_raw, new_key, now_ms() / 1000, cfg.lease_ttl_s, &note);
      if (!refusal.empty()) return fail("the key in " + key_path + ": " + refusal);
      if (!note.empty()) printf("rgpu-pool: %s\n", note.c_str());
    }
    rgpu::pool::PoolState state(*store, key, cfg, now_ms);
    std::string admin = state.bootstrap_admin();
    if (!admin.empty()) {
      if (!write_private(dir + "/admin.token", admin + "\n"))
        return fail("cannot write " + dir + "/admin.token");
      printf("rgpu-pool: first start; admin token (shown once, also in %s/admin.token):\n%s\n",
             dir.c_str(), admin.c_str());
    }

    // Over TLS the RPC server listens on a private Unix socket in the data directory, and a
    // TLS front (protocol/control/rpc_tls.h) on the public address forwards to it.
    std::unique_ptr<capnp::EzRpcServer> server;
    std::unique_ptr<rgpu::control::TlsFront> front;
    int inner_fd = -1;
    if (serve_tls) {
      std::string inner = dir + "/rpc.sock", why;
      inner_fd = rgpu::control::make_private_rpc_socket(inner, &why);
      if (inner_fd < 0) return fail(why);
      server =
          std::make_unique<capnp::EzRpcServer>(rgpu::pool::make_pool_service(state), inner_fd, 0u);
      try {
        front = std::make_unique<rgpu::control::TlsFront>(listen, tls, inner);
      } catch (const std::exception& e) {
        return fail("cannot serve on " + listen + ": " + e.what());
      }
      front->start();
    } else {
      server =
          std::make_unique<capnp::EzRpcServer>(rgpu::pool::make_pool_service(state), listen, 7070);
    }
    std::unique_ptr<rgpu::net::HealthEndpoint> health;
    if (!health_listen.empty()) {
      try {
        health = std::make_unique<rgpu::net::HealthEndpoint>(health_listen);
      } catch (const std::exception& e) {
        return fail("cannot serve --health-listen " + health_listen + ": " + e.what());
      }
    }
    // The dashboard's HTTP threads ask the pool's thread (this one, in its event loop) for
    // every answer: PoolState is only ever touched here.
    rgpu::pool::UtilisationHistory history(util_sample_s);
    std::unique_ptr<rgpu::pool::DashboardServer> dashboard;
    if (!http_listen.empty()) {
      const kj::Executor& pool_thread = kj::getCurrentThreadExecutor();
      auto api = [&state, &history, &pool_thread](const std::string& token, const std::string& path,
                                                  const std::map<std::string, std::string>& q) {
        return pool_thread.executeSync(
            [&] { return rgpu::pool::dashboard_get(state, history, token, path, q); });
      };
      try {
        dashboard = std::make_unique<rgpu::pool::DashboardServer>(http_listen, tls, api);
      } catch (const std::exception& e) {
        return fail("cannot serve --http " + http_listen + ": " + e.what());
      }
    }
    auto& ws = server->getWaitScope();
    unsigned port = serve_tls ? front->port() : server->getPort().wait(ws);
    if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
    std::string host = listen.substr(0, listen.rfind(':'));
    printf("rgpu-pool: listening on %s:%u (control plane v%u%s, policy %s, data %s%s%s)\n",
           host.c_str(), port, rgpu::control::kControlVersion,
           serve_tls ? (tls.ca_file.empty() ? ", TLS" : ", mutual TLS") : "",
           rgpu::pool::policy_text(cfg.policy), dir.c_str(),
           store->shared() ? ", store PostgreSQL, replica " : "",
           store->shared() ? replica.c_str() : "");
    if (!serve_tls && host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      printf("rgpu-pool: serving without TLS on %s: tokens travel in clear text (see --tls-cert)\n",
             host.c_str());
    if (dashboard)
      printf("rgpu-pool: dashboard on %s://%s:%u/\n", dashboard->tls() ? "https" : "http",
             dashboard->host().c_str(), dashboard->port());
    if (dashboard && !dashboard->tls() && dashboard->host() != "127.0.0.1" &&
        dashboard->host() != "localhost" && dashboard->host() != "::1")
      printf(
          "rgpu-pool: the dashboard on %s is plain HTTP: tokens typed into it travel in clear "
          "text (see --tls-cert)\n",
          dashboard->host().c_str());
    fflush(stdout);
    auto& timer = server->getIoProvider().getTimer();
    // Each period: catch up with the other replicas (a shared store), sweep when this pool is
    // the one that does (the leader lock), publish metrics. A store error is reported and
    // retried at the next period; the pool keeps answering what it can.
    const bool shared = store->shared();
    int64_t last_error_ms = 0;
    for (unsigned tick = 0;; ++tick) {
      timer.afterDelay((shared ? 500 : 1000) * kj::MILLISECONDS).wait(ws);
      try {
        state.refresh();
        if ((!shared || tick % 2 == 0) && state.leads()) state.sweep();
      } catch (const rgpu::pool::StoreError& e) {
        if (now_ms() - last_error_ms > 10000) {
          fprintf(stderr, "rgpu-pool: the store failed (retrying): %s\n", e.what());
          last_error_ms = now_ms();
        }
        continue;
      }
      if (!shared || tick % 2 == 0) {
        if (health) health->publish_metrics(state.metrics_text());
        history.sample(state, now_ms());
      }
    }
  } catch (const rgpu::pool::StoreError& e) {
    return fail(e.what());
  } catch (const kj::Exception& e) {
    return fail(std::string("cannot serve on ") + listen + ": " + e.getDescription().cStr());
  }
}
