// pool_manager/pg_rows.h — reading the pool's records out of PostgreSQL (pg_store.cc).
//
// Each kind has an ask_* that queues its SELECTs on a PgConn and a read_* that takes and parses
// the answers, so a catch-up queues every read it needs and makes one round trip (pg_conn.h).
// `ids` is a text[] literal (pg_text_array) naming the records wanted; nullptr: every one. A
// malformed row (a hash that is not hex, an unknown lease state) throws StoreError naming it.
#pragma once

#include <string>
#include <vector>

#include "pool_manager/ledger.h"
#include "pool_manager/pg_conn.h"
#include "pool_manager/records.h"

namespace rgpu::pool::pg {

PgConn::Ticket ask_tokens(PgConn& c, const std::string* ids);  // with revocation, credit limit
std::vector<TokenRecord> read_tokens(PgConn& c, PgConn::Ticket t);

struct ProviderQuery {
  PgConn::Ticket providers, labels, gpus;
};
ProviderQuery ask_providers(PgConn& c, const std::string* ids);
std::vector<ProviderRecord> read_providers(PgConn& c, const ProviderQuery& q);

PgConn::Ticket ask_leases(PgConn& c, const std::string* ids);  // with usage, tally and charge
std::vector<LeaseRecord> read_leases(PgConn& c, PgConn::Ticket t);

struct RateQuery {
  PgConn::Ticket rates, overrides;
};
RateQuery ask_rates_after(PgConn& c, int64_t version);  // versions above `version`
std::vector<RateCard> read_rates(PgConn& c, const RateQuery& q);

PgConn::Ticket ask_ledger_from(PgConn& c, uint64_t index);  // entries from `index` on
std::vector<LedgerEntry> read_ledger(PgConn& c, PgConn::Ticket t);

PgConn::Ticket ask_heads_above(PgConn& c, int64_t size);  // heads larger than `size`
std::vector<control::TreeHead> read_heads(PgConn& c, PgConn::Ticket t);

}  // namespace rgpu::pool::pg
