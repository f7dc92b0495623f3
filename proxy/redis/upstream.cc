#include "proxy/redis/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>

#include "cache/store.h"
#include "protocol/reply_shape.h"
#include "protocol/reply_writer.h"
#include "proxy/loop/log.h"
#include "proxy/loop/loop_clock.h"
#include "proxy/redis/own_reports.h"
#include "proxy/redis/tracking.h"

namespace strata::proxy {
namespace {

constexpr uint32_t kBackoffStartMs = 50;

// Lanes per worker for slow commands: as many as shared connections (2 at least); past that a
// slow command shares the least loaded lane. More lanes would isolate slow commands from each
// other too, but Redis runs them one at a time anyway, and spread over more connections they
// cost Redis more (fewer commands per read: EVAL-heavy traffic measured 13% slower with 8). A
// control command always gets a lane of its own. kLanesSpare idle lanes stay open, ready at
// once; idle lanes beyond them close after kLaneIdleCloseMs.
constexpr size_t kLanesMin = 2;
constexpr size_t kLanesSpare = 1;
constexpr int64_t kLaneIdleCloseMs = 30'000;
// TCP keepalive on upstream sockets: a Redis host that is gone is noticed within about
// 10 + 3 * 5 s even on a connection that waits on purpose (a lane, a blocking pop, a busy Redis).
constexpr int kKeepIdleS = 10;
constexpr int kKeepIntervalS = 5;
constexpr int kKeepCount = 3;

// Process-wide: slow commands in flight (every worker's lanes and pinned connections), and
// until when a CLIENT PAUSE strata forwarded holds Redis's clients.
std::atomic<int64_t> g_slow_in_flight{0};
std::atomic<int64_t> g_slow_done_ms{0};  // when a slow command last ended
std::atomic<int64_t> g_paused_until_ms{0};

bool parse_ms(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

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

void encode_marker(std::string* out, uint64_t marker) {
  char id[24];
  const auto r = std::to_chars(id, id + sizeof id, marker);
  std::string_view args[] = {"PUBLISH", OwnReports::instance().channel(),
                             std::string_view(id, static_cast<size_t>(r.ptr - id))};
  encode_command(out, args);
}

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
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdleS, sizeof kKeepIdleS);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepIntervalS, sizeof kKeepIntervalS);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount, sizeof kKeepCount);
  return fd;
}

