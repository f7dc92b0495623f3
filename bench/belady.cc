#include "bench/belady.h"

#include <cstdlib>

namespace strata::bench {

void BeladyPolicy::on_insert(cache::SlotId id, uint64_t, uint64_t) {
  if (id >= pos_.size()) {
    pos_.resize(static_cast<size_t>(id) + 1, kNotInHeap);
    key_.resize(static_cast<size_t>(id) + 1, 0);
  }
  if (pos_[id] != kNotInHeap) std::abort();  // owner inserted a resident slot twice
  key_[id] = next_;
  heap_.push_back(id);
  pos_[id] = static_cast<uint32_t>(heap_.size() - 1);
  sift_up(pos_[id]);
}

void BeladyPolicy::on_hit(cache::SlotId id) { set_key(id, next_); }

void BeladyPolicy::set_key(cache::SlotId slot, uint32_t key) {
  const uint32_t old = key_[slot];
  key_[slot] = key;
  if (key > old) {
    sift_up(pos_[slot]);
  } else {
    sift_down(pos_[slot]);
  }
}

void BeladyPolicy::on_erase(cache::SlotId id) {
  const uint32_t pos = pos_[id];
  pos_[id] = kNotInHeap;
  const cache::SlotId last = heap_.back();
  heap_.pop_back();
  if (pos == heap_.size()) return;
  place(pos, last);
  sift_up(pos);
  sift_down(pos_[last]);
}

cache::SlotId BeladyPolicy::evict() {
  if (heap_.empty()) return cache::kNoSlot;
  const cache::SlotId victim = heap_[0];
  on_erase(victim);
  return victim;
}

void BeladyPolicy::place(uint32_t pos, cache::SlotId slot) {
  heap_[pos] = slot;
  pos_[slot] = pos;
}

void BeladyPolicy::sift_up(uint32_t pos) {
  const cache::SlotId slot = heap_[pos];
  while (pos > 0) {
    const uint32_t parent = (pos - 1) / 2;
    if (key_[heap_[parent]] >= key_[slot]) break;
    place(pos, heap_[parent]);
    pos = parent;
  }
  place(pos, slot);
}

void BeladyPolicy::sift_down(uint32_t pos) {
  const cache::SlotId slot = heap_[pos];
  const uint32_t n = static_cast<uint32_t>(heap_.size());
  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && key_[heap_[child + 1]] > key_[heap_[child]]) ++child;
    if (key_[heap_[child]] <= key_[slot]) break;
    place(pos, heap_[child]);
    pos = child;
  }
  place(pos, slot);
}

}  // namespace strata::bench
