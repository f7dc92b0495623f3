#include "cache/lirs_policy.h"

#include <algorithm>

namespace strata::cache {

LirsPolicy::LirsPolicy(const PolicyParams& params)
    : capacity_(params.capacity),
      hir_budget_(std::max<uint64_t>(1, static_cast<uint64_t>(params.capacity * kHirRatio))),
      lir_budget_(params.capacity > hir_budget_ ? params.capacity - hir_budget_ : 0) {}

uint32_t LirsPolicy::alloc_entry() {
  if (!free_entries_.empty()) {
    uint32_t e = free_entries_.back();
    free_entries_.pop_back();
    return e;
  }
  entries_.emplace_back();
  s_links_.emplace_back();
  q_links_.emplace_back();
  return static_cast<uint32_t>(entries_.size() - 1);
}

void LirsPolicy::free_entry(uint32_t e) {
  entries_[e] = Entry{};
  free_entries_.push_back(e);
}

void LirsPolicy::push_s_top(uint32_t e) {
  entries_[e].in_s = true;
  s_bytes_ += entries_[e].size;
  s_.push_front(s_links_, e);
}

void LirsPolicy::remove_from_s(uint32_t e) {
  entries_[e].in_s = false;
  s_bytes_ -= entries_[e].size;
  s_.remove(s_links_, e);
}

void LirsPolicy::push_q_end(uint32_t e) {
  entries_[e].in_q = true;
  hir_bytes_ += entries_[e].size;
  q_.push_front(q_links_, e);
}

void LirsPolicy::remove_from_q(uint32_t e) {
  entries_[e].in_q = false;
  hir_bytes_ -= entries_[e].size;
  q_.remove(q_links_, e);
}

// Removes HIR entries from the bottom of S until an LIR block is there. Resident ones stay in Q;
// non-resident ones are forgotten.
void LirsPolicy::prune() {
  while (!s_.empty()) {
    uint32_t e = s_.tail();
    Entry& en = entries_[e];
    if (en.lir) return;
    remove_from_s(e);
    if (en.slot == kNoSlot) {
      nh_.remove(q_links_, e);
      nonresident_.erase(en.hash);
      free_entry(e);
    }
  }
}

// The LIR block at the bottom of S becomes a resident HIR block at the end of Q.
void LirsPolicy::demote_bottom_lir() {
  uint32_t b = s_.tail();
  Entry& bn = entries_[b];
  remove_from_s(b);
  bn.lir = false;
  lir_bytes_ -= bn.size;
  push_q_end(b);
  prune();
}

// Gives `e` (already on top of S, out of Q) LIR status, demoting bottom LIR blocks to make room.
void LirsPolicy::make_lir(uint32_t e) {
  Entry& en = entries_[e];
  en.lir = true;
  while (lir_bytes_ + en.size > lir_budget_ && s_.tail() != e) demote_bottom_lir();
  lir_bytes_ += en.size;
}

// Keeps S within kStackBoundRatio x capacity by dropping the oldest non-resident entries.
void LirsPolicy::bound_stack() {
  while (s_bytes_ > capacity_ * kStackBoundRatio && !nh_.empty()) {
    uint32_t e = nh_.tail();
    nh_.remove(q_links_, e);
    nonresident_.erase(entries_[e].hash);
    remove_from_s(e);
    free_entry(e);
  }
  prune();
}

void LirsPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  ensure_slot(entry_of_slot_, id, kNil);
  STRATA_POLICY_CHECK(entry_of_slot_[id] == kNil || entries_[entry_of_slot_[id]].slot != id);
  uint32_t e = nonresident_.find(key_hash);
  if (e != HashIndex::kAbsent) {
    // A non-resident HIR entry still in S: its reuse distance beats S's bottom LIR block.
    nonresident_.erase(key_hash);
    nh_.remove(q_links_, e);
    entries_[e].in_q = false;
    remove_from_s(e);
    entries_[e].size = size;
    entries_[e].slot = id;
    entry_of_slot_[id] = e;
    push_s_top(e);
    make_lir(e);
  } else {
    e = alloc_entry();
    Entry& en = entries_[e];
    en.hash = key_hash;
    en.size = size;
    en.slot = id;
    entry_of_slot_[id] = e;
    push_s_top(e);
    if (lir_bytes_ + size <= lir_budget_) {
      en.lir = true;  // the LIR set is not full yet
      lir_bytes_ += size;
    } else {
      push_q_end(e);
    }
  }
  bound_stack();
}

void LirsPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < entry_of_slot_.size() && entry_of_slot_[id] != kNil);
  uint32_t e = entry_of_slot_[id];
  Entry& en = entries_[e];
  if (en.lir) {
    bool was_bottom = s_.tail() == e;
    s_.move_to_front(s_links_, e);
    if (was_bottom) prune();
  } else if (en.in_s) {
    remove_from_q(e);
    s_.move_to_front(s_links_, e);
    make_lir(e);
    prune();
  } else {
    push_s_top(e);
    q_.move_to_front(q_links_, e);
    bound_stack();
  }
}

void LirsPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < entry_of_slot_.size() && entry_of_slot_[id] != kNil);
  Entry& en = entries_[entry_of_slot_[id]];
  if (en.in_s) s_bytes_ = s_bytes_ - old_size + new_size;
  if (en.lir) lir_bytes_ = lir_bytes_ - old_size + new_size;
  if (en.in_q) hir_bytes_ = hir_bytes_ - old_size + new_size;
  en.size = new_size;
}

void LirsPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < entry_of_slot_.size() && entry_of_slot_[id] != kNil);
  uint32_t e = entry_of_slot_[id];
  entry_of_slot_[id] = kNil;
  Entry& en = entries_[e];
  if (en.in_q) remove_from_q(e);
  if (en.lir) lir_bytes_ -= en.size;
  if (en.in_s) remove_from_s(e);
  free_entry(e);
  prune();
}

SlotId LirsPolicy::evict() {
  uint32_t e;
  if (!q_.empty()) {
    // The front of Q: the least recent resident HIR block.
    e = q_.tail();
    remove_from_q(e);
  } else if (!s_.empty()) {
    // No resident HIR block (sizes or erases emptied Q): the least recent LIR block goes.
    e = s_.tail();
    Entry& en = entries_[e];
    en.lir = false;
    lir_bytes_ -= en.size;
    remove_from_s(e);
  } else {
    return kNoSlot;
  }
  Entry& en = entries_[e];
  SlotId slot = en.slot;
  entry_of_slot_[slot] = kNil;
  if (en.in_s) {
    en.slot = kNoSlot;
    en.in_q = true;  // now in NH
    nh_.push_front(q_links_, e);
    nonresident_.put(en.hash, e);
  } else {
    free_entry(e);
  }
  prune();
  return slot;
}

size_t LirsPolicy::metadata_bytes_per_entry() const {
  // Entry + links + slot map, and up to one non-resident entry (with its index slot) per
  // resident one at the 2x stack bound.
  size_t entry = sizeof(Entry) + 2 * sizeof(Links);
  return entry + sizeof(uint32_t) + entry + 2 * 16;
}

}  // namespace strata::cache
