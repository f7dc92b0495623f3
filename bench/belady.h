// Belady's MIN, the offline optimum: evict the resident object whose next request is farthest
// in the future. It needs the future, so it only exists in the simulator: before each
// on_insert/on_hit the owner loop tells it when that object is requested next.
//
// With unit sizes this is exactly optimal (and since the owner inserts before evicting, an
// object never requested again is evicted at once, i.e. bypassed). With variable sizes it stays
// "farthest next access first", which is a good but not optimal heuristic: the size-aware
// optimum is NP-hard; treat byte-capacity Belady numbers as an approximate lower bound.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/trace.h"
#include "cache/eviction_policy.h"

namespace strata::bench {

class BeladyPolicy final : public cache::EvictionPolicy {
 public:
  std::string_view name() const override { return "belady"; }
  // Position in the trace of the next request for the object about to be inserted or hit;
  // kNoNextAccess when there is none.
  void set_next_access(uint32_t next) { next_ = next; }
  void on_insert(cache::SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(cache::SlotId id) override;
  void on_resize(cache::SlotId, uint64_t, uint64_t) override {}
  void on_erase(cache::SlotId id) override;
  cache::SlotId evict() override;
  size_t metadata_bytes_per_entry() const override { return 12; }

 private:
  // An indexed binary max-heap of slots keyed by next access: updates in place, so the heap
  // never holds stale entries (a lazy-deletion heap would grow with every hit).
  void sift_up(uint32_t pos);
  void sift_down(uint32_t pos);
  void place(uint32_t pos, cache::SlotId slot);
  void set_key(cache::SlotId slot, uint32_t key);

  static constexpr uint32_t kNotInHeap = UINT32_MAX;
  uint32_t next_ = kNoNextAccess;
  std::vector<cache::SlotId> heap_;
  std::vector<uint32_t> pos_;  // per slot: index in heap_, or kNotInHeap
  std::vector<uint32_t> key_;  // per slot: next access
};

}  // namespace strata::bench
