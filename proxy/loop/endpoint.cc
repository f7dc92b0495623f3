#include "proxy/loop/endpoint.h"

#include <utility>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {
namespace {
// Buffers that grew past this for one big reply are released once drained.
constexpr size_t kKeepBufferBytes = 256 * 1024;
}  // namespace

void Endpoint::mark_dirty() {
  if (!dirty_ && !closed_) {
    dirty_ = true;
    loop_->mark_dirty(this);
  }
}

void Endpoint::flush() {
  dirty_ = false;
  if (closed_ || send_inflight_ || !can_send_ || out_.empty()) return;
  last_drain_ms_ = loop_->now_ms();  // the stall clock starts when bytes are handed over
  std::swap(out_, inflight_);
  out_.clear();
  inflight_off_ = 0;
  send_inflight_ = true;
  loop_->driver().send(token_, fd_, inflight_.data(), inflight_.size());
}

void Endpoint::on_sent(long res) {
  send_inflight_ = false;
  if (closed_) {
    loop_->release_later(this);
    return;
  }
  if (res < 0) {
    close();
    return;
  }
  last_drain_ms_ = loop_->now_ms();
  inflight_off_ += static_cast<size_t>(res);
  if (inflight_off_ < inflight_.size()) {
    send_inflight_ = true;
    loop_->driver().send(token_, fd_, inflight_.data() + inflight_off_,
                           inflight_.size() - inflight_off_);
    return;
  }
  inflight_.clear();
  inflight_off_ = 0;
  if (inflight_.capacity() > kKeepBufferBytes) std::string().swap(inflight_);
  if (!out_.empty()) mark_dirty();
  on_output_drained();
}

void Endpoint::close() {
  if (closed_) return;
  closed_ = true;
  release_socket();
  on_closed();
  if (!send_inflight_) loop_->release_later(this);
}

void Endpoint::release_socket() { loop_->driver().close(token_, fd_); }

}  // namespace strata::proxy
