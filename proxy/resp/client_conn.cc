#include "proxy/resp/client_conn.h"

#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/commands/commands.h"
#include "proxy/loop/log.h"
#include "proxy/admin/policy_admin.h"
#include "proxy/tiers/tiers.h"
#include "proxy/redis/upstream.h"
#include "proxy/resp/client_registry.h"
#include "proxy/resp/tracking_table.h"

namespace strata::proxy {
namespace {

protocol::ParserLimits parser_limits(const ClientLimits& o) {
  protocol::ParserLimits l;
  l.bulk_bytes_max = o.bulk_bytes_max;
  l.multibulk_count_max = o.multibulk_count_max;
  return l;
}

}  // namespace

ClientConn::ClientConn(FrontContext* ctx, int fd, uint64_t id)
    : Endpoint(ctx->loop, fd), ctx_(ctx), parser_(parser_limits(ctx->limits)), writer_(&out_) {
  client_.id = id;
  client_.created_ms = ctx->loop->now_ms();
  client_.authenticated = !ctx->limits.auth_required;
  last_active_ms_ = ctx->loop->now_ms();
  ClientRegistry::instance().add(id, ctx->loop, this);
}

ClientConn::~ClientConn() { ClientRegistry::instance().remove(client_.id); }

void ClientConn::set_state(ClientStateKind next) {
  if (next == kind_) return;
  const ClientStateKind prev = kind_;
  kind_ = next;
  IoDriver& d = loop_->driver();
  if (next == ClientStateKind::kReading &&
      (prev == ClientStateKind::kPaused || prev == ClientStateKind::kHeld)) {
    if (recv_paused_) d.start_recv(token_, fd_);
    recv_paused_ = false;
  } else if (next != ClientStateKind::kReading && !recv_paused_) {
    d.pause_recv(token_, fd_);
    recv_paused_ = true;
  }
}

void ClientConn::on_recv(const char* data, long n) {
  if (n <= 0) {
    close();
    return;
  }
  last_active_ms_ = loop_->now_ms();
  if (kind_ == ClientStateKind::kDraining) return;
  const ClientLimits& o = ctx_->limits;
  std::string_view input(data, static_cast<size_t>(n));
  if (carry_.empty() && kind_ == ClientStateKind::kReading) {
    consume(input, false);
  } else {
    if (carry_.size() + input.size() > o.query_buffer_bytes_max) {
      // As Redis: a client past the query buffer limit is closed without a reply.
      STRATA_LOG_WARN("closing client id=%lu: query buffer limit (%lu bytes) exceeded",
                      static_cast<unsigned long>(client_.id),
                      static_cast<unsigned long>(o.query_buffer_bytes_max));
      bump(ctx_->stats->query_limit_disconnects);
      close();
      return;
    }
    carry_.append(input);
    if (kind_ == ClientStateKind::kReading) consume(carry_, true);
  }
  if (!closed_) update_flow();
}

void ClientConn::consume(std::string_view input, bool from_carry) {
  // Replies completed while a command runs may resume input; never re-enter this loop.
  if (in_consume_) return;
  in_consume_ = true;
  size_t used = 0;
  size_t prefetched_to = 0;  // the commands before this offset had their lookups prefetched
  while (used < input.size() && kind_ == ClientStateKind::kReading && !closed_) {
    protocol::ParseStatus st = parser_.feed(input.substr(used));
    if (st == protocol::ParseStatus::kNeedMore) break;
    if (st == protocol::ParseStatus::kError) {
      protocol_error(parser_.error());
      used = input.size();
      break;
    }
    const size_t c = parser_.consumed();
    if (st == protocol::ParseStatus::kDone) {
      // More commands behind this one (a pipeline): start fetching what their lookups read.
      // A lone command (no pipeline) never pays for the look ahead, nor does a pipeline of
      // forwarded commands (pipelines repeat one command: the previous one's kind decides).
      if (const size_t next = used + c;
          next < input.size() && next >= prefetched_to &&
          (last_spec_ == nullptr || last_spec_->native != nullptr)) {
        prefetched_to = next + prefetch_ahead(input.substr(next));
      }
      execute(parser_.args(), input.substr(used, c));
      if (kind_ == ClientStateKind::kHeld) {  // not run: it stays in carry_ until resumed
        parser_.reset();
        break;
      }
    }
    used += c;
    parser_.reset();
    // A pipeline of big replies must not pile up past the pause mark before input stops.
    if (kind_ == ClientStateKind::kReading && !closed_ &&
        out_.size() > ctx_->limits.output_pause_bytes) {
      set_state(ClientStateKind::kPaused);
    }
  }
  in_consume_ = false;
  if (closed_) return;
  if (from_carry) {
    carry_.erase(0, used);
  } else if (used < input.size()) {
    if (input.size() - used > ctx_->limits.query_buffer_bytes_max) {
      close();
      return;
    }
    carry_.assign(input.substr(used));
  }
  if (!out_.empty()) mark_dirty();
}

const CommandSpec* ClientConn::spec_of(std::string_view name) {
  const CommandSpec* spec = last_spec_;
  if (spec == nullptr || spec->name.size() != name.size() ||
      strncasecmp(spec->name.data(), name.data(), name.size()) != 0) {
    spec = find_command(name);
    if (spec != nullptr) last_spec_ = spec;
  }
  return spec;
}

size_t ClientConn::prefetch_ahead(std::string_view rest) {
  // One per worker thread: a connection keeps no second parser (idle connections stay small).
  thread_local protocol::RespParser ahead;
  cache::Store::LookupHint hints[cache::Store::kPrefetchMax];
  size_t n = 0;
  size_t used = 0;
  while (n < std::size(hints) && used < rest.size()) {
    ahead.reset();
    if (ahead.feed(rest.substr(used)) != protocol::ParseStatus::kDone) break;
    used += ahead.consumed();
    const Args args = ahead.args();
    if (args.size() < 2) continue;
    // Commands strata serves itself look their first key up in L1; forwarded ones don't.
    const CommandSpec* spec = spec_of(args[0]);
    if (spec == nullptr || spec->native == nullptr || spec->first_key != 1) continue;
    hints[n++] = ctx_->store->hint(args[1]);
  }
  ahead.reset();
  if (n > 1) ctx_->store->prefetch(std::span(hints, n));
  return used;
}

void ClientConn::protocol_error(std::string_view message) {
  bump(ctx_->stats->protocol_errors);
  std::string* target = reply_target();
  target->append("-ERR ");
  target->append(message);
  target->append("\r\n");
  carry_.clear();
  set_state(ClientStateKind::kDraining);
  mark_dirty();
}

bool ClientConn::execute(std::span<const std::string_view> args, std::string_view raw) {
  const CommandSpec* spec = spec_of(args[0]);
  if (spec != nullptr && (spec->flags & kSlow) != 0 && must_hold(*spec)) {
    set_state(ClientStateKind::kHeld);
    return false;
  }
  bump_local(*ctx_->commands);
  note_command(spec, args);
  if (!client_.authenticated && (spec == nullptr || (spec->flags & kNoAuth) == 0)) {
    // As Redis: an unknown command or a wrong arity is reported before NOAUTH.
    protocol::ReplyWriter w(reply_target(), client_.resp_version);
    if (spec == nullptr) {
      reply_unknown_command(w, args);
    } else if (!arity_ok(*spec, args.size())) {
      reply_arity(w, spec->name);
    } else {
      w.error("NOAUTH Authentication required.");
    }
    return true;
  }
  if (spec != nullptr && spec->name == "quit") {
    protocol::ReplyWriter(reply_target(), client_.resp_version).ok();
    set_state(ClientStateKind::kDraining);
    maybe_finish_draining();
    return false;
  }
  if (spec != nullptr && ctx_->hitrate != nullptr) sample_access(*spec, args);
  if (spec != nullptr && tracking_.on) track_command(*spec, args);
  const bool reading = dispatch(spec, args, raw);
  // Every path but serve_get remembers a pending GET before serving it; this is a backstop.
  remember_pending(args);
  return reading;
}

bool ClientConn::dispatch(const CommandSpec* spec, std::span<const std::string_view> args,
                          std::string_view raw) {
  if (spec != nullptr && spec->name == "config" && serve_tracking_config(args)) {
    return kind_ == ClientStateKind::kReading;
  }
  if (spec != nullptr && spec->name == "strata") {
    // strata's own admin commands are answered by strata, pinned connection or not.
    if (!strata_policy_admin(this, ctx_->tier_shared, ctx_->tiers, loop_->now_ms(), args)) run_local(spec, args);
    return kind_ == ClientStateKind::kReading;
  }
  if (spec != nullptr && spec->name == "client" && serve_client(*spec, args, raw)) {
    return kind_ == ClientStateKind::kReading;
  }
  if (pinned_ != nullptr) return execute_pinned(spec, args);
  if (spec != nullptr && spec->name == "shutdown") {
    shutdown_server();
    return false;
  }
  if (Tiers* t = ctx_->tiers; t != nullptr && spec != nullptr && t->route(this, *spec, args)) {
    return true;
  }
  if (ctx_->upstream != nullptr) return execute_proxied(spec, args, raw);
  run_local(spec, args);
  return kind_ == ClientStateKind::kReading;
}

// SHUTDOWN stops strata itself (never the upstream Redis): the main thread gets SIGTERM and
// shuts down as for the signal, draining write-behind queues first. As Redis, no reply.
void ClientConn::shutdown_server() {
  STRATA_LOG_INFO("SHUTDOWN requested by client %llu (%s)",
                  static_cast<unsigned long long>(client_.id), client_.addr.c_str());
  set_state(ClientStateKind::kDraining);
  maybe_finish_draining();
  ::kill(::getpid(), SIGTERM);
}

void ClientConn::run_local(const CommandSpec* spec, std::span<const std::string_view> args) {
  protocol::ReplyWriter w(reply_target(), client_.resp_version);
  if (spec == nullptr) {
    reply_unknown_command(w, args);
    return;
  }
  if (spec->native == nullptr) {
    reply_needs_upstream(w, spec->name);
    return;
  }
  // Server facts are gathered only for the commands that report them.
  const std::string_view n = spec->name;
  const bool reports = n == "info" || n == "hello" || n == "client" || n == "strata";
  const ServerView& view = ctx_->host->server_view(reports, n == "info" || n == "strata");
  CommandContext ctx{ctx_->store, &w, &client_, &view, ctx_->hitrate};
  run_native(*spec, ctx, args);
  if ((spec->flags & kWrite) != 0) after_local_write(*spec, args);
  if (client_.close_after_reply) {
    set_state(ClientStateKind::kDraining);
    maybe_finish_draining();
  }
}

std::string* ClientConn::reply_target() {
  if (slots_.empty()) return &out_;
  ReplySlot& back = slots_.back();
  if (back.ready) return &back.data;
  ReplySlot& fresh = push_slot();
  fresh.ready = true;
  ++next_seq_;
  return &fresh.data;
}

void ClientConn::count_slot(ReplySlot& s) {
  queued_bytes_ += s.data.size() - s.counted;
  s.counted = s.data.size();
}

ClientConn::ReplySlot& ClientConn::push_slot() {
  if (!slots_.empty()) count_slot(slots_.back());
  return slots_.emplace_back();
}

uint64_t ClientConn::reserve_reply() {
  push_slot();
  return next_seq_++;
}

uint64_t ClientConn::reserve_array_reply(size_t parts) {
  ReplySlot& s = push_slot();
  s.parts.resize(parts);
  s.parts_missing = parts;
  return next_seq_++;
}

ClientConn::ReplySlot* ClientConn::slot(uint64_t seq) {
  if (seq < first_seq_ || seq - first_seq_ >= slots_.size()) return nullptr;
  return &slots_[seq - first_seq_];
}

void ClientConn::complete_reply(uint64_t seq, std::string_view bytes) {
  ReplySlot* s = slot(seq);
  if (s == nullptr || s->ready) return;
  if (seq == first_seq_) {
    // The oldest reply (the usual case: replies come back in order): straight to the output.
    out_.append(bytes);
    queued_bytes_ -= s->counted;
    slots_.pop_front();
    ++first_seq_;
    promote_ready(true);
    return;
  }
  s->data.assign(bytes);
  s->ready = true;
  count_slot(*s);
  promote_ready();
}

void ClientConn::complete_part(uint64_t seq, size_t index, std::string_view element) {
  ReplySlot* s = slot(seq);
  if (s == nullptr || s->ready || index >= s->parts.size()) return;
  s->parts[index].assign(element);
  if (--s->parts_missing > 0) return;
  protocol::ReplyWriter(&s->data, client_.resp_version).array_header(s->parts.size());
  for (const std::string& p : s->parts) s->data.append(p);
  s->parts.clear();
  s->ready = true;
  count_slot(*s);
  promote_ready();
}

void ClientConn::fail_reply(uint64_t seq, std::string_view error_line) {
  ReplySlot* s = slot(seq);
  if (s == nullptr || s->ready) return;
  s->data.assign(error_line);
  s->parts.clear();
  s->parts_missing = 0;
  s->ready = true;
  count_slot(*s);
  promote_ready();
}

void ClientConn::append_raw(std::string_view bytes) {
  reply_target()->append(bytes);
  if (slots_.empty()) mark_dirty();
  update_flow();
}

void ClientConn::promote_ready(bool moved) {
  while (!slots_.empty() && slots_.front().ready) {
    out_.append(slots_.front().data);
    queued_bytes_ -= slots_.front().counted;
    slots_.pop_front();
    ++first_seq_;
    moved = true;
  }
  if (moved) mark_dirty();
  if (closed_) return;
  update_flow();
  maybe_finish_draining();
}

void ClientConn::update_flow() {
  if (closed_) return;
  if (kind_ == ClientStateKind::kHeld && slots_.empty()) {
    set_state(ClientStateKind::kReading);  // the held slow command runs now
    if (!in_consume_) consume(carry_, true);
    if (closed_) return;
  }
  const ClientLimits& o = ctx_->limits;
  size_t pending = pending_output() + queued_bytes_;
  if (!slots_.empty()) pending += slots_.back().data.size() - slots_.back().counted;
  if (pending > o.output_buffer_bytes_max) {
    STRATA_LOG_WARN("closing client id=%lu: output buffer limit (%lu bytes) exceeded",
                    static_cast<unsigned long>(client_.id),
                    static_cast<unsigned long>(o.output_buffer_bytes_max));
    bump(ctx_->stats->output_limit_disconnects);
    close();
    return;
  }
  if (kind_ == ClientStateKind::kReading &&
      (pending > o.output_pause_bytes || slots_.size() > o.pending_replies_max)) {
    set_state(ClientStateKind::kPaused);
  } else if (kind_ == ClientStateKind::kPaused && pending <= o.output_pause_bytes / 2 &&
             slots_.size() <= o.pending_replies_max / 2) {
    set_state(ClientStateKind::kReading);
    if (!carry_.empty() && !in_consume_) consume(carry_, true);
  }
}

void ClientConn::on_output_drained() {
  update_flow();
  maybe_finish_draining();
}

void ClientConn::maybe_finish_draining() {
  if (kind_ == ClientStateKind::kDraining && !closed_ && slots_.empty() && out_.empty() &&
      !send_inflight_) {
    close();
  } else if (kind_ == ClientStateKind::kDraining && !out_.empty()) {
    mark_dirty();
  }
}

void ClientConn::upstream_lost(std::string_view error_line) {
  if (closed_) return;
  pinned_ = nullptr;
  if (!error_line.empty()) append_raw(error_line);
  set_state(ClientStateKind::kDraining);
  maybe_finish_draining();
}

void ClientConn::on_tick(int64_t now_ms) {
  const ClientLimits& o = ctx_->limits;
  if (pending_output() > 0 && now_ms - last_drain_ms_ > static_cast<int64_t>(o.output_stall_ms)) {
    STRATA_LOG_WARN("closing client id=%lu: output not drained for %u ms",
                    static_cast<unsigned long>(client_.id), o.output_stall_ms);
    bump(ctx_->stats->output_limit_disconnects);
    close();
    return;
  }
  if (o.idle_timeout_s > 0 && pinned_ == nullptr && slots_.empty() &&
      now_ms - last_active_ms_ > static_cast<int64_t>(o.idle_timeout_s) * 1000) {
    bump(ctx_->stats->idle_disconnects);
    close();
  }
}

void ClientConn::on_closed() {
  ClientRegistry::instance().remove(client_.id);
  leave_tracking();
  ctx_->stats->connected_clients.fetch_sub(1, std::memory_order_relaxed);
  if (pinned_ != nullptr) {
    pinned_->detach_client();
    pinned_->close();
    pinned_ = nullptr;
  }
  slots_.clear();
  queued_bytes_ = 0;
  carry_.clear();
}

}  // namespace strata::proxy
