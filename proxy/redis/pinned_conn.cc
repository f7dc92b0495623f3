// A client's own upstream connection (MULTI/WATCH, blocking commands, pub/sub):
// replies framed into the client's reply slots, or relayed raw once they stop being one per
// command.
#include <algorithm>
#include <charconv>

#include "cache/store.h"
#include "protocol/reply_writer.h"
#include "proxy/loop/log.h"
#include "proxy/redis/own_reports.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {

PinnedUpstream::PinnedUpstream(Loop* loop, int fd, Upstream* owner, Token client)
    : Endpoint(loop, fd), owner_(owner), client_(client) {
  can_send_ = false;
}

void PinnedUpstream::ask_redis_id() {
  std::string_view id[] = {"CLIENT", "ID"};
  encode_command(&out_, id);
  id_pending_ = true;
  mark_dirty();
}

void PinnedUpstream::on_connected(int res) {
  ReplySink* c = sink_of(*loop_, client_);
  if (res < 0) {
    if (c != nullptr) {
      std::string error =
          error_line("ERR upstream " + owner_->name() + " unavailable (" + strerror(-res) + ")");
      fail_waiting(c, error);
      c->upstream_lost(framed_ ? std::string() : error);
    }
    close();
    return;
  }
  connected_ = true;
  can_send_ = true;
  loop_->driver().start_recv(token_, fd_);
  mark_dirty();
}

namespace {

// Commands after which a connection's replies are no longer one per command: subscriptions
// (messages, and in RESP3 no reply at all but pushes), MONITOR's feed, CLIENT REPLY OFF/SKIP.
bool ends_framing(const CommandSpec& spec, std::span<const std::string_view> args) {
  if ((spec.flags & kPubSub) != 0 && (spec.flags & kPinning) != 0) return true;
  // SYNC/PSYNC turn the connection into a replication link: newlines while Redis prepares the
  // RDB, an RDB bulk without a trailing CRLF, then the command stream. None of it is framed.
  if (spec.name == "monitor" || spec.name == "sync" || spec.name == "psync") return true;
  return spec.name == "client" && args.size() >= 2 && iequals(args[1], "reply");
}

}  // namespace

void PinnedUpstream::send_command(ReplySink* c, std::span<const std::string_view> args,
                                  const CommandSpec* spec) {
  // Redis refuses SYNC/PSYNC while a reply of the connection is still unsent: it waits for
  // the replies to strata's own commands (CLIENT ID, SETNAME), and what follows waits behind it.
  const bool sync = spec != nullptr && (spec->name == "sync" || spec->name == "psync");
  if (!held_.empty() || (sync && own_replies_pending())) {
    encode_command(&held_, args);
  } else {
    encode_command(&out_, args);
    mark_dirty();
  }
  bump(owner_->context().stats->upstream_forwarded);
  uint64_t reply_seq = UINT64_MAX;
  if (framed_ && (spec == nullptr || !ends_framing(*spec, args))) {
    // Inside MULTI a command is only queued: it neither runs long nor blocks now.
    const uint32_t flags = spec != nullptr && !in_multi_ ? spec->flags : 0;
    reply_seq = c->reserve_reply();
    Waiting w{reply_seq, spec != nullptr && spec->name == "hello", (flags & kSlow) != 0,
              (flags & kBlocking) != 0, false};
    slow_waiting_ += w.slow ? 1 : 0;
    blocking_waiting_ += w.blocking ? 1 : 0;
    if (w.slow) Upstream::count_slow(1);
    waiting_.push_back(std::move(w));
  } else {
    // Bytes from here on are relayed as they come, once the replies still framed are in.
    if (!framed_ && spec != nullptr && spec->name == "hello") ++hello_relayed_;
    framed_ = false;
    if (spec != nullptr && (spec->flags & kPubSub) != 0) pubsub_ = true;
  }
  if (spec == nullptr) return;
  note_multi(*spec);
  // Keys written here are invalidated now and again when a reply arrives, since a fill on a
  // shared connection may have read the old value in between (MULTI applies at EXEC).
  if (spec->name == "flushall" || spec->name == "flushdb") {
    owner_->context().store->flush_all();
    written_keys_.push_back(Written{{}, true});
  }
  if ((spec->flags & kWrite) != 0 && spec->first_key > 0) {
    const int last =
        spec->last_key < 0 ? static_cast<int>(args.size()) + spec->last_key : spec->last_key;
    for (int i = spec->first_key; i <= last && i < static_cast<int>(args.size());
         i += std::max(1, spec->key_step)) {
      owner_->context().store->invalidate(args[i]);
      owner_->forget_flight(args[i]);
      written_keys_.push_back(Written{std::string(args[i]), false});
    }
  }
  // Outside MULTI (EXEC included) its reply settles what was written so far.
  if (!in_multi_ && framed_ && !waiting_.empty() && waiting_.back().seq == reply_seq) {
    waiting_.back().written_upto = written_settled_ + written_keys_.size();
    mark_written();
  }
}

