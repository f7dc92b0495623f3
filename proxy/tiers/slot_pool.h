// Records in reused slots, named by (generation, slot) ids: taking one allocates nothing once
// the pool has grown to the peak in flight, and the id of a record given back finds nothing, so
// a late callback (a finished write's, a closed command's) is told apart from a live one. Id 0
// is never given out: callers may use it for "none". One worker's: no locking.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace strata::proxy {

template <typename T>
class SlotPool {
 public:
  // A record as T{} and its id.
  uint64_t take(T** out) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.push_back(std::make_unique<Slot>());
    }
    Slot& s = *slots_[slot];
    s.live = true;
    s.value = T{};
    *out = &s.value;
    return (static_cast<uint64_t>(s.gen) << 32) | slot;
  }
  // Null once the id's record was retired.
  T* find(uint64_t id) {
    const auto slot = static_cast<uint32_t>(id);
    if (slot >= slots_.size()) return nullptr;
    Slot& s = *slots_[slot];
    return s.live && s.gen == static_cast<uint32_t>(id >> 32) ? &s.value : nullptr;
  }
  // The id finds nothing from here on; the record (at a stable address) stays the caller's
  // until recycle(id) lets the slot be taken again.
  void retire(uint64_t id) {
    Slot& s = *slots_[static_cast<uint32_t>(id)];
    s.live = false;
    if (++s.gen == 0) s.gen = 1;  // 0 would make id 0 possible
  }
  void recycle(uint64_t id) { free_.push_back(static_cast<uint32_t>(id)); }

 private:
  struct Slot {
    uint32_t gen = 1;
    bool live = false;
    T value;
  };
  std::vector<std::unique_ptr<Slot>> slots_;  // stable addresses: callers keep pointers
  std::vector<uint32_t> free_;
};

}  // namespace strata::proxy
