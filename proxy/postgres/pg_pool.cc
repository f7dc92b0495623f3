#include "proxy/postgres/pg_pool.h"

#include <libpq-fe.h>

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <utility>

#include "proxy/loop/log.h"
#include "proxy/postgres/pg_conn.h"
#include "proxy/loop/event_loop.h"

namespace strata::proxy {
namespace {

// Requests waiting for a connection to become ready, per worker; past it exec() fails at once.
constexpr size_t kQueuedRequestsMax = 4096;
constexpr uint32_t kBackoffFirstMs = 50;
// Requests in one connection's pipeline; past it PostgreSQL is not keeping up: fail fast
// instead of queueing without bound (write-behind has its own bounded queue before this).
constexpr size_t kInFlightPerConnectionMax = 65536;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// "host=127.0.0.1 port=5433" from the conninfo: only where it goes, never the password.
std::string describe_target(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "(unparsable conninfo)";
  }
  std::string host, hostaddr, port;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view k = o->keyword;
    if (k == "host") host = o->val;
    if (k == "hostaddr") hostaddr = o->val;
    if (k == "port") port = o->val;
  }
  PQconninfoFree(opts);
  if (host.empty()) host = hostaddr.empty() ? "localhost" : hostaddr;
  return "host=" + host + " port=" + (port.empty() ? "5432" : port);
}

// libpq's "connection to server at ... failed: Connection refused" -> "connection refused".
std::string short_reason(const std::string& why) {
  std::string r = why;
  if (auto at = r.rfind("failed: "); r.starts_with("connection to server") && at != r.npos) {
    r = r.substr(at + 8);
  }
  if (!r.empty() && r[0] >= 'A' && r[0] <= 'Z' && (r.size() < 2 || r[1] > 'Z')) r[0] += 'a' - 'A';
  return r;
}

PgResult transient(std::string error) {
  PgResult r;
  r.status = PgResult::kTransient;
  r.error = std::move(error);
  return r;
}

}  // namespace

struct PgPool::Impl final : PgConnOwner {
  struct Slot {
    PgConn* conn = nullptr;
    int64_t retry_at_ms = 0;
    uint32_t backoff_ms = 0;
  };
  // An exec waiting for a connection: its parameters copied.
  struct Queued {
    uint32_t stmt = 0;
    std::vector<std::string> values;
    std::vector<PgParam> params;  // views into values
    bool binary_result = false;
    PgCallback cb;
    int64_t deadline_ms = 0;
  };

  Loop* loop;
  policies::PostgresConfig config;
  std::string setup_sql;
  std::string target;
  std::string unavailable;
  std::vector<Slot> slots;
  std::deque<PgStatement> statements;  // by id; deque: references stay valid
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> statement_ids;
  std::deque<Queued> queue;
  bool logged_down = false;

  Impl(Loop* w, const policies::PostgresConfig& c, std::string setup)
      : loop(w), config(c), setup_sql(std::move(setup)), target(describe_target(c.conninfo)) {
    unavailable = "PostgreSQL " + target + " unavailable (not connected yet)";
    slots.resize(std::max<uint32_t>(1, c.pool_size));
  }

  ~Impl() override {
    for (Slot& s : slots) {
      if (s.conn != nullptr)
        std::exchange(s.conn, nullptr)->shutdown("PostgreSQL pool shutting down");
    }
    fail_queue("PostgreSQL pool shutting down");
  }

  const PgStatement& statement(std::string_view sql) {
    if (auto it = statement_ids.find(sql); it != statement_ids.end()) return statements[it->second];
    const auto id = static_cast<uint32_t>(statements.size());
    statements.push_back(PgStatement{id, std::string(sql)});
    statement_ids.emplace(std::string(sql), id);
    return statements.back();
  }

  PgConn* pick() const {
    PgConn* best = nullptr;
    for (const Slot& s : slots) {
      if (s.conn != nullptr && s.conn->ready() &&
          (best == nullptr || s.conn->in_flight() < best->in_flight())) {
        best = s.conn;
      }
    }
    return best;
  }

  bool connecting() const {
    for (const Slot& s : slots) {
      if (s.conn != nullptr && !s.conn->ready()) return true;
    }
    return false;
  }

  void connect(Slot& s) {
    std::string err;
    s.conn = PgConn::start(loop, this, config.conninfo, setup_sql, &err);
    if (s.conn == nullptr) note_failure(s, false, err);
  }

  void note_failure(Slot& s, bool was_ready, const std::string& why) {
    s.backoff_ms =
        was_ready || s.backoff_ms == 0
            ? kBackoffFirstMs
            : std::min(s.backoff_ms * 2, std::max(config.backoff_max_ms, kBackoffFirstMs));
    s.retry_at_ms = loop->now_ms() + s.backoff_ms;
    if (pick() != nullptr) return;
    unavailable = "PostgreSQL " + target + " unavailable (" + short_reason(why) + ")";
    if (!logged_down) {
      logged_down = true;
      STRATA_LOG_WARN("worker %u: %s; retrying with backoff", loop->index(), unavailable.c_str());
    }
    if (!connecting()) fail_queue(unavailable);
  }

