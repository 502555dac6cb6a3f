// interpose/config.h — what the environment tells libcuda.so.1.
//
// Contract (all optional except a server or a pool):
//   RGPU_SERVER=host:port[,host:port...]  servers; each gives one device, numbered in order
//   RGPU_SECRET=...                       shared secret sent in every Hello
//   RGPU_LEASE=b64[,b64...]               one lease per server (from the pool), base64url or
//                                         hex (protocol/control/lease.h lease_from_text)
//   RGPU_POOL=host:port                   ask the pool for servers+leases (pool_hook.h), with
//                                         RGPU_TOKEN, RGPU_VGPUS, RGPU_VRAM, RGPU_LABELS,
//                                         RGPU_WAIT, RGPU_POLICY
//   RGPU_TLS_CA / RGPU_TLS_CERT / RGPU_TLS_KEY   TLS to the servers (mutual when CERT is set)
//   RGPU_CONNECT_TIMEOUT_MS               connect+handshake bound (default 10000)
//   RGPU_LANES=1                          one lane per device shared by all threads (default:
//                                         one per thread, interpose/lane.h; over TLS too with
//                                         a protocol-4 server)
//   RGPU_VA_BASE=0x...                    device 0's address window base (default 0x200000000000,
//                                         1 GiB aligned; device i asks for base + i TiB). Set
//                                         by rgpu-server --cuda-driver for the shim it drives,
//                                         so the chained server places memory where its
//                                         client's window is.
//   RGPU_FLUSH_US / RGPU_COMPRESS / RGPU_STATS   batch deadline, LZ4 for bulk copies, stats at
//                                         exit (interpose/lane.h, interpose/stats.h)
//   RGPU_CLIENT_PLACEMENT=0               cuMemAlloc asks the server for each address instead
//                                         of placing it in the window's upper half itself
//                                         (protocol 11, ops.def MemAllocAt)
//   RGPU_CLIENT_LAYOUT=0                  cuModuleGetFunction asks the server for the layout
//                                         instead of sending the one parsed here (protocol 11)
// parse_config() returns false with *error naming the variable when a value is malformed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/transport.h"

namespace rgpu {

struct Config {
  std::vector<std::string> servers;
  std::string secret;
  std::vector<std::string> leases;  // decoded bytes, one per server (may be empty)
  std::string pool;
  std::vector<std::string> pool_lease_ids;  // when the leases came from RGPU_POOL (pool_hook.h)
  std::string pool_token;
  bool tls = false;
  net::TlsConfig tls_config;
  int connect_timeout_ms = 10000;
  bool single_lane = false;
  bool client_placement = true;          // RGPU_CLIENT_PLACEMENT
  bool client_layout = true;             // RGPU_CLIENT_LAYOUT
  uint64_t va_base = 0x200000000000ull;  // RGPU_VA_BASE
};

bool parse_config(Config* out, std::string* error);
std::vector<std::string> split_list(const std::string& s);

}  // namespace rgpu
