// pool_manager/pg_rows.cc — see pg_rows.h.
#include "pool_manager/pg_rows.h"

#include <map>

#include "pool_manager/store.h"
#include "protocol/control/lease.h"

namespace rgpu::pool::pg {
namespace {

// Queues `select` with, when `ids` names some, "WHERE <column> = ANY($1)" (the ids its parameter),
// then `order` ("" for none).
PgConn::Ticket ask_some(PgConn& c, const std::string& select, const char* column,
                        const std::string* ids, const char* order) {
  std::string sql = select;
  if (ids) sql += std::string(" WHERE ") + column + " = ANY($1::text[])";
  if (*order) sql += std::string(" ORDER BY ") + order;
  return ids ? c.ask(sql.c_str(), {*ids}) : c.ask(sql.c_str());
}

}  // namespace

PgConn::Ticket ask_tokens(PgConn& c, const std::string* ids) {
  return ask_some(c,
                  "SELECT t.id,t.hash,t.role,t.name,t.created,coalesce(v.at,0),"
                  "coalesce(c.credit_limit,0) FROM tokens t LEFT JOIN revoked_tokens v "
                  "ON v.id=t.id LEFT JOIN credit_limits c ON c.token_id=t.id",
                  "t.id", ids, "t.created, t.id");
}
std::vector<TokenRecord> read_tokens(PgConn& c, PgConn::Ticket t) {
  PgRes r = c.take(t);
  std::vector<TokenRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    TokenRecord k{r.t(i, 0), r.t(i, 1), Role(r.i(i, 2)), r.t(i, 3), r.i(i, 4)};
    k.revoked = r.i(i, 5), k.credit_limit = r.i(i, 6);
    out.push_back(std::move(k));
  }
  return out;
}

ProviderQuery ask_providers(PgConn& c, const std::string* ids) {
  ProviderQuery q;
  q.providers = ask_some(c,
                         "SELECT id,name,endpoint,owner,schedule,server_version,drained,"
                         "drain_reason,drain_deadline,registered,min_price,receipt_key "
                         "FROM providers",
                         "id", ids, "registered, id");
  q.labels = ask_some(c, "SELECT provider_id,key,value FROM labels", "provider_id", ids, "");
  q.gpus = ask_some(c,
                    "SELECT provider_id,idx,name,memory_total,memory_lent,cc_major,cc_minor,"
                    "driver,uuid,compute_lent FROM gpus",
                    "provider_id", ids, "provider_id, idx");
  return q;
}
std::vector<ProviderRecord> read_providers(PgConn& c, const ProviderQuery& q) {
  PgRes s = c.take(q.providers), l = c.take(q.labels), g = c.take(q.gpus);
  std::vector<ProviderRecord> out;
  std::map<std::string, size_t> at;
  for (int i = 0; i < s.rows(); ++i) {
    ProviderRecord r;
    r.id = s.t(i, 0), r.name = s.t(i, 1), r.endpoint = s.t(i, 2), r.owner_token = s.t(i, 3);
    r.schedule = s.t(i, 4), r.server_version = s.t(i, 5), r.drained = s.i(i, 6) != 0;
    r.drain_reason = s.t(i, 7), r.drain_deadline = s.i(i, 8), r.registered = s.i(i, 9);
    r.min_price = s.i(i, 10);
    if (!control::from_hex(s.t(i, 11), &r.receipt_key))
      throw StoreError(c.name() + ": provider " + r.id + " has a malformed receipt key");
    at[r.id] = out.size();
    out.push_back(std::move(r));
  }
  for (int i = 0; i < l.rows(); ++i)
    if (auto it = at.find(l.t(i, 0)); it != at.end()) out[it->second].labels[l.t(i, 1)] = l.t(i, 2);
  for (int i = 0; i < g.rows(); ++i) {
    auto it = at.find(g.t(i, 0));
    if (it == at.end()) continue;
    GpuRecord r;
    r.index = uint32_t(g.i(i, 1)), r.name = g.t(i, 2), r.memory_total = uint64_t(g.i(i, 3));
    r.memory_lent = uint64_t(g.i(i, 4)), r.cc_major = uint32_t(g.i(i, 5));
    r.cc_minor = uint32_t(g.i(i, 6)), r.driver_version = g.t(i, 7), r.uuid = g.t(i, 8);
    r.compute_lent = uint32_t(g.i(i, 9));
    out[it->second].gpus.push_back(r);
  }
  return out;
}

