#include "proxy/changefeed/changefeed.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "protocol/pgoutput.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/policy_registry.h"

namespace strata::proxy {
namespace {

enum class State : int { kStarting, kStandby, kPreparing, kReading, kDown };

const char* state_name(int s) {
  switch (static_cast<State>(s)) {
    case State::kStarting: return "starting";
    case State::kStandby: return "standby";
    case State::kPreparing: return "preparing";
    case State::kReading: return "reading";
    case State::kDown: return "down";
  }
  return "unknown";
}

int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

int64_t unix_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The advisory lock's key: FNV-1a of the slot's name, so every instance of a fleet reading the
// same slot contends for the same lock, and fleets on different slots never do.
int64_t lock_key_of(std::string_view slot) {
  uint64_t h = 1469598103934665603ull;
  for (char c : std::string_view("strata-changefeed:")) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  for (char c : slot) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

// conninfo (key=value or a URI) with our own parameters on top.
PGconn* connect_pg(const policies::PostgresConfig& pg, bool replication, const char* app) {
  const std::string timeout = std::to_string(std::max<uint32_t>(1, (pg.connect_timeout_ms + 999) / 1000));
  // The replication key goes last, only when wanted: the list ends at the first null.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "replication", nullptr};
  const char* values[] = {pg.conninfo.c_str(), timeout.c_str(), app, "5", "2", "3",
                          replication ? "database" : nullptr, nullptr};
  if (!replication) keys[6] = nullptr;
  return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
}

std::string pg_error_line(PGconn* c) {
  std::string e = c != nullptr ? PQerrorMessage(c) : "no connection";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  std::replace(e.begin(), e.end(), '\n', ' ');
  return e;
}

// One statement on the thread's connection: the first row's first column ("" for none), or
// false with *err.
bool exec_value(PGconn* c, const std::string& sql, std::span<const std::string> params,
                std::string* value, std::string* err) {
  std::vector<const char*> p;
  for (const std::string& s : params) p.push_back(s.c_str());
  PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(),
                             nullptr, nullptr, 0);
  const ExecStatusType st = PQresultStatus(r);
  bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
  if (!ok) {
    *err = PQresultErrorMessage(r);
    while (!err->empty() && err->back() == '\n') err->pop_back();
  } else if (value != nullptr) {
    value->clear();
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
      value->assign(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
    }
  }
  PQclear(r);
  return ok;
}

std::string sql_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

// "app.users" -> "app"."users"; "strata_kv" -> "strata_kv" (the search path's).
std::string quote_table(const MappedTable& t) {
  if (t.name.find('.') == std::string::npos) return sql_ident(t.relname);
  return sql_ident(t.schema) + "." + sql_ident(t.relname);
}

// Microseconds as milliseconds with three decimals.
std::string ms_text(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us) / 1000.0);
  return buf;
}

}  // namespace

Changefeed::Changefeed(Setup setup, PolicyRegistry* registry)
    : setup_(std::move(setup)),
      registry_(registry),
      lock_key_(lock_key_of(setup_.pg.changefeed_slot)),
      lag_ring_(kLagSamples) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Changefeed::~Changefeed() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Changefeed::start() {
  thread_ = std::thread([this] { run(); });
}

void Changefeed::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  wake_thread();
  thread_.join();
  close_stream();
  if (lock_conn_ != nullptr) PQfinish(lock_conn_);
  lock_conn_ = nullptr;
}

void Changefeed::wake_thread() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Changefeed::wait_ms(int64_t ms) {
  pollfd p{wake_fd_, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(std::max<int64_t>(ms, 0)));
  uint64_t drained;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &drained, sizeof drained);
}

// ---------------------------------------------------------------- worker 0's side

