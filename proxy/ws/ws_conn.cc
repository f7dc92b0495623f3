#include "proxy/ws/ws_conn.h"

#include <algorithm>
#include <chrono>

#include "proxy/commands/command.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/policy_registry.h"
#include "proxy/tiers/tiers.h"
#include "proxy/ws/ws_front.h"
#include "proxy/ws/ws_sessions.h"

namespace strata::proxy {
namespace {

using protocol::WsClientMessage;
using protocol::WsClientType;

constexpr int64_t kCloseGraceMs = 1000;  // a closing connection's last frames, at most
// A closing connection waits this long at most for its writes still in flight: their answers
// are remembered for the session, so the client's resend on its next connection gets them.
constexpr int64_t kOpsGraceMs = 30000;

int64_t wall_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// The value of `name` in a query string ("a=1&b=2"), as sent.
std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.size() > name.size() && part.starts_with(name) && part[name.size()] == '=') {
      return part.substr(name.size() + 1);
    }
  }
  return {};
}

bool safe_session_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

bool matches(std::string_view key, const std::string& sub, bool prefix) {
  return prefix ? key.starts_with(sub) : key == sub;
}

// A RESP2 reply's first line: its type byte and the text after it.
struct ReplyLine {
  char type = 0;
  std::string_view text;
};
ReplyLine first_line(std::string_view bytes) {
  if (bytes.empty()) return {};
  const size_t end = bytes.find("\r\n");
  return {bytes[0], bytes.substr(1, end == std::string_view::npos ? bytes.npos : end - 1)};
}

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

WsConn::WsConn(WsFront* front, int fd, uint64_t id)
    : Endpoint(front->ctx().loop, fd),
      front_(front),
      id_(id),
      http_(protocol::HttpLimits{}),
      frames_(protocol::WsLimits{front->config().frame_bytes_max,
                                 front->config().message_bytes_max}) {
  opened_ms_ = front->ctx().loop->now_ms();
  write_tokens_ = front->config().writes_per_s;
  write_tokens_ms_ = opened_ms_;
}

WsConn::~WsConn() = default;

// ---- handshake ----

void WsConn::on_recv(const char* data, long n) {
  if (n <= 0) {
    if (ops_.empty() || state_ == State::kHandshake) return close();
    // The client is gone, its writes are not: wait for their answers (nothing more is sent).
    if (state_ != State::kClosing) opened_ms_ = loop_->now_ms();
    out_.clear();
    state_ = State::kClosing;
    return;
  }
  const std::string_view input(data, static_cast<size_t>(n));
  if (state_ == State::kHandshake) {
    handshake(input);
  } else if (state_ == State::kOpen) {
    on_frames(input);
  }
  // kClosing: what the client sends after our close is dropped.
}

void WsConn::handshake(std::string_view input) {
  head_.append(input);
  const protocol::HttpStatus s = http_.feed(head_);
  if (s == protocol::HttpStatus::kNeedMore) return;
  if (s == protocol::HttpStatus::kError) return refuse(http_.error());
  const protocol::HttpUpgradeRequest& req = http_.request();
  const policies::WebsocketConfig& cfg = front_->config();
  if (req.path != cfg.path) return refuse(404, "no WebSocket endpoint at this path");
  std::string why;
  const std::string_view token = query_param(req.query, "token");
  std::string_view bearer = req.authorization;
  if (bearer.starts_with("Bearer ")) bearer.remove_prefix(7);
  const std::string_view session = query_param(req.query, "session");
  std::string token_error;
  if (!token.empty() || !bearer.empty()) {
    if (!accept_token(!token.empty() ? token : bearer, &token_error)) {
      // Answered after the upgrade (a browser sees close codes, not HTTP statuses).
    }
  }
  session_ = (has_token_ ? claims_.sub : std::string("~")) + "/" +
             (safe_session_id(session) ? std::string(session) : "conn-" + std::to_string(id_));
  protocol::compose_upgrade_response(&out_, req.key);
  const size_t rest = http_.consumed();
  std::string tail = head_.substr(rest);
  std::string().swap(head_);
  http_.reset();
  state_ = State::kOpen;
  mark_dirty();
  if (!token_error.empty()) {
    send_text(protocol::compose_ws_error("unauthorized", token_error));
    bump(front_->counters().rejected);
    return close_with(kWsCloseTokenExpired, "invalid token");
  }
  hello();
  if (!tail.empty()) on_frames(tail);
}

