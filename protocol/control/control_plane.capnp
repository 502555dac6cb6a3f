# rgpu control plane: what rgpu-server (providers), rgpu (CLI, `rgpu run`) and the shim say to
# rgpu-pool over Cap'n Proto RPC. The pool is never on the data path.
#
# Flow: the bootstrap capability is `Pool`. A caller first calls `connect` with its token and the
# control-plane version range it speaks (protocol/control/version.h); the pool answers with the
# version it picked (or an error naming both ranges), the caller's role and a `Session`
# capability whose methods check that role on every call. Errors that the caller must act on
# come back as `error` text in results (empty = ok), never as a silent success.
#
# Versioning: a new field is added at the end with a new ordinal; anything that changes meaning
# bumps kControlVersion.
@0xc0c6cb8cc5a2f9e1;

$import "/capnp/c++.capnp".namespace("rgpu::cp");

enum Role {
  none @0;
  admin @1;
  user @2;
  provider @3;
}

struct Label {
  key @0 :Text;
  value @1 :Text;
}

# One GPU a provider lends.
struct GpuOffer {
  index @0 :UInt32;            # the server's device ordinal
  name @1 :Text;
  memoryTotal @2 :UInt64;      # bytes on the device
  memoryLent @3 :UInt64;       # bytes the provider lends (<= memoryTotal)
  ccMajor @4 :UInt32;
  ccMinor @5 :UInt32;
  driverVersion @6 :Text;
  uuid @7 :Text;
  computeLent @8 :UInt32;      # thousandths of its device time lent (--lend-compute; 0: all)
}

struct ProviderInfo {
  name @0 :Text;               # stable identity of this server (re-registration keeps the id)
  endpoint @1 :Text;           # host:port clients dial for the data plane
  labels @2 :List(Label);
  schedule @3 :Text;           # "" = always; "22:00-07:00[,HH:MM-HH:MM]" local time of the pool
  gpus @4 :List(GpuOffer);
  serverVersion @5 :Text;
  minPriceMicro @6 :Int64;     # per GPU-hour it lends for (micro-units); 0: any
  receiptKey @7 :Data;         # Ed25519 public key its receipts are signed with (control plane 3)
}

struct GpuUse {
  index @0 :UInt32;
  memoryUsed @1 :UInt64;
  sessions @2 :UInt32;
  utilization @3 :Float32;     # 0..1 if known, else -1
}

struct SessionEvent {
  leaseId @0 :Text;
  sessionId @1 :UInt64;
  started @2 :Bool;            # true: started; false: ended
  reason @3 :Text;             # why it ended
  atUnix @4 :Int64;
  memoryPeak @5 :UInt64;
}

# A session's measured use: cumulative totals since it started (protocol/control/usage_receipt.h).
struct UsageReceipt {
  leaseId @0 :Text;
  sessionId @1 :UInt64;
  seq @2 :UInt64;
  final @3 :Bool;
  wallMs @4 :UInt64;
  busyNs @5 :UInt64;
  memGbS @6 :Float64;
  memPeak @7 :UInt64;
  bytesIn @8 :UInt64;
  bytesOut @9 :UInt64;
  calls @10 :UInt64;
  signature @11 :Data;         # by the provider's receiptKey over receipt_message(); control plane 3
}

struct SessionKill {
  leaseId @0 :Text;
  sessionId @1 :UInt64;
  reason @2 :Text;
}

# A placed vGPU: where to connect and the signed lease to present in Hello.lease.
struct Grant {
  endpoint @0 :Text;
  lease @1 :Data;              # protocol/control/lease.h wire bytes
  leaseId @2 :Text;
  providerName @3 :Text;
  gpuIndex @4 :UInt32;
  gpuName @5 :Text;
  vramBytes @6 :UInt64;
  expiresUnix @7 :Int64;
  computeMilli @8 :UInt32;     # its compute share in thousandths of the GPU (0: none stated)
}

struct AcquireRequest {
  count @0 :UInt32;
  vramBytes @1 :UInt64;        # 0: whole GPUs
  labels @2 :List(Label);
  policy @3 :Text;             # "" (pool default), "binpack" or "spread"
  clientName @4 :Text;
  maxPriceMicro @5 :Int64;     # per GPU-hour the user will pay (micro-units); 0: no limit
  requestId @6 :Text;          # control plane 4: the client's id; a repeat gets the same leases
  computeMilli @7 :UInt32;     # `rgpu run --compute`: thousandths of a GPU each (0: none)
  rtts @8 :List(EndpointRtt);  # policy "nearest": the client's round trips to candidates
}

# A round trip the client measured to a provider's data-plane endpoint (policy "nearest").
struct EndpointRtt {
  endpoint @0 :Text;
  rttUs @1 :UInt32;
}

