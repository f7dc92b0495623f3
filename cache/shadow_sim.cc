#include "cache/shadow_sim.h"

#include <bit>
#include <cstdlib>

namespace strata::cache {

namespace {
constexpr size_t kMapInitialCells = 64;
}  // namespace

HashSlotMap::HashSlotMap()
    : cells_(kMapInitialCells), shift_(64 - std::countr_zero(kMapInitialCells)) {}

SlotId HashSlotMap::find(uint64_t hash) const {
  const size_t mask = cells_.size() - 1;
  for (size_t i = home(hash);; i = (i + 1) & mask) {
    const Cell& c = cells_[i];
    if (c.slot == kNoSlot) return kNoSlot;
    if (c.hash == hash) return c.slot;
  }
}

void HashSlotMap::insert(uint64_t hash, SlotId slot) {
  if ((count_ + 1) * 2 > cells_.size()) grow();
  const size_t mask = cells_.size() - 1;
  size_t i = home(hash);
  while (cells_[i].slot != kNoSlot) i = (i + 1) & mask;
  cells_[i] = Cell{hash, slot};
  ++count_;
}

void HashSlotMap::erase(uint64_t hash) {
  const size_t mask = cells_.size() - 1;
  size_t i = home(hash);
  for (;; i = (i + 1) & mask) {
    if (cells_[i].slot == kNoSlot) return;
    if (cells_[i].hash == hash) break;
  }
  // Backward shift: pull later cells of the probe run into the hole when their home allows.
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (cells_[j].slot == kNoSlot) break;
    const size_t h = home(cells_[j].hash);
    // Movable iff its home is not in the (cyclic) interval (i, j].
    const bool home_in_gap = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!home_in_gap) {
      cells_[i] = cells_[j];
      i = j;
    }
  }
  cells_[i] = Cell{};
  --count_;
}

void HashSlotMap::grow() {
  std::vector<Cell> old(cells_.size() * 2);
  old.swap(cells_);
  --shift_;
  count_ = 0;
  for (const Cell& c : old) {
    if (c.slot != kNoSlot) insert(c.hash, c.slot);
  }
}

ShadowSim::ShadowSim(std::string_view policy, uint64_t capacity)
    : name_(policy), capacity_(capacity), policy_(make_policy(policy, PolicyParams{capacity})) {
  if (policy_) policy_->set_slot_info(this);
}

void ShadowSim::access(uint64_t hash, uint64_t size) {
  ++total_.accesses;
  ++window_.accesses;
  const SlotId slot = map_.find(hash);
  if (slot != kNoSlot) {
    policy_->on_hit(slot);
    if (size_of_[slot] != size) {
      policy_->on_resize(slot, size_of_[slot], size);
      used_ = used_ - size_of_[slot] + size;
      size_of_[slot] = size;
      evict_over_capacity();
    }
    return;
  }
  ++total_.misses;
  ++window_.misses;
  recent_fills_[hash % kRecentFills] = hash;
  insert(hash, size);
}

void ShadowSim::write(uint64_t hash, uint64_t size) {
  uint64_t& fill = recent_fills_[hash % kRecentFills];
  const bool follows_fill = fill == hash;
  if (follows_fill) fill = 0;
  const SlotId slot = map_.find(hash);
  if (slot == kNoSlot) {
    if (!follows_fill) insert(hash, size);
    return;
  }
  if (size > capacity_) {  // as the Store: a value too big for the cache drops the key
    policy_->on_erase(slot);
    release(slot);
    return;
  }
  policy_->on_resize(slot, size_of_[slot], size);
  used_ = used_ - size_of_[slot] + size;
  size_of_[slot] = size;
  evict_over_capacity();
}

void ShadowSim::erase(uint64_t hash) {
  const SlotId slot = map_.find(hash);
  if (slot == kNoSlot) return;
  policy_->on_erase(slot);
  release(slot);
}

void ShadowSim::decay_window() {
  window_.accesses /= 2;
  window_.misses /= 2;
}

void ShadowSim::insert(uint64_t hash, uint64_t size) {
  if (size > capacity_) return;
  SlotId slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<SlotId>(hash_of_.size());
    hash_of_.push_back(0);
    size_of_.push_back(0);
  }
  hash_of_[slot] = hash;
  size_of_[slot] = size;
  map_.insert(hash, slot);
  used_ += size;
  policy_->on_insert(slot, hash, size);
  evict_over_capacity();
}

void ShadowSim::release(SlotId slot) {
  map_.erase(hash_of_[slot]);
  used_ -= size_of_[slot];
  free_.push_back(slot);
}

void ShadowSim::evict_over_capacity() {
  while (used_ > capacity_) {
    const SlotId victim = policy_->evict();
    if (victim == kNoSlot) std::abort();  // the candidate lost track of its residents
    release(victim);
  }
}

}  // namespace strata::cache