void WsConn::refuse(const protocol::HttpError& e) {
  protocol::compose_http_error(&out_, e);
  bump(front_->counters().rejected);
  state_ = State::kClosing;
  opened_ms_ = loop_->now_ms();
  mark_dirty();
}

void WsConn::refuse(uint16_t status, std::string_view message) {
  protocol::compose_http_error(&out_, status, message);
  bump(front_->counters().rejected);
  state_ = State::kClosing;
  opened_ms_ = loop_->now_ms();
  mark_dirty();
}

bool WsConn::accept_token(std::string_view token, std::string* why) {
  WsClaims claims;
  if (auto err = verify_ws_token_into(token, front_->config().secret, wall_s(), &claims)) {
    *why = "token refused: " + std::string(ws_token_error_text(*err));
    return false;
  }
  claims_ = std::move(claims);
  has_token_ = true;
  return true;
}

void WsConn::hello() {
  const std::string epoch = front_->hub().epoch_text();
  const std::string pos = front_->hub().position(front_->hub().head());
  protocol::WsHello h;
  h.instance = front_->ctx().shared->instance;
  h.epoch = epoch;
  h.position = pos;
  if (has_token_) {
    h.subject = &claims_.sub;
    h.exp_s = claims_.exp_s;
    h.read = &claims_.read;
    h.write = &claims_.write;
  } else {
    h.read = &front_->ctx().shared->public_read;
  }
  send_text(protocol::compose_ws_hello(h));
}

// ---- frames ----

void WsConn::on_frames(std::string_view input) {
  while (state_ == State::kOpen) {
    const protocol::WsStatus s = frames_.feed(input);
    input.remove_prefix(frames_.consumed());
    switch (s) {
      case protocol::WsStatus::kNeedMore:
        return;
      case protocol::WsStatus::kMessage:
        if (frames_.event().opcode != protocol::WsOpcode::kText) {
          bump(front_->counters().protocol_errors);
          return close_with(protocol::kWsCloseUnsupportedData,
                            "binary messages are not part of the protocol");
        }
        on_message(frames_.event().payload);
        break;
      case protocol::WsStatus::kPing:
        protocol::append_ws_frame(&out_, protocol::WsOpcode::kPong, frames_.event().payload);
        mark_dirty();
        break;
      case protocol::WsStatus::kPong:
        break;
      case protocol::WsStatus::kClose: {
        const uint16_t code = frames_.event().close_code;
        return close_with(code == protocol::kWsCloseNoStatus ? protocol::kWsCloseNormal : code,
                          {});
      }
      case protocol::WsStatus::kError: {
        const protocol::WsError e = frames_.error();
        bump(front_->counters().protocol_errors);
        return close_with(e.close_code, e.message);
      }
    }
  }
}

void WsConn::close_with(uint16_t code, std::string_view reason) {
  if (state_ == State::kClosing) return;
  protocol::append_ws_close(&out_, code, reason);
  state_ = State::kClosing;
  opened_ms_ = loop_->now_ms();  // the close grace counts from here
  mark_dirty();
}

void WsConn::send_text(std::string_view json) {
  protocol::append_ws_frame(&out_, protocol::WsOpcode::kText, json);
  WsCounters& c = front_->counters();
  bump(c.messages_out);
  c.bytes_out.fetch_add(json.size(), std::memory_order_relaxed);
  mark_dirty();
}

// ---- messages ----

