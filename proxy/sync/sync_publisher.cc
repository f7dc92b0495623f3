#include "proxy/sync/sync_publisher.h"

#include <chrono>

namespace strata::proxy {
namespace {

// The wall clock in us: the send time receivers measure their link's delay against.
uint64_t wall_us() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

protocol::SyncOp wire_op(ChangeOp op) {
  switch (op) {
    case ChangeOp::kSet: return protocol::SyncOp::kSet;
    case ChangeOp::kDelete: return protocol::SyncOp::kDelete;
    case ChangeOp::kFlushAll: return protocol::SyncOp::kFlushAll;
    default: return protocol::SyncOp::kInvalidate;
  }
}

}  // namespace

SyncPublisher::SyncPublisher(NatsBus* bus, uint16_t sender, ChangeSeam* seam,
                             const SyncPolicies* policies)
    : bus_(bus),
      sender_(sender),
      seam_(seam),
      policies_(policies),
      batches_(bus->partitions()),
      seq_(bus->partitions(), 0) {
  encoders_.reserve(bus->partitions());
  for (std::string& b : batches_) encoders_.emplace_back(&b, bus->send_limits());
}

SyncPublisher::~SyncPublisher() { seam_->unsubscribe(this); }

void SyncPublisher::on_change(const ChangeEvent& e) {
  // Peers hear of this instance's own changes only: what came from a peer, from Redis's
  // tracking (every instance tracks its own reads) or from L1's own expiry stays here.
  if (e.source == ChangeSource::kPeer || e.source == ChangeSource::kTracking ||
      e.source == ChangeSource::kStore) {
    return;
  }
  policies::SyncMode mode = policies::SyncMode::kInvalidate;
  if (e.op != ChangeOp::kFlushAll) {
    mode = policies_->sync_of(e.key);
    if (mode == policies::SyncMode::kOff) return;
  }
  protocol::SyncRecord r;
  r.op = wire_op(e.op);
  r.version = e.version;
  r.key = e.key;
  if (e.op == ChangeOp::kSet) {
    if (mode == policies::SyncMode::kUpdate) {
      r.value = e.value;
      if (e.expire_at_ms != 0) r.expire_at_ms = e.expire_at_ms;
    } else {
      r.op = protocol::SyncOp::kInvalidate;  // invalidate mode: the key, not its value
    }
  }
  add(e.op == ChangeOp::kFlushAll ? 0 : bus_->partition_of(e.key), r);
}

void SyncPublisher::add(uint32_t p, protocol::SyncRecord r) {
  protocol::SyncEncoder& enc = encoders_[p];
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!enc.open()) {
      protocol::SyncHeader h;
      h.origin = bus_->origin();
      h.epoch = bus_->epoch();
      h.sender = sender_;
      h.partition = static_cast<uint16_t>(p);
      h.seq = ++seq_[p];
      h.sent_at_us = wall_us();
      if (!enc.begin(h).ok()) return;  // cannot happen with our own limits
      dirty_.push_back(p);
    }
    switch (enc.add(r)) {
      case protocol::SyncAddStatus::kAdded:
        bump(bus_->counters().published_events);
        return;
      case protocol::SyncAddStatus::kFull:
        flush_partition(p);  // publish this one, start the next message
        continue;
      case protocol::SyncAddStatus::kRejected:
        if (r.value) {  // a value too big to send: peers read the next tier instead
          r.op = protocol::SyncOp::kInvalidate;
          r.value.reset();
          r.expire_at_ms.reset();
          continue;
        }
        bump(bus_->counters().publish_failures);  // a key no message can carry
        return;
    }
  }
}

void SyncPublisher::flush_partition(uint32_t p) {
  protocol::SyncEncoder& enc = encoders_[p];
  if (!enc.open()) return;
  if (enc.records() == 0) {
    // Nothing went in: the number it took is given back, so the sequence stays gapless.
    enc.abandon();
    --seq_[p];
  } else {
    bus_->publish_changes(enc.finish());
  }
  batches_[p].clear();
}

void SyncPublisher::flush() {
  for (uint32_t p : dirty_) flush_partition(p);
  dirty_.clear();
}

void SyncPublisher::on_tick(int64_t now_ms) {
  if (now_ms - last_heartbeat_ms_ < static_cast<int64_t>(bus_->heartbeat_ms())) return;
  last_heartbeat_ms_ = now_ms;
  flush();  // the heartbeat names the last numbers: what they name is on its way first
  protocol::SyncHeader h;
  h.origin = bus_->origin();
  h.epoch = bus_->epoch();
  h.sender = sender_;
  h.format = protocol::kSyncHeartbeatFormat;  // what format 2 peers read too
  // Taken after the flush above: every change this worker published before it is on its way
  // ahead of it, so a receiver that has it has heard everything up to this time.
  h.sent_at_us = wall_us();
  scratch_.clear();
  if (protocol::encode_heartbeat(&scratch_, h, seq_, bus_->send_limits()).ok()) {
    bus_->publish_heartbeat(scratch_);
  }
}

void SyncPublisher::deliver_peer_events() {
  peer_.clear();
  bus_->take_peer_events(sender_, &peer_);
  if (peer_.empty()) return;
  for (const PeerEvent& p : peer_) {
    if (forget_ != nullptr && !p.key.empty()) forget_(forget_ctx_, p.key);
    ChangeEvent e;
    e.key = p.key;
    e.value = p.value;
    e.version = p.version;
    e.expire_at_ms = p.expire_at_ms;
    e.op = p.op;
    e.source = ChangeSource::kPeer;
    e.origin = static_cast<uint32_t>(p.origin);
    seam_->publish(e);
  }
}

}  // namespace strata::proxy
