// A compact open-addressing map from a 64-bit key hash to a 32-bit index, for policies that
// must find metadata of keys that are no longer resident (LIRS's non-resident entries).
// Linear probing at most half full, backward-shift deletion (no tombstones); grows by doubling.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace strata::cache {

class HashIndex {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  uint32_t find(uint64_t hash) const {
    if (slots_.empty()) return kAbsent;
    hash = normalize(hash);
    for (uint64_t i = home(hash);; i = (i + 1) & mask_) {
      if (slots_[i].hash == hash) return slots_[i].value;
      if (slots_[i].hash == 0) return kAbsent;
    }
  }

  // Inserts or overwrites.
  void put(uint64_t hash, uint32_t value) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    hash = normalize(hash);
    uint64_t i = home(hash);
    while (slots_[i].hash != 0 && slots_[i].hash != hash) i = (i + 1) & mask_;
    if (slots_[i].hash == 0) ++count_;
    slots_[i] = {hash, value};
  }

  bool erase(uint64_t hash) {
    if (slots_.empty()) return false;
    hash = normalize(hash);
    uint64_t i = home(hash);
    while (slots_[i].hash != hash) {
      if (slots_[i].hash == 0) return false;
      i = (i + 1) & mask_;
    }
    for (uint64_t j = (i + 1) & mask_; slots_[j].hash != 0; j = (j + 1) & mask_) {
      uint64_t h = home(slots_[j].hash);
      bool home_between = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
      if (!home_between) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].hash = 0;
    --count_;
    return true;
  }

  size_t size() const { return count_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t hash;  // 0: empty (a real 0 is stored as 1)
    uint32_t value;
  };
  static constexpr size_t kInitialSlots = 64;

  static uint64_t normalize(uint64_t hash) { return hash == 0 ? 1 : hash; }
  uint64_t home(uint64_t hash) const {
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return hash & mask_;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? kInitialSlots : old.size() * 2, Slot{0, 0});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      uint64_t i = home(s.hash);
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace strata::cache