  void fail_queue(const std::string& why) {
    while (!queue.empty()) {
      Queued q = std::move(queue.front());
      queue.pop_front();
      q.cb(transient(why));
    }
  }

  void drain_queue() {
    const int64_t deadline = loop->now_ms() + config.query_timeout_ms;
    while (!queue.empty()) {
      PgConn* c = pick();
      if (c == nullptr) return;
      Queued q = std::move(queue.front());
      queue.pop_front();
      c->exec(statements[q.stmt], q.params, q.binary_result, std::move(q.cb), deadline);
    }
  }

  Slot* slot_of(PgConn* c) {
    for (Slot& s : slots) {
      if (s.conn == c) return &s;
    }
    return nullptr;
  }

  void conn_ready(PgConn* c) override {
    if (Slot* s = slot_of(c)) s->backoff_ms = 0;
    if (logged_down) {
      logged_down = false;
      STRATA_LOG_INFO("worker %u: PostgreSQL %s available again", loop->index(), target.c_str());
    }
    drain_queue();
  }

  void conn_lost(PgConn* c, const std::string& why) override {
    Slot* s = slot_of(c);
    if (s == nullptr) return;
    s->conn = nullptr;
    if (c->failed()) note_failure(*s, c->ever_ready(), why);  // else: the worker is stopping
  }

  void conn_destroyed(PgConn* c) override {
    if (Slot* s = slot_of(c)) s->conn = nullptr;
  }

  void exec(std::string_view sql, std::span<const PgParam> params, bool binary_result,
            PgCallback cb) {
    const PgStatement& stmt = statement(sql);
    if (PgConn* c = pick()) {
      if (c->in_flight() >= kInFlightPerConnectionMax) {
        return cb(transient("PostgreSQL overloaded: " + std::to_string(c->in_flight()) +
                            " requests in flight on every connection"));
      }
      c->exec(stmt, params, binary_result, std::move(cb),
              loop->now_ms() + config.query_timeout_ms);
      return;
    }
    if (!connecting()) return cb(transient(unavailable));
    if (queue.size() >= kQueuedRequestsMax) {
      return cb(transient("PostgreSQL request queue full (" + std::to_string(kQueuedRequestsMax) +
                          " waiting for a connection)"));
    }
    Queued& q = queue.emplace_back();
    q.stmt = stmt.id;
    q.binary_result = binary_result;
    q.cb = std::move(cb);
    q.deadline_ms = loop->now_ms() + config.connect_timeout_ms;
    q.values.reserve(params.size());
    for (const PgParam& p : params) q.values.emplace_back(p.value);
    for (size_t i = 0; i < params.size(); ++i) {
      q.params.push_back(PgParam{q.values[i], params[i].is_null, params[i].binary});
    }
  }

  void on_tick(int64_t now_ms) {
    for (Slot& s : slots) {
      if (s.conn != nullptr) {
        s.conn->check_timeouts(now_ms, config.connect_timeout_ms, config.query_timeout_ms);
      }
    }
    for (Slot& s : slots) {
      if (s.conn == nullptr && now_ms >= s.retry_at_ms) connect(s);
    }
    while (!queue.empty() && queue.front().deadline_ms <= now_ms) {
      Queued q = std::move(queue.front());
      queue.pop_front();
      q.cb(transient(unavailable + ": no connection ready within " +
                     std::to_string(config.connect_timeout_ms) + " ms"));
    }
  }
};

PgPool::PgPool(Loop* loop, const policies::PostgresConfig& config, std::string setup_sql)
    : impl_(std::make_unique<Impl>(loop, config, std::move(setup_sql))) {}

PgPool::~PgPool() = default;

void PgPool::start() {
  for (Impl::Slot& s : impl_->slots) {
    if (s.conn == nullptr) impl_->connect(s);
  }
}

void PgPool::on_tick(int64_t now_ms) { impl_->on_tick(now_ms); }

bool PgPool::available() const { return impl_->pick() != nullptr; }

const std::string& PgPool::unavailable_reason() const { return impl_->unavailable; }

void PgPool::exec(std::string_view sql, std::span<const PgParam> params, bool binary_result,
                  PgCallback cb) {
  impl_->exec(sql, params, binary_result, std::move(cb));
}

size_t PgPool::in_flight() const {
  size_t n = impl_->queue.size();
  for (const Impl::Slot& s : impl_->slots) {
    if (s.conn != nullptr) n += s.conn->in_flight();
  }
  return n;
}

}  // namespace strata::proxy
