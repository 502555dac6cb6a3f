// pool_manager/pool_state.h — the pool's decisions: tokens and roles, provider registry and
// health, placement into leases, lease lifecycle, drain/kill, usage. Transport-free (the RPC
// service in rpc_service.h is a thin adapter), single-threaded (call from one thread only).
//
// Contract:
// - Every state change is written through the Store before the call returns, so a restart with
//   the same Store resumes: providers, tokens and leases are kept; after a restart every provider
//   gets one `missing_after_ms` of grace to heartbeat again.
// - Roles: admin may do everything; user may acquire/release and see its own leases; provider may
//   register and heartbeat only providers it registered (a name owned by another token is
//   refused). Refusals are error strings saying what is needed.
// - A provider whose last heartbeat is older than missing_after_ms is missing: no new leases; it
//   is active again at its next heartbeat.
// - Leases: granted at acquire (memory reserved, expires after lease_ttl_s unless a session
//   starts), active when the server reports the session, ended/killed when it reports the end,
//   or when a heartbeat no longer lists it; released by release(); expired by sweep(). A
//   provider silent for lost_after_ms loses its sessions: sweep() ends them, dated when they
//   were last seen running.
// - Usage receipts (protocol/control/usage_receipt.h) from a lease's own provider are merged
//   into the lease (latest wins, totals never go down), also after it ended; others are
//   ignored. Each merge is written through put_lease_usage.
// - Billing (billing.h): a session starts under the current rate version; once it ended and
//   its final receipt is in (or its provider was lost, or lost_after_ms passed without one) it
//   is settled once: cost for its user, fee for the pool, earnings for its provider. Placement
//   skips providers whose GPU-hour rate is below their --min-price or above the user's
//   --max-price, and says so.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pool_manager/ledger.h"
#include "pool_manager/placement.h"
#include "pool_manager/records.h"
#include "pool_manager/store.h"
#include "protocol/control/lease.h"
#include "protocol/control/usage_receipt.h"

namespace rgpu::pool {

struct PoolConfig {
  uint32_t heartbeat_ms = 2000;
  uint32_t missing_after_ms = 6000;
  // A provider silent this long has lost its sessions: sweep() ends them at the last time they
  // were seen running (a heartbeat listing them or a receipt), not when the provider returns.
  uint32_t lost_after_ms = 60000;
  int64_t lease_ttl_s = 300;
  Policy policy = Policy::kBinpack;
  std::string version = "rgpu-pool 0.1";
};

struct Caller {
  std::string token_id;
  Role role = Role::kNone;
};

struct SessionEventIn {
  std::string lease_id;
  uint64_t session_id = 0;
  bool started = false;
  std::string reason;
  int64_t at = 0;
};

struct KillOut {
  std::string lease_id;
  uint64_t session_id = 0;
  std::string reason;
};

struct HeartbeatOut {
  std::string error;
  bool reregister = false;
  bool drained = false;
  std::string drain_reason;
  int64_t drain_deadline = 0;  // unix s; 0: none
  std::vector<KillOut> kills;
};

struct GrantOut {
  LeaseRecord lease;
  std::string gpu_name;
  std::string signed_lease;
};

struct AcquireOut {
  std::string error;
  bool retryable = false;
  std::vector<GrantOut> grants;
};

struct AcquireIn {
  uint32_t count = 1;
  uint64_t vram = 0;
  std::map<std::string, std::string> labels;
  std::string policy;  // "" = pool default
  std::string client_name;
  int64_t max_price = 0;  // micro per GPU-hour the user will pay; 0: no limit
  // The client's id for this request (up to 64 chars; "" : none). A second acquire with the same
  // id and token, through any replica, is answered with the first one's leases, never new ones.
  std::string request_id;
  uint32_t compute_milli = 0;  // each vGPU's compute share (compute_share.h); 0: none
  // Policy "nearest": the client's round trips to providers' endpoints, microseconds.
  std::map<std::string, uint32_t> rtt_us;
};

struct CandidatesOut {
  std::string error;
  std::vector<std::string> endpoints;  // providers that could take the request now
};

// A change to the rates (billing.h); unset fields keep the current version's values.
struct RateChangeIn {
  std::optional<int64_t> gpu_hour;  // the default, or the model's / provider's when named
  std::string model, provider;
  std::optional<int64_t> gib_hour, gb_moved;
  std::optional<bool> bill_busy;
  std::optional<uint32_t> fee_ppm;
};

struct UsageOut {
  std::string key, kind;  // kind: session | provider | user | day
  std::string name;       // what the key names, for people (provider, user, "provider / user")
  uint32_t sessions = 0;
  double gpu_seconds = 0, gib_seconds = 0;  // wall time held (receipts, else start to end)
  double busy_seconds = 0;
  uint64_t bytes = 0;              // in + out
  int64_t cost = 0, earnings = 0;  // settled charges, micro-units
  int64_t started = 0;             // session rows: unix s
};

class PoolState {
 public:
  using Clock = std::function<int64_t()>;  // unix milliseconds