struct ProviderRow {
  id @0 :Text;
  name @1 :Text;
  endpoint @2 :Text;
  state @3 :Text;              # active | missing
  drained @4 :Bool;
  drainReason @5 :Text;
  drainDeadlineUnix @6 :Int64;
  inSchedule @7 :Bool;
  schedule @8 :Text;
  labels @9 :List(Label);
  gpus @10 :List(GpuOffer);
  use @11 :List(GpuUse);
  lastHeartbeatUnix @12 :Int64;
  ownerToken @13 :Text;
  activeLeases @14 :UInt32;
  serverVersion @15 :Text;
  registeredUnix @16 :Int64;
}

struct LeaseRow {
  leaseId @0 :Text;
  providerId @1 :Text;
  providerName @2 :Text;
  endpoint @3 :Text;
  gpuIndex @4 :UInt32;
  vramBytes @5 :UInt64;
  wholeGpu @6 :Bool;
  state @7 :Text;              # granted | active | ended | expired | released | killed
  sessionId @8 :UInt64;
  tokenId @9 :Text;
  clientName @10 :Text;
  createdUnix @11 :Int64;
  expiresUnix @12 :Int64;
  startedUnix @13 :Int64;
  endedUnix @14 :Int64;
  endReason @15 :Text;
  usage @16 :UsageReceipt;     # merged receipts (all zero before the first)
  receipts @17 :UInt32;        # how many receipts arrived
  rateVersion @18 :Int64;      # the rates in force when its session started
  charge @19 :ChargeRow;       # settledUnix 0: not settled yet
  tallyWallMs @20 :UInt64;     # the client's own count (0: none reported)
  tallyBytesIn @21 :UInt64;
  tallyBytesOut @22 :UInt64;
  dispute @23 :Text;           # "" or how the receipts and the client's count disagree
  computeMilli @24 :UInt32;    # its compute share, thousandths of the GPU (0: none stated)
}

# Money in micro-units (1 credit = 1,000,000), pool_manager/billing.h.
struct ChargeRow {
  rateVersion @0 :Int64;
  billedMs @1 :UInt64;
  cost @2 :Int64;
  fee @3 :Int64;
  earnings @4 :Int64;
  settledUnix @5 :Int64;
}

struct RateOverride {
  key @0 :Text;
  gpuHour @1 :Int64;
}

struct RateRow {
  version @0 :Int64;
  setUnix @1 :Int64;
  setBy @2 :Text;
  gpuHour @3 :Int64;
  byModel @4 :List(RateOverride);
  byProvider @5 :List(RateOverride);
  gibHour @6 :Int64;
  gbMoved @7 :Int64;
  billBusy @8 :Bool;
  feePpm @9 :UInt32;
}

# The ledger (pool_manager/ledger.h, protocol/control/merkle.h): a signed tree head and
# entries with their inclusion proofs against it.
struct TreeHeadRow {
  size @0 :UInt64;
  timeUnix @1 :Int64;
  root @2 :Data;
  signature @3 :Data;
}

struct LedgerEntryRow {
  index @0 :UInt64;
  timeUnix @1 :Int64;
  kind @2 :Text;
  providerId @3 :Text;
  tokenId @4 :Text;
  prev @5 :Data;
  leaf @6 :Data;
  body @7 :Text;
  proof @8 :List(Data);      # inclusion in the head's tree, nearest sibling first
}

struct BalanceRow {
  kind @0 :Text;             # provider | user
  id @1 :Text;               # provider id or token id
  name @2 :Text;
  sessions @3 :UInt32;
  earned @4 :Int64;          # providers: earnings of settled sessions (micro-units)
  paid @5 :Int64;            # providers: payouts recorded
  spent @6 :Int64;           # users: cost of settled sessions
  creditLimit @7 :Int64;     # users: 0 = none
}

# A change to the rates: only the fields marked set change; a new version keeps the rest.
struct RateChange {
  gpuHour @0 :Int64;
  setGpuHour @1 :Bool;
  model @2 :Text;              # gpuHour applies to this GPU model (its name) ...
  provider @3 :Text;           # ... or to this provider, instead of the default
  gibHour @4 :Int64;
  setGibHour @5 :Bool;
  gbMoved @6 :Int64;
  setGbMoved @7 :Bool;
  billBusy @8 :Bool;
  setBillBusy @9 :Bool;
  feePpm @10 :UInt32;
  setFeePpm @11 :Bool;
}

struct TokenRow {
  id @0 :Text;
  role @1 :Role;
  name @2 :Text;
  createdUnix @3 :Int64;
  revokedUnix @4 :Int64;       # 0: valid
}

struct UsageRow {
  key @0 :Text;                # session (lease id prefix), provider id, token id or day
  kind @1 :Text;               # "session", "provider", "user" or "day"
  sessions @2 :UInt32;
  gpuSeconds @3 :Float64;      # wall time held
  gibSeconds @4 :Float64;      # vram GiB x seconds
  name @5 :Text;               # for people: provider name, user name, "provider / user"
  busySeconds @6 :Float64;
  bytes @7 :UInt64;            # in + out
  cost @8 :Int64;              # settled charges (micro-units)
  earnings @9 :Int64;
  startedUnix @10 :Int64;      # session rows
}

