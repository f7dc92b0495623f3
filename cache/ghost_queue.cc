#include "cache/ghost_queue.h"

#include <utility>

namespace strata::cache {

uint64_t GhostQueue::find(uint64_t hash) const {
  if (index_.empty()) return kNotFound;
  uint64_t mask = index_.size() - 1;
  uint32_t tag = tag_of(hash);
  for (uint64_t i = tag & mask;; i = (i + 1) & mask) {
    const IndexSlot& s = index_[i];
    if (s.ring == kEmpty) return kNotFound;
    if (s.tag == tag && ring_[s.ring].hash == hash) return i;
  }
}

void GhostQueue::index_insert(uint32_t tag, uint32_t ring) {
  uint64_t mask = index_.size() - 1;
  uint64_t i = tag & mask;
  while (index_[i].ring != kEmpty) i = (i + 1) & mask;
  index_[i] = {tag, ring};
}

// Backward-shift deletion keeps linear probing free of tombstones.
void GhostQueue::index_erase_slot(uint64_t slot) {
  uint64_t mask = index_.size() - 1;
  uint64_t i = slot;
  for (uint64_t j = (i + 1) & mask; index_[j].ring != kEmpty; j = (j + 1) & mask) {
    uint64_t home = index_[j].tag & mask;
    // Move j back into the hole at i unless its home lies cyclically in (i, j].
    bool home_between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_between) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i].ring = kEmpty;
}

void GhostQueue::drop_head_holes() {
  uint64_t mask = ring_.size() - 1;
  while (head_ != tail_ && ring_[head_ & mask].hash == 0) ++head_;
}

// Compacts the live entries into a ring of `ring_capacity` (a power of two) and re-indexes.
// Amortised O(1): it runs only when the ring is full, and then at least a quarter of it is
// holes being reclaimed, or the capacity doubles.
void GhostQueue::rebuild(size_t ring_capacity) {
  std::vector<Entry> ring(ring_capacity);
  uint64_t n = 0;
  if (!ring_.empty()) {
    uint64_t mask = ring_.size() - 1;
    for (uint64_t p = head_; p != tail_; ++p) {
      const Entry& e = ring_[p & mask];
      if (e.hash != 0) ring[n++] = e;
    }
  }
  ring_ = std::move(ring);
  index_.assign(ring_capacity * 2, IndexSlot{0, kEmpty});
  for (uint64_t p = 0; p < n; ++p) index_insert(tag_of(ring_[p].hash), static_cast<uint32_t>(p));
  head_ = 0;
  tail_ = n;
}

void GhostQueue::push(uint64_t hash, uint64_t size) {
  hash = normalize(hash);
  remove(hash);
  if (size > budget_) return;  // could never be kept; also covers a zero budget
  if (ring_.empty()) rebuild(kRingInitial);
  if (tail_ - head_ == ring_.size()) {
    drop_head_holes();
    if (tail_ - head_ == ring_.size()) {
      bool mostly_live = live_ * 4 > ring_.size() * 3;
      rebuild(mostly_live ? ring_.size() * 2 : ring_.size());
    }
  }
  uint32_t at = static_cast<uint32_t>(tail_ & (ring_.size() - 1));
  ring_[at] = {hash, size};
  index_insert(tag_of(hash), at);
  ++tail_;
  ++live_;
  bytes_ += size;
  while (bytes_ > budget_) pop_oldest();
}

bool GhostQueue::remove(uint64_t hash) {
  hash = normalize(hash);
  uint64_t slot = find(hash);
  if (slot == kNotFound) return false;
  Entry& e = ring_[index_[slot].ring];
  bytes_ -= e.size;
  --live_;
  e.hash = 0;
  index_erase_slot(slot);
  drop_head_holes();
  return true;
}

bool GhostQueue::pop_oldest(uint64_t* size) {
  if (live_ == 0) return false;
  drop_head_holes();
  Entry& e = ring_[head_ & (ring_.size() - 1)];
  if (size != nullptr) *size = e.size;
  index_erase_slot(find(e.hash));
  bytes_ -= e.size;
  --live_;
  e.hash = 0;
  ++head_;
  return true;
}

void GhostQueue::set_budget(uint64_t budget) {
  budget_ = budget;
  while (bytes_ > budget_) pop_oldest();
}

}  // namespace strata::cache
