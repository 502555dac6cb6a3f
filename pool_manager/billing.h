// pool_manager/billing.h — rates, and what an ended session costs its user and earns its
// provider. Pure: no clock, no store, no I/O.
//
// Contract:
// - Money is an integer count of micro-units everywhere (protocol/control/money.h).
// - A RateCard is one version of the pool's rates. Versions are numbered 1, 2, ... and never
//   change once set; a change is a new version (RateCard::next keeps what it does not touch).
//   Version 0 (no rates set) prices everything at 0.
// - gpu_hour_rate(): the provider's own rate if set, else the GPU model's (its name, exact),
//   else the default. A slice pays for the share of the GPU's lent memory it holds.
// - charge(): billed time is wall time held (or device busy time when the card bills busy),
//   from the session's merged receipts; a session whose provider was lost, or that has no
//   receipts at all, is billed at least from its start to its end (or last sighting). Busy
//   time is billed at most the wall time. Every term is computed in 128 bits and the cost
//   saturates at kMaxCost, so no input can wrap it. cost = GPU time x rate x share + GiB-hours x
//   memory rate + GB moved x transfer rate; the pool's fee is cost x fee_ppm / 1e6 (rounded half
//   up) and the provider earns cost - fee, so cost == fee + earnings exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "protocol/control/money.h"
#include "protocol/control/usage_receipt.h"

namespace rgpu::pool {

using control::format_money;
using control::kMicro;
using control::parse_money;

struct RateCard {
  int64_t version = 0;
  int64_t set_unix = 0;
  std::string set_by;                                   // token id of the admin who set it
  int64_t gpu_hour = 0;                                 // micro per GPU-hour, default
  std::map<std::string, int64_t> gpu_hour_by_model;     // GPU name -> micro per GPU-hour
  std::map<std::string, int64_t> gpu_hour_by_provider;  // provider name -> micro per GPU-hour
  int64_t gib_hour = 0;                                 // micro per GiB-hour of device memory held
  int64_t gb_moved = 0;                                 // micro per GB (1e9 bytes) in + out
  bool bill_busy = false;  // bill device busy time instead of wall time
  uint32_t fee_ppm = 0;    // the pool's share, parts per million of the cost

  int64_t gpu_hour_rate(const std::string& provider, const std::string& gpu_model) const;
};

struct SessionFacts {
  control::UsageReceipt usage;     // merged receipts
  int64_t started = 0, ended = 0;  // unix s
  bool provider_lost = false;
  std::string provider, gpu_model;
  uint64_t vram = 0, gpu_lent = 0;  // the lease's memory and its GPU's lent memory
  bool whole_gpu = false;
  uint32_t receipts = 0;  // none (a server speaking control plane 1): billed start to end
};

struct Charge {
  int64_t rate_version = 0;
  uint64_t billed_ms = 0;
  int64_t cost = 0, fee = 0, earnings = 0;  // micro
  int64_t settled_unix = 0;                 // 0: not settled yet
};

inline constexpr int64_t kMaxCost = int64_t{1} << 60;  // micro-units

Charge charge(const RateCard& rates, const SessionFacts& s);

}  // namespace rgpu::pool
