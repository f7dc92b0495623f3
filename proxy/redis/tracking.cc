#include "proxy/redis/tracking.h"

#include <cstring>

#include "cache/store.h"
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

bool parse_invalidation(std::string_view raw, std::vector<std::string_view>* keys,
                        bool* flush_all) {
  keys->clear();
  *flush_all = false;
  if (!raw.starts_with("*3\r\n")) return false;
  size_t pos = 4;
  protocol::ReplyScanner s;
  std::string_view fields[2];
  for (auto& f : fields) {
    s.reset();
    if (s.feed(raw.substr(pos)) != protocol::ScanStatus::kDone) return false;
    f = s.payload();
    pos += s.consumed();
  }
  if (fields[0] != "message" || fields[1] != kChannel) return false;
  s.reset();
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
  static constexpr char kSetup[] =
      "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n"
      "*2\r\n$9\r\nSUBSCRIBE\r\n$20\r\n__redis__:invalidate\r\n";
  out_.append(kSetup, sizeof kSetup - 1);
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
  bool flush = false;
  if (!parse_invalidation(raw, &keys_, &flush)) return;  // the SUBSCRIBE confirmation
  const UpstreamContext& ctx = owner_->context();
  if (flush) {
    ctx.store->flush_all();
    ctx.seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kTracking);
    return;
  }
  for (std::string_view k : keys_) {
    ctx.store->invalidate(k);
    owner_->forget_flight(k);
    ctx.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kTracking);
  }
}

void TrackingConn::on_closed() { owner_->tracking_lost(this); }

}  // namespace strata::proxy
