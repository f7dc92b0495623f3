#include "cache/sieve_policy.h"

namespace strata::cache {

void SievePolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  (void)key_hash;
  (void)size;
  ensure_slot(nodes_, id);
  Node& n = nodes_[id];
  STRATA_POLICY_CHECK(!n.resident);
  n.resident = true;
  n.visited = false;
  link_pending();
  pending_ = id;
}

void SievePolicy::link_pending() {
  if (pending_ == kNil) return;
  queue_.push_front(nodes_, pending_);
  pending_ = kNil;
}

void SievePolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  nodes_[id].visited = true;
}

void SievePolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  (void)old_size;
  (void)new_size;
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
}

void SievePolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  unlink(id);
}

// Removes `id`; a hand resting on it moves on toward the head.
void SievePolicy::unlink(SlotId id) {
  Node& n = nodes_[id];
  n.resident = false;
  if (id == pending_) {
    pending_ = kNil;
    return;
  }
  if (hand_ == id) hand_ = n.prev;
  queue_.remove(nodes_, id);
}

SlotId SievePolicy::evict() {
  if (queue_.empty()) {
    SlotId id = pending_;
    if (id != kNil) unlink(id);
    return id;  // kNoSlot (== kNil) when nothing is resident
  }
  uint32_t id = hand_ != kNil ? hand_ : queue_.tail();
  // Terminates within one full sweep: every object passed has its bit cleared.
  while (nodes_[id].visited) {
    nodes_[id].visited = false;
    id = nodes_[id].prev != kNil ? nodes_[id].prev : queue_.tail();
  }
  hand_ = id;
  unlink(id);
  return id;
}

}  // namespace strata::cache