PgConn::Ticket ask_leases(PgConn& c, const std::string* ids) {
  return ask_some(c,
                  "SELECT l.id,l.provider_id,l.provider_name,l.endpoint,l.gpu_index,l.vram,"
                  "l.whole,l.state,l.session_id,l.token_id,l.client_name,l.created,l.expires,"
                  "l.started,l.ended,l.end_reason,l.kill_requested,l.kill_reason,"
                  "l.rate_version,l.gpu_model,l.gpu_lent,l.request_id,"
                  "u.lease_id IS NOT NULL,u.seq,u.final,u.wall_ms,u.busy_ns,u.mem_gb_s,"
                  "u.mem_peak,u.bytes_in,u.bytes_out,u.calls,u.receipts,u.last_receipt_ms,"
                  "t.lease_id IS NOT NULL,t.wall_ms,t.bytes_in,t.bytes_out,t.dispute,"
                  "c.rate_version,c.billed_ms,c.cost,c.fee,c.earnings,c.settled_unix,l.compute "
                  "FROM leases l LEFT JOIN lease_usage u ON u.lease_id=l.id "
                  "LEFT JOIN lease_tally t ON t.lease_id=l.id "
                  "LEFT JOIN charges c ON c.lease_id=l.id",
                  "l.id", ids, "l.created, l.id");
}
std::vector<LeaseRecord> read_leases(PgConn& c, PgConn::Ticket t) {
  PgRes s = c.take(t);
  std::vector<LeaseRecord> out;
  for (int i = 0; i < s.rows(); ++i) {
    LeaseRecord l;
    l.id = s.t(i, 0), l.provider_id = s.t(i, 1), l.provider_name = s.t(i, 2);
    l.endpoint = s.t(i, 3), l.gpu_index = uint32_t(s.i(i, 4)), l.vram = uint64_t(s.i(i, 5));
    l.whole_gpu = s.i(i, 6) != 0;
    if (!parse_lease_state(s.t(i, 7), &l.state))
      throw StoreError(c.name() + ": lease " + l.id + " has unknown state " + s.t(i, 7));
    l.session_id = uint64_t(s.i(i, 8)), l.token_id = s.t(i, 9), l.client_name = s.t(i, 10);
    l.created = s.i(i, 11), l.expires = s.i(i, 12), l.started = s.i(i, 13);
    l.ended = s.i(i, 14), l.end_reason = s.t(i, 15), l.kill_requested = s.i(i, 16) != 0;
    l.kill_reason = s.t(i, 17), l.rate_version = s.i(i, 18), l.gpu_model = s.t(i, 19);
    l.gpu_lent = uint64_t(s.i(i, 20)), l.request_id = s.t(i, 21);
    if (s.t(i, 22) == "t") {
      control::UsageReceipt& r = l.usage;
      r.lease_id = l.id, r.session_id = l.session_id;
      r.seq = uint64_t(s.i(i, 23)), r.final = s.i(i, 24) != 0;
      r.wall_ms = uint64_t(s.i(i, 25)), r.busy_ns = uint64_t(s.i(i, 26));
      r.mem_gb_s = s.d(i, 27), r.mem_peak = uint64_t(s.i(i, 28));
      r.bytes_in = uint64_t(s.i(i, 29)), r.bytes_out = uint64_t(s.i(i, 30));
      r.calls = uint64_t(s.i(i, 31)), l.receipts = uint32_t(s.i(i, 32));
      l.last_receipt_ms = s.i(i, 33);
    }
    if (s.t(i, 34) == "t") {
      l.tally_reported = true;
      l.tally_wall_ms = uint64_t(s.i(i, 35)), l.tally_bytes_in = uint64_t(s.i(i, 36));
      l.tally_bytes_out = uint64_t(s.i(i, 37)), l.dispute = s.t(i, 38);
    }
    if (!s.null(i, 39)) {
      Charge& ch = l.charge;
      ch.rate_version = s.i(i, 39), ch.billed_ms = uint64_t(s.i(i, 40)), ch.cost = s.i(i, 41);
      ch.fee = s.i(i, 42), ch.earnings = s.i(i, 43), ch.settled_unix = s.i(i, 44);
    }
    l.compute_milli = uint32_t(s.i(i, 45));
    out.push_back(std::move(l));
  }
  return out;
}