void Upstream::start() {
  if (tracking_wanted_) connect_tracking();
  for (uint32_t i = 0; i < shared_.size(); ++i) connect_shared(i);
  connect_lane();  // the spare: the first slow or control command need not wait for a connect
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

void Upstream::conn_connected(UpstreamConn* c) {
  if (c->lane() || !tracking_wanted_) {
    c->enable(0);  // lanes: no tracking (nothing read there is cached)
  } else if (tracking_id_ != 0) {
    c->enable(tracking_id_);
  }
  // else: ready once the tracking connection has its id (tracking_ready).
}

void Upstream::connect_shared(uint32_t index) {
  int fd = new_socket();
  if (fd < 0) {
    shared_lost(index, nullptr, strerror(errno));
    return;
  }
  auto conn = std::make_unique<UpstreamConn>(ctx_.loop, fd, this, index, false);
  UpstreamConn* raw = conn.get();
  Token t = ctx_.loop->adopt(std::move(conn));
  shared_[index].conn = raw;
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
}

void Upstream::conn_ready(UpstreamConn* c) {
  if (c->lane()) return;
  shared_[c->index()].backoff_ms = 0;
  bump(ctx_.stats->upstream_ready_conns);
  if (logged_down_) {
    STRATA_LOG_INFO("worker %u: upstream %s reachable again", ctx_.loop->index(), name_.c_str());
    logged_down_ = false;
  }
}

void Upstream::conn_lost(UpstreamConn* conn, std::string_view why) {
  if (!conn->lane()) {
    shared_lost(conn->index(), conn, why);
    return;
  }
  // Its requests fail next (UpstreamConn::on_closed): the clients bound to it are let go first,
  // so a client resumed by its failed reply finds its way to a live connection.
  std::erase(lanes_, conn);
  if (probe_ == conn) probe_ = nullptr;
  std::erase_if(bound_, [conn](const auto& b) { return b.second.lane == conn; });
  conn->bound_clients_ = 0;
}

void Upstream::shared_lost(uint32_t index, UpstreamConn* conn, std::string_view why) {
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
  tick_lanes(now_ms);
}

bool Upstream::available() const {
  for (const Shared& s : shared_) {
    if (s.conn != nullptr && s.conn->ready()) return true;
  }
  return false;
}

UpstreamConn* Upstream::pick(uint64_t client_id, bool follow_lane) {
  if (follow_lane) {
    if (UpstreamConn* lane = bound_lane(client_id)) return lane;
  }
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
  send_relay(conn, c, seq, args, raw, std::move(effect), Route::kShared);
}

void Upstream::send_relay(UpstreamConn* conn, ReplySink* c, uint64_t seq,
                          std::span<const std::string_view> args, std::string_view raw,
                          std::unique_ptr<WriteEffect> effect, Route route) {
  bump_local(*ctx_.forwarded);
  // A lane runs each command in its client's protocol (a script's reply has no fixed shape to
  // convert); a shared connection stays RESP2 and a RESP3 client's reply is converted.
  const char* resp3_shape = nullptr;
  if (conn->lane()) {
    conn->use_protocol(c->resp_version());
  } else if (c->resp_version() == 3) {
    resp3_shape = protocol::reply_shape(args);
  }
  // A write's keys are marked before it goes (own_reports.h): its reports may come first.
  uint64_t marker = 0;
  if (effect && effect->kind != WriteEffect::kNone) {
    marker = OwnReports::instance().open(effect->keys, effect->kind == WriteEffect::kFlushAll);
    effect->marker = marker;
  }
  if (raw.starts_with('*')) {
    conn->send_encoded(raw);
  } else {
    conn->send_command(args);  // an inline command
  }
  // Lanes do not track keys for L1: a value a write there sets is dropped from L1, not installed.
  if (effect && effect->kind == WriteEffect::kInstall &&
      (conn->lane() || (tracking_id_ != 0 && !verifiable(*effect)))) {
    effect->kind = WriteEffect::kInvalidate;
  }
  // Keys strata installs from a write were never read on this connection, so Redis does not
  // track them yet: a pipelined MGET of them makes it, so others' later writes invalidate them.
  // Another client's write Redis runs between the two is never reported, so the write's effect
  // waits for the MGET's reply and installs only the values Redis still holds.
  const bool verify = tracking_id_ != 0 && effect && effect->kind == WriteEffect::kInstall;
  if (verify) {
    tracking_args_.assign(1, "MGET");
    for (const std::string& k : effect->keys) tracking_args_.emplace_back(k);
  }
  UpstreamConn::Pending p{UpstreamConn::Pending::kRelay, c->sink_token(), seq, nullptr,
                          verify ? nullptr : std::move(effect), {}};
  p.bound_client = conn->lane() && route != Route::kControl ? c->client_id() : 0;
  p.slow = route == Route::kSlow;
  p.resp3_shape = resp3_shape;
  enqueue(conn, std::move(p));
  if (verify) {
    conn->send_command(tracking_args_);
    conn->pending_.push_back(UpstreamConn::Pending{UpstreamConn::Pending::kVerify, Token{}, 0,
                                                   nullptr, std::move(effect), {}});
  }
  if (marker != 0) {
    conn->send_marker(marker);
    conn->pending_.push_back(
        UpstreamConn::Pending{UpstreamConn::Pending::kMarker, Token{}, marker, nullptr, nullptr, {}});
  }
}

bool Upstream::verifiable(const WriteEffect& e) {
  size_t bytes = 0;
  for (const std::string& v : e.values) bytes += v.size();
  return bytes <= kInstallVerifyBytesMax;
}

void Upstream::fill(ReplySink* c, uint64_t seq, int32_t part, std::string_view key) {
  // A client bound to a lane reads there, after its slow command, and alone: no other reader
  // joins a fill that waits behind a slow command, and it joins none started before.
  UpstreamConn* lane = bound_lane(c->client_id());
  if (lane == nullptr) {
    if (auto it = flights_.find(std::string(key)); it != flights_.end()) {
      it->second->waiters.push_back({c->sink_token(), seq, part});
      return;
    }
  }
  UpstreamConn* conn = lane != nullptr ? lane : pick(c->client_id(), false);
  if (conn == nullptr) {
    bump(ctx_.stats->upstream_errors);
    c->fail_reply(seq, unavailable_);
    return;
  }
  auto f = std::make_unique<Flight>();
  f->key.assign(key);
  f->lease = ctx_.store->begin_fill(key);
  f->waiters.push_back({c->sink_token(), seq, part});
  if (lane == nullptr) flights_[f->key] = f.get();
  std::string_view get[] = {"GET", key};
  std::string_view pttl[] = {"PTTL", key};
  conn->send_command(get);
  conn->send_command(pttl);
  const uint64_t bound_client = lane != nullptr ? c->client_id() : 0;
  UpstreamConn::Pending value{
      UpstreamConn::Pending::kFillValue, Token{}, 0, std::move(f), nullptr, {}};
  UpstreamConn::Pending ttl{UpstreamConn::Pending::kFillTtl, Token{}, 0, nullptr, nullptr, {}};
  value.bound_client = ttl.bound_client = bound_client;
  enqueue(conn, std::move(value));
  enqueue(conn, std::move(ttl));
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
      // Composed for each waiter: they may speak different protocols (a null differs).
      std::string reply;
      protocol::ReplyWriter rw(&reply, c->resp_version());
      if (is_value) {
        rw.bulk(f->value);
      } else if (f->value_kind == protocol::ReplyKind::kNull) {
        rw.null_bulk();
      } else {
        reply = f->value_reply;  // an error: the same in both protocols
      }
      c->complete_reply(w.seq, reply);
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
      if (changed) {
        ctx_.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kForwarded, e.client);
      }
      break;
    case WriteEffect::kInvalidate:
      for (const std::string& k : e.keys) {
        store.invalidate(k);
        if (changed) {
          ctx_.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kForwarded, e.client);
        }
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
        ev.client = e.client;
        if (installed) {
          ev.op = ChangeOp::kSet;
          ev.value = e.values[i];
          ev.expire_at_ms = e.expire_at_ms;
        }
        ctx_.seam->publish(ev);
      }
      break;
  }
  // Reports Redis sent while it ran: told by the change event above, or now if there was none.
  std::vector<std::string> tell;
  bool tell_flush = false;
  OwnReports::instance().finish(e.marker, e.keys, e.kind == WriteEffect::kFlushAll, changed, &tell,
                                &tell_flush);
  if (tell_flush) ctx_.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kTracking);
  for (const std::string& k : tell) {
    ctx_.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kTracking);
  }
}

