#include "proxy/postgres/pg_conn.h"

#include <poll.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {
namespace {

constexpr size_t kStatementNameBytes = 32;

// The advisory lock every setup transaction takes first (any strata process, any worker).
constexpr const char* kSetupLockKey = "7256001";

// The setup SQL in one transaction that first takes a transaction-scoped advisory lock, so
// setups never overlap, across connections, workers and strata processes sharing a database:
// the second waits until the first committed, and its catalog lookups then see what the first
// created. Without it, two `CREATE TABLE IF NOT EXISTS` both miss the table and the later one
// fails on pg_type's unique index. (A session lock released by the setup's own statements
// would not do: in a multi-statement query they all commit together, after the unlock.)
// The line breaks end a trailing `--` comment in `sql`.
std::string guarded_setup(const std::string& sql) {
  if (sql.empty()) return {};
  return std::string("BEGIN; SELECT pg_advisory_xact_lock(") + kSetupLockKey + ");\n" + sql +
         "\n;\nCOMMIT;";
}

void statement_name(uint32_t id, char (&out)[kStatementNameBytes]) {
  snprintf(out, sizeof out, "strata_s%u", id);
}

void set_error(PgResult* out, const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  out->sqlstate = state != nullptr ? state : "";
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  out->error = pg_one_line(primary != nullptr ? primary : PQresultErrorMessage(r));
  if (out->error.empty()) out->error = PQresStatus(PQresultStatus(r));
  out->status = pg_classify(out->sqlstate);
  out->rows.clear();
}

void take_rows(PgResult* out, const PGresult* r) {
  const int nrows = PQntuples(r);
  const int ncols = PQnfields(r);
  out->rows.resize(static_cast<size_t>(nrows));
  for (int i = 0; i < nrows; ++i) {
    auto& row = out->rows[static_cast<size_t>(i)];
    row.resize(static_cast<size_t>(ncols));
    for (int j = 0; j < ncols; ++j) {
      if (!PQgetisnull(r, i, j)) {
        row[static_cast<size_t>(j)].emplace(PQgetvalue(r, i, j),
                                            static_cast<size_t>(PQgetlength(r, i, j)));
      }
    }
  }
  out->affected = strtoull(PQcmdTuples(const_cast<PGresult*>(r)), nullptr, 10);
}

}  // namespace

std::string pg_one_line(const char* msg) {
  if (msg == nullptr) return {};
  std::string s(msg, strcspn(msg, "\n"));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

PgResult::Status pg_classify(const std::string& sqlstate) {
  if (sqlstate.size() < 2) return PgResult::kTransient;  // not from the server: the link failed
  const std::string_view cls = std::string_view(sqlstate).substr(0, 2);
  // 08 connection exception, 40 serialization failure/deadlock, 53 insufficient resources,
  // 57 operator intervention (shutdown, cancel), 58 system error: retrying later can succeed.
  for (std::string_view t : {"08", "40", "53", "57", "58"}) {
    if (cls == t) return PgResult::kTransient;
  }
  return PgResult::kPermanent;
}

PgConn::PgConn(Loop* loop, PgConnOwner* owner, PGconn* conn, std::string setup_sql)
    : Endpoint(loop, PQsocket(conn)),
      owner_(owner),
      conn_(conn),
      setup_sql_(guarded_setup(setup_sql)) {}

PgConn* PgConn::start(Loop* loop, PgConnOwner* owner, const std::string& conninfo,
                      const std::string& setup_sql, std::string* err) {
  PGconn* c = PQconnectStart(conninfo.c_str());
  if (c == nullptr) {
    *err = "out of memory";
    return nullptr;
  }
  if (PQstatus(c) == CONNECTION_BAD || PQsocket(c) < 0) {
    *err = pg_one_line(PQerrorMessage(c));
    PQfinish(c);
    return nullptr;
  }
  PQsetnonblocking(c, 1);
  // Notices (e.g. "relation already exists, skipping") would go to stderr by default.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  auto owned = std::unique_ptr<PgConn>(new PgConn(loop, owner, c, setup_sql));
  PgConn* p = owned.get();
  p->started_ms_ = loop->now_ms();
  loop->adopt(std::move(owned));
  p->arm(POLLOUT);  // libpq: after PQconnectStart, act as if PQconnectPoll said WRITING
  return p;
}

PgConn::~PgConn() {
  if (conn_ != nullptr) PQfinish(conn_);
  if (owner_ != nullptr) owner_->conn_destroyed(this);
}

void PgConn::enter(State s) {
  state_ = s;
  if (s == State::kReady) ever_ready_ = true;
}

void PgConn::arm(uint32_t events) {
  if (closed_) return;
  const int fd = PQsocket(conn_);
  if (fd < 0) return fail("connection has no socket");
  if (fd != fd_) {  // libpq moved on to another address: the old socket is gone
    if (armed_) loop_->driver().forget(token_, fd_);
    armed_ = false;
    fd_ = fd;
  }
  if (armed_ && armed_events_ == events) return;
  if (armed_) loop_->driver().forget(token_, fd_);
  loop_->driver().poll(token_, fd_, events);
  armed_ = true;
  armed_events_ = events;
}

void PgConn::on_poll(int revents) {
  armed_ = false;
  if (revents < 0) return fail(std::string("poll failed: ") + strerror(-revents));
  switch (state_) {
    case State::kConnecting:
      return drive_connect();
    case State::kSetup:
      return drive_setup();
    case State::kReady:
      return drive_pipeline();
    case State::kClosed:
      return;
  }
}

void PgConn::drive_connect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING:
      return arm(POLLIN);
    case PGRES_POLLING_WRITING:
      return arm(POLLOUT);
    case PGRES_POLLING_OK:
      enter(State::kSetup);
      return drive_setup();
    default:
      return fail(pg_one_line(PQerrorMessage(conn_)));
  }
}