void WsConn::on_message(std::string_view text) {
  WsClientMessage m;
  if (auto err = protocol::parse_ws_client_message(text, front_->config().value_bytes_max, &m)) {
    if (err->op != 0) {
      nack(err->op, "invalid", err->message);
    } else {
      send_text(protocol::compose_ws_error(err->code, err->message, err->id));
    }
    return;
  }
  switch (m.type) {
    case WsClientType::kPing:
      send_text(protocol::compose_ws_pong());
      break;
    case WsClientType::kAuth: {
      std::string why;
      if (!accept_token(m.token, &why)) {
        send_text(protocol::compose_ws_error("unauthorized", why));
        return close_with(kWsCloseTokenExpired, "invalid token");
      }
      hello();
      break;
    }
    case WsClientType::kSub:
      on_sub(m);
      break;
    case WsClientType::kUnsub:
      on_unsub(m.id);
      break;
    case WsClientType::kSet:
    case WsClientType::kDel:
    case WsClientType::kAppend:
      on_write(m);
      break;
  }
}

bool WsConn::may_read(std::string_view key, bool prefix) const {
  const auto& pub = front_->ctx().shared->public_read;
  if (prefix) {
    return (has_token_ && ws_claims_allow_prefix(claims_.read, key)) ||
           ws_claims_allow_prefix(pub, key);
  }
  return (has_token_ && ws_claims_allow(claims_.read, key)) || ws_claims_allow(pub, key);
}

bool WsConn::may_write(std::string_view key) const {
  return has_token_ && ws_claims_allow(claims_.write, key);
}

void WsConn::on_sub(WsClientMessage& m) {
  if (subs_.count(m.id) != 0) {
    return send_text(protocol::compose_ws_error("invalid", "subscription id already in use", m.id));
  }
  if (subs_.size() >= front_->config().subscriptions_max) {
    return send_text(protocol::compose_ws_error(
        "invalid",
        "too many subscriptions on one connection (subscriptions_max " +
            std::to_string(front_->config().subscriptions_max) + ")",
        m.id));
  }
  if (!may_read(m.key, m.is_prefix)) {
    return send_text(protocol::compose_ws_error(
        "denied", std::string(m.is_prefix ? "prefix" : "key") + " not readable with this token",
        m.id));
  }
  WsHub& hub = front_->hub();
  const uint64_t cursor = front_->cursor();
  uint64_t since = 0;
  std::vector<WsChangePtr> missed;
  // A position of this stream, not past its head (a client cannot have seen more).
  const bool resumable = !m.since.empty() && hub.own_position(m.since, &since) &&
                         since <= hub.head() &&
                         (since >= cursor || hub.read(since, cursor, &missed));
  if (resumable) {
    subs_[m.id] = Sub{m.key, m.is_prefix};
    front_->add_subscription(this, m.key, m.is_prefix);
    bump(front_->counters().resumes_history);
    send_text(protocol::compose_ws_subscribed(m.id, hub.position(std::max(since, cursor)), true));
    // The changes it missed, even those older than what this connection was sent since (they
    // were not for this subscription then).
    for (const WsChangePtr& c : missed) {
      if (matches(c->key, m.key, m.is_prefix)) put_change(c);
    }
    last_seq_ = std::max(last_seq_, since);
    return;
  }
  // A snapshot: every change from now on waits behind it (and may repeat what it holds; the
  // version tells).
  std::string why;
  if (!m.since.empty()) bump(front_->counters().resumes_snapshot);
  subs_[m.id] = Sub{m.key, m.is_prefix};
  front_->add_subscription(this, m.key, m.is_prefix);
  ++snapshots_;
  bump(front_->counters().snapshots);
  send_text(protocol::compose_ws_subscribed(m.id, hub.position(cursor), false));
  snapshot_next(m.id, std::string(), 0);
}

void WsConn::snapshot_next(int64_t id, std::string after, size_t sent) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return snapshot_done();  // unsubscribed meanwhile
  const policies::WebsocketConfig& cfg = front_->config();
  const size_t limit = it->second.prefix
                           ? std::min<size_t>(cfg.snapshot_page, cfg.snapshot_keys_max - sent)
                           : 1;
  Loop* loop = loop_;
  const Token me = token();
  std::string why;
  const bool ok = front_->read_snapshot(
      it->second.key, it->second.prefix, after, limit,
      [loop, me, id, sent](SnapshotPage&& page) {
        Endpoint* e = loop->lookup(me);
        if (e == nullptr || e->closed()) return;
        static_cast<WsConn*>(e)->on_snapshot_page(id, sent, std::move(page));
      },
      &why);
  if (!ok) {
    send_text(protocol::compose_ws_error("invalid", why, id));
    front_->remove_subscription(this, it->second.key, it->second.prefix);
    subs_.erase(it);
    snapshot_done();
  }
}