void Changefeed::take(std::vector<ChangefeedTxn>* out) {
  bool was_full;
  {
    std::lock_guard lock(mu_);
    was_full = queue_.size() >= kQueuedTxnsMax;
    while (!queue_.empty()) {
      out->push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (was_full) wake_thread();  // it stopped reading the stream for room
}

void Changefeed::applied(uint64_t end_lsn, int64_t commit_unix_us) {
  applied_count_.fetch_add(1, std::memory_order_acq_rel);
  if (end_lsn > applied_lsn_.load(std::memory_order_relaxed)) {
    applied_lsn_.store(end_lsn, std::memory_order_release);
  }
  if (commit_unix_us > 0) {
    const int64_t lag = std::max<int64_t>(0, unix_us() - commit_unix_us);
    last_lag_us_.store(lag, std::memory_order_relaxed);
    if (lag > max_lag_us_.load(std::memory_order_relaxed)) {
      max_lag_us_.store(lag, std::memory_order_relaxed);
    }
    std::lock_guard lock(mu_);
    lag_ring_[lag_next_++ % kLagSamples] = lag;
    counters_.transactions.fetch_add(1, std::memory_order_relaxed);
  }
  wake_thread();  // the flush position may go out now
}

// ---------------------------------------------------------------- the thread

void Changefeed::run() {
  state_.store(static_cast<int>(State::kStarting));
  int64_t backoff_ms = 100;
  while (!stopping_.load()) {
    std::string err;
    if (lock_conn_ == nullptr && !connect_lock(&err)) {
      state_.store(static_cast<int>(State::kDown));
      {
        std::lock_guard lock(mu_);
        last_error_ = err;
      }
      wait_ms(backoff_ms);
      backoff_ms = std::min<int64_t>(backoff_ms * 2, setup_.pg.backoff_max_ms);
      continue;
    }
    if (!reader_.load()) {
      if (!try_lead()) {
        if (lock_conn_ != nullptr) state_.store(static_cast<int>(State::kStandby));
        wait_ms(setup_.pg.changefeed_takeover_ms);
        continue;
      }
    }
    state_.store(static_cast<int>(State::kPreparing));
    if (!prepare(&err)) {
      counters_.setup_errors.fetch_add(1, std::memory_order_relaxed);
      STRATA_LOG_WARN("changefeed: %s", err.c_str());
      {
        std::lock_guard lock(mu_);
        last_error_ = err;
      }
      if (lock_conn_ != nullptr && PQstatus(lock_conn_) != CONNECTION_OK) lose_lead("lock connection lost");
      wait_ms(backoff_ms);
      backoff_ms = std::min<int64_t>(backoff_ms * 2, setup_.pg.backoff_max_ms);
      continue;
    }
    backoff_ms = 100;
    stream();
  }
  if (reader_.load()) lose_lead("stopping");
}

bool Changefeed::connect_lock(std::string* err) {
  PGconn* c = connect_pg(setup_.pg, false, "strata-changefeed");
  if (PQstatus(c) != CONNECTION_OK) {
    *err = "cannot connect to PostgreSQL: " + pg_error_line(c);
    PQfinish(c);
    return false;
  }
  lock_conn_ = c;
  return true;
}

bool Changefeed::try_lead() {
  std::string value, err;
  const std::string key = std::to_string(lock_key_);
  if (!exec_value(lock_conn_, "SELECT pg_try_advisory_lock($1::bigint)", {&key, 1}, &value, &err)) {
    STRATA_LOG_WARN("changefeed: advisory lock: %s", err.c_str());
    PQfinish(lock_conn_);
    lock_conn_ = nullptr;
    return false;
  }
  if (value != "t") {
    ever_standby_ = true;
    return false;
  }
  reader_.store(true);
  counters_.elections.fetch_add(1, std::memory_order_relaxed);
  if (ever_standby_) counters_.takeovers.fetch_add(1, std::memory_order_relaxed);
  STRATA_LOG_INFO("changefeed: %s reads slot '%s'%s", setup_.instance.c_str(),
                  setup_.pg.changefeed_slot.c_str(), ever_standby_ ? " (took over)" : "");
  return true;
}

void Changefeed::lose_lead(const std::string& why) {
  close_stream();
  if (lock_conn_ != nullptr) {
    PQfinish(lock_conn_);  // the session's end frees its advisory lock
    lock_conn_ = nullptr;
  }
  if (reader_.exchange(false)) STRATA_LOG_WARN("changefeed: no longer the reader: %s", why.c_str());
  in_txn_ = false;
}

void Changefeed::close_stream() {
  if (repl_conn_ != nullptr) PQfinish(repl_conn_);
  repl_conn_ = nullptr;
}

bool Changefeed::prepare(std::string* err) {
  mapped_from_ = registry_->current();
  map_ = TableMap::build(mapped_from_->config);
  if (map_.tables().empty()) {
    *err = "no policy maps a PostgreSQL table: nothing to follow";
    return false;
  }
  bool publication_existed = false;
  if (!ensure_publication(map_, &publication_existed, err)) return false;
  return ensure_slot(publication_existed, err);
}

// The publication lists every mapped table that exists and can publish deletes (a replica
// identity: a primary key, or one set by hand). One without would make PostgreSQL refuse every
// UPDATE and DELETE of it once published, so it is left out and said so.
bool Changefeed::ensure_publication(const TableMap& map, bool* existed, std::string* err) {
  const std::string& pub = setup_.pg.changefeed_publication;
  std::string value;
  if (!exec_value(lock_conn_, "SELECT count(*) FROM pg_publication WHERE pubname = $1", {&pub, 1},
                  &value, err)) {
    return false;
  }
  *existed = value != "0";
  if (!*existed && !exec_value(lock_conn_, "CREATE PUBLICATION " + sql_ident(pub), {}, nullptr, err)) {
    *err = "cannot create publication '" + pub + "': " + *err;
    return false;
  }
  for (const MappedTable& t : map.tables()) {
    const std::string qualified = quote_table(t);
    const std::string check =
        "SELECT CASE WHEN to_regclass($1) IS NULL THEN 'missing' "
        "WHEN EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
        "WHERE p.pubname = $2 AND pr.prrelid = to_regclass($1)) THEN 'published' "
        "WHEN (SELECT relreplident FROM pg_class WHERE oid = to_regclass($1)) IN ('f', 'i') "
        "OR EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass($1) AND indisprimary) "
        "THEN 'addable' ELSE 'no identity' END";
    const std::string params[] = {qualified, pub};
    if (!exec_value(lock_conn_, check, params, &value, err)) return false;
    if (value == "addable") {
      if (!exec_value(lock_conn_, "ALTER PUBLICATION " + sql_ident(pub) + " ADD TABLE " + qualified,
                      {}, nullptr, err)) {
        counters_.setup_errors.fetch_add(1, std::memory_order_relaxed);
        STRATA_LOG_WARN("changefeed: cannot add table %s to publication '%s': %s", t.name.c_str(),
                        pub.c_str(), err->c_str());
      }
    } else if (value == "no identity") {
      STRATA_LOG_WARN("changefeed: table %s has no primary key or replica identity: its changes "
                      "are not followed (publishing it would make PostgreSQL refuse its UPDATEs "
                      "and DELETEs)", t.name.c_str());
    }
  }
  return true;
}

// The slot: created when missing, recreated when PostgreSQL invalidated it (wal_status lost:
// past max_slot_wal_keep_size). Either way the changes between are unknown, so every mapped
// prefix is dropped from every instance's cache first.
bool Changefeed::ensure_slot(bool publication_existed, std::string* err) {
  const std::string& slot = setup_.pg.changefeed_slot;
  std::string status;
  if (!exec_value(lock_conn_,
                  "SELECT coalesce(wal_status, 'unknown') FROM pg_replication_slots WHERE slot_name = $1",
                  {&slot, 1}, &status, err)) {
    return false;
  }
  bool lost = false;
  if (status == "lost") {
    STRATA_LOG_WARN("changefeed: slot '%s' was invalidated (past max_slot_wal_keep_size): "
                    "recreating it and dropping the mapped prefixes from every cache",
                    slot.c_str());
    if (!exec_value(lock_conn_, "SELECT pg_drop_replication_slot($1)", {&slot, 1}, nullptr, err)) {
      return false;
    }
    status.clear();
    lost = true;
  }
  if (!status.empty()) return true;
  if (!exec_value(lock_conn_, "SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                  {&slot, 1}, nullptr, err)) {
    *err = "cannot create replication slot '" + slot + "': " + *err;
    return false;
  }
  counters_.slot_creations.fetch_add(1, std::memory_order_relaxed);
  // A publication without its slot: the slot existed and was dropped by hand.
  lost = lost || publication_existed || reported_lsn_ != 0;
  if (lost) {
    counters_.slot_recreations.fetch_add(1, std::memory_order_relaxed);
    STRATA_LOG_WARN("changefeed: slot '%s' was lost and is recreated: changes made meanwhile "
                    "are unknown, every mapped prefix is dropped from every cache",
                    slot.c_str());
  }
  // Even a first creation drops: caches may hold values older than the slot's start.
  ChangefeedTxn drop;
  drop.slot_lost = lost;
  for (const MappedTable& t : map_.tables()) {
    for (const std::string& p : t.prefixes) drop.drop_prefixes.push_back(p);
  }
  return enqueue(std::move(drop));
}

void Changefeed::stream() {
  repl_conn_ = connect_pg(setup_.pg, true, "strata-changefeed");
  if (PQstatus(repl_conn_) != CONNECTION_OK) {
    STRATA_LOG_WARN("changefeed: replication connection: %s", pg_error_line(repl_conn_).c_str());
    counters_.stream_errors.fetch_add(1, std::memory_order_relaxed);
    close_stream();
    wait_ms(setup_.pg.backoff_max_ms);
    return;
  }
  const std::string cmd = "START_REPLICATION SLOT " + setup_.pg.changefeed_slot +
                          " LOGICAL 0/0 (proto_version '1', publication_names '" +
                          setup_.pg.changefeed_publication + "')";
  PGresult* r = PQexec(repl_conn_, cmd.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COPY_BOTH) {
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    STRATA_LOG_WARN("changefeed: START_REPLICATION: %s", e.c_str());
    counters_.stream_errors.fetch_add(1, std::memory_order_relaxed);
    close_stream();
    // The slot may still be held by a reader that just died (PostgreSQL frees it when it
    // notices), or be gone (prepare() recreates it on the next round).
    wait_ms(setup_.pg.changefeed_takeover_ms);
    return;
  }
  PQclear(r);
  relations_.clear();
  in_txn_ = false;
  held_.clear();  // never confirmed: the stream sends them again
  state_.store(static_cast<int>(State::kReading));
  {
    std::lock_guard lock(mu_);
    last_error_.clear();
  }
  PQsetnonblocking(repl_conn_, 1);
  last_status_ms_ = 0;
  while (!stopping_.load()) {
    bool room;
    {
      std::lock_guard lock(mu_);
      room = queue_.size() + held_.size() < kQueuedTxnsMax;
    }
    const int64_t now = mono_ms();
    const int64_t interval = setup_.pg.changefeed_status_interval_ms;
    const int64_t next_status = last_status_ms_ + (reported_lsn_ < applied_lsn_.load() ? kStatusMinMs : interval) - now;
    pollfd fds[3] = {{wake_fd_, POLLIN, 0},
                     {PQsocket(repl_conn_), static_cast<short>(room ? POLLIN : 0), 0},
                     {PQsocket(lock_conn_), POLLIN, 0}};
    int64_t timeout = std::clamp<int64_t>(next_status, 0, interval);
    if (!held_.empty()) timeout = std::min<int64_t>(timeout, kVisibleRetryMs);
    ::poll(fds, 3, static_cast<int>(timeout));
    if (fds[0].revents & POLLIN) {
      uint64_t drained;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &drained, sizeof drained);
    }
    // The lock's session says nothing unless it ended: then another instance may lead now.
    if (fds[2].revents != 0 && (PQconsumeInput(lock_conn_) == 0 || PQstatus(lock_conn_) != CONNECTION_OK)) {
      lose_lead("the advisory lock's connection ended");
      return;
    }
    // libpq may hold messages read earlier (the queue was full then): they are taken whether
    // or not the socket has more.
    if (room) {
      if (fds[1].revents != 0 && PQconsumeInput(repl_conn_) == 0) {
        STRATA_LOG_WARN("changefeed: stream: %s", pg_error_line(repl_conn_).c_str());
        counters_.stream_errors.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      char* buf = nullptr;
      int n;
      bool failed = false;
      while ((n = PQgetCopyData(repl_conn_, &buf, 1)) > 0) {
        const bool ok = handle_copy(std::string_view(buf, static_cast<size_t>(n)));
        PQfreemem(buf);
        if (!ok) {
          failed = true;
          break;
        }
        std::lock_guard lock(mu_);
        if (queue_.size() + held_.size() >= kQueuedTxnsMax) break;  // the rest waits in libpq
      }
      if (failed) break;
      if (n == -1 || n == -2) {
        PGresult* end = PQgetResult(repl_conn_);
        STRATA_LOG_WARN("changefeed: stream ended: %s",
                        end != nullptr ? PQresultErrorMessage(end) : pg_error_line(repl_conn_).c_str());
        if (end != nullptr) PQclear(end);
        counters_.stream_errors.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    if (!held_.empty() && !release_visible()) {
      lose_lead("the advisory lock's connection failed");
      return;
    }
    // A moved flush position goes out soon (the slot may let its WAL go), at most every
    // kStatusMinMs: under a busy stream, one update per transaction would cost a send each.
    const bool flush_moved = applied_lsn_.load(std::memory_order_acquire) > reported_lsn_ ||
                             (all_applied() && idle_lsn_ > reported_lsn_);
    const int64_t since = mono_ms() - last_status_ms_;
    if ((flush_moved && since >= kStatusMinMs) || since >= interval) {
      if (!send_status()) break;
    }
    if (mono_ms() - last_slot_poll_ms_ >= interval) {
      poll_slot();
      // A reload may map tables the publication lacks: prepared again (the stream resumes
      // from the last confirmed transaction; what is replayed applies again harmlessly).
      if (registry_->current() != mapped_from_ &&
          !(TableMap::build(registry_->current()->config) == map_)) {
        STRATA_LOG_INFO("changefeed: the policies' tables changed: following the new set");
        break;
      }
      mapped_from_ = registry_->current();
    }
  }
  close_stream();
  state_.store(static_cast<int>(State::kPreparing));
}

// The stream restarts from the last applied transaction: nothing after it is lost.
bool Changefeed::decode_failed(const char* what, const protocol::PgError& e) {
  counters_.decode_errors.fetch_add(1, std::memory_order_relaxed);
  STRATA_LOG_WARN("changefeed: bad %s at byte %zu: %.*s", what, e.offset,
                  static_cast<int>(e.message.size()), e.message.data());
  return false;
}

bool Changefeed::handle_copy(std::string_view payload) {
  protocol::ReplMessage m;
  protocol::PgError e = protocol::decode_repl_message(payload, &m);
  if (!e.ok()) return decode_failed("replication message", e);
  server_wal_end_ = std::max(server_wal_end_, m.wal_end);
  if (m.kind == protocol::ReplKind::kKeepalive) {
    // Nothing is pending between transactions: the server's end of WAL is as good as applied
    // (the WAL before it holds no change of ours still to come), so the slot can let it go.
    if (!in_txn_ && all_applied()) {
      idle_lsn_ = std::max(idle_lsn_, m.wal_end);
    }
    received_lsn_ = std::max(received_lsn_, m.wal_end);
    received_lsn_info_.store(received_lsn_, std::memory_order_relaxed);
    lag_bytes_.store(static_cast<int64_t>(server_wal_end_ - std::min(server_wal_end_, reported_lsn_)),
                     std::memory_order_relaxed);
    return m.reply_requested ? send_status() : true;
  }
  received_lsn_ = std::max(received_lsn_, m.wal_start);
  received_lsn_info_.store(received_lsn_, std::memory_order_relaxed);
  return handle_pgoutput(m.data);
}

bool Changefeed::handle_pgoutput(std::string_view data) {
  protocol::PgoutMessage m;
  protocol::PgError e = protocol::decode_pgoutput(data, &m);
  if (!e.ok()) return decode_failed("pgoutput message", e);
  using protocol::PgoutTag;
  switch (m.tag) {
    case PgoutTag::kBegin:
      txn_ = ChangefeedTxn{};
      txn_tables_.assign(map_.tables().size(), 0);
      txn_.commit_unix_us = protocol::unix_us_from_pg_epoch_us(m.begin.commit_time);
      txn_xid_ = m.begin.xid;
      in_txn_ = true;
      txn_overflow_ = false;
      return true;
    case PgoutTag::kCommit:
      commit_txn(m.commit.end_lsn, protocol::unix_us_from_pg_epoch_us(m.commit.commit_time));
      return true;
    case PgoutTag::kRelation: {
      RelationInfo info;
      const std::string_view ns = m.relation.namespace_name.empty() ? "pg_catalog" : m.relation.namespace_name;
      const MappedTable* t = map_.find(ns, m.relation.name);
      if (t != nullptr) {
        info.table = static_cast<int>(t - map_.tables().data());
        int i = 0;
        for (const protocol::PgRelationColumn& c : m.relation.columns) {
          if (c.name == t->key_column) info.key_col = i;
          if (c.name == t->value_column) {
            info.value_col = i;
            info.value_type = c.type_oid;
          }
          if (c.name == t->version_column) info.version_col = i;
          ++i;
        }
        if (info.key_col < 0) {
          STRATA_LOG_WARN("changefeed: table %s has no column '%s': its changes are not followed",
                          t->name.c_str(), t->key_column.c_str());
          info.table = -1;
        }
      }
      relations_[m.relation.relid] = info;
      return true;
    }
    default:
      break;
  }
  if (!in_txn_) return true;  // a change outside begin/commit: not what pgoutput sends
  auto row_of = [&](uint32_t relid, const protocol::PgTuple& tuple, bool old_key) {
    auto it = relations_.find(relid);
    if (it == relations_.end() || it->second.table < 0) return;
    const RelationInfo& info = it->second;
    ChangefeedRow row;
    bool has_key = false, value_null = false, value_unknown = info.value_col < 0;
    std::string_view value_text;
    int i = 0;
    for (const protocol::PgColumnValue& v : tuple) {
      if (i == info.key_col && v.kind == protocol::PgColumnKind::kText) {
        row.key.assign(v.bytes);
        has_key = true;
      } else if (i == info.value_col) {
        if (v.kind == protocol::PgColumnKind::kText) value_text = v.bytes;
        else if (v.kind == protocol::PgColumnKind::kNull) value_null = true;
        else value_unknown = true;  // unchanged TOAST, binary
      } else if (i == info.version_col && v.kind == protocol::PgColumnKind::kText) {
        row.version = version_of_text(v.bytes);
      }
      ++i;
    }
    if (!has_key) return;
    if (old_key) {
      row.kind = ChangefeedRow::Kind::kDelete;
    } else if (value_null) {
      row.kind = ChangefeedRow::Kind::kDelete;  // a write-behind tombstone
    } else if (!value_unknown && cache_bytes_of(info.value_type, value_text, &row.value)) {
      row.kind = ChangefeedRow::Kind::kValue;
    } else {
      row.kind = ChangefeedRow::Kind::kInvalidate;
    }
    counters_.changes.fetch_add(1, std::memory_order_relaxed);
    ++txn_tables_[static_cast<size_t>(info.table)];
    const bool deleted = row.kind == ChangefeedRow::Kind::kDelete;
    const uint64_t hash = row.kind == ChangefeedRow::Kind::kValue ? OwnWrites::hash_value(row.value) : 0;
    if (own_.match(row.key, row.version, hash, deleted) != OwnWrites::Match::kNone) {
      counters_.own_writes_skipped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (txn_.rows.size() >= kTxnRowsMax) {
      // Too big to keep key by key: the whole table's prefixes go instead.
      if (!txn_overflow_) {
        for (const std::string& p : map_.tables()[static_cast<size_t>(info.table)].prefixes) {
          txn_.drop_prefixes.push_back(p);
        }
      }
      txn_overflow_ = true;
      return;
    }
    txn_.rows.push_back(std::move(row));
  };
  switch (m.tag) {
    case PgoutTag::kInsert:
      row_of(m.insert.relid, m.insert.new_tuple, false);
      break;
    case PgoutTag::kUpdate:
      if (m.update.old_kind != protocol::PgOldTuple::kNone) row_of(m.update.relid, m.update.old_tuple, true);
      row_of(m.update.relid, m.update.new_tuple, false);
      break;
    case PgoutTag::kDelete:
      row_of(m.del.relid, m.del.old_tuple, true);
      break;
    case PgoutTag::kTruncate:
      for (size_t i = 0; i < m.truncate.relids.size(); ++i) {
        auto it = relations_.find(m.truncate.relids[i]);
        if (it == relations_.end() || it->second.table < 0) continue;
        counters_.truncates.fetch_add(1, std::memory_order_relaxed);
        for (const std::string& p : map_.tables()[static_cast<size_t>(it->second.table)].prefixes) {
          txn_.drop_prefixes.push_back(p);
        }
      }
      break;
    default:
      break;  // origin, type, logical messages: nothing for the cache
  }
  return true;
}

void Changefeed::commit_txn(uint64_t end_lsn, int64_t commit_unix_us) {
  in_txn_ = false;
  {
    std::lock_guard lock(mu_);
    for (size_t t = 0; t < txn_tables_.size(); ++t) {
      if (txn_tables_[t] != 0) per_table_[map_.tables()[t].name] += txn_tables_[t];
      txn_tables_[t] = 0;
    }
  }
  txn_.end_lsn = end_lsn;
  txn_.commit_unix_us = commit_unix_us;
  // Last change per key wins: a key changed twice in one transaction is applied once.
  if (txn_.rows.size() > 1) {
    std::unordered_map<std::string_view, size_t> last;
    for (size_t i = 0; i < txn_.rows.size(); ++i) last[txn_.rows[i].key] = i;
    if (last.size() != txn_.rows.size()) {
      std::vector<ChangefeedRow> kept;
      for (size_t i = 0; i < txn_.rows.size(); ++i) {
        if (last[txn_.rows[i].key] == i) kept.push_back(std::move(txn_.rows[i]));
      }
      txn_.rows = std::move(kept);
    }
  }
  // Nothing to apply (strata's own writes only): confirmable as soon as everything before is.
  if (txn_.rows.empty() && txn_.drop_prefixes.empty() && held_.empty() && all_applied()) {
    idle_lsn_ = std::max(idle_lsn_, end_lsn);
    counters_.transactions.fetch_add(1, std::memory_order_relaxed);
    txn_ = ChangefeedTxn{};
    return;
  }
  held_.emplace_back(std::move(txn_), txn_xid_);
  txn_ = ChangefeedTxn{};
}

bool Changefeed::release_visible() {
  // "xmin:xmax:xip,...", 64-bit (an epoch above pgoutput's 32-bit xids). A transaction is
  // visible to new snapshots once it is below xmax (the newest completed one + 1: a commit
  // already streamed can still be at or past it) and not in the xip list (running).
  // (txid_current_snapshot: the same text as pg_current_snapshot, on every version since 8.3.)
  std::string snap, err;
  const bool ok = exec_value(lock_conn_, "SELECT txid_current_snapshot()::text", {}, &snap, &err);
  if (!ok && PQstatus(lock_conn_) != CONNECTION_OK) return false;
  const size_t c1 = snap.find(':');
  const size_t c2 = c1 == std::string::npos ? std::string::npos : snap.find(':', c1 + 1);
  if (!ok || c2 == std::string::npos) {
    // Refused or not understood: the transactions go unchecked rather than not at all.
    if (!snapshot_warned_) {
      STRATA_LOG_WARN("changefeed: snapshot: %s; changes are applied without waiting for "
                      "their visibility", ok ? snap.c_str() : err.c_str());
      snapshot_warned_ = true;
    }
    while (!held_.empty()) {
      enqueue(std::move(held_.front().first));
      held_.pop_front();
    }
    return true;
  }
  const uint64_t xmax = std::strtoull(snap.c_str() + c1 + 1, nullptr, 10);
  std::vector<uint64_t> running;
  for (size_t at = c2 + 1; at < snap.size();) {
    running.push_back(std::strtoull(snap.c_str() + at, nullptr, 10));
    at = std::min(snap.find(',', at), snap.size()) + 1;
  }
  auto visible = [&](uint32_t xid) {
    // The 64-bit xid: the one whose low half is xid, nearest xmax (xids in flight are far
    // closer to it than 2^31), so a 32-bit wrap between them does not matter.
    const int64_t ahead = static_cast<int32_t>(xid - static_cast<uint32_t>(xmax));
    const uint64_t full = xmax + static_cast<uint64_t>(ahead);
    return ahead < 0 && std::find(running.begin(), running.end(), full) == running.end();
  };
  size_t released = 0;
  while (!held_.empty() && visible(held_.front().second)) {
    enqueue(std::move(held_.front().first));
    held_.pop_front();
    ++released;
  }
  if (!held_.empty() && released == 0) {
    counters_.visibility_waits.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

bool Changefeed::enqueue(ChangefeedTxn txn) {
  {
    std::lock_guard lock(mu_);
    ++enqueued_count_;
    queue_.push_back(std::move(txn));
  }
  if (applier_ != nullptr) applier_->wake();
  return true;
}

bool Changefeed::send_status() {
  if (repl_conn_ == nullptr) return false;
  uint64_t flushed = applied_lsn_.load(std::memory_order_acquire);
  if (all_applied()) flushed = std::max(flushed, idle_lsn_);
  protocol::StandbyStatus s;
  s.write_lsn = std::max(received_lsn_, flushed);
  s.flush_lsn = flushed;
  s.apply_lsn = flushed;
  s.send_time = protocol::pg_epoch_us_from_unix_us(unix_us());
  s.reply_requested = false;  // we never ask the server to answer
  std::string out;
  protocol::append_standby_status(&out, s);
  if (PQputCopyData(repl_conn_, out.data(), static_cast<int>(out.size())) != 1 ||
      PQflush(repl_conn_) < 0) {
    STRATA_LOG_WARN("changefeed: status update: %s", pg_error_line(repl_conn_).c_str());
    counters_.stream_errors.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  reported_lsn_ = flushed;
  confirmed_lsn_.store(flushed, std::memory_order_relaxed);
  last_status_ms_ = mono_ms();
  counters_.status_updates.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// The slot's retained WAL and the server's end of WAL, for INFO.
void Changefeed::poll_slot() {
  last_slot_poll_ms_ = mono_ms();
  std::string value, err;
  const std::string& slot = setup_.pg.changefeed_slot;
  if (exec_value(lock_conn_,
                 "SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = $1",
                 {&slot, 1}, &value, &err)) {
    retained_bytes_.store(value.empty() ? -1 : std::strtoll(value.c_str(), nullptr, 10),
                          std::memory_order_relaxed);
  }
}

std::string Changefeed::info_lines() const {
  auto get = [](const std::atomic<uint64_t>& a) { return std::to_string(a.load(std::memory_order_relaxed)); };
  const ChangefeedCounters& c = counters_;
  std::string s;
  s += "changefeed_reader:" + std::string(reader_.load() ? "1" : "0") + "\r\n";
  s += "changefeed_state:" + std::string(state_name(state_.load())) + "\r\n";
  s += "changefeed_slot:" + setup_.pg.changefeed_slot + "\r\n";
  s += "changefeed_publication:" + setup_.pg.changefeed_publication + "\r\n";
  s += "changefeed_confirmed_lsn:" + std::string(protocol::format_lsn(confirmed_lsn_.load()).view()) + "\r\n";
  s += "changefeed_received_lsn:" + std::string(protocol::format_lsn(received_lsn_info_.load()).view()) + "\r\n";
  s += "changefeed_lag_bytes:" + std::to_string(lag_bytes_.load()) + "\r\n";
  s += "changefeed_slot_retained_bytes:" + std::to_string(retained_bytes_.load()) + "\r\n";
  s += "changefeed_lag_last_ms:" + ms_text(last_lag_us_.load()) + "\r\n";
  s += "changefeed_lag_max_ms:" + ms_text(max_lag_us_.load()) + "\r\n";
  {
    // Percentiles over the last kLagSamples transactions, exact.
    std::vector<int64_t> lags;
    {
      std::lock_guard lock(mu_);
      lags.assign(lag_ring_.begin(), lag_ring_.begin() + std::min<uint64_t>(lag_next_, kLagSamples));
    }
    std::sort(lags.begin(), lags.end());
    auto pct = [&](double q) {
      if (lags.empty()) return std::string("0");
      const size_t i = std::min(lags.size() - 1, static_cast<size_t>(q * static_cast<double>(lags.size() - 1) + 0.5));
      return ms_text(lags[i]);
    };
    s += "changefeed_lag_p50_ms:" + pct(0.50) + "\r\n";
    s += "changefeed_lag_p99_ms:" + pct(0.99) + "\r\n";
    s += "changefeed_lag_samples:" + std::to_string(lags.size()) + "\r\n";
  }
  s += "changefeed_transactions:" + get(c.transactions) + "\r\n";
  s += "changefeed_changes:" + get(c.changes) + "\r\n";
  s += "changefeed_keys_invalidated:" + get(c.keys_invalidated) + "\r\n";
  s += "changefeed_keys_updated:" + get(c.keys_updated) + "\r\n";
  s += "changefeed_own_writes_skipped:" + get(c.own_writes_skipped) + "\r\n";
  s += "changefeed_truncates:" + get(c.truncates) + "\r\n";
  s += "changefeed_prefix_drops:" + get(c.prefix_drops) + "\r\n";
  s += "changefeed_slot_creations:" + get(c.slot_creations) + "\r\n";
  s += "changefeed_slot_recreations:" + get(c.slot_recreations) + "\r\n";
  s += "changefeed_elections:" + get(c.elections) + "\r\n";
  s += "changefeed_takeovers:" + get(c.takeovers) + "\r\n";
  s += "changefeed_stream_errors:" + get(c.stream_errors) + "\r\n";
  s += "changefeed_decode_errors:" + get(c.decode_errors) + "\r\n";
  s += "changefeed_apply_retries:" + get(c.apply_retries) + "\r\n";
  s += "changefeed_setup_errors:" + get(c.setup_errors) + "\r\n";
  s += "changefeed_visibility_waits:" + get(c.visibility_waits) + "\r\n";
  std::lock_guard lock(mu_);
  s += "changefeed_queued:" + std::to_string(queue_.size()) + "\r\n";
  std::string tables;
  for (const auto& [name, n] : per_table_) {
    if (!tables.empty()) tables += ',';
    tables += name + "=" + std::to_string(n);
  }
  s += "changefeed_tables:" + tables + "\r\n";
  if (!last_error_.empty()) s += "changefeed_last_error:" + last_error_ + "\r\n";
  return s;
}

}  // namespace strata::proxy
