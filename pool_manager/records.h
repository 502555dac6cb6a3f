// pool_manager/records.h — what the pool knows: tokens, providers with their GPUs, leases.
//
// Contract: plain values, no behaviour. Fields marked (live) are refreshed by heartbeats and are
// not persisted; everything else is written through the Store (store.h) and survives a restart.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pool_manager/billing.h"
#include "protocol/control/usage_receipt.h"

namespace rgpu::pool {

enum class Role : int { kNone = 0, kAdmin = 1, kUser = 2, kProvider = 3 };
const char* role_text(Role r);

struct TokenRecord {
  std::string id;    // short public id (first 12 hex of the hash)
  std::string hash;  // SHA-256 hex of the secret token; the secret itself is never stored
  Role role = Role::kNone;
  std::string name;
  int64_t created = 0;
  int64_t revoked = 0;  // unix s; 0 = valid. A revoked token authenticates nothing, ever again.
  int64_t credit_limit = 0;  // micro-units a user token may spend; 0: no limit
};

struct GpuRecord {
  uint32_t index = 0;
  std::string name;
  uint64_t memory_total = 0;
  uint64_t memory_lent = 0;
  // Thousandths of its device time lent (--lend-compute); 0: not stated (a server from before
  // control plane 5, which cannot enforce a share).
  uint32_t compute_lent = 0;
  uint32_t cc_major = 0, cc_minor = 0;
  std::string driver_version;
  std::string uuid;
  uint64_t memory_used = 0;  // (live)
  uint32_t sessions = 0;     // (live)
  float utilization = -1.f;  // (live)
};

struct ProviderRecord {
  std::string id;
  std::string name;
  std::string endpoint;
  std::string owner_token;  // token id that registered it
  std::map<std::string, std::string> labels;
  std::string schedule;
  std::string server_version;
  std::vector<GpuRecord> gpus;
  bool drained = false;
  std::string drain_reason;
  int64_t drain_deadline = 0;  // unix s; 0 = none
  int64_t min_price = 0;       // micro per GPU-hour it will lend for (rgpu-server --min-price)
  // Ed25519 public key (32 bytes) its receipts must verify under; empty: it registered without
  // one (control plane 2) and its receipts are taken unsigned. Set by each registration.
  std::string receipt_key;
  int64_t registered = 0;
  int64_t last_heartbeat_ms = 0;  // (live) unix ms
};

enum class LeaseState { kGranted, kActive, kEnded, kExpired, kReleased, kKilled };
const char* lease_state_text(LeaseState s);
bool parse_lease_state(const std::string& s, LeaseState* out);
// Granted and active leases hold memory on their GPU.
inline bool lease_open(LeaseState s) {
  return s == LeaseState::kGranted || s == LeaseState::kActive;
}

struct LeaseRecord {
  std::string id;
  std::string provider_id;
  std::string provider_name;
  std::string endpoint;
  uint32_t gpu_index = 0;
  uint64_t vram = 0;
  bool whole_gpu = false;
  uint32_t compute_milli = 0;  // its compute share (compute_share.h); 0: none stated
  LeaseState state = LeaseState::kGranted;
  uint64_t session_id = 0;
  std::string token_id;
  std::string client_name;
  // The id the client gave its acquire and this lease's place in the answer, "ID#k" ("" : no
  // id): a retried acquire with the same id and token gets these leases again, in that order.
  std::string request_id;
  int64_t created = 0, expires = 0, started = 0, ended = 0;  // unix s
  std::string end_reason;
  bool kill_requested = false;
  std::string kill_reason;
  // What the session used: its provider's usage receipts, merged (latest wins, totals never go
  // down). Written through Store::put_lease_usage.
  control::UsageReceipt usage;
  uint32_t receipts = 0;        // how many arrived (duplicates included)
  int64_t last_receipt_ms = 0;  // unix ms the last one arrived
  int64_t last_seen_ms = 0;     // (live) the last heartbeat or receipt that showed it running
  int64_t rate_version = 0;     // the rates in force when it was granted (what the user accepted)
  std::string gpu_model;        // its GPU's name when granted (billing is by it)
  uint64_t gpu_lent = 0;        // its GPU's lent memory when granted (a slice pays its share)
  Charge charge;                // settled once the session ended (billing.h)
  // The client's own count (the shim's tally, reported by its user), and the disagreement with
  // the receipts when there is one: bytes beyond 1 % (and 16 KiB), wall time beyond 2 s.
  uint64_t tally_wall_ms = 0, tally_bytes_in = 0, tally_bytes_out = 0;
  bool tally_reported = false;
  std::string dispute;
};

}  // namespace rgpu::pool
