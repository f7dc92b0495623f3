#include "cache/ghost_queue.h"

#include <utility>

namespace strata::cache {

uint64_t GhostQueue::find(uint64_t hash) const {
  if (index_.empty()) return kNotFound;
  uint64_t mask = index_.size() - 1;
  uint64_t ring_mask = ring_.size() - 1;
  uint32_t tag = tag_of(hash);
  for (uint64_t i = tag & mask;; i = (i + 1) & mask) {
    const IndexSlot& s = index_[i];
    if (s.pos == kEmpty) return kNotFound;
    if (s.tag == tag && in_window(s.pos) && ring_[s.pos & ring_mask].hash == hash) return i;
  }
}

// Takes the first free or stale slot on the probe path: a stale slot is still a member of its
// cluster, so overwriting it keeps every other key's probe path intact.
void GhostQueue::index_insert(uint32_t tag, uint32_t pos) {
  uint64_t mask = index_.size() - 1;
  uint64_t i = tag & mask;
  while (index_[i].pos != kEmpty && in_window(index_[i].pos)) i = (i + 1) & mask;
  if (index_[i].pos == kEmpty) ++occupied_;
  index_[i] = {tag, pos};
}

// Backward-shift deletion keeps linear probing free of tombstones.
void GhostQueue::index_erase_slot(uint64_t slot) {
  uint64_t mask = index_.size() - 1;
  uint64_t i = slot;
  for (uint64_t j = (i + 1) & mask; index_[j].pos != kEmpty; j = (j + 1) & mask) {
    uint64_t home = index_[j].tag & mask;
    // Move j back into the hole at i unless its home lies cyclically in (i, j].
    bool home_between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_between) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i].pos = kEmpty;
  --occupied_;
}

// Reclaims stale slots by walking the index a few slots at a time (sequential, cache-friendly).
void GhostQueue::sweep(int slots) {
  uint64_t mask = index_.size() - 1;
  for (int k = 0; k < slots; ++k) {
    uint64_t i = sweep_cursor_ & mask;
    const IndexSlot& s = index_[i];
    if (s.pos != kEmpty && !in_window(s.pos)) {
      index_erase_slot(i);  // another entry may shift into i: look at it next time
    } else {
      sweep_cursor_ = i + 1;
    }
  }
}

void GhostQueue::drop_head_holes() {
  uint64_t mask = ring_.size() - 1;
  while (head_ != tail_ && ring_[head_ & mask].hash == 0) ++head_;
}

// Compacts the live entries into a ring of `ring_capacity` (a power of two) and re-indexes.
// Amortised O(1): it runs when the capacity doubles, when the ring is full (then at least half
// of it is holes, since the ring stays at least twice the live count), or when stale slots fill
// a quarter of the index. A ring kept mostly live would compact constantly: removals leave holes.
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
  index_.assign(ring_capacity, IndexSlot{0, kEmpty});
  head_ = 0;
  tail_ = n;
  sweep_cursor_ = 0;
  occupied_ = 0;
  for (uint64_t p = 0; p < n; ++p) index_insert(tag_of(ring_[p].hash), static_cast<uint32_t>(p));
}

// Ensures the ring has a free position at tail_ that is usable as an index position, with the
// ring at least twice the live count (so at most half the index is live).
void GhostQueue::make_room() {
  for (;;) {
    if (ring_.empty()) rebuild(kRingInitial);
    if ((live_ + 1) * 2 > ring_.size()) rebuild(ring_.size() * 2);
    if (tail_ - head_ == ring_.size()) {
      drop_head_holes();
      if (tail_ - head_ == ring_.size()) rebuild(ring_.size());
    }
    // Stale slots the sweep has not reached yet: at least a quarter of the index is reclaimed.
    if (occupied_ * 4 > index_.size() * 3) rebuild(ring_.size());
    if (static_cast<uint32_t>(tail_) != kEmpty) return;
    ring_[tail_ & (ring_.size() - 1)] = {0, 0};  // this position cannot be indexed: a hole
    ++tail_;
  }
}

// Moves the pending entries into the ring and the index, oldest first.
void GhostQueue::flush_pending() {
  for (int k = 0; k < pending_count_; ++k) {
    const Pending& p = pending_[k];
    if (p.hash == 0) continue;
    make_room();
    ring_[tail_ & (ring_.size() - 1)] = {p.hash, p.size};
    index_insert(tag_of(p.hash), static_cast<uint32_t>(tail_));
    ++tail_;
  }
  pending_count_ = 0;
}

void GhostQueue::append(uint64_t hash, uint64_t size) {
  if (pending_count_ == kPendingMax) flush_pending();
  pending_[pending_count_++] = {hash, size};
  if (!index_.empty()) prefetch(&index_[tag_of(hash) & (index_.size() - 1)]);
  ++live_;
  bytes_ += size;
  while (bytes_ > budget_) pop_oldest();
}

void GhostQueue::push(uint64_t hash, uint64_t size) {
  hash = normalize(hash);
  remove(hash);
  if (size > budget_) return;  // could never be kept; also covers a zero budget
  append(hash, size);
}

void GhostQueue::push_absent(uint64_t hash, uint64_t size) {
  hash = normalize(hash);
  if (size > budget_) return;
  append(hash, size);
}

bool GhostQueue::contains(uint64_t hash) const {
  hash = normalize(hash);
  for (int k = 0; k < pending_count_; ++k) {
    if (pending_[k].hash == hash) return true;
  }
  return find(hash) != kNotFound;
}

bool GhostQueue::remove(uint64_t hash) {
  hash = normalize(hash);
  for (int k = 0; k < pending_count_; ++k) {
    Pending& p = pending_[k];
    if (p.hash != hash) continue;
    p.hash = 0;
    bytes_ -= p.size;
    --live_;
    return true;
  }
  uint64_t slot = find(hash);
  if (slot == kNotFound) return false;
  Entry& e = ring_[index_[slot].pos & (ring_.size() - 1)];
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
  if (head_ == tail_) {
    // Everything live is still pending: drop the oldest pending entry.
    for (int k = 0; k < pending_count_; ++k) {
      Pending& p = pending_[k];
      if (p.hash == 0) continue;
      if (size != nullptr) *size = p.size;
      bytes_ -= p.size;
      --live_;
      p.hash = 0;
      return true;
    }
  }
  Entry& e = ring_[head_ & (ring_.size() - 1)];
  if (size != nullptr) *size = e.size;
  bytes_ -= e.size;
  --live_;
  e.hash = 0;
  ++head_;  // its index slot is now stale
  sweep(kSweepPerDrop);
  return true;
}

void GhostQueue::set_budget(uint64_t budget) {
  budget_ = budget;
  while (bytes_ > budget_) pop_oldest();
}

}  // namespace strata::cache
