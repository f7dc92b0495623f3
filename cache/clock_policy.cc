#include "cache/clock_policy.h"

namespace strata::cache {

void ClockPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  (void)key_hash;
  (void)size;
  ensure_slot(nodes_, id);
  Node& n = nodes_[id];
  STRATA_POLICY_CHECK(!n.resident);
  n.resident = true;
  n.referenced = false;
  link_pending();
  pending_ = id;
}

void ClockPolicy::link_pending() {
  if (pending_ == kNil) return;
  ring_.push_front(nodes_, pending_);
  pending_ = kNil;
}

void ClockPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  nodes_[id].referenced = true;
}

void ClockPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  (void)old_size;
  (void)new_size;
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
}

void ClockPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  nodes_[id].resident = false;
  if (id == pending_) {
    pending_ = kNil;
  } else {
    ring_.remove(nodes_, id);
  }
}

SlotId ClockPolicy::evict() {
  if (ring_.empty()) {
    SlotId id = pending_;
    if (id != kNil) nodes_[id].resident = false;
    pending_ = kNil;
    return id;  // kNoSlot (== kNil) when nothing is resident
  }
  // Terminates within one sweep: every pass clears the bit it skips.
  for (;;) {
    SlotId id = ring_.tail();
    Node& n = nodes_[id];
    if (!n.referenced) {
      n.resident = false;
      ring_.remove(nodes_, id);
      return id;
    }
    n.referenced = false;
    ring_.move_to_front(nodes_, id);
  }
}

}  // namespace strata::cache
