// interpose/stats.h — RGPU_STATS=1: what a process asked of its GPU servers, printed at exit.
//
// Contract: stats_on() is one relaxed load (false unless RGPU_STATS is set to a non-empty value
// other than "0"). When on, the entry wrappers count every driver call by entry-point name
// (count_entry), and lanes add their counters (sync round trips, async records, batches sent,
// bytes each way, time spent waiting for replies) with add_lane(). At exit, or when
// print_stats() is called, one report goes to stderr (or to the file RGPU_STATS_FILE names):
//   rgpu stats: <N> driver calls, <S> sync round trips, <A> async records in <B> batches,
//   <x> bytes sent, <y> bytes received, <t> ms waiting on servers
//   rgpu stats: sync waits: <p> polled before sleeping, <b> slept at once
// then one line per entry point ("  cuLaunchKernel 1000") and per op sent to the servers.
// Counting costs nothing when off.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rgpu {

struct LaneCounters {
  uint64_t sync_calls = 0;
  uint64_t async_records = 0;
  uint64_t batches = 0;
  uint64_t bytes_out = 0, bytes_in = 0;
  uint64_t wait_ns = 0;
  uint64_t waits_polled = 0;   // sync waits that polled the socket before sleeping
  uint64_t waits_blocked = 0;  // sync waits that slept at once (RGPU_SPIN_US=0, a blocking-sync
                               // context, or other threads already polling)
  uint64_t ops[256] = {};      // by op wire number (protocol/ops.def)
  void add(const LaneCounters& o);
};

bool stats_on();
void count_entry(size_t entry_index);  // index into the entry table (entry_points.cc)
// Registers a source of lane counters (called once per lane set; read at print time).
using LaneCounterSource = void (*)(void* ctx, LaneCounters* into);
void add_lane_source(LaneCounterSource fn, void* ctx);
// The report as text (what print_stats writes).
void format_stats(char** out_text);
void print_stats();

// The entry-point name table (entry_points.cc).
size_t entry_count();
const char* entry_name(size_t i);

}  // namespace rgpu
