// A shadow simulation: one candidate eviction policy run on a spatially sampled slice of the key
// space (SHARDS, Waldspurger et al., FAST'15) with the capacity scaled by the same rate. Its miss
// ratio estimates what that policy would do on the whole cache at a fraction of the cost; the
// adaptive policy runs one per candidate and follows the best.
//
// Keys are known only by their 64-bit hash (collisions at the sampled scale are negligible).
// The shadow is its own owner in the EvictionPolicy contract: a hash -> slot map, sizes, used
// bytes, insert-then-evict.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/eviction_policy.h"
#include "cache/prefetch.h"

namespace strata::cache {

// Spatial sampling: a key is sampled iff the low `shift` bits of a remix of its hash are zero,
// i.e. at rate 2^-shift. The remix keeps the choice independent of the hash bits the Store uses
// for shard and bucket and the policies use for ghosts.
inline constexpr uint32_t kSampleShiftMax = 16;
inline bool sampled_key(uint64_t key_hash, uint32_t shift) {
  uint64_t x = key_hash ^ 0x2545f4914f6cdd1dull;
  x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull;
  x ^= x >> 32;
  return (x & ((uint64_t{1} << shift) - 1)) == 0;
}

// Open addressing hash -> SlotId with backward-shift deletion (no tombstones, so a long-running
// shadow's probe lengths stay bounded). Grows at 1/2 load.
class HashSlotMap {
 public:
  HashSlotMap();
  SlotId find(uint64_t hash) const;
  // Starts loading the cell find(hash) reads first.
  void prefetch(uint64_t hash) const { cache::prefetch(&cells_[home(hash)]); }
  void insert(uint64_t hash, SlotId slot);  // hash must be absent
  void erase(uint64_t hash);                // no-op when absent
  size_t size() const { return count_; }

 private:
  struct Cell {
    uint64_t hash = 0;
    SlotId slot = kNoSlot;  // kNoSlot: empty
  };
  size_t home(uint64_t hash) const { return (hash * 0x9e3779b97f4a7c15ull) >> shift_; }
  void grow();

  std::vector<Cell> cells_;
  uint32_t shift_;  // 64 - log2(cells_.size())
  size_t count_ = 0;
};

struct ShadowCounts {
  uint64_t accesses = 0;
  uint64_t misses = 0;
  double miss_ratio() const { return accesses ? double(misses) / double(accesses) : 0; }
};

// It answers SlotInfo for its policy from its own per-slot arrays, so the policy keeps no copy.
class ShadowSim final : public SlotInfo {
 public:
  // `capacity` is already scaled to the sample (same unit as the sizes passed in).
  ShadowSim(std::string_view policy, uint64_t capacity);
  // The policy holds a pointer to this object (SlotInfo): it stays where it was built.
  ShadowSim(const ShadowSim&) = delete;
  ShadowSim& operator=(const ShadowSim&) = delete;

  uint64_t slot_size(SlotId id) const override { return size_of_[id]; }
  uint64_t slot_hash(SlotId id) const override { return hash_of_[id]; }
  bool valid() const { return policy_ != nullptr; }
  const std::string& policy_name() const { return name_; }
  uint64_t capacity() const { return capacity_; }

  // Starts loading what an access of `hash` reads first: a caller updating many shadows with one
  // key prefetches them all, so their cache misses overlap instead of queueing.
  void prefetch(uint64_t hash) const { map_.prefetch(hash); }
  // A read of a sampled key: counts a hit or a miss; a miss fills (read-through, or what the
  // application's SET after a cache-aside miss would install in the cache modelled).
  void access(uint64_t hash, uint64_t size);
  // A write of a sampled key: replaces (resize) or installs it; not counted. A write that
  // follows this shadow's own read-miss fill of the key is that fill's write (cache-aside: GET
  // misses, the application SETs): if the fill was evicted since, the write does not install it
  // again, as the cache modelled would have seen one insert, not two.
  void write(uint64_t hash, uint64_t size);
  void erase(uint64_t hash);

  ShadowCounts total() const { return total_; }
  ShadowCounts window() const { return window_; }
  // Halves the windowed counts: an exponentially decayed recent miss ratio for switching.
  void decay_window();
  size_t resident() const { return map_.size(); }

 private:
  void insert(uint64_t hash, uint64_t size);
  void release(SlotId slot);
  void evict_over_capacity();

  std::string name_;
  uint64_t capacity_;
  std::unique_ptr<EvictionPolicy> policy_;
  HashSlotMap map_;
  std::vector<uint64_t> hash_of_;  // per slot
  std::vector<uint64_t> size_of_;  // per slot
  std::vector<SlotId> free_;
  // Recent read-miss fills, direct-mapped by hash (a collision only forgets one).
  static constexpr size_t kRecentFills = 64;
  std::array<uint64_t, kRecentFills> recent_fills_{};
  uint64_t used_ = 0;
  ShadowCounts total_;
  ShadowCounts window_;
};

}  // namespace strata::cache
