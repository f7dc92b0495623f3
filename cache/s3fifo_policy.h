// S3-FIFO (Yang et al., SOSP'23) as libCacheSim's S3FIFO.c implements it: a small FIFO (10% of
// capacity) filters one-hit wonders, a main FIFO (the rest) reinserts accessed objects like a
// 2-bit CLOCK, and a ghost FIFO of evicted-from-small hashes (90% of capacity) sends returning
// keys straight to main. Budgets are in the owner's size unit, so it is size-aware as is.
//
// Memory per resident slot: 1 byte of state (freq and queue), 8 of queue links, and ~8.6 of ghost
// (EpochGhost, ~0.9 ghost entries per resident at steady state). Sizes and key hashes come from
// the owner (SlotInfo) when it registers; otherwise the policy keeps them (16 bytes more).
#pragma once

#include <vector>

#include "cache/epoch_ghost.h"
#include "cache/eviction_policy.h"
#include "cache/slot_list.h"

namespace strata::cache {

class S3FifoPolicy final : public EvictionPolicy {
 public:
  static constexpr double kSmallRatio = 0.10;
  static constexpr double kGhostRatio = 0.90;
  // An object leaves small for main when hit at least this often while in small.
  static constexpr uint8_t kMoveToMainThreshold = 2;
  static constexpr uint8_t kFreqMax = 3;

  explicit S3FifoPolicy(const PolicyParams& params);

  std::string_view name() const override { return "s3fifo"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  // Inline: a hit is the commonest call, and the simulator calls it through the final class.
  void on_hit(SlotId id) override {
    STRATA_POLICY_CHECK(id < state_.size() && queue_of(state_[id]) != kNone);
    uint8_t& st = state_[id];
    if ((st & kFreqMask) < kFreqMax) ++st;
  }
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override;
  void set_slot_info(const SlotInfo* info) override;
  void prefetch_insert(uint64_t key_hash) const override { ghost_.prefetch_lookup(key_hash); }
  SlotId victim_hint() const override {
    return main_bytes_ <= main_budget_ && !small_.empty() ? small_.tail() : main_.tail();
  }
  const EpochGhost& ghost() const { return ghost_; }

 private:
  // Per-slot state in one byte: freq (0..3) in the low 2 bits, the queue above. Split from the
  // links by temperature: a hit touches one byte (a 100k-object cache's states fit in L2).
  static constexpr uint8_t kFreqMask = 3;
  static constexpr uint8_t kQueueShift = 2;
  static constexpr uint8_t kNone = 0;
  static constexpr uint8_t kSmall = 1;
  static constexpr uint8_t kMain = 2;
  static uint8_t queue_of(uint8_t st) { return st >> kQueueShift; }
  static uint8_t make_state(uint8_t queue, uint8_t freq) {
    return static_cast<uint8_t>(queue << kQueueShift | freq);
  }
  struct Links {
    uint32_t prev = kNil;
    uint32_t next = kNil;
  };
  // Sizes and hashes kept by the policy itself when no owner answers for them.
  struct Cold {
    uint64_t size = 0;
    uint64_t hash = 0;
  };

  uint64_t size_of(SlotId id) const { return info_ ? info_->slot_size(id) : cold_[id].size; }
  uint64_t hash_of(SlotId id) const { return info_ ? info_->slot_hash(id) : cold_[id].hash; }
  void grow(SlotId id);
  void prefetch_tail(const SlotList& queue) const;
  SlotId evict_small();
  SlotId evict_main();
  void add_bytes(uint8_t queue, int64_t delta) {
    (queue == kSmall ? small_bytes_ : main_bytes_) += delta;
  }

  uint64_t small_budget_;
  uint64_t main_budget_;
  uint64_t small_bytes_ = 0;
  uint64_t main_bytes_ = 0;
  // Until the first eviction, a full small queue overflows into main (libCacheSim's rule), so
  // the cache fills completely before any filtering starts.
  bool has_evicted_ = false;
  const SlotInfo* info_ = nullptr;
  std::vector<uint8_t> state_;
  std::vector<Links> links_;
  std::vector<Cold> cold_;  // only without info_
  SlotList small_;
  SlotList main_;
  EpochGhost ghost_;
};

}  // namespace strata::cache
