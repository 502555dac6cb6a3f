// interpose/tally.h — the shim's own count of each server session: wall time and the bytes each
// way, counted where the server counts them (net::CountingStream over each lane's stream, the
// hello included), so the pool can hold a provider's usage receipts against it.
//
// Contract: tally(i) is server i's counters (i < kMaxTallyServers; an index beyond gets a spare
// that is never reported). At exit, after the lanes' Goodbyes, write_tally_file() writes one
// line per server that was used to the file RGPU_TALLY_FILE names, if it is set:
//   "<server index> <wall ms> <bytes in> <bytes out>"
// `rgpu run` sets RGPU_TALLY_FILE and reports the lines to the pool with the user's token.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rgpu {

inline constexpr size_t kMaxTallyServers = 64;

struct ServerTally {
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};
  std::atomic<int64_t> started_ns{0};  // steady clock, at connect; 0: never used
};

ServerTally& tally(size_t server_index);
void write_tally_file();

}  // namespace rgpu