  PoolState(Store& store, control::PoolKey key, PoolConfig cfg, Clock now_ms);

  // Creates the first admin token if the pool has no token yet; returns its secret ("" if
  // tokens exist).
  std::string bootstrap_admin();
  std::optional<Caller> authenticate(const std::string& token) const;
  // Returns the secret; *id gets the public id.
  std::string create_token(const Caller& c, Role role, const std::string& name, std::string* id,
                           std::string* error);
  std::vector<TokenRecord> tokens(const Caller& c, std::string* error) const;
  // Admin only: `id` (or a unique prefix of 6+ chars) never authenticates again, also on
  // connections already open; *name gets its name. An admin cannot revoke its own token.
  std::string revoke_token(const Caller& c, const std::string& id, std::string* name);
  bool token_valid(const std::string& token_id) const;
  std::string token_name(const std::string& token_id) const;  // "" when unknown
  // Admin only: what user token `id` (or a 6+ char prefix) may spend (0: no limit). Placement
  // refuses once its settled costs reach it.
  std::string set_credit_limit(const Caller& c, const std::string& id, int64_t limit);
  // The lease's user (or an admin) reports the client's own count of its session, once.
  std::string report_tally(const Caller& c, const std::string& lease_id, uint64_t wall_ms,
                           uint64_t bytes_in, uint64_t bytes_out);

  std::string register_provider(const Caller& c, ProviderRecord info, std::string* id);
  HeartbeatOut heartbeat(const Caller& c, const std::string& provider_id,
                         const std::vector<GpuRecord>& use,
                         const std::vector<SessionEventIn>& events,
                         const std::vector<std::string>& active_leases,
                         const std::vector<control::UsageReceipt>& receipts = {});

  AcquireOut acquire(const Caller& c, const AcquireIn& in);
  // The endpoints a client measures for policy "nearest" (at most kMaxCandidates).
  CandidatesOut candidates(const Caller& c, const AcquireIn& in);
  static constexpr size_t kMaxCandidates = 32;
  std::string release(const Caller& c, const std::vector<std::string>& lease_ids);

  std::string drain(const Caller& c, const std::string& provider, const std::string& reason,
                    int64_t deadline_unix);
  std::string undrain(const Caller& c, const std::string& provider);
  std::string remove(const Caller& c, const std::string& provider, bool force);
  // `id` is a lease id (or its unique prefix) or a session id; *lease_id gets the lease.
  std::string kill(const Caller& c, const std::string& id, const std::string& reason,
                   std::string* lease_id);

  std::vector<LeaseRecord> leases(const Caller& c, bool all) const;
  const std::vector<ProviderRecord>& providers() const { return providers_; }
  // Every lease, any state, unfiltered: for the pool's own views (utilisation.h), never a
  // caller's answer (leases() filters by role).
  const std::vector<LeaseRecord>& all_leases() const { return leases_; }
  bool provider_active(const ProviderRecord& p) const;
  bool provider_in_schedule(const ProviderRecord& p) const;
  uint32_t open_leases_on(const std::string& provider_id) const;
  // Sessions that ran at or after `since` (unix s), summed `by` session, provider, user or day
  // ("" : provider and user rows for admins, session rows for users, provider rows for
  // providers). Admins see every session, providers those on the providers their token
  // registered, users their own.
  std::vector<UsageOut> usage(const Caller& c, int64_t since, const std::string& by,
                              std::string* error) const;

