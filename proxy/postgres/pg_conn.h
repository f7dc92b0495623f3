// One libpq connection of a PgPool: connect (PQconnectPoll), the setup query, then pipeline
// mode, every exec being Prepare (first use on this connection) + QueryPrepared + Sync. libpq
// owns the socket; the worker's driver only watches it (IoDriver::poll), so close() forgets it
// and PQfinish closes it. Never a blocking libpq call.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "proxy/loop/endpoint.h"
#include "proxy/postgres/pg_pool.h"

namespace strata::proxy {

class PgConn;

// What a connection tells its pool.
class PgConnOwner {
 public:
  virtual ~PgConnOwner() = default;
  virtual void conn_ready(PgConn* c) = 0;
  // The connection closed (after failing its pending requests); `why` is one line.
  virtual void conn_lost(PgConn* c, const std::string& why) = 0;
  // Freed without close() (the worker tearing down): forget the pointer.
  virtual void conn_destroyed(PgConn* c) = 0;
};

// A statement known to the pool: its text and its name on every connection ("strata_s<id>").
struct PgStatement {
  uint32_t id = 0;
  std::string sql;
};

class PgConn final : public Endpoint {
 public:
  // kConnecting: PQconnectPoll in progress; the socket may change between polls.
  // kSetup:      connected; the setup query (simple protocol, outside pipeline mode) runs, in
  //              a transaction holding an advisory lock: setups never overlap.
  // kReady:      pipeline mode; serves exec().
  // kClosed:     failed or closed; pending requests got kTransient; freed by the worker.
  enum class State : uint8_t { kConnecting, kSetup, kReady, kClosed };

  // Starts connecting; the new connection is adopted by the worker. Null with *err when libpq
  // refuses at once (bad conninfo, out of memory).
  static PgConn* start(Loop* loop, PgConnOwner* owner, const std::string& conninfo,
                       const std::string& setup_sql, std::string* err);
  ~PgConn() override;

  State state() const { return state_; }
  bool ready() const { return state_ == State::kReady; }
  bool ever_ready() const { return ever_ready_; }
  // Closed because something failed (else closed from outside: the worker shutting down).
  bool failed() const { return failed_; }
  size_t in_flight() const { return steps_.size(); }

  // Sends one statement; `cb` runs once with its result (after the Sync: committed).
  void exec(const PgStatement& stmt, std::span<const PgParam> params, bool binary_result,
            PgCallback cb, int64_t deadline_ms);
  // Connect timeout and query timeout: closes the connection (requests fail kTransient).
  void check_timeouts(int64_t now_ms, uint32_t connect_timeout_ms, uint32_t query_timeout_ms);
  // Fails everything pending with `why` and closes; the owner hears nothing more.
  void shutdown(const std::string& why);

  void on_recv(const char* /*data*/, long /*n*/) override {}
  void on_poll(int revents) override;
  void on_closed() override;

 protected:
  void release_socket() override;

 private:
  PgConn(Loop* loop, PgConnOwner* owner, PGconn* conn, std::string setup_sql);

  // One exec in the pipeline: results come back as [prepare result, NULL,] exec result, NULL,
  // then PIPELINE_SYNC; the callback runs at the Sync, once the implicit transaction committed.
  struct Step {
    enum Phase : uint8_t { kPrepare, kExec, kSync } phase;
    bool got_result = false;
    bool binary_result = false;
    uint32_t stmt_id = 0;
    int64_t deadline_ms = 0;
    PgResult result;
    PgCallback cb;
  };

  void enter(State s);
  void drive_connect();
  void drive_setup();
  void drive_pipeline();
  void take_result(Step& s, PGresult* r);
  void complete_front();
  void flush_output();
  void pack_params(std::span<const PgParam> params);
  void arm(uint32_t events);
  void fail(const std::string& why);
  void fail_steps(const std::string& why);
  bool prepared(uint32_t id) const { return id < prepared_.size() && prepared_[id]; }

  PgConnOwner* owner_;
  PGconn* conn_;
  std::string setup_sql_;
  State state_ = State::kConnecting;
  bool ever_ready_ = false;
  bool failed_ = false;
  bool setup_sent_ = false;
  bool want_write_ = false;  // PQflush left bytes queued: wait for POLLOUT too
  bool armed_ = false;       // a poll is armed for fd_
  uint32_t armed_events_ = 0;
  int64_t started_ms_ = 0;
  std::string setup_error_;
  std::string close_reason_ = "connection closed";
  std::vector<bool> prepared_;  // by statement id
  std::deque<Step> steps_;
  // Scratch for PQsendQueryPrepared, reused so an exec does not allocate once warm.
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::vector<size_t> text_offsets_;
  std::string text_;
};

// One line for clients and logs from libpq's multi-line messages.
std::string pg_one_line(const char* msg);
// kTransient for connection/availability classes (08, 40, 53, 57, 58, none), else kPermanent.
PgResult::Status pg_classify(const std::string& sqlstate);

}  // namespace strata::proxy