void PgConn::drive_setup() {
  if (!setup_sent_ && !setup_sql_.empty()) {
    if (PQsendQuery(conn_, setup_sql_.c_str()) == 0) {
      return fail(pg_one_line(PQerrorMessage(conn_)));
    }
    setup_sent_ = true;
  }
  if (setup_sent_) {
    if (PQconsumeInput(conn_) == 0) return fail(pg_one_line(PQerrorMessage(conn_)));
    flush_output();
    if (closed_) return;
    bool done = false;
    while (!done && !PQisBusy(conn_)) {
      PGresult* r = PQgetResult(conn_);
      done = r == nullptr;
      const ExecStatusType st = done ? PGRES_COMMAND_OK : PQresultStatus(r);
      if (st == PGRES_FATAL_ERROR && setup_error_.empty()) {
        PgResult e;
        set_error(&e, r);
        setup_error_ = "setup query failed: " + e.error;
      }
      PQclear(r);
    }
    if (!done) return arm(POLLIN | (want_write_ ? POLLOUT : 0));
    if (!setup_error_.empty()) return fail(setup_error_);
  }
  if (PQenterPipelineMode(conn_) == 0) return fail(pg_one_line(PQerrorMessage(conn_)));
  enter(State::kReady);
  arm(POLLIN);
  if (owner_ != nullptr) owner_->conn_ready(this);
}

void PgConn::flush_output() {
  const int rc = PQflush(conn_);
  if (rc < 0) return fail(pg_one_line(PQerrorMessage(conn_)));
  want_write_ = rc == 1;
}

void PgConn::exec(const PgStatement& stmt, std::span<const PgParam> params, bool binary_result,
                  PgCallback cb, int64_t deadline_ms) {
  if (closed_ || state_ != State::kReady) {
    PgResult r;
    r.status = PgResult::kTransient;
    r.error = close_reason_;
    cb(std::move(r));
    return;
  }
  char name[kStatementNameBytes];
  statement_name(stmt.id, name);
  const int n = static_cast<int>(params.size());
  Step& step = steps_.emplace_back();
  step.binary_result = binary_result;
  step.stmt_id = stmt.id;
  step.deadline_ms = deadline_ms;
  step.cb = std::move(cb);
  step.phase = Step::kExec;
  bool ok = true;
  if (!prepared(stmt.id)) {
    if (prepared_.size() <= stmt.id) prepared_.resize(stmt.id + 1);
    prepared_[stmt.id] = true;  // later execs in this iteration need not prepare again
    step.phase = Step::kPrepare;
    ok = PQsendPrepare(conn_, name, stmt.sql.c_str(), n, nullptr) == 1;
  }
  pack_params(params);
  ok = ok && PQsendQueryPrepared(conn_, name, n, values_.data(), lengths_.data(), formats_.data(),
                                 binary_result ? 1 : 0) == 1;
  ok = ok && PQpipelineSync(conn_) == 1;
  if (!ok) return fail(pg_one_line(PQerrorMessage(conn_)));
  flush_output();
  arm(POLLIN | (want_write_ ? POLLOUT : 0));
}

