// bench/baselines.h — the physical baselines every data-plane figure is divided by, measured in
// the same run on the same machine: raw socket ping-pong, raw bulk transfer, raw OpenSSL bulk.
//
// Contract: each function runs its own loopback peer on a thread, uses plain sockets (blocking
// unless said)
// (TCP_NODELAY, the same socket buffers as protocol/transport) and returns a time per round trip
// (ns) or a throughput (bytes/s). Nothing here goes through rgpu code except the transport's TLS
// setup, so the baselines stay what the hardware and kernel give.
#pragma once

#include <cstddef>
#include <string>

namespace rgpu::bench {

// Mean round-trip time of `iters` exchanges of `bytes`-byte messages each way. poll: the caller
// reads each reply without blocking, retrying until it is in (as the shim's sync wait does while
// it spins), so it never pays the wake-up of a sleeping thread: the floor on this machine. The
// peer blocks either way, as a server's session does.
double raw_pingpong_ns(bool unix_socket, size_t bytes, int iters, bool poll = false);
// Throughput of sending `total` bytes in `chunk`-byte writes from a `span`-byte source into a
// `span`-byte destination (the memory a copy of `span` bytes moves).
double raw_bulk_bytes_per_s(size_t total, size_t chunk, size_t span);
// The same over TLS (OpenSSL, as configured by protocol/transport with the given cert files).
double raw_tls_bulk_bytes_per_s(size_t total, size_t chunk, size_t span,
                                const std::string& pki_dir);
// Creates a throwaway CA, server and client certificate in dir (openssl CLI). False on failure.
bool make_test_pki(const std::string& dir);

}  // namespace rgpu::bench