PinnedUpstream* Upstream::pin(ReplySink* c) {
  PinnedUpstream* raw = spare_ != nullptr && !spare_->closed() ? spare_ : nullptr;
  spare_ = nullptr;
  if (raw != nullptr) {
    raw->client_ = c->sink_token();
  } else {
    raw = connect_pinned(c->sink_token());
    if (raw == nullptr) return nullptr;
  }
  bump(ctx_.stats->upstream_pinned_total);
  // Redis's id for the connection, for CLIENT UNBLOCK (a spare stays silent until taken: a
  // MONITOR sees nothing of it). Pipelined with what follows, it costs no round trip.
  raw->ask_redis_id();
  if (!c->client_name().empty()) {
    // The connection name set on strata follows the client to its own upstream connection.
    std::string_view cmd[] = {"CLIENT", "SETNAME", c->client_name()};
    encode_command(&raw->out_, cmd);
    ++raw->skip_replies_;
    raw->mark_dirty();
  }
  if (c->resp_version() == 3) {
    // The client's own connection speaks its protocol: replies (and pushes) go out as they come.
    std::string_view cmd[] = {"HELLO", "3"};
    encode_command(&raw->out_, cmd);
    ++raw->skip_replies_;
    raw->mark_dirty();
  }
  // The next client to pin finds a connection ready: its blocking command then reaches Redis
  // in about the order it was sent relative to other clients' commands (no connect first).
  spare_ = connect_pinned(Token{~0u, ~0u});
  return raw;
}