void PinnedUpstream::mark_written() {
  const uint64_t end = written_settled_ + written_keys_.size();
  if (written_marked_ >= end) return;
  const size_t from = static_cast<size_t>(std::max(written_marked_, written_settled_) -
                                          written_settled_);
  written_marked_ = end;
  // Behind held commands the PUBLISH would go before the write: no marker then (Redis's report
  // of it is told once more, never not at all).
  if (!held_.empty()) return;
  std::vector<std::string> keys;
  bool flush = false;
  for (size_t i = from; i < written_keys_.size(); ++i) {
    if (written_keys_[i].flush) {
      flush = true;
    } else {
      keys.push_back(written_keys_[i].key);
    }
  }
  const uint64_t marker = OwnReports::instance().open(keys, flush);
  if (marker == 0) return;
  for (size_t i = from; i < written_keys_.size(); ++i) written_keys_[i].marker = marker;
  encode_marker(&out_, marker);
  mark_dirty();
  ++quiet_waiting_;
  Waiting w{0, false, false, false, true};
  w.marker = marker;
  waiting_.push_back(std::move(w));
}

void PinnedUpstream::settle_written(ReplySink* c, uint64_t upto) {
  const UpstreamContext& ctx = owner_->context();
  const uint64_t writer = c != nullptr ? c->client_id() : 0;
  while (written_settled_ < upto && !written_keys_.empty()) {
    const Written& w = written_keys_.front();
    if (w.flush) {
      ctx.store->flush_all();
      ctx.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kForwarded, writer);
    } else {
      ctx.store->invalidate(w.key);
      ctx.seam->publish(w.key, ChangeOp::kInvalidate, ChangeSource::kForwarded, writer);
    }
    // Told just now: whatever Redis reported of it meanwhile needs nothing more.
    std::vector<std::string> unused;
    bool unused_flush = false;
    OwnReports::instance().finish(w.marker, std::span(&w.key, w.flush ? 0 : 1), w.flush, true,
                                  &unused, &unused_flush);
    written_keys_.pop_front();
    ++written_settled_;
  }
}

void PinnedUpstream::send_quiet(std::span<const std::string_view> args) {
  if (!framed_) return;
  encode_command(&out_, args);
  mark_dirty();
  ++quiet_waiting_;
  waiting_.push_back(Waiting{0, false, false, false, true});
}

void PinnedUpstream::note_multi(const CommandSpec& spec) {
  if (spec.name == "multi") {
    in_multi_ = true;
    multi_queued_ = 0;
  } else if (spec.name == "exec" || spec.name == "discard" || spec.name == "reset") {
    in_multi_ = false;
  } else if (in_multi_) {
    ++multi_queued_;
  }
}

std::string PinnedUpstream::list_flags() const {
  std::string f;
  if (pubsub_) f += 'P';
  if (in_multi_) f += 'x';
  if (blocking_waiting_ > 0) f += 'b';
  return f;
}

PinnedUpstream::Waiting PinnedUpstream::pop_waiting() {
  const Waiting w = waiting_.front();
  waiting_.pop_front();
  if (w.slow) {
    --slow_waiting_;
    Upstream::count_slow(-1);
  }
  if (w.blocking) --blocking_waiting_;
  if (w.quiet) --quiet_waiting_;
  return w;
}

bool PinnedUpstream::take_redis_id() {
  const size_t eol = carry_.find("\r\n");
  if (eol == std::string::npos) return false;
  int64_t id = 0;
  if (carry_.starts_with(':')) std::from_chars(carry_.data() + 1, carry_.data() + eol, id);
  redis_id_ = id;
  id_pending_ = false;
  carry_.erase(0, eol + 2);
  answer_id_waiters();
  return true;
}

void PinnedUpstream::when_redis_id(std::function<void(int64_t)> fn) {
  if (id_pending_ && !closed_) {
    id_waiters_.push_back(std::move(fn));
  } else {
    fn(redis_id_);
  }
}

void PinnedUpstream::answer_id_waiters() {
  std::vector<std::function<void(int64_t)>> waiters;
  waiters.swap(id_waiters_);
  for (auto& fn : waiters) fn(closed_ ? 0 : redis_id_);
}

void PinnedUpstream::fail_waiting(ReplySink* c, std::string_view error_line) {
  while (!waiting_.empty()) {
    const Waiting w = pop_waiting();
    if (w.marker != 0) OwnReports::instance().dropped(w.marker);
    if (!w.quiet) c->fail_reply(w.seq, error_line);
  }
}

