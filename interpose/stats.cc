// interpose/stats.cc — see stats.h.
#include "interpose/stats.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ops.h"

namespace rgpu {
namespace {

constexpr size_t kMaxEntries = 1024;

bool read_on() {
  const char* v = std::getenv("RGPU_STATS");
  bool on = v && *v && std::strcmp(v, "0") != 0;
  if (on) std::atexit(print_stats);
  return on;
}

std::atomic<uint64_t> g_entries[kMaxEntries];
std::mutex g_mu;
std::vector<std::pair<LaneCounterSource, void*>>* g_sources = nullptr;  // leaked on purpose

}  // namespace

void LaneCounters::add(const LaneCounters& o) {
  sync_calls += o.sync_calls;
  async_records += o.async_records;
  batches += o.batches;
  bytes_out += o.bytes_out;
  bytes_in += o.bytes_in;
  wait_ns += o.wait_ns;
  waits_polled += o.waits_polled;
  waits_blocked += o.waits_blocked;
  for (size_t i = 0; i < 256; ++i) ops[i] += o.ops[i];
}

bool stats_on() {
  static const bool on = read_on();
  return on;
}

void count_entry(size_t i) {
  if (i < kMaxEntries) g_entries[i].fetch_add(1, std::memory_order_relaxed);
}

void add_lane_source(LaneCounterSource fn, void* ctx) {
  std::lock_guard<std::mutex> g(g_mu);
  if (!g_sources) g_sources = new std::vector<std::pair<LaneCounterSource, void*>>();
  g_sources->emplace_back(fn, ctx);
}

void format_stats(char** out_text) {
  LaneCounters total;
  {
    std::lock_guard<std::mutex> g(g_mu);
    if (g_sources)
      for (auto& [fn, ctx] : *g_sources) fn(ctx, &total);
  }
  uint64_t calls = 0;
  std::vector<std::pair<uint64_t, size_t>> by_entry;
  for (size_t i = 0; i < entry_count() && i < kMaxEntries; ++i) {
    uint64_t n = g_entries[i].load(std::memory_order_relaxed);
    if (n) by_entry.emplace_back(n, i);
    calls += n;
  }
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line,
                "rgpu stats: %llu driver calls, %llu sync round trips, %llu async records in %llu "
                "batches, %llu bytes sent, %llu bytes received, %.3f ms waiting on servers\n",
                (unsigned long long)calls, (unsigned long long)total.sync_calls,
                (unsigned long long)total.async_records, (unsigned long long)total.batches,
                (unsigned long long)total.bytes_out, (unsigned long long)total.bytes_in,
                total.wait_ns / 1e6);
  s += line;
  std::snprintf(line, sizeof line,
                "rgpu stats: sync waits: %llu polled before sleeping, %llu slept at once\n",
                (unsigned long long)total.waits_polled, (unsigned long long)total.waits_blocked);
  s += line;
  std::sort(by_entry.rbegin(), by_entry.rend());
  s += "rgpu stats: driver calls by name:\n";
  for (auto& [n, i] : by_entry) {
    std::snprintf(line, sizeof line, "  %-40s %llu\n", entry_name(i), (unsigned long long)n);
    s += line;
  }
  s += "rgpu stats: ops sent to servers:\n";
  for (size_t op = 0; op < 256; ++op) {
    if (!total.ops[op]) continue;
    auto name = op_name(static_cast<Op>(op));
    std::snprintf(line, sizeof line, "  %-40.*s %llu\n", static_cast<int>(name.size()), name.data(),
                  (unsigned long long)total.ops[op]);
    s += line;
  }
  *out_text = strdup(s.c_str());
}

void print_stats() {
  char* text = nullptr;
  format_stats(&text);
  if (!text) return;
  const char* path = std::getenv("RGPU_STATS_FILE");
  FILE* f = path && *path ? std::fopen(path, "a") : nullptr;
  std::fputs(text, f ? f : stderr);
  if (f) std::fclose(f);
  std::free(text);
}

}  // namespace rgpu