PinnedUpstream* Upstream::connect_pinned(Token client) {
  int fd = new_socket();
  if (fd < 0) return nullptr;
  auto p = std::make_unique<PinnedUpstream>(ctx_.loop, fd, this, client);
  PinnedUpstream* raw = p.get();
  Token t = ctx_.loop->adopt(std::move(p));
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
  return raw;
}

bool Upstream::call(std::span<const std::string_view> args, std::string_view route_key,
                    RedisCallback cb) {
  return send_call(pick(cache::hash_key(route_key), false), 0, args, std::move(cb));
}

uint32_t Upstream::route_slot(std::string_view route_key) const {
  return static_cast<uint32_t>(cache::hash_key(route_key) % shared_.size());
}

bool Upstream::call_for(uint64_t client_id, std::span<const std::string_view> args,
                        RedisCallback cb) {
  UpstreamConn* conn = pick(client_id);
  return send_call(conn, conn != nullptr && conn->lane() ? client_id : 0, args, std::move(cb));
}

bool Upstream::call_control(std::span<const std::string_view> args, RedisCallback cb) {
  if (!available()) return false;
  return send_call(lane_for(Route::kControl), 0, args, std::move(cb));
}

bool Upstream::send_call(UpstreamConn* conn, uint64_t bound_client,
                         std::span<const std::string_view> args, RedisCallback cb) {
  if (conn == nullptr) return false;
  conn->send_command(args);
  UpstreamConn::Pending p{UpstreamConn::Pending::kCallback, Token{}, 0, nullptr, nullptr,
                          std::move(cb)};
  p.bound_client = bound_client;
  enqueue(conn, std::move(p));
  return true;
}

void Upstream::note_pinned_closed(PinnedUpstream* p) {
  if (spare_ == p) spare_ = nullptr;
}

// ---- Lanes ----
//
// A command that may run long (a script, KEYS over a big keyspace, DEBUG SLEEP) must not sit on
// a shared connection: every client multiplexed there would wait behind it, and once Redis runs
// a script past busy-reply-threshold those clients would wait for the script to end where a
// client on a connection of its own gets Redis's -BUSY at once (and SCRIPT KILL queued there
// would never reach Redis: Redis does not read a script caller's connection until the script
// ends). So slow commands (kSlow) go on lanes: connections without tracking and without a reply
// timeout, one client's slow commands on a lane at a time while there are lanes to spare
// (lanes_max).
//
// Order: a client's commands reach Redis in the order it sent them, as on one connection. A
// slow command waits (the client's input is held, ClientConn kHeld) until the client has no
// reply outstanding anywhere, then binds the client to its lane; while bound, every command of
// the client that goes to Redis follows it on that lane (reads there are not joined by other
// readers). The binding ends when the client's last request on the lane is answered.
//
// Control commands (SCRIPT KILL, FUNCTION KILL, CLIENT PAUSE/UNPAUSE, and strata's CLIENT
// UNBLOCK) go at once on a lane with nothing queued, so they reach Redis while everything else
// waits on it.