void WsConn::on_snapshot_page(int64_t id, size_t sent, SnapshotPage&& page) {
  if (state_ != State::kOpen) return;
  auto it = subs_.find(id);
  if (it == subs_.end()) return snapshot_done();
  if (!page.error.empty()) {
    send_text(protocol::compose_ws_error("unavailable", "snapshot failed: " + page.error, id));
    front_->remove_subscription(this, it->second.key, it->second.prefix);
    subs_.erase(it);
    return snapshot_done();
  }
  // A page may hold more rows than were asked for (pending write-behind keys laid over
  // PostgreSQL's): at most snapshot_page go out per message and snapshot_keys_max in all; the
  // next read starts after the last key sent, or after what this read covered when every row
  // was sent (a read whose rows were all pending deletes sends nothing and moves on).
  const policies::WebsocketConfig& cfg = front_->config();
  const bool prefix = it->second.prefix;
  size_t take = page.rows.size();
  if (prefix) {
    take = std::min<size_t>({take, cfg.snapshot_page, cfg.snapshot_keys_max - sent});
  }
  const bool cut = take < page.rows.size();
  const size_t total = sent + take;
  const bool capped = prefix && total >= cfg.snapshot_keys_max;
  std::string next = take == 0 ? std::string() : page.rows[take - 1].key;
  if (!cut && page.after > next) next = page.after;
  const bool done = (page.done && !cut) || next.empty();
  const bool last = done || capped;
  if (take == 0 && !last) return snapshot_next(id, std::move(next), total);
  std::vector<protocol::WsSnapItem> items;
  items.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    SnapshotRow& r = page.rows[i];
    items.push_back({std::move(r.key), std::move(r.value), r.version});
  }
  send_text(protocol::compose_ws_snap(id, items, last, capped && !done));
  if (last) return snapshot_done();
  snapshot_next(id, std::move(next), total);
}

void WsConn::snapshot_done() {
  if (snapshots_ > 0 && --snapshots_ == 0) release_held();
}

void WsConn::on_unsub(int64_t id) {
  auto it = subs_.find(id);
  if (it != subs_.end()) {
    front_->remove_subscription(this, it->second.key, it->second.prefix);
    subs_.erase(it);
  }
  send_text(protocol::compose_ws_unsubscribed(id));
}

void WsConn::resync() {
  if (state_ != State::kOpen) return;
  for (auto& [id, sub] : subs_) {
    ++snapshots_;
    bump(front_->counters().snapshots);
    send_text(protocol::compose_ws_subscribed(id, front_->hub().position(front_->cursor()), false));
    snapshot_next(id, std::string(), 0);
  }
}

// ---- sending, with backpressure ----

void WsConn::deliver(const WsChangePtr& c) {
  if (state_ != State::kOpen || c->seq <= last_seq_) return;
  last_seq_ = c->seq;
  put_change(c);
}

void WsConn::put_change(const WsChangePtr& c) {
  const policies::WebsocketConfig& cfg = front_->config();
  WsCounters& counters = front_->counters();
  if (snapshots_ > 0 && merged_.empty()) {
    held_.push_back(Held{c, {}});
    held_bytes_ += c->frame.size();
    if (held_bytes_ <= cfg.send_queue_bytes) return;
    // Too much waits behind the snapshot: merge it per key like a slow client's.
    std::vector<Held> held;
    held.swap(held_);
    held_bytes_ = 0;
    for (Held& h : held) {
      if (h.change) {
        auto [it, fresh] = merged_.insert_or_assign(h.change->key, h.change);
        if (!fresh) bump(counters.merged);
      } else {
        after_merged_.push_back(std::move(h.frame));
      }
    }
    if (behind_since_ms_ == 0) behind_since_ms_ = loop_->now_ms();
    return;
  }
  if (!merged_.empty() || snapshots_ > 0 || pending_output() > cfg.send_queue_bytes) {
    auto [it, fresh] = merged_.insert_or_assign(c->key, c);
    if (!fresh) bump(counters.merged);
    if (behind_since_ms_ == 0) behind_since_ms_ = loop_->now_ms();
    if (merged_.size() > cfg.merged_keys_max) {
      bump(counters.slow_closes);
      drop_backlog();
      close_with(kWsCloseSlow, "slow consumer: too many keys behind");
    }
    return;
  }
  // Sent at this connection's turn in the fan-out (or sooner, with a frame of its own).
  out_.append(c->frame);
  front_->count_out(c->frame.size());
  if (queued_changes_++ == 0) queued_at_ms_ = c->at_ms;
  if (!flush_queued_) {
    flush_queued_ = true;
    front_->queue_flush(this);
  }
}

