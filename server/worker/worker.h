// server/worker/worker.h — the session worker: one process per session.
//
// Contract: run_worker() takes over the connected socket options.worker_fd (inherited from the
// supervisor across exec), runs the TLS handshake when TLS is configured, reads the Hello,
// negotiates the protocol version (a mismatch is answered ok=false with both versions named),
// authenticates, opens the backend for the session's window and cap, answers HelloReply
// (deviceProps, vramLimit) and serves the lane until the client leaves. At the end it writes
// the session's SessionMeter summary to the log. Returns the process exit code: 0 when the
// session ended normally (including a refused hello), non-zero when it could not start.
#pragma once

#include "server/config.h"

namespace rgpu::server {

int run_worker(const ServerOptions& options);

}  // namespace rgpu::server
