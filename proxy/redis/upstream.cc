#include "proxy/redis/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "cache/store.h"
#include "protocol/reply_writer.h"
#include "proxy/loop/log.h"
#include "proxy/redis/tracking.h"

namespace strata::proxy {
namespace {

constexpr uint32_t kBackoffStartMs = 50;

// Appends "<prefix><n>\r\n" (a multibulk count or a bulk length header).
void append_header(std::string* out, char prefix, size_t n) {
  char buf[24];
  buf[0] = prefix;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

void encode_command(std::string* out, std::span<const std::string_view> args) {
  append_header(out, '*', args.size());
  for (std::string_view a : args) {
    append_header(out, '$', a.size());
    out->append(a);
    out->append("\r\n", 2);
  }
}

// ---- Upstream ----

Upstream::Upstream(const UpstreamContext& ctx, const sockaddr_in& addr, std::string name, bool tracking)
    : ctx_(ctx), addr_(addr), name_(std::move(name)), tracking_wanted_(tracking) {
  unavailable_ = error_line("ERR upstream " + name_ + " unavailable (connecting)");
  shared_.resize(ctx_.config.connections);
}

Upstream::~Upstream() = default;

int Upstream::new_socket() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void Upstream::start() {
  if (tracking_wanted_) connect_tracking();
  for (uint32_t i = 0; i < shared_.size(); ++i) connect_shared(i);
}

void Upstream::connect_tracking() {
  int fd = new_socket();
  if (fd < 0) return;
  auto conn = std::make_unique<TrackingConn>(ctx_.loop, fd, this);
  tracking_ = conn.get();
  Token t = ctx_.loop->adopt(std::move(conn));
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
}

void Upstream::tracking_ready(int64_t id) {
  tracking_id_ = id;
  tracking_backoff_ms_ = 0;
  if (flush_on_tracking_) {
    // Invalidations sent while no one listened are lost: what L1 holds may be stale.
    ctx_.store->flush_all();
    ctx_.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kTracking);
    flush_on_tracking_ = false;
  }
  for (Shared& s : shared_) {
    if (s.conn != nullptr && s.conn->connected() && !s.conn->ready()) s.conn->enable(id);
  }
}

void Upstream::tracking_lost(TrackingConn* conn) {
  if (conn != tracking_) return;
  tracking_ = nullptr;
  const bool was_tracking = tracking_id_ != 0;
  tracking_id_ = 0;
  tracking_backoff_ms_ =
      tracking_backoff_ms_ == 0
          ? kBackoffStartMs
          : std::min(tracking_backoff_ms_ * 2, ctx_.config.backoff_max_ms);
  tracking_retry_at_ms_ = ctx_.loop->now_ms() + tracking_backoff_ms_;
  if (!was_tracking) return;
  // L1 keeps serving hits (Redis may simply be down: then nobody can change it), and is
  // flushed when tracking is back, since invalidations sent in between were lost. The shared
  // connections must re-register with the next tracking connection.
  flush_on_tracking_ = true;
  for (Shared& s : shared_) {
    if (s.conn != nullptr) s.conn->close();
  }
}

void Upstream::conn_connected(uint32_t index) {
  UpstreamConn* c = shared_[index].conn;
  if (!tracking_wanted_) {
    c->enable(0);
  } else if (tracking_id_ != 0) {
    c->enable(tracking_id_);
  }
  // else: ready once the tracking connection has its id (tracking_ready).
}

void Upstream::connect_shared(uint32_t index) {
  int fd = new_socket();
  if (fd < 0) {
    conn_lost(index, nullptr, strerror(errno));
    return;
  }
  auto conn = std::make_unique<UpstreamConn>(ctx_.loop, fd, this, index);
  UpstreamConn* raw = conn.get();
  Token t = ctx_.loop->adopt(std::move(conn));
  shared_[index].conn = raw;
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
}

void Upstream::conn_ready(uint32_t index) {
  shared_[index].backoff_ms = 0;
  bump(ctx_.stats->upstream_ready_conns);
  if (logged_down_) {
    STRATA_LOG_INFO("worker %u: upstream %s reachable again", ctx_.loop->index(), name_.c_str());
    logged_down_ = false;
  }
}

void Upstream::conn_lost(uint32_t index, UpstreamConn* conn, std::string_view why) {
  Shared& s = shared_[index];
  if (conn != nullptr && s.conn != conn) return;  // an older connection of this index
  if (s.conn != nullptr && s.conn->ready()) {
    ctx_.stats->upstream_ready_conns.fetch_sub(1, std::memory_order_relaxed);
  }
  s.conn = nullptr;
  s.backoff_ms = s.backoff_ms == 0
                     ? kBackoffStartMs
                     : std::min(s.backoff_ms * 2, ctx_.config.backoff_max_ms);
  s.retry_at_ms = ctx_.loop->now_ms() + s.backoff_ms;
  unavailable_ = error_line("ERR upstream " + name_ + " unavailable (" + std::string(why) + ")");
  if (!logged_down_) {
    STRATA_LOG_WARN("worker %u: upstream %s unavailable (%.*s); retrying with backoff",
                    ctx_.loop->index(), name_.c_str(), static_cast<int>(why.size()), why.data());
    logged_down_ = true;
  }
}

void Upstream::on_tick(int64_t now_ms) {
  if (tracking_wanted_ && tracking_ == nullptr && now_ms >= tracking_retry_at_ms_) {
    connect_tracking();
  }
  for (uint32_t i = 0; i < shared_.size(); ++i) {
    if (shared_[i].conn == nullptr && now_ms >= shared_[i].retry_at_ms) connect_shared(i);
  }
}

bool Upstream::available() const {
  for (const Shared& s : shared_) {
    if (s.conn != nullptr && s.conn->ready()) return true;
  }
  return false;
}

UpstreamConn* Upstream::pick(uint64_t client_id) {
  const uint32_t n = static_cast<uint32_t>(shared_.size());
  // A client's commands all travel on one connection, so Redis executes them in the order the
  // client sent them, as it would on a direct connection (LPUSH then PUBLISH, SET then GET).
  const uint32_t start = static_cast<uint32_t>(client_id % n);
  for (uint32_t i = 0; i < n; ++i) {
    UpstreamConn* c = shared_[(start + i) % n].conn;
    if (c != nullptr && c->ready() && c->in_flight() < ctx_.config.pending_max) {
      return c;
    }
  }
  return nullptr;
}

void Upstream::forward(ReplySink* c, uint64_t seq, std::span<const std::string_view> args,
                       std::string_view raw, std::unique_ptr<WriteEffect> effect) {
  UpstreamConn* conn = pick(c->client_id());
  if (conn == nullptr) {
    bump(ctx_.stats->upstream_errors);
    if (effect) apply_effect(*effect, false, false);
    c->fail_reply(seq, unavailable_);
    return;
  }
  bump_local(*ctx_.forwarded);
  if (raw.starts_with('*')) {
    conn->send_encoded(raw);
  } else {
    conn->send_command(args);  // an inline command
  }
  // Keys strata installs from a write were never read on this connection, so Redis does not
  // track them yet: a pipelined EXISTS makes it, so others' later writes invalidate them.
  const bool track = tracking_id_ != 0 && effect && effect->kind == WriteEffect::kInstall;
  if (track) {
    tracking_args_.assign(1, "EXISTS");
    for (const std::string& k : effect->keys) tracking_args_.emplace_back(k);
  }
  conn->pending_.push_back(UpstreamConn::Pending{
      UpstreamConn::Pending::kRelay, c->sink_token(), seq, nullptr, std::move(effect), {}});
  if (track) {
    conn->send_command(tracking_args_);
    conn->pending_.push_back(
        UpstreamConn::Pending{UpstreamConn::Pending::kIgnore, Token{}, 0, nullptr, nullptr, {}});
  }
}

void Upstream::fill(ReplySink* c, uint64_t seq, int32_t part, std::string_view key) {
  if (auto it = flights_.find(std::string(key)); it != flights_.end()) {
    it->second->waiters.push_back({c->sink_token(), seq, part});
    return;
  }
  UpstreamConn* conn = pick(c->client_id());
  if (conn == nullptr) {
    bump(ctx_.stats->upstream_errors);
    c->fail_reply(seq, unavailable_);
    return;
  }
  auto f = std::make_unique<Flight>();
  f->key.assign(key);
  f->lease = ctx_.store->begin_fill(key);
  f->waiters.push_back({c->sink_token(), seq, part});
  flights_[f->key] = f.get();
  std::string_view get[] = {"GET", key};
  std::string_view pttl[] = {"PTTL", key};
  conn->send_command(get);
  conn->send_command(pttl);
  conn->pending_.push_back(UpstreamConn::Pending{
      UpstreamConn::Pending::kFillValue, Token{}, 0, std::move(f), nullptr, {}});
  conn->pending_.push_back(
      UpstreamConn::Pending{UpstreamConn::Pending::kFillTtl, Token{}, 0, nullptr, nullptr, {}});
}

void Upstream::forget_flight(std::string_view key) {
  if (flights_.empty()) return;
  if (auto it = flights_.find(std::string(key)); it != flights_.end()) flights_.erase(it);
}

void Upstream::finish_flight(std::unique_ptr<Flight> f, int64_t pttl, bool ok,
                             std::string_view error) {
  if (f == nullptr) return;
  if (auto it = flights_.find(f->key); it != flights_.end() && it->second == f.get()) {
    flights_.erase(it);
  }
  ServerStats& stats = *ctx_.stats;
  const bool is_value = ok && f->value_kind == protocol::ReplyKind::kBulk;
  if (!ok) {
    bump(stats.upstream_errors);
  } else if (is_value) {
    bump(stats.upstream_hits);
    // PTTL -1: no TTL; -2: the key vanished between GET and PTTL (do not install).
    if (pttl >= -1) {
      const UpstreamConfig& o = ctx_.config;
      int64_t now = ctx_.loop->now_ms();
      int64_t expire = pttl >= 0 ? now + std::max<int64_t>(pttl, 1) : 0;
      if (o.fill_ttl_max_ms > 0) {
        int64_t cap = now + static_cast<int64_t>(o.fill_ttl_max_ms);
        expire = expire == 0 ? cap : std::min(expire, cap);
      }
      ctx_.store->complete_fill(f->key, f->lease, f->value, expire);
    }
  } else {
    bump(stats.upstream_misses);
  }
  for (const Flight::Waiter& w : f->waiters) {
    ReplySink* c = sink_of(*ctx_.loop, w.client);
    if (c == nullptr) continue;
    if (!ok) {
      c->fail_reply(w.seq, error);
    } else if (w.part < 0) {
      c->complete_reply(w.seq, f->value_reply);
    } else if (is_value) {
      std::string elem;
      protocol::ReplyWriter(&elem, c->resp_version()).bulk(f->value);
      c->complete_part(w.seq, static_cast<size_t>(w.part), elem);
    } else if (f->value_kind == protocol::ReplyKind::kError &&
               !f->value_reply.starts_with("-WRONGTYPE")) {
      c->fail_reply(w.seq, f->value_reply);
    } else {
      // MGET answers nil for missing keys and for keys holding another type.
      std::string elem;
      protocol::ReplyWriter(&elem, c->resp_version()).null_bulk();
      c->complete_part(w.seq, static_cast<size_t>(w.part), elem);
    }
  }
}

void Upstream::apply_effect(const WriteEffect& e, bool ok, bool maybe_applied) {
  cache::Store& store = *ctx_.store;
  // The change leaves through the seam once Redis has it (or may have it: a connection lost
  // with the command sent); a refused or conditional write that changed nothing stays quiet.
  const bool changed = ok || maybe_applied;
  switch (e.kind) {
    case WriteEffect::kNone:
      break;
    case WriteEffect::kFlushAll:
      store.flush_all();
      if (changed) ctx_.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kForwarded);
      break;
    case WriteEffect::kInvalidate:
      for (const std::string& k : e.keys) {
        store.invalidate(k);
        if (changed) ctx_.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kForwarded);
      }
      break;
    case WriteEffect::kInstall:
      for (size_t i = 0; i < e.keys.size(); ++i) {
        // A lease killed by a concurrent write means Redis's order is unknown here: drop the
        // key instead, and let the next read fetch whichever value Redis kept.
        const bool installed =
            ok && store.complete_fill(e.keys[i], e.leases[i], e.values[i], e.expire_at_ms);
        if (!installed) store.invalidate(e.keys[i]);
        if (!changed) continue;
        ChangeEvent ev;
        ev.key = e.keys[i];
        ev.source = ChangeSource::kForwarded;
        if (installed) {
          ev.op = ChangeOp::kSet;
          ev.value = e.values[i];
          ev.expire_at_ms = e.expire_at_ms;
        }
        ctx_.seam->publish(ev);
      }
      break;
  }
}