void WsConn::flush_turn(int64_t now_ms, WsLatencyBatch* latency) {
  flush_queued_ = false;
  if (queued_changes_ == 0) return;
  const int64_t us = std::max<int64_t>(0, (now_ms - queued_at_ms_) * 1000);
  size_t bucket = 0;
  while (bucket < latency->size() - 1 && (int64_t{1} << bucket) <= us) ++bucket;
  (*latency)[bucket] += queued_changes_;
  queued_changes_ = 0;
  mark_dirty();
}

// A slow client being closed: what it has not been handed yet is dropped (it resumes or
// snapshots when it comes back), so the close frame follows only the send in flight and the
// client sees 4008 as soon as it reads that, not after the whole backlog. out_ holds whole
// frames (a send takes all of it), so dropping it cuts no frame.
void WsConn::drop_backlog() {
  queued_changes_ = 0;
  merged_.clear();
  after_merged_.clear();
  held_.clear();
  held_bytes_ = 0;
  out_.clear();
}

void WsConn::put_frame(std::string frame) {
  if (snapshots_ > 0 && merged_.empty()) {
    held_bytes_ += frame.size();
    held_.push_back(Held{nullptr, std::move(frame)});
  } else if (!merged_.empty()) {
    after_merged_.push_back(std::move(frame));
  } else {
    out_.append(frame);
    mark_dirty();
  }
}

void WsConn::release_held() {
  std::vector<Held> held;
  held.swap(held_);
  held_bytes_ = 0;
  for (Held& h : held) {
    if (h.change) {
      put_change(h.change);
    } else {
      put_frame(std::move(h.frame));
    }
  }
  flush_merged();
}

// A slow client caught up (or a snapshot ended): the latest value of every key it missed, in
// position order, marked merged; then the acks that waited behind them.
void WsConn::flush_merged() {
  if (merged_.empty() || snapshots_ > 0 || state_ != State::kOpen) return;
  if (pending_output() > front_->config().send_queue_bytes / 2) return;
  std::vector<WsChangePtr> changes;
  changes.reserve(merged_.size());
  for (auto& [k, c] : merged_) changes.push_back(c);
  merged_.clear();
  std::sort(changes.begin(), changes.end(),
            [](const WsChangePtr& a, const WsChangePtr& b) { return a->seq < b->seq; });
  for (const WsChangePtr& c : changes) send_text(protocol::ws_change_merged(c->json));
  for (std::string& f : after_merged_) out_.append(f);
  after_merged_.clear();
  behind_since_ms_ = 0;
  mark_dirty();
}

void WsConn::on_output_drained() {
  if (state_ == State::kClosing) {
    if (out_.empty() && ops_.empty()) close();
    return;
  }
  flush_merged();
}