struct StatusInfo {
  version @0 :Text;
  providers @1 :UInt32;
  providersActive @2 :UInt32;
  providersMissing @3 :UInt32;
  providersDrained @4 :UInt32;
  gpus @5 :UInt32;
  memoryLent @6 :UInt64;
  memoryLeased @7 :UInt64;
  leasesGranted @8 :UInt32;
  leasesActive @9 :UInt32;
  policy @10 :Text;
  startedUnix @11 :Int64;
}

interface Pool {
  connect @0 (token :Text, controlVersion :UInt32, minControlVersion :UInt32, clientName :Text)
      -> (error :Text, controlVersion :UInt32, role :Role, tokenId :Text, session :Session);
}

interface Session {
  # --- providers (role provider or admin) ---
  register @0 (info :ProviderInfo)
      -> (error :Text, providerId :Text, poolPublicKey :Data, heartbeatMs :UInt32);
  heartbeat @1 (providerId :Text, use :List(GpuUse), events :List(SessionEvent),
                activeLeases :List(Text), receipts :List(UsageReceipt))
      -> (error :Text, kill :List(SessionKill), drained :Bool, reregister :Bool,
          drainReason :Text, drainDeadlineUnix :Int64,  # control plane 3: its sessions are warned
          poolKeys :List(Data));  # control plane 4: every key leases may be signed with now

  # --- users (role user or admin) ---
  acquire @2 (req :AcquireRequest) -> (error :Text, grants :List(Grant), retryable :Bool);
  release @3 (leaseIds :List(Text)) -> (error :Text);

  # --- admin (role admin; listing also for user/provider where noted) ---
  listProviders @4 () -> (error :Text, providers :List(ProviderRow));
  drain @5 (provider :Text, reason :Text, deadlineUnix :Int64) -> (error :Text);
  undrain @6 (provider :Text) -> (error :Text);
  remove @7 (provider :Text, force :Bool) -> (error :Text);
  listLeases @8 (all :Bool) -> (error :Text, leases :List(LeaseRow));
  killSession @9 (id :Text, reason :Text) -> (error :Text, leaseId :Text);
  createToken @10 (role :Role, name :Text) -> (error :Text, token :Text, id :Text);
  listTokens @11 () -> (error :Text, tokens :List(TokenRow));
  status @12 () -> (error :Text, status :StatusInfo);
  usage @13 (sinceUnix :Int64, by :Text) -> (error :Text, rows :List(UsageRow));
  revokeToken @14 (id :Text) -> (error :Text, name :Text);
  setRates @15 (change :RateChange) -> (error :Text, version :Int64);
  listRates @16 () -> (error :Text, rates :List(RateRow));
  # The ledger: the head signed now (and the key to check it with); entries from `fromIndex`
  # (at most `limit`, 0: 1000, at most 10000) with time >= sinceUnix that the caller may see,
  # with inclusion proofs in the tree of `treeSize` entries (0: the head's); a consistency
  # proof from an earlier size to the head.
  ledgerHead @17 () -> (error :Text, head :TreeHeadRow, poolKey :Data);
  ledgerEntries @18 (sinceUnix :Int64, fromIndex :UInt64, limit :UInt32, treeSize :UInt64)
      -> (error :Text, head :TreeHeadRow, entries :List(LedgerEntryRow), next :UInt64,
          poolKey :Data);
  ledgerConsistency @19 (first :UInt64)
      -> (error :Text, head :TreeHeadRow, firstRoot :Data, proof :List(Data));
  recordPayout @20 (provider :Text, amount :Int64, ref :Text) -> (error :Text);
  balances @21 () -> (error :Text, rows :List(BalanceRow));
  setCreditLimit @22 (tokenId :Text, limit :Int64) -> (error :Text);
  # The client's own count of a session (the shim's tally, interpose/tally.h), sent by the
  # lease's user at its end; the pool flags a session whose receipts disagree with it.
  reportTally @23 (leaseId :Text, wallMs :UInt64, bytesIn :UInt64, bytesOut :UInt64)
      -> (error :Text);
  # Control plane 5 (users): the data-plane endpoints of providers that could take `req` now
  # (at most 32), for the client to measure before it acquires with policy "nearest".
  candidates @24 (req :AcquireRequest) -> (error :Text, endpoints :List(Text));
}

# The signed part of a lease (protocol/control/lease.h). Wire: "RGL1", u32 length, these bytes
# (a flat message), 64-byte Ed25519 signature over everything before it.
struct LeaseClaims {
  leaseId @0 :Text;
  endpoint @1 :Text;
  providerId @2 :Text;
  gpuIndex @3 :UInt32;
  vramBytes @4 :UInt64;
  wholeGpu @5 :Bool;
  issuedUnix @6 :Int64;
  expiresUnix @7 :Int64;
  computeMilli @8 :UInt32;     # the compute share the server enforces (0: none stated)
}
