// interpose/tally.h — the shim's own count of each server session: wall time and the bytes each
// way, counted where the server counts them (net::CountingStream over each lane's stream, the
// hello included), so the pool can hold a provider's usage receipts against it.
//
// Contract: tally(i) is server i's counters (i < kMaxTallyServers; an index beyond gets a spare
// that is never reported). At exit, after the lanes' Goodbyes, write_tally_file() writes one
// line per server that was used to the file RGPU_TALLY_FILE names, if it is set:
//   "<server index> <wall ms> <bytes in> <bytes out>"
// `rgpu run` sets RGPU_TALLY_FILE and reports the lines to the pool with the user's token.
// A program given its vGPUs by RGPU_POOL alone (no `rgpu run`) reports its tally itself:
// report_tally_at_exit() registers an atexit handler that sends each session's line to the pool
// with RGPU_TOKEN (before cudart's teardown calls, a few KiB under the server's count, well
// inside the pool's tolerance); each report waits at most the pool client's RPC timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rgpu {

inline constexpr size_t kMaxTallyServers = 64;

struct ServerTally {
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};
  std::atomic<int64_t> started_ns{0};  // steady clock, at connect; 0: never used
};

struct TallyLine {
  size_t server = 0;
  uint64_t wall_ms = 0, bytes_in = 0, bytes_out = 0;
};

ServerTally& tally(size_t server_index);
std::vector<TallyLine> tally_lines();  // the servers used, now
void write_tally_file();
// `lease_ids[i]`: server i's lease. `skip`: true in a forked child (its parent reports).
void report_tally_at_exit(std::string pool, std::string token, std::vector<std::string> lease_ids,
                          const std::atomic<bool>* skip);

}  // namespace rgpu