void WsConn::on_tick(int64_t now_ms) {
  const policies::WebsocketConfig& cfg = front_->config();
  if (state_ == State::kClosing) {
    const int64_t waited = now_ms - opened_ms_;
    const bool sent = waited > kCloseGraceMs || (pending_output() == 0 && !send_inflight());
    if (sent && (ops_.empty() || waited > kOpsGraceMs)) close();
    return;
  }
  if (state_ == State::kHandshake) {
    if (now_ms - opened_ms_ > static_cast<int64_t>(cfg.handshake_timeout_ms)) {
      refuse(408, "upgrade request not complete in time");
    }
    return;
  }
  if (has_token_ && claims_.exp_s != 0 && wall_s() >= claims_.exp_s) {
    bump(front_->counters().expired_closes);
    send_text(protocol::compose_ws_error("unauthorized", "token expired"));
    return close_with(kWsCloseTokenExpired, "token expired");
  }
  if (behind_since_ms_ != 0 && now_ms - behind_since_ms_ > static_cast<int64_t>(cfg.slow_close_ms)) {
    bump(front_->counters().slow_closes);
    drop_backlog();
    return close_with(kWsCloseSlow, "slow consumer");
  }
  flush_merged();
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    std::string ans;
    if (front_->ctx().shared->sessions->lookup(session_, *it, &ans)) {
      // Its change (appended by the worker that applied it) goes out before the answer.
      front_->deliver();
      bump(front_->counters().replayed_ops);
      std::string frame;
      protocol::append_ws_frame(&frame, protocol::WsOpcode::kText, ans);
      put_frame(std::move(frame));
      it = awaiting_.erase(it);
    } else {
      ++it;
    }
  }
}

void WsConn::on_closed() {
  // Writes never answered (the connection failed, or kOpsGraceMs passed): a resend must not
  // wait forever for an answer that will not come.
  for (auto& [seq, op] : ops_) {
    front_->ctx().shared->sessions->answer(
        session_, op.op,
        protocol::compose_ws_nack(op.op, "unavailable",
                                  "the connection closed before this write was answered; its "
                                  "outcome is unknown"),
        loop_->now_ms());
  }
  ops_.clear();
  for (auto& [id, sub] : subs_) front_->remove_subscription(this, sub.key, sub.prefix);
  subs_.clear();
  front_->connection_closed(this);
}

// ---- writes ----

void WsConn::nack(int64_t op, std::string_view reason, std::string_view message) {
  WsCounters& c = front_->counters();
  if (reason == "conflict") {
    bump(c.nacks_conflict);
  } else if (reason == "denied") {
    bump(c.nacks_denied);
  } else if (reason == "invalid") {
    bump(c.nacks_invalid);
  } else if (reason == "rate_limited") {
    bump(c.nacks_rate_limited);
  } else {
    bump(c.nacks_error);
  }
  answer(op, protocol::compose_ws_nack(op, reason, message), false);
}

void WsConn::answer(int64_t op, std::string json, bool is_ack) {
  if (is_ack) bump(front_->counters().acks);
  // Rate-limited and denied answers are not remembered: the client may try again later.
  front_->ctx().shared->sessions->answer(session_, op, json, loop_->now_ms());
  if (state_ != State::kOpen) return;  // remembered for the client's resend only
  std::string frame;
  protocol::append_ws_frame(&frame, protocol::WsOpcode::kText, json);
  bump(front_->counters().messages_out);
  put_frame(std::move(frame));
}

void WsConn::on_write(WsClientMessage& m) {
  if (!may_write(m.key)) {
    bump(front_->counters().nacks_denied);
    send_text(protocol::compose_ws_nack(m.op, "denied",
                                        has_token_ ? "key not writable with this token"
                                                   : "writes need a token"));
    return;
  }
  const policies::WebsocketConfig& cfg = front_->config();
  if (ops_.size() + awaiting_.size() >= kWsOpsInFlightMax) {
    bump(front_->counters().nacks_rate_limited);
    send_text(protocol::compose_ws_nack(m.op, "rate_limited",
                                        "too many writes waiting for their answer on this "
                                        "connection (" +
                                            std::to_string(kWsOpsInFlightMax) + ")"));
    return;
  }
  if (cfg.writes_per_s != 0) {
    const int64_t now = loop_->now_ms();
    write_tokens_ = std::min<double>(cfg.writes_per_s,
                                     write_tokens_ + (now - write_tokens_ms_) * cfg.writes_per_s / 1000.0);
    write_tokens_ms_ = now;
    if (write_tokens_ < 1) {
      bump(front_->counters().nacks_rate_limited);
      send_text(protocol::compose_ws_nack(m.op, "rate_limited",
                                          "more than writes_per_s writes per second"));
      return;
    }
    write_tokens_ -= 1;
  }
  std::string previous;
  switch (front_->ctx().shared->sessions->begin(session_, m.op, loop_->now_ms(), &previous)) {
    case WsSessions::Seen::kAnswered: {
      bump(front_->counters().replayed_ops);
      std::string frame;
      protocol::append_ws_frame(&frame, protocol::WsOpcode::kText, previous);
      return put_frame(std::move(frame));
    }
    case WsSessions::Seen::kPending:
      // Answered once its first sending is; a resend of a resend adds nothing.
      if (std::find(awaiting_.begin(), awaiting_.end(), m.op) == awaiting_.end()) {
        awaiting_.push_back(m.op);
      }
      return;
    case WsSessions::Seen::kForgotten:
      bump(front_->counters().nacks_invalid);
      send_text(protocol::compose_ws_nack(
          m.op, "invalid", "operation number already used in this session (numbers increase)"));
      return;
    case WsSessions::Seen::kNew:
      break;
  }
  start_op(m);
}

