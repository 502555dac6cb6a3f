// server/main.cc — rgpu-server: supervisor by default, session worker with --worker-fd.
#include <cstdio>

#include "protocol/transport.h"
#include "server/config.h"
#include "server/gpu_probe.h"
#include "server/log.h"
#include "server/supervisor.h"
#include "server/worker/worker.h"

int main(int argc, char** argv) {
  using namespace rgpu::server;
  ServerOptions o;
  std::string err;
  if (!parse_options(argc, argv, &o, &err)) {
    std::fprintf(stderr, "rgpu-server: %s\n", err.c_str());
    return 2;
  }
  if (o.help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  set_log_level(o.log_level);
  rgpu::net::set_peer_timeout_seconds(o.peer_timeout_s);
  if (o.describe_gpu) return run_describe_gpu(o);
  if (o.worker_fd >= 0) return run_worker(o);
  return run_supervisor(o, argc, argv);
}
