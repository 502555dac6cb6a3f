// pool_manager/pg_conn.cc — see pg_conn.h.
#include "pool_manager/pg_conn.h"

#include <cstdio>
#include <cstdlib>

#include "pool_manager/store.h"

namespace rgpu::pool {
namespace {

std::string trimmed(std::string e) {
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

std::string statement_hint(const std::string& sql) {
  return sql.size() > 60 ? sql.substr(0, 60) + "…" : sql;
}

}  // namespace

PgRes& PgRes::operator=(PgRes&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}
int64_t PgRes::i(int row, int col) const {
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}
double PgRes::d(int row, int col) const {
  return std::strtod(PQgetvalue(r_, row, col), nullptr);
}

PgConn::PgConn(const std::string& url) {
  // The client side of a dead link: TCP keepalives after 10 s idle (dead after ~25 s) and at
  // most 30 s for sent data to be acknowledged, so a partition fails the replica's round trip
  // instead of holding its thread. Given before the URL, which overrides them if it says.
  const char* keys[] = {"keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* values[] = {"1", "10", "5", "3", "30000", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    std::string e = conn_ ? error() : "out of memory";
    PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError("cannot connect to the pool database: " + e);
  }
  name_ = std::string("postgresql ") + PQdb(conn_) + " on " + PQhost(conn_) + ":" + PQport(conn_);
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);  // IF NOT EXISTS chatter
  if (PQenterPipelineMode(conn_) != 1)
    throw StoreError(name_ + ": cannot enter pipeline mode: " + error());
}

PgConn::~PgConn() {
  PQfinish(conn_);
}

std::string PgConn::error() const {
  return trimmed(PQerrorMessage(conn_));
}

void PgConn::enqueue(const char* sql, const std::vector<std::string>& params, bool wanted,
                     Ticket ticket) {
  std::vector<const char*> v;
  v.reserve(params.size());
  for (auto& p : params) v.push_back(p.c_str());
  if (PQsendQueryParams(conn_, sql, static_cast<int>(v.size()), nullptr, v.data(), nullptr, nullptr,
                        0) != 1)
    throw StoreError(name_ + ": " + error() + " (in: " + statement_hint(sql) + ")");
  queued_.push_back({sql, wanted, ticket});
}

void PgConn::send(const char* sql, const std::vector<std::string>& params) {
  enqueue(sql, params, false, 0);
}

PgConn::Ticket PgConn::ask(const char* sql, const std::vector<std::string>& params) {
  const Ticket t = next_ticket_++;
  enqueue(sql, params, true, t);
  return t;
}

void PgConn::post() {
  if (queued_.empty() || queued_.back().sync_point) return;
  if (PQpipelineSync(conn_) != 1) throw StoreError(name_ + ": " + error());
  queued_.push_back({"", false, 0, true});
}

std::string PgConn::round_trip() {
  std::string first;
  try {
    post();  // (none more when what is queued ends with one already)
  } catch (const StoreError& e) {
    queued_.clear();
    results_.clear();
    return e.what();
  }
  while (!queued_.empty()) {
    Queued q = std::move(queued_.front());
    queued_.pop_front();
    PGresult* r = PQgetResult(conn_);
    if (!r) {  // the connection went away under the pipeline
      if (first.empty())
        first = name_ + ": " + (ok() ? "the server's answers are out of step" : error()) +
                (q.sync_point ? "" : " (in: " + statement_hint(q.sql) + ")");
      queued_.clear();
      break;
    }
    const ExecStatusType st = PQresultStatus(r);
    if (q.sync_point) {  // a sync point's answer is one result, not ended by a null
      if (st != PGRES_PIPELINE_SYNC && first.empty())
        first = name_ + ": the server's answers are out of step";
      PQclear(r);
      continue;
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      if (q.wanted) results_.emplace(q.ticket, PgRes(r)), r = nullptr;
    } else if (st != PGRES_PIPELINE_ABORTED && first.empty()) {
      std::string e = trimmed(PQresultErrorMessage(r));
      if (e.empty()) e = error();
      first = name_ + ": " + e + " (in: " + statement_hint(q.sql) + ")";
    }
    PQclear(r);
    while ((r = PQgetResult(conn_)) != nullptr) PQclear(r);  // the end of this one's results
  }
  if (!first.empty()) results_.clear();  // the operation they belonged to is abandoned
  return first;
}

void PgConn::sync() {
  if (queued_.empty()) return;
  const std::string failed = round_trip();
  if (!failed.empty()) throw StoreError(failed);
}

PgRes PgConn::take(Ticket t) {
  auto it = results_.find(t);
  if (it == results_.end()) {
    sync();
    it = results_.find(t);
    if (it == results_.end())
      throw StoreError(name_ + ": result " + std::to_string(t) + " was never asked for");
  }
  PgRes r = std::move(it->second);
  results_.erase(it);
  return r;
}

void PgConn::script(const char* sql) {
  sync();
  PQexitPipelineMode(conn_);
  PGresult* r = PQexec(conn_, sql);
  const bool failed = PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK;
  std::string e = failed ? trimmed(r ? PQresultErrorMessage(r) : "") : "";
  if (failed && e.empty()) e = error();
  PQclear(r);
  if (PQenterPipelineMode(conn_) != 1 && !failed)
    throw StoreError(name_ + ": cannot enter pipeline mode: " + error());
  if (failed) throw StoreError(name_ + ": " + e);
}

void PgConn::rollback_quietly() {
  if (!ok()) {
    queued_.clear();
    results_.clear();
    return;
  }
  try {
    post();  // what is queued goes first: a failure in it must not skip the ROLLBACK
    send("ROLLBACK");
  } catch (const StoreError&) {
  }
  round_trip();
  results_.clear();  // nothing of the abandoned transaction is read any more
}

void PgConn::reset() {
  queued_.clear();
  results_.clear();
  PQreset(conn_);
  if (!ok()) throw StoreError(name_ + ": connection lost: " + error());
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1)
    throw StoreError(name_ + ": cannot enter pipeline mode: " + error());
}

std::string pg_num(int64_t v) {
  return std::to_string(v);
}
std::string pg_real(double v) {
  char b[40];
  snprintf(b, sizeof b, "%.17g", v);
  return b;
}
std::string pg_text_array(const std::vector<std::string>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    s += i ? ",\"" : "\"";
    for (char c : v[i]) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  return s + "}";
}

}  // namespace rgpu::pool
