// W-TinyLFU as Caffeine's simulator runs it (WindowTinyLfuPolicy, fixed 1% window, no hill
// climber): a window LRU (1% of capacity) in front of a segmented-LRU main space (protected 80%
// of main, probation the rest). An object pushed out of the window lands in probation as a
// candidate; when the cache is over capacity the candidate duels probation's LRU victim and is
// kept only if the sketch says it is strictly more frequent. Every access (insert or hit)
// increments a count-min sketch of 4-bit counters keyed by key_hash.
//
// Size-aware: segment budgets are in the owner's unit; a big insert may push several window
// objects into probation, each judged in turn by successive evict() calls. The sketch wants one
// word per object the cache holds; capacity alone does not say how many that is when it is in
// bytes, so the first insert sizes it to capacity / that object's size (exactly Caffeine's
// width for unit sizes), and it grows if more objects than that become resident.
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/frequency_sketch.h"
#include "cache/slot_list.h"

namespace strata::cache {

class WTinyLfuPolicy final : public EvictionPolicy {
 public:
  static constexpr double kMainRatio = 0.99;
  static constexpr double kProtectedRatio = 0.80;  // of main

  explicit WTinyLfuPolicy(const PolicyParams& params);

  std::string_view name() const override { return "wtinylfu"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override;

 private:
  enum class Segment : uint8_t { kNone, kWindow, kProbation, kProtected };
  struct Node {
    uint32_t prev = kNil;
    uint32_t next = kNil;
    uint64_t size = 0;
    uint64_t hash = 0;
    Segment segment = Segment::kNone;
    bool candidate = false;  // left the window while the cache was full; awaits its duel
  };

  SlotList& list_of(Segment s);
  uint64_t& bytes_of(Segment s);
  void move(SlotId id, Segment to);
  void drain_window();
  void drain_protected();
  void forget_candidates();
  SlotId take(SlotId id);
  SlotId next_candidate();

  uint64_t capacity_;
  uint64_t window_budget_;
  uint64_t protected_budget_;
  uint64_t window_bytes_ = 0;
  uint64_t probation_bytes_ = 0;
  uint64_t protected_bytes_ = 0;
  uint64_t resident_ = 0;
  std::vector<Node> nodes_;
  SlotList window_;
  SlotList probation_;
  SlotList protected_;
  // Candidates in the order they left the window; consumed from candidates_head_.
  std::vector<SlotId> candidates_;
  size_t candidates_head_ = 0;
  FrequencySketch sketch_;
};

}  // namespace strata::cache
