// A pipelined upstream connection, shared (requests of many clients and of strata itself) or a
// lane (slow and control commands): replies matched to requests in order (the ReplyScanner
// frames them).
#include <algorithm>

#include "cache/store.h"
#include "protocol/reply_shape.h"
#include "protocol/reply_writer.h"
#include "proxy/loop/log.h"
#include "proxy/redis/own_reports.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {

UpstreamConn::UpstreamConn(Loop* loop, int fd, Upstream* owner, uint32_t index, bool lane)
    : Endpoint(loop, fd), owner_(owner), index_(index), lane_(lane) {
  can_send_ = false;
}

void UpstreamConn::on_connected(int res) {
  if (res < 0) {
    close_reason_ = strerror(-res);
    close();
    return;
  }
  connected_ = true;
  can_send_ = true;
  last_recv_ms_ = loop_->now_ms();
  loop_->driver().start_recv(token_, fd_);
  mark_dirty();
  owner_->conn_connected(this);
}

void UpstreamConn::enable(int64_t tracking_id) {
  if (tracking_id != 0) {
    const std::string id = std::to_string(tracking_id);
    std::string_view cmd[] = {"CLIENT", "TRACKING", "ON", "REDIRECT", id, "NOLOOP"};
    send_command(cmd);
    pending_.push_back(Pending{Pending::kTracking, Token{}, 0, nullptr, nullptr, {}});
  }
  ready_ = true;
  owner_->conn_ready(this);
}

void UpstreamConn::use_protocol(int resp_version) {
  if (resp_version == resp_version_) return;
  const std::string v = std::to_string(resp_version);
  std::string_view cmd[] = {"HELLO", v};
  send_command(cmd);
  pending_.push_back(Pending{Pending::kIgnore, Token{}, 0, nullptr, nullptr, {}});
  resp_version_ = resp_version;
}

void UpstreamConn::send_command(std::span<const std::string_view> args) {
  // The reply timeout runs from the oldest request still waiting: an idle connection's last
  // receive may be long past when a new request goes out.
  if (pending_.empty()) last_recv_ms_ = loop_->now_ms();
  encode_command(&out_, args);
  mark_dirty();
}

void UpstreamConn::send_encoded(std::string_view request) {
  if (pending_.empty()) last_recv_ms_ = loop_->now_ms();
  out_.append(request);
  mark_dirty();
}

void UpstreamConn::send_marker(uint64_t marker) {
  encode_marker(&out_, marker);
  mark_dirty();
}

void UpstreamConn::on_recv(const char* data, long n) {
  if (n <= 0) {
    close_reason_ = n == 0 ? "connection closed" : strerror(static_cast<int>(-n));
    close();
    return;
  }
  last_recv_ms_ = loop_->now_ms();
  const bool ok = stream_.feed(std::string_view(data, static_cast<size_t>(n)),
                               [this](std::string_view raw, const protocol::ReplyScanner& sc) {
                                 handle_reply(raw, sc);
                                 return !closed_;
                               });
  if (!ok) {
    close_reason_ = "protocol error from upstream";
    close();
  }
}

UpstreamConn::Pending UpstreamConn::pop_pending() {
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (lane_) owner_->lane_done(this, p);
  return p;
}