  // Billing (pool_billing.cc). Admin only: a new rate version from the current one and `ch`.
  std::string set_rates(const Caller& c, const RateChangeIn& ch, int64_t* version);
  const std::vector<RateCard>& rates() const { return rates_; }  // every version, any role
  const RateCard& current_rates() const { return rates_.empty() ? no_rates_ : rates_.back(); }
  // Admin only: a payout made on an external rail to `provider` (name or id), in the ledger.
  std::string record_payout(const Caller& c, const std::string& provider, int64_t amount,
                            const std::string& ref);

  // The ledger (ledger.h): the signed head now, and the entries `c` may see from `since`
  // (unix s): admins all, a provider those of the providers its token registered, a user those
  // of its token; rate versions are everyone's.
  control::TreeHead ledger_head();
  std::string ledger_entries(const Caller& c, int64_t since,
                             std::vector<const LedgerEntry*>* out) const;
  const Ledger& ledger() const { return ledger_; }

  struct Balance {
    std::string kind, id, name;  // "provider" (id: provider id) or "user" (id: token id)
    uint32_t sessions = 0;
    int64_t earned = 0, paid = 0, spent = 0;  // micro-units, from settled charges and payouts
    int64_t credit_limit = 0;                 // users: 0 = none
  };
  // Admins: everyone's; a provider: the providers its token registered; a user: its own.
  std::vector<Balance> balances(const Caller& c) const;
  // The pool's state as Prometheus text (pool_metrics.cc): providers by state, GPUs' memory
  // lent and leased, sessions, placements by result, and from receipts and charges the device
  // busy time, bytes moved, earnings and spend; per provider only where bounded (no per-lease
  // label). Called on the pool's thread; the health endpoint serves the text.
  std::string metrics_text() const;
  int64_t spent_by(const std::string& token_id) const;  // settled costs

  // Expires granted leases past their expiry and ends the sessions of providers silent for
  // lost_after_ms (at their last sighting); call periodically.
  void sweep();

  // Replicas (store.h): what other pools sharing the store wrote, caught up now, and the
  // heartbeats this pool saw exchanged with theirs. Call periodically (the pool does each
  // second); every change also catches up first, so reads are at most one period behind.
  void refresh();
  // A connect whose token is unknown here: catches up (at most every 250 ms, whoever asks, so
  // strangers' attempts cost the store little) and says whether it did. Never throws.
  bool refresh_for_unknown_token();
  // Whether this pool does the once-only periodic work (the store's leader lock).
  bool leads() { return store_.lead(); }

  const std::string& public_key() const { return key_.public_raw; }
  // Every key this pool's store has signed with (signing_keys.h), for auditing the ledger.
  std::vector<std::string> ledger_keys();
  // The keys servers accept leases under (signing_keys.h), read at start and at each refresh.
  const std::vector<std::string>& published_keys() const { return published_keys_; }
  const PoolConfig& config() const { return cfg_; }
  int64_t started_unix() const { return started_ms_ / 1000; }

 private:
  // One store transaction around a change (pool_internal.h): the outermost one begins it and
  // first catches up with what other replicas wrote, so the change is decided on the whole
  // truth; a throw rolls it back and reloads memory from the store.
  class Writing;
  friend class Writing;
  // Memory from the store (at start, and after a failed transaction).
  void load_all(bool ledger_too = true);
  // Whether a heartbeat listing `listed` ends a session or passes a drain deadline (so writes).
  bool heartbeat_ends_something(const ProviderRecord& p, const std::vector<std::string>& listed,
                                int64_t now_unix);
  // heartbeat() past its checks, at one clock reading (inside its transaction when it writes).
  HeartbeatOut heartbeat_at(const Caller& c, const std::string& provider_id,
                            const std::vector<GpuRecord>& use,
                            const std::vector<SessionEventIn>& events,
                            const std::vector<std::string>& active_leases,
                            const std::vector<control::UsageReceipt>& receipts, int64_t now_ms);
  void catch_up();  // applies changes_since(rev_) (shared stores)
  void index();     // rebuilds the maps below from providers_ and leases_
  void add_lease(LeaseRecord l);
  // The leases open on provider `id` (indexes into leases_); closed ones are dropped as found.
  std::vector<size_t>& open_on(const std::string& id);
  void count_payout(const LedgerEntry& e);  // into paid_
  // AcquireIn -> PlacementRequest; "" or why the request is refused.
  std::string placement_request(const AcquireIn& in, PlacementRequest* req) const;
  GrantOut grant_of(const LeaseRecord& l) const;