PinnedUpstream* Upstream::pin(ReplySink* c, bool resp_only) {
  PinnedUpstream* raw = spare_ != nullptr && !spare_->closed() ? spare_ : nullptr;
  spare_ = nullptr;
  if (raw != nullptr) {
    raw->client_ = c->sink_token();
    raw->resp_only_ = resp_only;
  } else {
    raw = connect_pinned(c->sink_token(), resp_only);
    if (raw == nullptr) return nullptr;
  }
  if (!c->client_name().empty()) {
    // The connection name set on strata follows the client to its own upstream connection.
    std::string_view cmd[] = {"CLIENT", "SETNAME", c->client_name()};
    encode_command(&raw->out_, cmd);
    raw->skip_replies_ = 1;
    raw->mark_dirty();
  }
  // The next client to pin finds a connection ready: its blocking command then reaches Redis
  // in about the order it was sent relative to other clients' commands (no connect first).
  spare_ = connect_pinned(Token{~0u, ~0u}, false);
  return raw;
}

PinnedUpstream* Upstream::connect_pinned(Token client, bool resp_only) {
  int fd = new_socket();
  if (fd < 0) return nullptr;
  auto p = std::make_unique<PinnedUpstream>(ctx_.loop, fd, this, client, resp_only);
  PinnedUpstream* raw = p.get();
  Token t = ctx_.loop->adopt(std::move(p));
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
  return raw;
}

bool Upstream::call(std::span<const std::string_view> args, std::string_view route_key,
                    RedisCallback cb) {
  return call_for(cache::hash_key(route_key), args, std::move(cb));
}

bool Upstream::call_for(uint64_t client_id, std::span<const std::string_view> args,
                        RedisCallback cb) {
  UpstreamConn* conn = pick(client_id);
  if (conn == nullptr) return false;
  conn->send_command(args);
  conn->pending_.push_back(UpstreamConn::Pending{UpstreamConn::Pending::kCallback, Token{}, 0,
                                                 nullptr, nullptr, std::move(cb)});
  return true;
}

void Upstream::note_pinned_closed(PinnedUpstream* p) {
  if (spare_ == p) spare_ = nullptr;
}

}  // namespace strata::proxy
