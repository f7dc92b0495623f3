#include "cache/arc_policy.h"

#include <algorithm>

namespace strata::cache {

// The directory (T1+T2+B1+B2) never exceeds 2c; the ghost budgets are only a backstop.
ArcPolicy::ArcPolicy(const PolicyParams& params)
    : capacity_(params.capacity), b1_(params.capacity), b2_(params.capacity * 2) {}

void ArcPolicy::link_pending() {
  if (pending_ == kNil) return;
  Node& n = nodes_[pending_];
  if (n.list == List::kT1) {
    t1_.push_front(nodes_, pending_);
    t1_bytes_ += n.size;
  } else {
    t2_.push_front(nodes_, pending_);
    t2_bytes_ += n.size;
  }
  pending_ = kNil;
  ghost_replace_due_ = false;
}

void ArcPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  ensure_slot(nodes_, id);
  link_pending();
  Node& n = nodes_[id];
  STRATA_POLICY_CHECK(n.list == List::kNone);
  n.size = size;
  n.hash = key_hash;
  uint64_t b1 = b1_.bytes();
  uint64_t b2 = b2_.bytes();
  pending_from_b2_ = false;
  if (b1_.contains(key_hash)) {
    uint64_t delta = std::max<uint64_t>(b2 / std::max<uint64_t>(b1, 1), 1) * size;
    p_ = std::min(p_ + delta, capacity_);
    b1_.remove(key_hash);
    n.list = List::kT2;
    ghost_replace_due_ = true;
  } else if (b2_.contains(key_hash)) {
    uint64_t delta = std::max<uint64_t>(b1 / std::max<uint64_t>(b2, 1), 1) * size;
    p_ = p_ > delta ? p_ - delta : 0;
    b2_.remove(key_hash);
    n.list = List::kT2;
    pending_from_b2_ = true;
    ghost_replace_due_ = true;
  } else {
    n.list = List::kT1;
  }
  pending_ = id;
}

void ArcPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].list != List::kNone);
  link_pending();
  Node& n = nodes_[id];
  if (n.list == List::kT1) {
    t1_.remove(nodes_, id);
    t1_bytes_ -= n.size;
    n.list = List::kT2;
    t2_.push_front(nodes_, id);
    t2_bytes_ += n.size;
  } else {
    t2_.move_to_front(nodes_, id);
  }
}

void ArcPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].list != List::kNone);
  link_pending();
  Node& n = nodes_[id];
  uint64_t& bytes = n.list == List::kT1 ? t1_bytes_ : t2_bytes_;
  bytes = bytes - old_size + new_size;
  n.size = new_size;
}

void ArcPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].list != List::kNone);
  if (id == pending_) {
    nodes_[id].list = List::kNone;
    pending_ = kNil;
    ghost_replace_due_ = false;
    return;
  }
  take(id, false);
}

// Unlinks a resident object, remembering its hash in B1 or B2 if `to_ghost`.
SlotId ArcPolicy::take(SlotId id, bool to_ghost) {
  Node& n = nodes_[id];
  if (n.list == List::kT1) {
    t1_.remove(nodes_, id);
    t1_bytes_ -= n.size;
    if (to_ghost) b1_.push_absent(n.hash, n.size);
  } else {
    t2_.remove(nodes_, id);
    t2_bytes_ -= n.size;
    if (to_ghost) b2_.push_absent(n.hash, n.size);
  }
  n.list = List::kNone;
  return id;
}

// The paper's REPLACE: evict from T1 if it exceeds its target p, else from T2.
SlotId ArcPolicy::replace() {
  bool from_t1 = t1_bytes_ > 0 && (t1_bytes_ > p_ || (t1_bytes_ == p_ && pending_from_b2_));
  if (from_t1 && !t1_.empty()) return take(t1_.tail(), true);
  if (!t2_.empty()) return take(t2_.tail(), true);
  if (!t1_.empty()) return take(t1_.tail(), true);
  return kNoSlot;
}

// Case IV of the paper (a miss), with ARC's directory bounds: |T1|+|B1| <= c, total <= 2c.
SlotId ArcPolicy::evict_for_new() {
  uint64_t incoming = pending_ != kNil ? nodes_[pending_].size : 0;
  if (t1_bytes_ + b1_.bytes() + incoming > capacity_) {
    if (t1_bytes_ < capacity_) {
      b1_.pop_oldest();
      return replace();
    }
    return t1_.empty() ? kNoSlot : take(t1_.tail(), false);  // B1 is empty: T1 alone is full
  }
  if (t1_bytes_ + t2_bytes_ + b1_.bytes() + b2_.bytes() >= capacity_ * 2) b2_.pop_oldest();
  return replace();
}

SlotId ArcPolicy::evict() {
  SlotId victim;
  if (ghost_replace_due_) {
    ghost_replace_due_ = false;
    victim = replace();
  } else {
    victim = evict_for_new();
  }
  if (victim == kNoSlot && pending_ != kNil) {
    victim = pending_;  // nothing else is resident
    nodes_[victim].list = List::kNone;
    pending_ = kNil;
  }
  return victim;
}

size_t ArcPolicy::metadata_bytes_per_entry() const {
  // The node plus up to one ghost entry per resident object (ring entry + index slot, x2 slack).
  return sizeof(Node) + 2 * (16 + 8);
}

}  // namespace strata::cache
