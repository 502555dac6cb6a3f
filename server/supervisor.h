// server/supervisor.h — rgpu-server's main process: listen, spawn one worker per session, reap.
//
// Contract: run_supervisor() checks the configuration before listening (backend available: a
// cuda backend needs an NVIDIA driver, a sim backend loads its plugins once to check them;
// authentication configured: --secret or --insecure, the latter logged loudly), listens,
// writes --port-file, then for every connection execs a fresh rgpu-server in worker mode with
// the socket as fd 3 (never a fork of a process that touched CUDA: the supervisor never
// initialises a driver). It reaps workers and logs each one's end (exit code, or the signal it
// died of) and keeps serving whatever the workers do. SIGTERM/SIGINT stop it: it closes the
// listener, sends SIGTERM to workers, and waits briefly before SIGKILL. Returns the exit code.
#pragma once

#include "server/config.h"

namespace rgpu::server {

int run_supervisor(ServerOptions options, int argc, char** argv);

}  // namespace rgpu::server
