#include "cache/wtinylfu_policy.h"

#include <algorithm>

namespace strata::cache {

WTinyLfuPolicy::WTinyLfuPolicy(const PolicyParams& params)
    : capacity_(params.capacity),
      window_budget_(params.capacity - static_cast<uint64_t>(params.capacity * kMainRatio)),
      protected_budget_(static_cast<uint64_t>(static_cast<uint64_t>(params.capacity * kMainRatio) *
                                              kProtectedRatio)),
      sketch_(1) {}

SlotList& WTinyLfuPolicy::list_of(Segment s) {
  return s == Segment::kWindow ? window_ : s == Segment::kProbation ? probation_ : protected_;
}

uint64_t& WTinyLfuPolicy::bytes_of(Segment s) {
  return s == Segment::kWindow      ? window_bytes_
         : s == Segment::kProbation ? probation_bytes_
                                    : protected_bytes_;
}

// Unlinks `id` from its segment and links it at the MRU end of `to`.
void WTinyLfuPolicy::move(SlotId id, Segment to) {
  Node& n = nodes_[id];
  list_of(n.segment).remove(nodes_, id);
  bytes_of(n.segment) -= n.size;
  n.segment = to;
  list_of(to).push_front(nodes_, id);
  bytes_of(to) += n.size;
}

// Window overflow goes to probation; while the cache is full each such object must win a duel.
void WTinyLfuPolicy::drain_window() {
  uint64_t total = window_bytes_ + probation_bytes_ + protected_bytes_;
  while (window_bytes_ > window_budget_) {
    SlotId id = window_.tail();
    move(id, Segment::kProbation);
    if (total > capacity_) {
      nodes_[id].candidate = true;
      candidates_.push_back(id);
    }
  }
}

void WTinyLfuPolicy::drain_protected() {
  while (protected_bytes_ > protected_budget_) move(protected_.tail(), Segment::kProbation);
}

// Candidates that were not judged (the owner stopped evicting) are simply admitted.
void WTinyLfuPolicy::forget_candidates() {
  for (size_t i = candidates_head_; i < candidates_.size(); ++i) {
    nodes_[candidates_[i]].candidate = false;
  }
  candidates_.clear();
  candidates_head_ = 0;
}

void WTinyLfuPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  ensure_slot(nodes_, id);
  Node& n = nodes_[id];
  STRATA_POLICY_CHECK(n.segment == Segment::kNone);
  forget_candidates();
  n.size = size;
  n.hash = key_hash;
  n.candidate = false;
  n.segment = Segment::kWindow;
  window_.push_front(nodes_, id);
  window_bytes_ += size;
  ++resident_;
  if (resident_ == 1 && sketch_.width() == 1)
    sketch_.ensure_width(capacity_ / std::max<uint64_t>(size, 1));
  if (resident_ > sketch_.width()) sketch_.ensure_width(resident_);
  sketch_.increment(key_hash);
  drain_window();
}

void WTinyLfuPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].segment != Segment::kNone);
  Node& n = nodes_[id];
  sketch_.increment(n.hash);
  if (n.segment == Segment::kProbation) {
    n.candidate = false;
    move(id, Segment::kProtected);
    drain_protected();
  } else {
    list_of(n.segment).move_to_front(nodes_, id);
  }
}

void WTinyLfuPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].segment != Segment::kNone);
  Node& n = nodes_[id];
  bytes_of(n.segment) = bytes_of(n.segment) - old_size + new_size;
  n.size = new_size;
  if (n.segment == Segment::kWindow) drain_window();
  if (n.segment == Segment::kProtected) drain_protected();
}

void WTinyLfuPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].segment != Segment::kNone);
  take(id);
}

// Forgets `id` and returns it.
SlotId WTinyLfuPolicy::take(SlotId id) {
  Node& n = nodes_[id];
  list_of(n.segment).remove(nodes_, id);
  bytes_of(n.segment) -= n.size;
  n.segment = Segment::kNone;
  n.candidate = false;
  --resident_;
  return id;
}

SlotId WTinyLfuPolicy::next_candidate() {
  while (candidates_head_ < candidates_.size()) {
    SlotId id = candidates_[candidates_head_];
    if (nodes_[id].candidate) return id;
    ++candidates_head_;  // hit (promoted) or erased since it left the window
  }
  return kNoSlot;
}

SlotId WTinyLfuPolicy::evict() {
  SlotId candidate = next_candidate();
  if (candidate != kNoSlot) {
    SlotId victim = probation_.tail();
    // Caffeine's simulator: admit iff strictly more frequent; a tie keeps the incumbent.
    if (victim == candidate ||
        sketch_.frequency(nodes_[candidate].hash) <= sketch_.frequency(nodes_[victim].hash)) {
      ++candidates_head_;
      return take(candidate);
    }
    return take(victim);  // the candidate stays pending while the owner keeps evicting
  }
  if (!probation_.empty()) return take(probation_.tail());
  if (!protected_.empty()) return take(protected_.tail());
  if (!window_.empty()) return take(window_.tail());
  return kNoSlot;
}

size_t WTinyLfuPolicy::metadata_bytes_per_entry() const {
  return sizeof(Node) + sizeof(uint64_t);  // the node and about one sketch word
}

}  // namespace strata::cache