void WsConn::start_op(const WsClientMessage& m) {
  Tiers* tiers = front_->ctx().tiers;
  const TierShared* ts = front_->ctx().tier_shared;
  const policies::Policy* policy =
      ts != nullptr && ts->registry != nullptr ? &ts->registry->current()->match(m.key).policy
                                               : nullptr;
  if (tiers == nullptr || policy == nullptr || !policy->uses_postgres()) {
    return nack(m.op, "invalid",
                "only keys under a PostgreSQL policy accept writes over the WebSocket channel");
  }
  if (policy->version_checked() && !m.expected_version && m.type != WsClientType::kAppend) {
    // The tiers' refusal names RESP commands (STRATA CAS): answered here in the channel's terms.
    return nack(m.op, "invalid",
                m.type == WsClientType::kDel
                    ? "a delete on a prefix with conflict = \"version\" is not supported yet"
                    : "a prefix with conflict = \"version\" takes writes with \"ver\" (the "
                      "expected version; \"0\": absent)");
  }
  Op op;
  op.op = m.op;
  op.key = m.key;
  immediate_.clear();
  bool routed = false;
  const int64_t expire_at = m.ttl_ms != 0 ? loop_->now_ms() + static_cast<int64_t>(m.ttl_ms) : 0;
  if (m.type == WsClientType::kAppend) {
    op.kind = OpKind::kAppend;
    starting_ = op;
    routed = tiers->append(this, m.key, m.value);
    if (!routed) {
      starting_.reset();
      return nack(m.op, "invalid", "append needs a prefix with conflict = \"append\"");
    }
  } else if (m.expected_version) {
    if (!policy->version_checked()) {
      return nack(m.op, "invalid", "\"ver\" is for prefixes with conflict = \"version\"");
    }
    if (m.type == WsClientType::kDel) {
      return nack(m.op, "invalid", "a delete with \"ver\" is not supported yet");
    }
    op.kind = OpKind::kCas;
    starting_ = op;
    routed = tiers->cas(this, m.key, *m.expected_version, m.value, expire_at);
  } else {
    op.kind = m.type == WsClientType::kDel ? OpKind::kDel : OpKind::kSet;
    starting_ = op;
    const CommandSpec* spec = find_command(op.kind == OpKind::kDel ? "del" : "set");
    std::string ttl = std::to_string(m.ttl_ms);
    std::string_view args_set[] = {"set", m.key, m.value, "PX", ttl};
    std::string_view args_del[] = {"del", m.key};
    const Args args = op.kind == OpKind::kDel ? Args(args_del)
                      : m.ttl_ms != 0          ? Args(args_set)
                                               : Args(args_set, 3);
    routed = spec != nullptr && tiers->route(this, *spec, args);
  }
  if (!routed) {
    starting_.reset();
    return nack(m.op, "invalid", "the key is not under a PostgreSQL policy");
  }
  if (starting_) {
    // Answered at once, through reply_target() (a refusal before any I/O).
    Op done = std::move(*starting_);
    starting_.reset();
    ops_[0] = std::move(done);
    finish_op(0, immediate_);
  }
}