void PgConn::pack_params(std::span<const PgParam> params) {
  // libpq reads text-format values as NUL-terminated strings (binary ones by length), and a
  // string_view need not be terminated: text values are copied, terminated, into text_.
  text_.clear();
  std::vector<size_t>& offsets = text_offsets_;
  offsets.clear();
  for (const PgParam& p : params) {
    offsets.push_back(text_.size());
    if (!p.is_null && !p.binary) {
      text_.append(p.value);
      text_.push_back('\0');
    }
  }
  values_.clear();
  lengths_.clear();
  formats_.clear();
  static const char kEmpty[] = "";
  for (size_t i = 0; i < params.size(); ++i) {
    const PgParam& p = params[i];
    if (p.is_null) {
      values_.push_back(nullptr);
    } else if (p.binary) {
      values_.push_back(p.value.empty() ? kEmpty : p.value.data());
    } else {
      values_.push_back(text_.data() + offsets[i]);
    }
    lengths_.push_back(static_cast<int>(p.value.size()));
    formats_.push_back(p.binary ? 1 : 0);
  }
}

void PgConn::drive_pipeline() {
  if (PQconsumeInput(conn_) == 0) return fail(pg_one_line(PQerrorMessage(conn_)));
  flush_output();
  while (!closed_ && !steps_.empty() && !PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    Step& s = steps_.front();
    if (r == nullptr) {
      // The end of one command's results; with no result yet, nothing more has arrived.
      if (s.phase == Step::kSync || !s.got_result) break;
      s.got_result = false;
      s.phase = s.phase == Step::kPrepare ? Step::kExec : Step::kSync;
      continue;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      if (s.phase != Step::kSync) return fail("pipeline out of step (unexpected sync)");
      complete_front();
      continue;
    }
    take_result(s, r);
    PQclear(r);
  }
  if (closed_) return;
  if (PQstatus(conn_) == CONNECTION_BAD) return fail(pg_one_line(PQerrorMessage(conn_)));
  arm(POLLIN | (want_write_ ? POLLOUT : 0));
}

void PgConn::take_result(Step& s, PGresult* r) {
  const ExecStatusType st = PQresultStatus(r);
  s.got_result = true;
  if (s.phase == Step::kPrepare) {
    if (st != PGRES_COMMAND_OK) {
      set_error(&s.result, r);
      if (s.stmt_id < prepared_.size()) prepared_[s.stmt_id] = false;
    }
    return;
  }
  if (s.result.status != PgResult::kOk) return;  // the prepare failed: keep its error
  if (st == PGRES_PIPELINE_ABORTED) {
    s.result.status = PgResult::kTransient;
    s.result.error = "pipeline aborted by an earlier error";
  } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
    take_rows(&s.result, r);
  } else {
    set_error(&s.result, r);
  }
}

void PgConn::complete_front() {
  Step s = std::move(steps_.front());
  steps_.pop_front();
  s.cb(std::move(s.result));  // may exec() again, on this connection or another
}

void PgConn::check_timeouts(int64_t now_ms, uint32_t connect_timeout_ms,
                            uint32_t query_timeout_ms) {
  if (closed_) return;
  if (state_ != State::kReady && now_ms - started_ms_ > connect_timeout_ms) {
    return fail("timed out connecting after " + std::to_string(connect_timeout_ms) + " ms");
  }
  if (!steps_.empty() && steps_.front().deadline_ms <= now_ms) {
    fail("query timed out after " + std::to_string(query_timeout_ms) + " ms");
  }
}

void PgConn::shutdown(const std::string& why) {
  owner_ = nullptr;
  fail(why);
}

void PgConn::fail(const std::string& why) {
  if (closed_) return;
  close_reason_ = why;
  failed_ = true;
  close();  // release_socket(), then on_closed()
}

void PgConn::release_socket() {
  if (armed_) loop_->driver().forget(token_, fd_);
  armed_ = false;
  if (conn_ != nullptr) PQfinish(conn_);  // libpq closes its own socket
  conn_ = nullptr;
}

void PgConn::on_closed() {
  enter(State::kClosed);
  fail_steps(close_reason_);
  PgConnOwner* owner = std::exchange(owner_, nullptr);
  if (owner != nullptr) owner->conn_lost(this, close_reason_);
}

void PgConn::fail_steps(const std::string& why) {
  while (!steps_.empty()) {
    Step s = std::move(steps_.front());
    steps_.pop_front();
    PgResult r;
    r.status = PgResult::kTransient;
    r.error = why;
    s.cb(std::move(r));
  }
}

}  // namespace strata::proxy