void UpstreamConn::handle_reply(std::string_view raw, const protocol::ReplyScanner& scanner) {
  if (pending_.empty()) return;  // push data or a reply nobody waits for
  Pending p = pop_pending();
  const bool is_error = scanner.kind() == protocol::ReplyKind::kError;
  switch (p.kind) {
    case Pending::kRelay: {
      const bool write_ok = !is_error && scanner.kind() != protocol::ReplyKind::kNull;
      if (p.effect) owner_->apply_effect(*p.effect, write_ok, false);
      if (!pending_.empty() && pending_.front().kind == Pending::kVerify) {
        pending_.front().write_ok = write_ok;
      }
      ReplySink* c = sink_of(*loop_, p.client);
      if (c == nullptr) break;
      if (p.resp3_shape == nullptr || protocol::resp3_same(raw, p.resp3_shape)) {
        c->complete_reply(p.seq, raw);
        break;
      }
      converted_.clear();
      if (protocol::resp2_to_resp3(raw, p.resp3_shape, &converted_)) {
        c->complete_reply(p.seq, converted_);
      } else {
        // The scanner framed it, so Redis sent something the shape does not fit: never seen,
        // but the client gets Redis's bytes rather than nothing.
        bump(owner_->context().stats->upstream_errors);
        c->complete_reply(p.seq, raw);
      }
      break;
    }
    case Pending::kFillValue: {
      Flight& f = *p.flight;
      f.value_reply.assign(raw);
      f.value_kind = scanner.kind();
      if (f.value_kind == protocol::ReplyKind::kBulk) f.value.assign(scanner.payload());
      // The PTTL reply comes next; the flight moves to its request.
      if (!pending_.empty() && pending_.front().kind == Pending::kFillTtl) {
        pending_.front().flight = std::move(p.flight);
      }
      break;
    }
    case Pending::kIgnore:
    case Pending::kMarker:  // published: each tracking connection reads it
      break;
    case Pending::kVerify: {
      // A value Redis no longer holds (another client's write ran after this one) or an
      // unexpected reply: that key is dropped from L1, not installed.
      WriteEffect& e = *p.effect;
      protocol::BulkArrayReader held(raw);
      for (size_t i = 0; i < e.keys.size(); ++i) {
        std::string_view value;
        bool null = false;
        if (!held.next(&value, &null) || null || value != e.values[i]) e.leases[i] = 0;
      }
      owner_->apply_effect(e, p.write_ok, false);
      break;
    }
    case Pending::kCallback: {
      RedisReply r;
      r.ok = true;
      r.kind = scanner.kind();
      r.raw = raw;
      if (r.kind == protocol::ReplyKind::kInteger) {
        r.integer = scanner.integer();
      } else if (r.kind == protocol::ReplyKind::kBulk || r.kind == protocol::ReplyKind::kSimple ||
                 r.kind == protocol::ReplyKind::kError) {
        r.payload = scanner.payload();
      }
      if (p.callback) p.callback(r);
      break;
    }
    case Pending::kTracking:
      if (is_error) {
        STRATA_LOG_WARN(
            "upstream %s refused CLIENT TRACKING (%.*s): L1 will not see writes "
            "other clients make to it",
            owner_->name().c_str(), static_cast<int>(raw.size() > 2 ? raw.size() - 2 : 0),
            raw.data());
      }
      break;
    case Pending::kFillTtl: {
      int64_t pttl = scanner.kind() == protocol::ReplyKind::kInteger ? scanner.integer() : -3;
      owner_->finish_flight(std::move(p.flight), pttl, true, {});
      break;
    }
  }
}

void UpstreamConn::fail_all(std::string_view err) {
  while (!pending_.empty()) {
    Pending p = pop_pending();
    if (p.effect) owner_->apply_effect(*p.effect, false, /*maybe_applied=*/true);
    if (p.kind == Pending::kMarker) {
      OwnReports::instance().dropped(p.seq);
    } else if (p.kind == Pending::kCallback) {
      RedisReply r;
      r.error = err;
      if (p.callback) p.callback(r);
    } else if (p.flight) {
      owner_->finish_flight(std::move(p.flight), -3, false, err);
    } else if (p.kind == Pending::kRelay) {
      if (ReplySink* c = sink_of(*loop_, p.client)) c->fail_reply(p.seq, err);
    }
  }
}

void UpstreamConn::close_for(std::string reason) {
  close_reason_ = std::move(reason);
  close();
}

void UpstreamConn::on_closed() {
  owner_->conn_lost(this, close_reason_);
  ready_ = false;
  std::string err = error_line("ERR upstream " + owner_->name() + " connection lost");
  fail_all(err);
}

void UpstreamConn::on_tick(int64_t now_ms) {
  // Lanes carry what may run long: no reply timeout (the kernel's keepalive still notices a
  // peer that is gone).
  if (lane_ || !ready_ || pending_.empty()) return;
  const UpstreamConfig& o = owner_->context().config;
  if (now_ms - last_recv_ms_ > static_cast<int64_t>(o.reply_timeout_ms)) {
    owner_->reply_overdue(this, now_ms);
  }
}

}  // namespace strata::proxy