Route route_of(const CommandSpec& spec, Args args) {
  if ((spec.flags & kSlow) != 0) return Route::kSlow;
  if (args.size() < 2) return Route::kShared;
  if (spec.name == "script" || spec.name == "function") {
    return iequals(args[1], "kill") ? Route::kControl : Route::kShared;
  }
  if (spec.name == "client" && (iequals(args[1], "pause") || iequals(args[1], "unpause"))) {
    return Route::kControl;
  }
  return Route::kShared;
}

int64_t Upstream::slow_in_flight() { return g_slow_in_flight.load(std::memory_order_relaxed); }

void Upstream::count_slow(int64_t delta) {
  g_slow_in_flight.fetch_add(delta, std::memory_order_relaxed);
  // When one ends, the requests that waited behind it in Redis get their replies now, on other
  // sockets, maybe a loop turn later: their wait is counted from here (reply_overdue).
  if (delta < 0) g_slow_done_ms.store(LoopClock().now_ms(), std::memory_order_relaxed);
}

UpstreamConn* Upstream::bound_lane(uint64_t client_id) const {
  if (bound_.empty()) return nullptr;
  auto it = bound_.find(client_id);
  return it == bound_.end() ? nullptr : it->second.lane;
}

UpstreamConn* Upstream::connect_lane() {
  int fd = new_socket();
  if (fd < 0) return nullptr;
  auto conn = std::make_unique<UpstreamConn>(ctx_.loop, fd, this, 0, true);
  UpstreamConn* raw = conn.get();
  raw->idle_since_ms_ = ctx_.loop->now_ms();
  Token t = ctx_.loop->adopt(std::move(conn));
  lanes_.push_back(raw);
  ctx_.loop->driver().connect(t, fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
  return raw;
}

size_t Upstream::lanes_max() const {
  return std::max<size_t>(kLanesMin, ctx_.config.connections);
}

UpstreamConn* Upstream::lane_for(Route route) {
  UpstreamConn* best = nullptr;
  for (UpstreamConn* l : lanes_) {
    if (l->idle() && (best == nullptr || (l->ready() && !best->ready()))) best = l;
  }
  if (best != nullptr) return best;
  if (route == Route::kControl || lanes_.size() < lanes_max()) return connect_lane();
  for (UpstreamConn* l : lanes_) {
    if (!l->closed() && (best == nullptr || l->in_flight() < best->in_flight())) best = l;
  }
  return best;
}

void Upstream::forward_lane(ReplySink* c, uint64_t seq, Route route,
                            std::span<const std::string_view> args, std::string_view raw,
                            std::unique_ptr<WriteEffect> effect) {
  UpstreamConn* lane = route == Route::kSlow ? bound_lane(c->client_id()) : nullptr;
  if (lane == nullptr && available()) {
    lane = lane_for(route);
    if (lane != nullptr && route == Route::kSlow) {
      bound_.emplace(c->client_id(), Binding{lane, 0});
      ++lane->bound_clients_;
    }
  }
  if (lane == nullptr) {
    bump(ctx_.stats->upstream_errors);
    if (effect) apply_effect(*effect, false, false);
    c->fail_reply(seq, unavailable_);
    return;
  }
  if (route == Route::kControl && args.size() >= 2 && iequals(args[0], "client")) {
    // Redis holds every command while paused (all of them, or writes): strata's shared
    // connections then wait on purpose, and their reply timeout waits as long.
    int64_t ms = 0;
    if (iequals(args[1], "unpause")) {
      g_paused_until_ms.store(0, std::memory_order_relaxed);
    } else if (args.size() >= 3 && parse_ms(args[2], &ms)) {
      g_paused_until_ms.store(ctx_.loop->now_ms() + std::min<int64_t>(ms, INT64_MAX / 4),
                              std::memory_order_relaxed);
    }
  }
  send_relay(lane, c, seq, args, raw, std::move(effect), route);
}

void Upstream::enqueue(UpstreamConn* conn, UpstreamConn::Pending p) {
  if (conn->lane()) {
    if (p.bound_client != 0) {
      auto it = bound_.find(p.bound_client);
      if (it != bound_.end() && it->second.lane == conn) {
        ++it->second.outstanding;
      } else {
        p.bound_client = 0;  // not bound to this lane: nothing to count
      }
    }
    if (p.slow) count_slow(1);
  }
  conn->pending_.push_back(std::move(p));
}

void Upstream::lane_done(UpstreamConn* lane, const UpstreamConn::Pending& p) {
  if (p.slow) count_slow(-1);
  if (p.bound_client != 0) {
    auto it = bound_.find(p.bound_client);
    if (it != bound_.end() && it->second.lane == lane && --it->second.outstanding == 0) {
      bound_.erase(it);
      --lane->bound_clients_;
    }
  }
  if (lane->idle()) lane->idle_since_ms_ = ctx_.loop->now_ms();
}

void Upstream::tick_lanes(int64_t now_ms) {
  size_t idle = 0;
  for (UpstreamConn* l : lanes_) idle += l->idle() ? 1 : 0;
  // Idle lanes past the spare close; a spare is opened again while Redis is reachable.
  for (size_t i = 0; i < lanes_.size() && idle > kLanesSpare;) {
    UpstreamConn* l = lanes_[i];
    if (l->idle() && now_ms - l->idle_since_ms_ > kLaneIdleCloseMs) {
      --idle;
      l->close_for("idle lane");  // conn_lost takes it out of lanes_
    } else {
      ++i;
    }
  }
  if (idle < kLanesSpare && lanes_.size() < lanes_max() + kLanesSpare && available()) {
    connect_lane();
  }
}

// ---- Reply timeout ----
//
// A shared connection silent for reply_timeout_ms with requests out may be dead (the host gone,
// the link cut) or may wait on Redis on purpose: Redis runs a script (every connection's
// commands wait until busy-reply-threshold, then get -BUSY), a slow command, or holds clients
// under CLIENT PAUSE. Closing it would fail every client's request on it, and the command Redis
// is running with them. So strata first asks: a PING on a lane with nothing queued. Any answer
// (PONG, -BUSY, -LOADING) means Redis is there: the connection keeps waiting, for another
// reply_timeout_ms. No answer for reply_timeout_ms either: the connection is closed, unless a
// slow command strata sent is still running (Redis blocked in it answers nobody) or a CLIENT
// PAUSE strata forwarded has not run out. TCP keepalive catches a dead host in those cases.

void Upstream::reply_overdue(UpstreamConn* conn, int64_t now_ms) {
  const int64_t timeout = ctx_.config.reply_timeout_ms;
  if (now_ms < g_paused_until_ms.load(std::memory_order_relaxed) + timeout) return;
  if (probe_ == nullptr) {
    start_probe(now_ms);
    if (probe_ != nullptr) return;
  } else if (now_ms - probe_sent_ms_ <= timeout) {
    return;  // the probe's answer decides
  }
  if (slow_in_flight() > 0) return;  // Redis is running a slow command: busy, not gone
  // One just ended: the replies it held up are on their way (given reply_timeout_ms of their
  // own, from its end).
  if (now_ms - g_slow_done_ms.load(std::memory_order_relaxed) <= timeout) return;
  conn->close_for("reply timeout");
  if (probe_ != nullptr) probe_->close_for("reply timeout");
}

void Upstream::start_probe(int64_t now_ms) {
  UpstreamConn* lane = lane_for(Route::kControl);
  if (lane == nullptr) return;
  std::string_view ping[] = {"PING"};
  probe_ = lane;
  probe_sent_ms_ = now_ms;
  send_call(lane, 0, ping, [this, lane](const RedisReply& r) {
    if (probe_ == lane) probe_ = nullptr;
    if (!r.ok) return;
    const int64_t now = ctx_.loop->now_ms();
    for (Shared& s : shared_) {
      if (s.conn != nullptr) s.conn->note_alive(now);
    }
  });
}

}  // namespace strata::proxy
