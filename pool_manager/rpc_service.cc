// pool_manager/rpc_service.cc — see rpc_service.h.
#include "pool_manager/rpc_service.h"

#include <capnp/message.h>

#include "pool_manager/schedule.h"
#include "protocol/control/control_version.h"

namespace rgpu::pool {
namespace {

cp::Role to_cp(Role r) {
  switch (r) {
    case Role::kAdmin:
      return cp::Role::ADMIN;
    case Role::kUser:
      return cp::Role::USER;
    case Role::kProvider:
      return cp::Role::PROVIDER;
    default:
      return cp::Role::NONE;
  }
}

Role from_cp(cp::Role r) {
  switch (r) {
    case cp::Role::ADMIN:
      return Role::kAdmin;
    case cp::Role::USER:
      return Role::kUser;
    case cp::Role::PROVIDER:
      return Role::kProvider;
    default:
      return Role::kNone;
  }
}

std::map<std::string, std::string> labels_of(capnp::List<cp::Label>::Reader ls) {
  std::map<std::string, std::string> m;
  for (auto l : ls) m[l.getKey().cStr()] = l.getValue().cStr();
  return m;
}

void set_labels(capnp::List<cp::Label>::Builder b, const std::map<std::string, std::string>& m) {
  unsigned i = 0;
  for (auto& [k, v] : m) {
    b[i].setKey(k);
    b[i].setValue(v);
    i++;
  }
}

void fill_gpu(cp::GpuOffer::Builder b, const GpuRecord& g) {
  b.setIndex(g.index);
  b.setName(g.name);
  b.setMemoryTotal(g.memory_total);
  b.setMemoryLent(g.memory_lent);
  b.setComputeLent(g.compute_lent);
  b.setCcMajor(g.cc_major);
  b.setCcMinor(g.cc_minor);
  b.setDriverVersion(g.driver_version);
  b.setUuid(g.uuid);
}

void fill_lease(cp::LeaseRow::Builder b, const LeaseRecord& l) {
  b.setLeaseId(l.id);
  b.setProviderId(l.provider_id);
  b.setProviderName(l.provider_name);
  b.setEndpoint(l.endpoint);
  b.setGpuIndex(l.gpu_index);
  b.setVramBytes(l.vram);
  b.setWholeGpu(l.whole_gpu);
  b.setComputeMilli(l.compute_milli);
  b.setState(lease_state_text(l.state));
  b.setSessionId(l.session_id);
  b.setTokenId(l.token_id);
  b.setClientName(l.client_name);
  b.setCreatedUnix(l.created);
  b.setExpiresUnix(l.expires);
  b.setStartedUnix(l.started);
  b.setEndedUnix(l.ended);
  b.setEndReason(l.kill_requested && lease_open(l.state) ? "kill requested: " + l.kill_reason
                                                         : l.end_reason);
  auto u = b.initUsage();
  u.setLeaseId(l.id);
  u.setSessionId(l.usage.session_id);
  u.setSeq(l.usage.seq);
  u.setFinal(l.usage.final);
  u.setWallMs(l.usage.wall_ms);
  u.setBusyNs(l.usage.busy_ns);
  u.setMemGbS(l.usage.mem_gb_s);
  u.setMemPeak(l.usage.mem_peak);
  u.setBytesIn(l.usage.bytes_in);
  u.setBytesOut(l.usage.bytes_out);
  u.setCalls(l.usage.calls);
  b.setReceipts(l.receipts);
  b.setRateVersion(l.rate_version);
  b.setTallyWallMs(l.tally_wall_ms);
  b.setTallyBytesIn(l.tally_bytes_in);
  b.setTallyBytesOut(l.tally_bytes_out);
  b.setDispute(l.dispute);
  auto ch = b.initCharge();
  ch.setRateVersion(l.charge.rate_version);
  ch.setBilledMs(l.charge.billed_ms);
  ch.setCost(l.charge.cost);
  ch.setFee(l.charge.fee);
  ch.setEarnings(l.charge.earnings);
  ch.setSettledUnix(l.charge.settled_unix);
}

capnp::Data::Reader bytes(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

void fill_head(cp::TreeHeadRow::Builder b, const control::TreeHead& h) {
  b.setSize(h.size);
  b.setTimeUnix(h.time);
  b.setRoot(bytes(h.root));
  b.setSignature(bytes(h.signature));
}

class SessionImpl final : public cp::Session::Server {
 public:
  SessionImpl(PoolState& s, Caller c) : s_(s), c_(std::move(c)) {}

  // A token revoked while this connection was open: every later call is refused.
  template <typename Context>
  bool revoked(Context& ctx) {
    if (s_.token_valid(c_.token_id)) return false;
    ctx.getResults().setError("this token was revoked by an admin; ask an admin for a new one");
    return true;
  }

  kj::Promise<void> setRates(SetRatesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto c = ctx.getParams().getChange();
    RateChangeIn in;
    if (c.getSetGpuHour()) in.gpu_hour = std::max<int64_t>(0, c.getGpuHour());
    in.model = c.getModel().cStr();
    in.provider = c.getProvider().cStr();
    if (c.getSetGibHour()) in.gib_hour = std::max<int64_t>(0, c.getGibHour());
    if (c.getSetGbMoved()) in.gb_moved = std::max<int64_t>(0, c.getGbMoved());
    if (c.getSetBillBusy()) in.bill_busy = c.getBillBusy();
    if (c.getSetFeePpm()) in.fee_ppm = c.getFeePpm();
    int64_t version = 0;
    auto r = ctx.getResults();
    r.setError(s_.set_rates(c_, in, &version));
    r.setVersion(version);
    return kj::READY_NOW;
  }

  kj::Promise<void> listRates(ListRatesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    const auto& rs = s_.rates();
    auto rows = ctx.getResults().initRates(static_cast<unsigned>(rs.size()));
    for (unsigned i = 0; i < rs.size(); i++) {
      const RateCard& r = rs[i];
      rows[i].setVersion(r.version);
      rows[i].setSetUnix(r.set_unix);
      rows[i].setSetBy(r.set_by);
      rows[i].setGpuHour(r.gpu_hour);
      auto bm = rows[i].initByModel(static_cast<unsigned>(r.gpu_hour_by_model.size()));
      unsigned k = 0;
      for (auto& [key, v] : r.gpu_hour_by_model) {
        bm[k].setKey(key);
        bm[k++].setGpuHour(v);
      }
      auto bp = rows[i].initByProvider(static_cast<unsigned>(r.gpu_hour_by_provider.size()));
      k = 0;
      for (auto& [key, v] : r.gpu_hour_by_provider) {
        bp[k].setKey(key);
        bp[k++].setGpuHour(v);
      }
      rows[i].setGibHour(r.gib_hour);
      rows[i].setGbMoved(r.gb_moved);
      rows[i].setBillBusy(r.bill_busy);
      rows[i].setFeePpm(r.fee_ppm);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> ledgerHead(LedgerHeadContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto r = ctx.getResults();
    fill_head(r.initHead(), s_.ledger_head());
    r.setPoolKey(bytes(s_.public_key()));
    return kj::READY_NOW;
  }

  kj::Promise<void> ledgerEntries(LedgerEntriesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    auto r = ctx.getResults();
    control::TreeHead head = s_.ledger_head();
    if (p.getTreeSize() && p.getTreeSize() != head.size) {
      head = s_.ledger().head_at(p.getTreeSize());
      if (head.size == 0) {
        r.setError("no ledger head was signed at size " + std::to_string(p.getTreeSize()));
        return kj::READY_NOW;
      }
    }
    std::vector<const LedgerEntry*> es;
    std::string err = s_.ledger_entries(c_, p.getSinceUnix(), &es);
    if (!err.empty()) {
      r.setError(err);
      return kj::READY_NOW;
    }
    const uint32_t limit = p.getLimit() == 0 ? 1000 : std::min<uint32_t>(p.getLimit(), 10000);
    std::vector<const LedgerEntry*> page;
    uint64_t next = 0;
    for (const LedgerEntry* e : es) {
      if (e->index < p.getFromIndex() || e->index >= head.size) continue;
      if (page.size() == limit) {
        next = e->index;
        break;
      }
      page.push_back(e);
    }
    auto rows = r.initEntries(static_cast<unsigned>(page.size()));
    for (unsigned i = 0; i < page.size(); i++) {
      const LedgerEntry& e = *page[i];
      rows[i].setIndex(e.index);
      rows[i].setTimeUnix(e.time);
      rows[i].setKind(e.kind);
      rows[i].setProviderId(e.provider_id);
      rows[i].setTokenId(e.token_id);
      rows[i].setPrev(bytes(e.prev));
      rows[i].setLeaf(bytes(e.leaf));
      rows[i].setBody(e.body);
      auto proof = s_.ledger().inclusion(e.index, head.size);
      auto pr = rows[i].initProof(static_cast<unsigned>(proof.size()));
      for (unsigned k = 0; k < proof.size(); k++) pr.set(k, bytes(proof[k]));
    }
    fill_head(r.initHead(), head);
    r.setNext(next);
    r.setPoolKey(bytes(s_.public_key()));
    return kj::READY_NOW;
  }

  kj::Promise<void> ledgerConsistency(LedgerConsistencyContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto r = ctx.getResults();
    const control::TreeHead head = s_.ledger_head();
    const uint64_t first = ctx.getParams().getFirst();
    if (first == 0 || first > head.size) {
      r.setError("the ledger has " + std::to_string(head.size) +
                 " entries; ask for a size from 1 to that");
      return kj::READY_NOW;
    }
    fill_head(r.initHead(), head);
    r.setFirstRoot(bytes(s_.ledger().root(first)));
    auto proof = s_.ledger().consistency(first, head.size);
    auto pr = r.initProof(static_cast<unsigned>(proof.size()));
    for (unsigned k = 0; k < proof.size(); k++) pr.set(k, bytes(proof[k]));
    return kj::READY_NOW;
  }

  kj::Promise<void> setCreditLimit(SetCreditLimitContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    ctx.getResults().setError(
        s_.set_credit_limit(c_, p.getTokenId().cStr(), std::max<int64_t>(0, p.getLimit())));
    return kj::READY_NOW;
  }

  kj::Promise<void> reportTally(ReportTallyContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    ctx.getResults().setError(
        s_.report_tally(c_, p.getLeaseId().cStr(), p.getWallMs(), p.getBytesIn(), p.getBytesOut()));
    return kj::READY_NOW;
  }

  kj::Promise<void> recordPayout(RecordPayoutContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    ctx.getResults().setError(
        s_.record_payout(c_, p.getProvider().cStr(), p.getAmount(), p.getRef().cStr()));
    return kj::READY_NOW;
  }

  kj::Promise<void> balances(BalancesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto bs = s_.balances(c_);
    auto rows = ctx.getResults().initRows(static_cast<unsigned>(bs.size()));
    for (unsigned i = 0; i < bs.size(); i++) {
      rows[i].setKind(bs[i].kind);
      rows[i].setId(bs[i].id);
      rows[i].setName(bs[i].name);
      rows[i].setSessions(bs[i].sessions);
      rows[i].setEarned(bs[i].earned);
      rows[i].setPaid(bs[i].paid);
      rows[i].setSpent(bs[i].spent);
      rows[i].setCreditLimit(bs[i].credit_limit);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> revokeToken(RevokeTokenContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    std::string name;
    auto r = ctx.getResults();
    r.setError(s_.revoke_token(c_, ctx.getParams().getId().cStr(), &name));
    r.setName(name);
    return kj::READY_NOW;
  }

  kj::Promise<void> register_(RegisterContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto in = ctx.getParams().getInfo();
    ProviderRecord p;
    p.name = in.getName().cStr();
    p.endpoint = in.getEndpoint().cStr();
    p.labels = labels_of(in.getLabels());
    p.schedule = in.getSchedule().cStr();
    p.server_version = in.getServerVersion().cStr();
    p.min_price = std::max<int64_t>(0, in.getMinPriceMicro());
    auto key = in.getReceiptKey();
    p.receipt_key.assign(reinterpret_cast<const char*>(key.begin()), key.size());
    for (auto g : in.getGpus()) {
      GpuRecord r;
      r.index = g.getIndex();
      r.name = g.getName().cStr();
      r.memory_total = g.getMemoryTotal();
      r.memory_lent = g.getMemoryLent();
      r.compute_lent = g.getComputeLent();  // 0 (a provider before control plane 5): all
      r.cc_major = g.getCcMajor();
      r.cc_minor = g.getCcMinor();
      r.driver_version = g.getDriverVersion().cStr();
      r.uuid = g.getUuid().cStr();
      p.gpus.push_back(r);
    }
    std::string id;
    std::string err = s_.register_provider(c_, std::move(p), &id);
    auto r = ctx.getResults();
    r.setError(err);
    if (err.empty()) {
      r.setProviderId(id);
      const std::string& k = s_.public_key();
      r.setPoolPublicKey(
          capnp::Data::Reader(reinterpret_cast<const kj::byte*>(k.data()), k.size()));
      r.setHeartbeatMs(s_.config().heartbeat_ms);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> heartbeat(HeartbeatContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto in = ctx.getParams();
    std::vector<GpuRecord> use;
    for (auto u : in.getUse()) {
      GpuRecord g;
      g.index = u.getIndex();
      g.memory_used = u.getMemoryUsed();
      g.sessions = u.getSessions();
      g.utilization = u.getUtilization();
      use.push_back(g);
    }
    std::vector<SessionEventIn> events;
    for (auto e : in.getEvents())
      events.push_back({e.getLeaseId().cStr(), e.getSessionId(), e.getStarted(),
                        e.getReason().cStr(), e.getAtUnix()});
    std::vector<std::string> active;
    for (auto a : in.getActiveLeases()) active.push_back(a.cStr());
    std::vector<control::UsageReceipt> receipts;
    for (auto u : in.getReceipts()) {
      control::UsageReceipt r;
      r.lease_id = u.getLeaseId().cStr();
      r.session_id = u.getSessionId();
      r.seq = u.getSeq();
      r.final = u.getFinal();
      r.wall_ms = u.getWallMs();
      r.busy_ns = u.getBusyNs();
      r.mem_gb_s = u.getMemGbS();  // as signed; PoolState::bounded() counts NaN and < 0 as 0
      r.mem_peak = u.getMemPeak();
      r.bytes_in = u.getBytesIn();
      r.bytes_out = u.getBytesOut();
      r.calls = u.getCalls();
      auto sig = u.getSignature();
      r.signature.assign(reinterpret_cast<const char*>(sig.begin()), sig.size());
      receipts.push_back(std::move(r));
    }
    HeartbeatOut out = s_.heartbeat(c_, in.getProviderId().cStr(), use, events, active, receipts);
    auto r = ctx.getResults();
    r.setError(out.error);
    r.setReregister(out.reregister);
    r.setDrained(out.drained);
    const auto& keys = s_.published_keys();
    auto pk = r.initPoolKeys(static_cast<unsigned>(keys.size()));
    for (unsigned i = 0; i < keys.size(); i++) pk.set(i, bytes(keys[i]));
    r.setDrainReason(out.drain_reason);
    r.setDrainDeadlineUnix(out.drain_deadline);
    auto ks = r.initKill(static_cast<unsigned>(out.kills.size()));
    for (unsigned i = 0; i < out.kills.size(); i++) {
      ks[i].setLeaseId(out.kills[i].lease_id);
      ks[i].setSessionId(out.kills[i].session_id);
      ks[i].setReason(out.kills[i].reason);
    }
    return kj::READY_NOW;
  }

  static AcquireIn acquire_in(cp::AcquireRequest::Reader q) {
    AcquireIn in;
    in.count = q.getCount();
    in.vram = q.getVramBytes();
    in.labels = labels_of(q.getLabels());
    in.policy = q.getPolicy().cStr();
    in.client_name = q.getClientName().cStr();
    in.max_price = std::max<int64_t>(0, q.getMaxPriceMicro());
    in.request_id = q.getRequestId().cStr();
    in.compute_milli = q.getComputeMilli();
    // At most as many as candidates lists: a longer list is a client's mistake or an attack.
    auto rtts = q.getRtts();
    for (unsigned i = 0; i < rtts.size() && i < PoolState::kMaxCandidates; ++i)
      in.rtt_us[rtts[i].getEndpoint().cStr()] = rtts[i].getRttUs();
    return in;
  }

  kj::Promise<void> candidates(CandidatesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    CandidatesOut out = s_.candidates(c_, acquire_in(ctx.getParams().getReq()));
    auto r = ctx.getResults();
    r.setError(out.error);
    auto es = r.initEndpoints(static_cast<unsigned>(out.endpoints.size()));
    for (unsigned i = 0; i < out.endpoints.size(); i++) es.set(i, out.endpoints[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> acquire(AcquireContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    AcquireIn in = acquire_in(ctx.getParams().getReq());
    AcquireOut out = s_.acquire(c_, in);
    auto r = ctx.getResults();
    r.setError(out.error);
    r.setRetryable(out.retryable);
    auto gs = r.initGrants(static_cast<unsigned>(out.grants.size()));
    for (unsigned i = 0; i < out.grants.size(); i++) {
      auto& g = out.grants[i];
      gs[i].setEndpoint(g.lease.endpoint);
      gs[i].setLease(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(g.signed_lease.data()),
                                         g.signed_lease.size()));
      gs[i].setLeaseId(g.lease.id);
      gs[i].setProviderName(g.lease.provider_name);
      gs[i].setGpuIndex(g.lease.gpu_index);
      gs[i].setGpuName(g.gpu_name);
      gs[i].setVramBytes(g.lease.vram);
      gs[i].setExpiresUnix(g.lease.expires);
      gs[i].setComputeMilli(g.lease.compute_milli);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> release(ReleaseContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    std::vector<std::string> ids;
    for (auto i : ctx.getParams().getLeaseIds()) ids.push_back(i.cStr());
    ctx.getResults().setError(s_.release(c_, ids));
    return kj::READY_NOW;
  }

  kj::Promise<void> listProviders(ListProvidersContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto& ps = s_.providers();
    auto r = ctx.getResults();
    auto rows = r.initProviders(static_cast<unsigned>(ps.size()));
    for (unsigned i = 0; i < ps.size(); i++) {
      auto& p = ps[i];
      auto b = rows[i];
      b.setId(p.id);
      b.setName(p.name);
      b.setEndpoint(p.endpoint);
      b.setState(s_.provider_active(p) ? "active" : "missing");
      b.setDrained(p.drained);
      b.setDrainReason(p.drain_reason);
      b.setDrainDeadlineUnix(p.drain_deadline);
      b.setInSchedule(s_.provider_in_schedule(p));
      b.setSchedule(p.schedule.empty() ? "always" : p.schedule);
      set_labels(b.initLabels(static_cast<unsigned>(p.labels.size())), p.labels);
      auto gs = b.initGpus(static_cast<unsigned>(p.gpus.size()));
      auto us = b.initUse(static_cast<unsigned>(p.gpus.size()));
      for (unsigned j = 0; j < p.gpus.size(); j++) {
        fill_gpu(gs[j], p.gpus[j]);
        us[j].setIndex(p.gpus[j].index);
        us[j].setMemoryUsed(p.gpus[j].memory_used);
        us[j].setSessions(p.gpus[j].sessions);
        us[j].setUtilization(p.gpus[j].utilization);
      }
      b.setLastHeartbeatUnix(p.last_heartbeat_ms / 1000);
      b.setOwnerToken(p.owner_token);
      b.setActiveLeases(s_.open_leases_on(p.id));
      b.setServerVersion(p.server_version);
      b.setRegisteredUnix(p.registered);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> drain(DrainContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    ctx.getResults().setError(
        s_.drain(c_, p.getProvider().cStr(), p.getReason().cStr(), p.getDeadlineUnix()));
    return kj::READY_NOW;
  }
  kj::Promise<void> undrain(UndrainContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    ctx.getResults().setError(s_.undrain(c_, ctx.getParams().getProvider().cStr()));
    return kj::READY_NOW;
  }
  kj::Promise<void> remove(RemoveContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    ctx.getResults().setError(s_.remove(c_, p.getProvider().cStr(), p.getForce()));
    return kj::READY_NOW;
  }

  kj::Promise<void> listLeases(ListLeasesContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    s_.sweep();
    auto ls = s_.leases(c_, ctx.getParams().getAll());
    auto rows = ctx.getResults().initLeases(static_cast<unsigned>(ls.size()));
    for (unsigned i = 0; i < ls.size(); i++) fill_lease(rows[i], ls[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> killSession(KillSessionContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    std::string lease;
    auto r = ctx.getResults();
    r.setError(s_.kill(c_, p.getId().cStr(), p.getReason().cStr(), &lease));
    r.setLeaseId(lease);
    return kj::READY_NOW;
  }

  kj::Promise<void> createToken(CreateTokenContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    auto p = ctx.getParams();
    std::string id, err;
    std::string secret = s_.create_token(c_, from_cp(p.getRole()), p.getName().cStr(), &id, &err);
    auto r = ctx.getResults();
    r.setError(err);
    r.setToken(secret);
    r.setId(id);
    return kj::READY_NOW;
  }

  kj::Promise<void> listTokens(ListTokensContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    std::string err;
    auto ts = s_.tokens(c_, &err);
    auto r = ctx.getResults();
    r.setError(err);
    auto rows = r.initTokens(static_cast<unsigned>(ts.size()));
    for (unsigned i = 0; i < ts.size(); i++) {
      rows[i].setId(ts[i].id);
      rows[i].setRole(to_cp(ts[i].role));
      rows[i].setName(ts[i].name);
      rows[i].setCreatedUnix(ts[i].created);
      rows[i].setRevokedUnix(ts[i].revoked);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> status(StatusContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    s_.sweep();
    auto st = ctx.getResults().initStatus();
    st.setVersion(s_.config().version);
    st.setPolicy(policy_text(s_.config().policy));
    st.setStartedUnix(s_.started_unix());
    uint32_t act = 0, miss = 0, dr = 0, gpus = 0;
    uint64_t lent = 0, leased = 0;
    for (auto& p : s_.providers()) {
      (s_.provider_active(p) ? act : miss)++;
      dr += p.drained;
      gpus += static_cast<uint32_t>(p.gpus.size());
      for (auto& g : p.gpus) lent += g.memory_lent;
    }
    uint32_t granted = 0, active = 0;
    for (auto& l : s_.leases(Caller{"", Role::kAdmin}, false)) {
      leased += l.vram;
      (l.state == LeaseState::kActive ? active : granted)++;
    }
    st.setProviders(static_cast<uint32_t>(s_.providers().size()));
    st.setProvidersActive(act);
    st.setProvidersMissing(miss);
    st.setProvidersDrained(dr);
    st.setGpus(gpus);
    st.setMemoryLent(lent);
    st.setMemoryLeased(leased);
    st.setLeasesGranted(granted);
    st.setLeasesActive(active);
    return kj::READY_NOW;
  }

  kj::Promise<void> usage(UsageContext ctx) override {
    if (revoked(ctx)) return kj::READY_NOW;
    std::string err;
    auto us = s_.usage(c_, ctx.getParams().getSinceUnix(), ctx.getParams().getBy().cStr(), &err);
    auto r = ctx.getResults();
    r.setError(err);
    auto rows = r.initRows(static_cast<unsigned>(us.size()));
    for (unsigned i = 0; i < us.size(); i++) {
      rows[i].setKey(us[i].key);
      rows[i].setKind(us[i].kind);
      rows[i].setSessions(us[i].sessions);
      rows[i].setGpuSeconds(us[i].gpu_seconds);
      rows[i].setGibSeconds(us[i].gib_seconds);
      rows[i].setName(us[i].name);
      rows[i].setBusySeconds(us[i].busy_seconds);
      rows[i].setBytes(us[i].bytes);
      rows[i].setCost(us[i].cost);
      rows[i].setEarnings(us[i].earnings);
      rows[i].setStartedUnix(us[i].started);
    }
    return kj::READY_NOW;
  }

 private:
  PoolState& s_;
  Caller c_;
};

class PoolImpl final : public cp::Pool::Server {
 public:
  explicit PoolImpl(PoolState& s) : s_(s) {}

  kj::Promise<void> connect(ConnectContext ctx) override {
    auto p = ctx.getParams();
    auto r = ctx.getResults();
    auto n = control::negotiate_control(p.getMinControlVersion(), p.getControlVersion());
    if (!n.ok) {
      r.setError(n.error);
      return kj::READY_NOW;
    }
    r.setControlVersion(n.version);
    auto caller = s_.authenticate(p.getToken().cStr());
    if (!caller && p.getToken().size() && s_.refresh_for_unknown_token()) {
      caller = s_.authenticate(p.getToken().cStr());  // made through another replica just now?
    }
    if (!caller) {
      r.setError(p.getToken().size() == 0
                     ? "no token given; pass --token or set RGPU_TOKEN"
                     : "token refused by the pool; ask an admin for one (rgpu token create)");
      return kj::READY_NOW;
    }
    r.setRole(to_cp(caller->role));
    r.setTokenId(caller->token_id);
    r.setSession(kj::heap<SessionImpl>(s_, *caller));
    return kj::READY_NOW;
  }

 private:
  PoolState& s_;
};

}  // namespace

cp::Pool::Client make_pool_service(PoolState& state) {
  return kj::heap<PoolImpl>(state);
}

}  // namespace rgpu::pool