uint64_t WsConn::reserve_reply() {
  const uint64_t seq = next_reply_seq_++;
  if (starting_) {
    ops_[seq] = std::move(*starting_);
    starting_.reset();
  }
  return seq;
}

uint64_t WsConn::reserve_array_reply(size_t /*parts*/) { return reserve_reply(); }

void WsConn::complete_part(uint64_t seq, size_t /*index*/, std::string_view /*element*/) {
  finish_op(seq, "-ERR strata: unexpected multi-part reply\r\n");
}

void WsConn::complete_reply(uint64_t seq, std::string_view bytes) { finish_op(seq, bytes); }

void WsConn::fail_reply(uint64_t seq, std::string_view error_line) { finish_op(seq, error_line); }

std::string* WsConn::reply_target() { return &immediate_; }

void WsConn::own_change(std::string_view key, uint64_t version, uint64_t seq) {
  for (auto& [s, op] : ops_) {
    if (op.changed) continue;
    const bool mine = op.kind == OpKind::kAppend
                          ? key.size() > op.key.size() && key.starts_with(op.key) &&
                                key[op.key.size()] == ':'
                          : key == op.key;
    if (!mine) continue;
    op.changed = true;
    op.version = version;
    op.seq = seq;
    return;
  }
}

void WsConn::finish_op(uint64_t seq, std::string_view reply) {
  auto it = ops_.find(seq);
  if (it == ops_.end()) return;
  Op op = std::move(it->second);
  ops_.erase(it);
  // A closing connection still answers (into the session, for a resend), sending nothing.
  const ReplyLine line = first_line(reply);
  WsHub& hub = front_->hub();
  if (op.kind == OpKind::kVersionOf) {
    // [version, value]: what the conflict nack carries.
    uint64_t ver = 0;
    std::optional<std::string> value;
    const size_t l1 = reply.find("\r\n");
    if (line.type == '*' && l1 != std::string_view::npos) {
      std::string_view rest = reply.substr(l1 + 2);
      const ReplyLine v = first_line(rest);
      parse_u64(v.text, &ver);
      rest.remove_prefix(std::min(rest.size(), rest.find("\r\n") + 2));
      const ReplyLine b = first_line(rest);
      uint64_t len = 0;
      if (b.type == '$' && parse_u64(b.text, &len)) {
        value.emplace(rest.substr(rest.find("\r\n") + 2, len));
      }
    }
    bump(front_->counters().nacks_conflict);
    return answer(op.op,
                  protocol::compose_ws_nack(op.op, "conflict", op.conflict_message, ver,
                                            value ? &*value : nullptr),
                  false);
  }
  if (line.type == '-') {
    if (op.kind == OpKind::kCas && line.text.starts_with("CONFLICT")) {
      // Read the current value and version (PostgreSQL's row), then nack with them.
      Tiers* tiers = front_->ctx().tiers;
      Op v;
      v.op = op.op;
      v.kind = OpKind::kVersionOf;
      v.key = op.key;
      v.conflict_message = std::string(line.text);
      starting_ = std::move(v);
      if (tiers->version_of(this, op.key) && !starting_) return;
      starting_.reset();
      return nack(op.op, "conflict", line.text);
    }
    const bool down = line.text.find("PostgreSQL") != std::string_view::npos ||
                      line.text.find("unavailable") != std::string_view::npos ||
                      line.text.find("TRYAGAIN") != std::string_view::npos;
    return nack(op.op, down ? "unavailable" : "error", line.text);
  }
  // The change this write made is queued on this connection before its ack.
  if (state_ == State::kOpen) front_->deliver();
  uint64_t ver = op.version;
  std::string append_key;
  uint64_t position = 0;
  if (op.kind == OpKind::kCas && line.type == ':') parse_u64(line.text, &ver);
  if (op.kind == OpKind::kAppend && line.type == ':' && parse_u64(line.text, &position)) {
    append_key = op.key + ":" + std::to_string(position);
  }
  answer(op.op,
         protocol::compose_ws_ack(op.op, ver, hub.position(op.seq != 0 ? op.seq : hub.head()),
                                  append_key, position),
         true);
}

}  // namespace strata::proxy