  ProviderRecord* find_provider(const std::string& id_or_name);
  // The token whose id is `id` or starts with it (6+ chars, unique); else nullptr and why.
  TokenRecord* find_token(const std::string& id, std::string* error);
  LeaseRecord* find_lease(const std::string& id);
  // Every provider as placement sees it (placement.h), kept between calls (view_cache_).
  const std::vector<ProviderView>& views();
  // Ends granted leases past their expiry, in expiry order (granted_by_expiry_).
  void expire_granted();
  void end_lease(LeaseRecord& l, LeaseState s, const std::string& reason, int64_t at);
  const RateCard& rate_card(int64_t version) const;
  // Prices an ended session once, from its receipts and the rates it started under; written
  // through put_charge and never changed after. `provider_lost`: billed to its last sighting.
  void settle(LeaseRecord& l, bool provider_lost);
  // Settles ended sessions whose final receipt has not come within lost_after_ms.
  void settle_overdue();
  void check_dispute(LeaseRecord& l);  // receipts against the client's tally, once both are in
  static bool receipt_changed(const control::UsageReceipt& a, const control::UsageReceipt& b);
  // The lease's merged totals, as a ledger entry, with the provider's signature of exactly
  // those totals when there is one.
  void ledger_receipt(const LeaseRecord& l, const std::string& provider_signature);
  // A provider's receipt held to what the pool saw: wall time at most the time the lease has
  // existed (plus a minute), busy time at most wall time, memory at most the lease's cap for
  // that time; non-finite memory counts as none.
  control::UsageReceipt bounded(const LeaseRecord& l, control::UsageReceipt r,
                                int64_t now_ms) const;
  int64_t now_s() const { return now_ms_() / 1000; }

  Store& store_;
  control::PoolKey key_;
  PoolConfig cfg_;
  Clock now_ms_;
  int64_t started_ms_;
  std::vector<TokenRecord> tokens_;
  std::vector<ProviderRecord> providers_;
  std::vector<LeaseRecord> leases_;
  std::vector<RateCard> rates_;          // by version, 1, 2, ...
  RateCard no_rates_;                    // version 0: everything free
  Ledger ledger_;                        // after store_ and key_, which it uses
  std::map<std::string, int64_t> paid_;  // provider id -> payouts recorded (from the ledger)
  uint64_t placed_ = 0, refused_ = 0;    // acquire() results since start (metrics)
  uint64_t receipts_refused_ = 0;        // receipts whose signature did not verify (metrics)
  std::map<std::string, bool> removed_;  // provider ids removed while their server may live

  // Indexes over providers_ and leases_ (rebuilt by index(), kept by every push): what keeps a
  // heartbeat and a placement from scanning every lease the pool ever granted.
  std::unordered_map<std::string, size_t> provider_at_, provider_named_, lease_at_;
  std::unordered_multimap<std::string, size_t> provider_at_endpoint_;  // lowercased host:port
  std::unordered_map<std::string, std::vector<size_t>> open_on_;       // provider id -> leases
  std::unordered_map<std::string, std::vector<size_t>> requested_;     // token + request id
  std::vector<size_t> no_leases_;                                      // open_on() of none
  std::multimap<int64_t, size_t> granted_by_expiry_;  // granted leases (some since opened)
  // views()' cache: rebuilt when providers_gen_ (bumped by every change to a provider record)
  // or the rate version moved; schedules: 0 unparsable, 1 always, 2 windows.
  std::vector<ProviderView> view_cache_;
  std::vector<uint8_t> view_schedules_;
  uint64_t providers_gen_ = 0, view_gen_ = ~0ull;
  int64_t view_rates_ = -1;
  int write_depth_ = 0;  // Writing nesting
  // A transaction failed and memory could not be reloaded from the store then: the next
  // transaction reloads first (and refuses to go on if it cannot).
  bool needs_reload_ = false;
  uint64_t rev_ = 0;               // the store's change feed, applied up to here
  std::vector<Liveness> seen_;     // heartbeats seen since the last refresh (shared stores)
  std::string liveness_mark_;      // load_liveness()'s watermark
  int64_t liveness_asked_ms_ = 0;  // when the read load_liveness() answers next was asked for
  int64_t unknown_token_refresh_ms_ = 0;
  std::vector<std::string> published_keys_;
};

std::string hash_token(const std::string& secret);

}  // namespace rgpu::pool