RateQuery ask_rates_after(PgConn& c, int64_t version) {
  RateQuery q;
  q.rates = c.ask(
      "SELECT version,set_unix,set_by,gpu_hour,gib_hour,gb_moved,bill_busy,fee_ppm "
      "FROM rates WHERE version > $1 ORDER BY version",
      {pg_num(version)});
  q.overrides = c.ask("SELECT version,kind,key,gpu_hour FROM rate_overrides WHERE version > $1",
                      {pg_num(version)});
  return q;
}
std::vector<RateCard> read_rates(PgConn& c, const RateQuery& q) {
  PgRes s = c.take(q.rates), o = c.take(q.overrides);
  std::vector<RateCard> out;
  for (int i = 0; i < s.rows(); ++i) {
    RateCard r;
    r.version = s.i(i, 0), r.set_unix = s.i(i, 1), r.set_by = s.t(i, 2);
    r.gpu_hour = s.i(i, 3), r.gib_hour = s.i(i, 4), r.gb_moved = s.i(i, 5);
    r.bill_busy = s.i(i, 6) != 0, r.fee_ppm = uint32_t(s.i(i, 7));
    for (int k = 0; k < o.rows(); ++k)
      if (o.i(k, 0) == r.version)
        (o.t(k, 1) == "model" ? r.gpu_hour_by_model : r.gpu_hour_by_provider)[o.t(k, 2)] =
            o.i(k, 3);
    out.push_back(std::move(r));
  }
  return out;
}

PgConn::Ticket ask_ledger_from(PgConn& c, uint64_t index) {
  return c.ask(
      "SELECT idx,at,kind,provider_id,token_id,prev,leaf,body FROM ledger WHERE idx >= $1 "
      "ORDER BY idx",
      {pg_num(int64_t(index))});
}
std::vector<LedgerEntry> read_ledger(PgConn& c, PgConn::Ticket t) {
  PgRes s = c.take(t);
  std::vector<LedgerEntry> out;
  for (int i = 0; i < s.rows(); ++i) {
    LedgerEntry e;
    e.index = uint64_t(s.i(i, 0)), e.time = s.i(i, 1), e.kind = s.t(i, 2);
    e.provider_id = s.t(i, 3), e.token_id = s.t(i, 4), e.body = s.t(i, 7);
    if (!control::from_hex(s.t(i, 5), &e.prev) || !control::from_hex(s.t(i, 6), &e.leaf))
      throw StoreError(c.name() + ": ledger entry " + std::to_string(e.index) +
                       " has a malformed hash");
    out.push_back(std::move(e));
  }
  return out;
}

PgConn::Ticket ask_heads_above(PgConn& c, int64_t size) {
  return c.ask("SELECT size,at,root,sig FROM ledger_heads WHERE size > $1 ORDER BY size",
               {pg_num(size)});
}
std::vector<control::TreeHead> read_heads(PgConn& c, PgConn::Ticket t) {
  PgRes s = c.take(t);
  std::vector<control::TreeHead> out;
  for (int i = 0; i < s.rows(); ++i) {
    control::TreeHead h;
    h.size = uint64_t(s.i(i, 0)), h.time = s.i(i, 1);
    if (!control::from_hex(s.t(i, 2), &h.root) || !control::from_hex(s.t(i, 3), &h.signature))
      throw StoreError(c.name() + ": a ledger head has a malformed hash");
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace rgpu::pool::pg