bool PinnedUpstream::deliver(ReplySink* c) {
  size_t used = 0;
  // Subscribed: relayed a whole message at a time, so that strata may add messages of its own
  // in between (CLIENT TRACKING's invalidations to a REDIRECT target).
  while (used < carry_.size() && (skip_replies_ > 0 || framed_ || !waiting_.empty() || pubsub_)) {
    // The scanner resumes where it stopped in a reply that was not complete yet.
    const std::string_view rest = std::string_view(carry_).substr(used);
    const protocol::ScanStatus st = scanner_.feed(rest);
    if (st == protocol::ScanStatus::kError) return false;
    if (st == protocol::ScanStatus::kNeedMore) break;
    const std::string_view reply = rest.substr(0, scanner_.consumed());
    used += reply.size();
    if (skip_replies_ > 0) {  // the reply to strata's own CLIENT SETNAME: not the client's
      --skip_replies_;
    } else if (scanner_.is_push() || waiting_.empty()) {
      // Relayed, a HELLO's reply still tells the client's protocol: the one map (RESP3) or,
      // once in RESP3 (where messages are pushes), the one top-level array (RESP2).
      if (hello_relayed_ > 0 && !scanner_.is_push() && !reply.empty()) {
        if (reply[0] == '%') {
          c->set_resp_version(3);
          --hello_relayed_;
        } else if (reply[0] == '-' || (reply[0] == '*' && c->resp_version() >= 3)) {
          if (reply[0] == '*') c->set_resp_version(2);
          --hello_relayed_;
        }
      }
      c->append_raw(reply);  // out of band (RESP3 push): goes out after what is queued
    } else {
      const Waiting w = pop_waiting();
      if (w.written_upto != 0) settle_written(c, w.written_upto);
      if (w.quiet) continue;
      if (w.hello && !reply.empty() && (reply[0] == '%' || reply[0] == '*')) {
        c->set_resp_version(reply[0] == '%' ? 3 : 2);
      }
      c->complete_reply(w.seq, reply);
    }
  }
  if (!framed_ && waiting_.empty() && skip_replies_ == 0 && !pubsub_ && used < carry_.size()) {
    c->append_raw(std::string_view(carry_).substr(used));
    used = carry_.size();
  }
  carry_.erase(0, used);
  return true;
}

void PinnedUpstream::on_recv(const char* data, long n) {
  ReplySink* c = sink_of(*loop_, client_);
  if (n <= 0) {
    if (c != nullptr) {
      fail_waiting(c, error_line("ERR upstream " + owner_->name() + " closed the connection"));
      c->upstream_lost({});
    }
    close();
    return;
  }
  std::string_view input(data, static_cast<size_t>(n));
  if (id_pending_) {
    // The reply to CLIENT ID comes before any other.
    carry_.append(input);
    input = {};
    if (!take_redis_id()) return;
    release_held();
    if (carry_.empty()) return;
  }
  // Framed, a key written leaves through the seam with the reply of its command (of EXEC in
  // MULTI: deliver). Relayed, replies cannot be told apart: any bytes from Redis settle it.
  if (!framed_) settle_written(c, written_settled_ + written_keys_.size());
  if (c == nullptr) {
    close();
    return;
  }
  if (!framed_ && waiting_.empty() && skip_replies_ == 0 && carry_.empty() && !pubsub_) {
    c->append_raw(input);  // relaying: straight through
    return;
  }
  carry_.append(input);
  if (carry_.size() > owner_->context().config.output_buffer_bytes_max || !deliver(c)) {
    STRATA_LOG_WARN("pinned upstream connection for client %llu: %s; closing it",
                    static_cast<unsigned long long>(c->client_id()),
                    carry_.size() > owner_->context().config.output_buffer_bytes_max
                        ? "reply over the size limit"
                        : "malformed reply");
    fail_waiting(c, error_line("ERR upstream " + owner_->name() + " sent a bad reply"));
    c->upstream_lost({});
    close();
    return;
  }
  release_held();
}

void PinnedUpstream::release_held() {
  if (held_.empty() || own_replies_pending()) return;
  out_.append(held_);
  held_.clear();
  mark_dirty();
}

void PinnedUpstream::on_closed() {
  owner_->note_pinned_closed(this);
  // Writes sent and unanswered may have been applied: they leave as changed.
  settle_written(sink_of(*loop_, client_), written_settled_ + written_keys_.size());
  if (ReplySink* c = sink_of(*loop_, client_)) {
    c->detach_pinned();
    fail_waiting(c, error_line("ERR upstream " + owner_->name() + " connection lost"));
    c->upstream_lost({});
  }
  // With the client gone too: its markers will not be published.
  while (!waiting_.empty()) {
    if (const Waiting w = pop_waiting(); w.marker != 0) OwnReports::instance().dropped(w.marker);
  }
  // Slow commands of a client that went away no longer run for anyone strata serves.
  Upstream::count_slow(-static_cast<int64_t>(slow_waiting_));
  slow_waiting_ = 0;
  answer_id_waiters();
}

}  // namespace strata::proxy
