// protocol/control/usage_receipt.h — what a session used, as its provider measured it.
//
// Contract:
// - A receipt holds cumulative totals since the session started, never deltas: a lost receipt
//   is made good by the next one and a duplicated one changes nothing. merge_receipt() keeps
//   each total's maximum, so totals never go down whatever order receipts arrive in.
// - The worker sends one at least every receipt interval (rgpu-server --receipt-interval, at
//   most 60 s) and a final one at session end (`final`), over its channel to the supervisor as
//   one text line (receipt_line / parse_receipt_line); the supervisor forwards the latest per
//   lease in its heartbeats (control_plane.capnp UsageReceipt), until the pool has it.
// - The supervisor's link signs each receipt it sends with the provider's receipt key
//   (receipt_message()); the pool checks it against the key the provider registered and refuses
//   receipts that do not verify, so a receipt in the ledger is one the provider vouched for.
// - The pool keeps the merged totals with the lease (pool_manager/records.h LeaseUsage).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace rgpu::control {

struct UsageReceipt {
  std::string lease_id;
  uint64_t session_id = 0;
  uint64_t seq = 0;       // the worker's receipts for this session: 1, 2, ...
  bool final = false;     // sent at session end: the totals are complete
  uint64_t wall_ms = 0;   // wall time the session has been held
  uint64_t busy_ns = 0;   // device busy time (kernels and copies, as the backend timed them)
  double mem_gb_s = 0;    // device memory mapped x time (module globals included), GB*s
  uint64_t mem_peak = 0;  // bytes
  uint64_t bytes_in = 0, bytes_out = 0;  // on the wire, framing included
  uint64_t calls = 0;                    // sync + async calls
  // Ed25519 by the provider's receipt key (registered with the pool) over receipt_message();
  // empty: unsigned (a control-plane-2 provider). Not part of the totals: merge_receipt()
  // leaves it alone, and whoever sends a merged receipt signs it again.
  std::string signature;
};

// The bytes a receipt's signature covers: a domain tag, then every field that is billed, one
// per line, integers in decimal and memory as %.17g (exact for a double).
inline std::string receipt_message(const UsageReceipt& r) {
  char b[512];
  std::snprintf(
      b, sizeof b, "rgpu-receipt-1\n%s\n%llu\n%llu\n%d\n%llu\n%llu\n%.17g\n%llu\n%llu\n%llu\n%llu",
      r.lease_id.substr(0, 128).c_str(), static_cast<unsigned long long>(r.session_id),
      static_cast<unsigned long long>(r.seq), r.final ? 1 : 0,
      static_cast<unsigned long long>(r.wall_ms), static_cast<unsigned long long>(r.busy_ns),
      r.mem_gb_s, static_cast<unsigned long long>(r.mem_peak),
      static_cast<unsigned long long>(r.bytes_in), static_cast<unsigned long long>(r.bytes_out),
      static_cast<unsigned long long>(r.calls));
  return b;
}

// Folds `r` into `into` (the same session's): each total its maximum; final sticks.
inline void merge_receipt(UsageReceipt* into, const UsageReceipt& r) {
  into->seq = std::max(into->seq, r.seq);
  into->final = into->final || r.final;
  into->wall_ms = std::max(into->wall_ms, r.wall_ms);
  into->busy_ns = std::max(into->busy_ns, r.busy_ns);
  into->mem_gb_s = std::max(into->mem_gb_s, r.mem_gb_s);
  into->mem_peak = std::max(into->mem_peak, r.mem_peak);
  into->bytes_in = std::max(into->bytes_in, r.bytes_in);
  into->bytes_out = std::max(into->bytes_out, r.bytes_out);
  into->calls = std::max(into->calls, r.calls);
}

// "U seq final wall_ms busy_ns mem_gb_s mem_peak bytes_in bytes_out calls" (the worker's
// channel; the lease is the channel's).
inline std::string receipt_line(const UsageReceipt& r) {
  char b[256];
  std::snprintf(
      b, sizeof b, "U %llu %d %llu %llu %.9g %llu %llu %llu %llu",
      static_cast<unsigned long long>(r.seq), r.final ? 1 : 0,
      static_cast<unsigned long long>(r.wall_ms), static_cast<unsigned long long>(r.busy_ns),
      r.mem_gb_s, static_cast<unsigned long long>(r.mem_peak),
      static_cast<unsigned long long>(r.bytes_in), static_cast<unsigned long long>(r.bytes_out),
      static_cast<unsigned long long>(r.calls));
  return b;
}

inline bool parse_receipt_line(const std::string& line, UsageReceipt* r) {
  unsigned long long seq, wall, busy, peak, in, out, calls;
  int fin;
  double gbs;
  char tail;
  if (std::sscanf(line.c_str(), "U %llu %d %llu %llu %lg %llu %llu %llu %llu %c", &seq, &fin, &wall,
                  &busy, &gbs, &peak, &in, &out, &calls, &tail) != 9)
    return false;
  if ((fin != 0 && fin != 1) || !(gbs >= 0)) return false;
  r->seq = seq, r->final = fin == 1, r->wall_ms = wall, r->busy_ns = busy, r->mem_gb_s = gbs;
  r->mem_peak = peak, r->bytes_in = in, r->bytes_out = out, r->calls = calls;
  return true;
}

}  // namespace rgpu::control
