#include "proxy/ws/ws_front.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "protocol/http_upgrade.h"
#include "proxy/redis/upstream.h"
#include "proxy/tiers/policy_registry.h"
#include "proxy/tiers/tiers.h"
#include "proxy/ws/ws_conn.h"
#include "proxy/ws/ws_sessions.h"

namespace strata::proxy {
namespace {

// A peer's change of a write-behind key reaches PostgreSQL after its event: its value is read
// again every tick for at most this long, and the keys waiting so are capped.
constexpr int64_t kRefetchWaitMaxMs = 10000;
constexpr size_t kRefetchWaitingMax = 10000;

// Where L1 is the only tier (standalone, or a cache prefix kept out of Redis), a snapshot
// reads L1 itself: keys in byte order after `after`, at most `limit`.
SnapshotPage read_l1(cache::Store* store, std::string_view key_or_prefix, bool prefix,
                     std::string_view after, size_t limit) {
  SnapshotPage page;
  page.done = true;
  std::vector<std::string> keys;
  if (prefix) {
    std::vector<std::string> scanned;
    uint64_t cursor = 0;
    do {
      cursor = store->scan_keys(cursor, 1024, &scanned);
    } while (cursor != 0);
    for (std::string& k : scanned) {
      if (k.starts_with(key_or_prefix) && k > after) keys.push_back(std::move(k));
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    if (keys.size() > limit) {
      keys.resize(limit);
      page.done = false;
      page.after = keys.back();
    }
  } else {
    keys.emplace_back(key_or_prefix);
  }
  for (const std::string& k : keys) {
    auto txn = store->lock(k);
    cache::EntryView v;
    if (txn->find(k, &v)) page.rows.push_back({k, std::string(v.value), v.version});
  }
  return page;
}

}  // namespace

std::string ws_info_lines(const WsShared& shared) {
  const WsCounters& c = *shared.counters;
  auto rd = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::string out;
  auto line = [&out](std::string_view name, uint64_t v) {
    out.append(name);
    out.push_back(':');
    out.append(std::to_string(v));
    out.append("\r\n");
  };
  line("ws_port", shared.config->port);
  line("ws_connections", rd(c.connections));
  line("ws_connections_total", rd(c.connections_total));
  line("ws_rejected", rd(c.rejected));
  line("ws_subscriptions", rd(c.subscriptions));
  line("ws_messages_out", rd(c.messages_out));
  line("ws_bytes_out", rd(c.bytes_out));
  line("ws_merged", rd(c.merged));
  line("ws_slow_closes", rd(c.slow_closes));
  line("ws_resumes_history", rd(c.resumes_history));
  line("ws_resumes_snapshot", rd(c.resumes_snapshot));
  line("ws_snapshots", rd(c.snapshots));
  line("ws_acks", rd(c.acks));
  line("ws_nacks_conflict", rd(c.nacks_conflict));
  line("ws_nacks_denied", rd(c.nacks_denied));
  line("ws_nacks_invalid", rd(c.nacks_invalid));
  line("ws_nacks_rate_limited", rd(c.nacks_rate_limited));
  line("ws_nacks_error", rd(c.nacks_error));
  line("ws_replayed_ops", rd(c.replayed_ops));
  line("ws_protocol_errors", rd(c.protocol_errors));
  line("ws_expired_closes", rd(c.expired_closes));
  const WsHub::Stats hs = shared.hub->stats();
  line("ws_stream_changes", hs.changes);
  line("ws_stream_history", hs.history);
  line("ws_interest_keys", hs.interest_keys);
  line("ws_interest_prefixes", hs.interest_prefixes);
  line("ws_sessions", shared.sessions->size());
  uint64_t total = 0;
  for (const auto& b : c.fanout_us) total += rd(b);
  auto quantile = [&](double q) -> uint64_t {
    if (total == 0) return 0;
    const uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < c.fanout_us.size(); ++i) {
      seen += rd(c.fanout_us[i]);
      if (seen >= want) return uint64_t{1} << i;
    }
    return uint64_t{1} << 31;
  };
  line("ws_fanout_us_p50", quantile(0.5));
  line("ws_fanout_us_p99", quantile(0.99));
  return out;
}

WsFront::WsFront(const WsContext& ctx) : ctx_(ctx) {
  ctx_.shared->hub->attach(ctx_.worker, ctx_.loop);
  cursor_ = ctx_.shared->hub->head();
  flush_gen_seen_ = ctx_.shared->hub->flush_gen();
}

WsFront::~WsFront() = default;

void WsFront::on_accept(int fd) {
  WsCounters& c = counters();
  std::string refusal;
  protocol::compose_http_error(&refusal, 503, "too many WebSocket connections",
                               "Retry-After: 1\r\n");
  if (!admit_accepted(fd, c.connections.load(std::memory_order_relaxed), config().connections_max,
                      refusal)) {
    bump(c.rejected);
    return;
  }
  // The kernel's send buffer is part of what a slow client falls behind by: left to
  // autotuning it grows to tcp_wmem's maximum (4 MiB by default), and a client could be that
  // far behind before its send queue even starts merging. Bounded by send_queue_bytes (the
  // kernel doubles it).
  const int sndbuf = static_cast<int>(std::min<uint32_t>(config().send_queue_bytes, INT32_MAX / 2));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  bump(c.connections);
  bump(c.connections_total);
  const uint64_t id = ctx_.stats->next_client_id.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_unique<WsConn>(this, fd, id);
  WsConn* raw = conn.get();
  conns_.insert(raw);
  by_client_[id] = raw;
  const Token t = ctx_.loop->adopt(std::move(conn));
  ctx_.loop->driver().start_recv(t, fd);
}

void WsFront::connection_closed(WsConn* c) {
  conns_.erase(c);
  by_client_.erase(c->id());
  counters().connections.fetch_sub(1, std::memory_order_relaxed);
}

bool WsFront::l1_only(std::string_view key) const {
  if (ctx_.upstream == nullptr) return true;
  const TierShared* ts = ctx_.tier_shared;
  return ts != nullptr && ts->registry != nullptr && ts->registry->l1_only(key);
}

bool WsFront::read_snapshot(std::string_view key_or_prefix, bool prefix, std::string_view after,
                            size_t limit, SnapshotDone done, std::string* why) {
  if (ctx_.tiers != nullptr) {
    // The callback is moved into the tiers only when they take the read.
    auto shared_done = std::make_shared<SnapshotDone>(std::move(done));
    if (ctx_.tiers->snapshot(key_or_prefix, prefix, after, limit,
                             [shared_done](SnapshotPage&& p) { (*shared_done)(std::move(p)); },
                             why)) {
      return true;
    }
    if (!why->empty()) return false;
    done = std::move(*shared_done);
  }
  if (!l1_only(key_or_prefix)) {
    if (prefix) {
      *why = "prefix subscriptions are served for prefixes under a PostgreSQL policy, or kept in "
             "L1 alone; keys of this prefix live in Redis (subscribe to keys instead)";
      return false;
    }
    // One key in Redis: its value now (Redis keeps no version: 0).
    const std::string key(key_or_prefix);
    const std::string_view args[] = {"GET", key};
    auto shared_done = std::make_shared<SnapshotDone>(std::move(done));
    const bool sent = ctx_.upstream->call(args, key, [key, shared_done](const RedisReply& r) {
      SnapshotPage page;
      page.done = true;
      if (!r.ok || r.kind == protocol::ReplyKind::kError) {
        page.error = std::string(r.ok ? r.payload : r.error);
      } else if (r.kind != protocol::ReplyKind::kNull) {
        page.rows.push_back({key, std::string(r.payload), 0});
      }
      (*shared_done)(std::move(page));
    });
    if (!sent) *why = "Redis is unavailable";
    return sent;
  }
  done(read_l1(ctx_.store, key_or_prefix, prefix, after, limit));
  return true;
}

void WsFront::on_change(const ChangeEvent& e) {
  WsHub& h = hub();
  // Every worker hears each peer event; one appends it.
  if (e.source == ChangeSource::kPeer && ctx_.worker != 0) return;
  WsChangePtr c;
  switch (e.op) {
    case ChangeOp::kSet:
      c = h.append(e.key, false, e.value, e.version, ctx_.loop->now_ms());
      break;
    case ChangeOp::kDelete:
    case ChangeOp::kExpire:
    case ChangeOp::kEvict:
      c = h.append(e.key, true, {}, e.version, ctx_.loop->now_ms());
      break;
    case ChangeOp::kInvalidate:
      refetch(e.key, e.version, ctx_.loop->now_ms());
      break;
    case ChangeOp::kFlushAll:
      h.bump_flush();
      appended_ = true;
      break;
  }
  if (c) appended_ = true;
  if (e.client != 0 && !by_client_.empty()) {
    note_own_change(e.client, e.key, e.version, c ? c->seq : 0);
  }
}

void WsFront::note_own_change(uint64_t client, std::string_view key, uint64_t version,
                              uint64_t seq) {
  auto it = by_client_.find(client);
  if (it != by_client_.end()) it->second->own_change(key, version, seq);
}

// A change whose value the producer did not have (a write-around write, a peer's invalidation,
// Redis's tracking report, a native write): the value is read now and appended as a set or a
// delete. Its version orders it against changes appended meanwhile. A read older than the
// change (a peer's write-behind write: in the peer's queue, not in PostgreSQL yet) is not
// appended, or subscribers would be told the key is absent: it is read again next tick.
void WsFront::refetch(std::string_view key, uint64_t min_version, int64_t since_ms) {
  if (!hub().interested(key)) return;
  std::string why;
  const std::string k(key);
  read_snapshot(k, false, {}, 1,
                [this, k, min_version, since_ms](SnapshotPage&& page) {
                  if (!page.error.empty()) return;
                  const uint64_t held = page.rows.empty() ? 0 : page.rows[0].version;
                  const int64_t now = ctx_.loop->now_ms();
                  if (held < min_version) {
                    if (now - since_ms < kRefetchWaitMaxMs &&
                        refetch_retry_.size() < kRefetchWaitingMax) {
                      Refetch& r = refetch_retry_[k];
                      r.min_version = std::max(r.min_version, min_version);
                      r.since_ms = r.since_ms == 0 ? since_ms : std::min(r.since_ms, since_ms);
                    }
                    return;  // past the wait: the next snapshot or change brings it
                  }
                  if (page.rows.empty()) {
                    hub().append(k, true, {}, 0, now);
                  } else {
                    hub().append(k, false, page.rows[0].value, page.rows[0].version, now);
                  }
                  appended_ = true;
                },
                &why);
}

void WsFront::deliver() {
  WsHub& h = hub();
  if (h.flush_gen() != flush_gen_seen_) {
    flush_gen_seen_ = h.flush_gen();
    resync_all();
  }
  const uint64_t head = h.head();
  if (head > cursor_) {
    if (conns_.empty()) {
      cursor_ = head;
    } else if (h.read(cursor_, head, &batch_)) {
      for (const WsChangePtr& c : batch_) fan_out(c);
      cursor_ = head;
      batch_.clear();
    } else {
      // This worker fell behind the history: what it missed is lost to its subscribers, who
      // start over from snapshots.
      cursor_ = head;
      resync_all();
    }
  }
  h.set_cursor(ctx_.worker, cursor_, !conns_.empty());
  if (appended_) {
    appended_ = false;
    h.wake_others(ctx_.worker);
  }
  flush_slice();
  add_counts();
}

void WsFront::queue_flush(WsConn* c) { flush_queue_.push_back(c->token()); }

// The next connections in line hand their queued frames to the kernel (at the loop's flush,
// after the replies this iteration produced). Once per iteration: while some are left, a
// timer due now keeps the loop from waiting for I/O.
void WsFront::flush_slice() {
  Loop& loop = *ctx_.loop;
  if (flush_queue_.empty() || slice_iteration_ == loop.iteration()) return;
  slice_iteration_ = loop.iteration();
  const int64_t now = loop.now_ms();
  WsLatencyBatch latency{};
  for (size_t n = 0; n < kWsFlushesPerIteration && !flush_queue_.empty(); ++n) {
    Endpoint* e = loop.lookup(flush_queue_.front());
    flush_queue_.pop_front();
    if (e != nullptr && !e->closed()) static_cast<WsConn*>(e)->flush_turn(now, &latency);
  }
  WsCounters& c = counters();
  for (size_t i = 0; i < latency.size(); ++i) {
    if (latency[i] != 0) c.fanout_us[i].fetch_add(latency[i], std::memory_order_relaxed);
  }
  if (!flush_queue_.empty() && !kick_armed_) {
    kick_armed_ = loop.timers().add(now, [this] { kick_armed_ = false; }) != 0;
  }
}

void WsFront::add_counts() {
  if (out_messages_ == 0) return;
  WsCounters& c = counters();
  c.messages_out.fetch_add(out_messages_, std::memory_order_relaxed);
  c.bytes_out.fetch_add(out_bytes_, std::memory_order_relaxed);
  out_messages_ = out_bytes_ = 0;
}

void WsFront::fan_out(const WsChangePtr& c) {
  if (auto it = by_key_.find(c->key); it != by_key_.end()) {
    for (const Subscriber& s : it->second) s.conn->deliver(c);
  }
  size_t last = SIZE_MAX;
  for (size_t len : prefix_lengths_) {
    if (len == last) continue;
    last = len;
    if (len > c->key.size()) break;
    auto it = by_prefix_.find(std::string_view(c->key).substr(0, len));
    if (it == by_prefix_.end()) continue;
    for (const Subscriber& s : it->second) s.conn->deliver(c);
  }
}

void WsFront::resync_all() {
  for (WsConn* c : conns_) c->resync();
}

void WsFront::add_subscription(WsConn* c, std::string_view key, bool prefix) {
  std::vector<Subscriber>* subs;
  if (prefix) {
    auto it = by_prefix_.find(key);
    if (it == by_prefix_.end()) {
      it = by_prefix_.emplace(std::string(key), std::vector<Subscriber>{}).first;
      prefix_lengths_.insert(key.size());
    }
    subs = &it->second;
  } else {
    subs = &by_key_[std::string(key)];
  }
  auto s = std::find_if(subs->begin(), subs->end(), [c](const Subscriber& x) { return x.conn == c; });
  if (s != subs->end()) {
    ++s->count;
  } else {
    subs->push_back({c, 1});
  }
  hub().add_interest(key, prefix);
  bump(counters().subscriptions);
}

void WsFront::remove_subscription(WsConn* c, std::string_view key, bool prefix) {
  auto drop = [c](std::vector<Subscriber>& subs) {
    auto s = std::find_if(subs.begin(), subs.end(), [c](const Subscriber& x) { return x.conn == c; });
    if (s == subs.end()) return;
    if (--s->count == 0) {
      *s = subs.back();
      subs.pop_back();
    }
  };
  if (prefix) {
    auto it = by_prefix_.find(key);
    if (it == by_prefix_.end()) return;
    drop(it->second);
    if (it->second.empty()) {
      prefix_lengths_.erase(prefix_lengths_.find(key.size()));
      by_prefix_.erase(it);
    }
  } else {
    auto it = by_key_.find(std::string(key));
    if (it == by_key_.end()) return;
    drop(it->second);
    if (it->second.empty()) by_key_.erase(it);
  }
  hub().drop_interest(key, prefix, ctx_.loop->now_ms());
  counters().subscriptions.fetch_sub(1, std::memory_order_relaxed);
}

void WsFront::on_tick(int64_t now_ms) {
  if (!refetch_retry_.empty()) {
    std::map<std::string, Refetch, std::less<>> again;
    again.swap(refetch_retry_);
    for (const auto& [k, r] : again) refetch(k, r.min_version, r.since_ms);
  }
  if (ctx_.worker != 0) return;
  hub().expire_interest(now_ms);
  ctx_.shared->sessions->expire(now_ms);
}

}  // namespace strata::proxy
