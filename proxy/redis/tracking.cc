#include "proxy/redis/tracking.h"

#include <charconv>
#include <cstring>

#include "cache/store.h"
#include "proxy/redis/own_reports.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kChannel = "__redis__:invalidate";

// Skips one aggregate header line ("*3\r\n"); npos if malformed.
size_t skip_header(std::string_view raw, size_t pos) {
  size_t eol = raw.find("\r\n", pos);
  return eol == std::string_view::npos ? eol : eol + 2;
}

}  // namespace

bool parse_pubsub(std::string_view raw, std::string_view* kind, std::string_view* channel,
                  size_t* third) {
  if (!raw.starts_with("*3\r\n")) return false;
  size_t pos = 4;
  protocol::ReplyScanner s;
  for (std::string_view* f : {kind, channel}) {
    s.reset();
    if (s.feed(raw.substr(pos)) != protocol::ScanStatus::kDone) return false;
    *f = s.payload();
    pos += s.consumed();
  }
  *third = pos;
  return true;
}

bool parse_invalidation(std::string_view raw, std::vector<std::string_view>* keys,
                        bool* flush_all) {
  keys->clear();
  *flush_all = false;
  std::string_view kind, channel;
  size_t pos = 0;
  if (!parse_pubsub(raw, &kind, &channel, &pos)) return false;
  if (kind != "message" || channel != kChannel) return false;
  protocol::ReplyScanner s;
  if (s.feed(raw.substr(pos)) != protocol::ScanStatus::kDone) return false;
  if (s.kind() == protocol::ReplyKind::kNull) {
    *flush_all = true;
    return true;
  }
  if (s.kind() != protocol::ReplyKind::kArray) return false;
  const uint64_t n = s.aggregate_count();
  pos = skip_header(raw, pos);
  for (uint64_t i = 0; i < n && pos < raw.size(); ++i) {
    s.reset();
    if (s.feed(raw.substr(pos)) != protocol::ScanStatus::kDone) return false;
    keys->push_back(s.payload());
    pos += s.consumed();
  }
  return true;
}

TrackingConn::TrackingConn(Loop* loop, int fd, Upstream* owner)
    : Endpoint(loop, fd), owner_(owner) {
  can_send_ = false;
}

void TrackingConn::on_connected(int res) {
  if (res < 0) {
    close();
    return;
  }
  can_send_ = true;
  loop_->driver().start_recv(token_, fd_);
  static constexpr char kClientId[] = "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n";
  out_.append(kClientId, sizeof kClientId - 1);
  std::string_view subscribe[] = {"SUBSCRIBE", kChannel, OwnReports::instance().channel()};
  encode_command(&out_, subscribe);
  mark_dirty();
}

void TrackingConn::on_recv(const char* data, long n) {
  if (n <= 0) {
    close();
    return;
  }
  const bool ok = stream_.feed(std::string_view(data, static_cast<size_t>(n)),
                               [this](std::string_view raw, const protocol::ReplyScanner& sc) {
                                 handle(raw, sc);
                                 return !closed_;
                               });
  if (!ok) close();
}

void TrackingConn::handle(std::string_view raw, const protocol::ReplyScanner& scanner) {
  if (!have_id_) {
    if (scanner.kind() != protocol::ReplyKind::kInteger) {
      close();
      return;
    }
    have_id_ = true;
    owner_->tracking_ready(scanner.integer());
    return;
  }
  if (own_marker(raw)) return;
  bool flush = false;
  if (!parse_invalidation(raw, &keys_, &flush)) return;  // a SUBSCRIBE confirmation
  const UpstreamContext& ctx = owner_->context();
  OwnReports& own = OwnReports::instance();
  const uint32_t worker = loop_->index();
  // L1 drops the key even for a report of strata's own write: a change Redis ran between the
  // write and its marker is reported alike, and L1 must not keep a value it may not have.
  if (flush) {
    ctx.store->flush_all();
    if (!own.own_flush(worker)) ctx.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kTracking);
    return;
  }
  for (std::string_view k : keys_) {
    ctx.store->invalidate(k);
    owner_->forget_flight(k);
    if (!own.own(worker, k)) ctx.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kTracking);
  }
}

bool TrackingConn::own_marker(std::string_view raw) {
  OwnReports& own = OwnReports::instance();
  std::string_view kind, channel;
  size_t pos = 0;
  if (!parse_pubsub(raw, &kind, &channel, &pos) || channel != own.channel()) return false;
  protocol::ReplyScanner s;
  if (s.feed(raw.substr(pos)) != protocol::ScanStatus::kDone) return true;
  if (kind == "subscribe") {
    marked_ = true;
    own.live(loop_->index(), true);
  } else if (kind == "message") {
    uint64_t marker = 0;
    const std::string_view id = s.payload();
    std::from_chars(id.data(), id.data() + id.size(), marker);
    own.passed(loop_->index(), marker);
  }
  return true;
}

void TrackingConn::on_closed() {
  if (marked_) OwnReports::instance().live(loop_->index(), false);
  owner_->tracking_lost(this);
}

}  // namespace strata::proxy
