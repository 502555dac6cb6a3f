// pool_manager/pg_conn.h — one libpq connection in pipeline mode: statements queue up and
// travel together, and a round trip to the server happens only where a result is needed.
//
// A replica's transaction used to cost one round trip per statement (BEGIN, the write lock,
// five catch-up reads, each write, its feed row, COMMIT: ten or more for one placement). Here a
// placement costs two: the prologue (BEGIN, lock, catch-up reads) and the commit (writes, feed
// rows, COMMIT).
//
// Contract:
//   - send() queues a statement whose result nobody reads. Its failure surfaces at the next
//     round trip (take() or sync()), which throws StoreError naming the first statement that
//     failed. PostgreSQL skips everything queued after a failure up to that round trip; inside
//     BEGIN the transaction is then aborted and must be rolled back.
//   - ask() queues a statement whose result is wanted and returns its ticket; take() makes the
//     round trip unless the result is in already, and hands it over (once).
//   - q() is take(ask()): one statement now, with whatever was queued before it.
//   - Outside BEGIN, each round trip is one implicit transaction (a sync point ends it).
//   - post() sends what is queued without waiting; the next round trip reads those answers.
//   - script() runs several statements in one string without parameters (schema set-up).
//   - A lost connection fails the round trip in progress; reset() makes it again and drops
//     what was queued (the server rolled back the transaction it belonged to).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace rgpu::pool {

// One result; rows and columns read as text, integers or reals. Owns its PGresult.
class PgRes {
 public:
  explicit PgRes(PGresult* r = nullptr) : r_(r) {}
  PgRes(PgRes&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgRes& operator=(PgRes&& o) noexcept;
  PgRes(const PgRes&) = delete;
  PgRes& operator=(const PgRes&) = delete;
  ~PgRes() { PQclear(r_); }
  int rows() const { return r_ ? PQntuples(r_) : 0; }
  std::string t(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t i(int row, int col) const;
  double d(int row, int col) const;
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }

 private:
  PGresult* r_;
};

class PgConn {
 public:
  using Ticket = uint64_t;
  // Connects (throws StoreError with libpq's reason) and enters pipeline mode. TCP keepalives
  // and a 30 s TCP user timeout bound a round trip over a dead link (the URL may override).
  explicit PgConn(const std::string& url);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  void send(const char* sql, const std::vector<std::string>& params = {});
  Ticket ask(const char* sql, const std::vector<std::string>& params = {});
  PgRes take(Ticket t);
  PgRes q(const char* sql, const std::vector<std::string>& params = {}) {
    return take(ask(sql, params));
  }
  void sync();  // one round trip for everything queued; throws the first failure
  // Sends what is queued without waiting for the answers: the next round trip reads them (and
  // throws their failure), by which time they are usually in. For work whose answer can wait
  // a period (liveness), so the pool's event loop never blocks on it.
  void post();
  void script(const char* sql);
  // Queues ROLLBACK and makes the round trip, ignoring every failure (nothing may be left to
  // roll back: the connection was lost, or the server ended the transaction).
  void rollback_quietly();

  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  void reset();  // connects again (throws StoreError when it cannot); the queue is dropped
  const std::string& name() const { return name_; }  // "postgresql DB on HOST:PORT"
  std::string error() const;                         // libpq's last message, trimmed

 private:
  struct Queued {
    std::string sql;  // for the error message
    bool wanted;
    Ticket ticket;
    bool sync_point = false;  // a sync sent by post() or a round trip, not a statement
  };
  void enqueue(const char* sql, const std::vector<std::string>& params, bool wanted, Ticket ticket);
  // Sends a sync point and reads every queued result through it. Returns the first failure
  // ("" when none); the connection is ready for the next statement either way.
  std::string round_trip();

  PGconn* conn_ = nullptr;
  std::string name_;
  std::deque<Queued> queued_;        // sent, results not read yet, in order
  std::map<Ticket, PgRes> results_;  // read, wanted, not taken yet
  Ticket next_ticket_ = 1;
};

// Parameter text for integers and reals (a real round-trips exactly), and a text[] literal
// ('{"a","b"}', every element quoted) for `= ANY($1::text[])` and unnest().
std::string pg_num(int64_t v);
std::string pg_real(double v);
std::string pg_text_array(const std::vector<std::string>& v);

}  // namespace rgpu::pool
