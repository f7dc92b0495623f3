// "adaptive": an eviction policy that runs sampled shadow simulations of every candidate policy
// (cache/shadow_sim.h) next to a live one, and switches the live policy to whichever shadow has
// had the lowest recent miss ratio. On a switch the new policy is rebuilt from the resident
// entries, inserted in the old policy's eviction order (least valuable first), so its recency
// order starts roughly right; frequency history and ghosts start empty.
//
// Sampling rate: SHARDS-style 2^-k. Scaled-down caches below a few thousand objects make the
// estimates biased, so the rate is chosen after the first inserts (once the mean object size is
// known) to keep every shadow at >= kShadowObjectsMin objects, between 1/64 and 1 (full-size
// shadows for small caches).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/eviction_policy.h"
#include "cache/shadow_sim.h"

namespace strata::cache {

struct AdaptiveConfig {
  // Empty: every policy make_policy() knows, except "adaptive" itself.
  std::vector<std::string> candidates;
  std::string initial = "s3fifo";
  // Fixed sampling shift (rate 2^-shift); -1 chooses it from the capacity (see above).
  int sample_shift = -1;
  // Sampled accesses per decision epoch (scaled up with the shadows' size, see .cc).
  uint64_t epoch_accesses_min = 4096;
};

// Estimates are SHARDS-adj style: a shadow's misses over the number of accesses the sample
// should have had (rate x all accesses), not over the sampled accesses it did have. Under skew a
// few hot keys make the sampled access count swing wildly (they are nearly all hits), while the
// sampled misses stay proportional; this was the difference between ~10 and <1 point of error
// on Zipf 0.9.
struct ShadowEstimate {
  std::string policy;
  double miss_ratio = 0;         // since the shadows started
  double recent_miss_ratio = 0;  // exponentially decayed over the last epochs
  uint64_t accesses = 0;         // sampled accesses seen
};

class AdaptivePolicy final : public EvictionPolicy {
 public:
  // Shadows aim for at least this many objects each (the SHARDS bias grows below it).
  static constexpr uint64_t kShadowObjectsMin = 4096;
  static constexpr uint32_t kSampleShiftMaxAuto = 6;  // 1/64
  // Inserts observed before the sampling rate is chosen from the mean object size.
  static constexpr uint64_t kRateProbeInserts = 1024;
  // A switch needs the best shadow to beat the live policy's shadow by this much (absolute, and
  // relative to its miss ratio): rebuilding costs the new policy its history.
  static constexpr double kSwitchMarginAbs = 0.002;
  static constexpr double kSwitchMarginRel = 0.02;
  // Epochs to wait after a switch before considering another.
  static constexpr uint32_t kCooldownEpochs = 4;

  explicit AdaptivePolicy(const PolicyParams& params, AdaptiveConfig config = {});
  ~AdaptivePolicy() override;

  std::string_view name() const override { return "adaptive"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override;
  // With an owner's SlotInfo the per-slot hash and size are asked for instead of kept (16
  // bytes less per entry), and the live policy gets the same SlotInfo.
  void set_slot_info(const SlotInfo* info) override;

  // Per candidate, the shadows' estimates (for STRATA HITRATE and the simulator's report).
  std::vector<ShadowEstimate> shadow_estimates() const;
  std::string_view live_policy() const { return live_->name(); }
  uint64_t switches() const { return switches_; }
  // 2^-shift; 0 until chosen.
  double sample_rate() const;

 private:
  struct Meta {
    uint64_t hash = 0;
    uint64_t size = 0;
  };

  uint64_t hash_of(SlotId id) const { return info_ ? info_->slot_hash(id) : meta_[id].hash; }
  uint64_t size_of(SlotId id) const { return info_ ? info_->slot_size(id) : meta_[id].size; }
  void start_shadows();
  void end_of_epoch();
  void switch_to(size_t candidate);
  void count_access() {
    ++all_accesses_;
    window_all_accesses_ += 1;
  }

  PolicyParams params_;
  AdaptiveConfig config_;
  std::unique_ptr<EvictionPolicy> live_;
  size_t live_index_ = SIZE_MAX;  // index into candidates of the live policy
  const SlotInfo* info_ = nullptr;
  std::vector<Meta> meta_;  // per slot, only without info_
  uint64_t resident_ = 0;
  uint64_t inserts_ = 0;
  uint64_t inserted_bytes_ = 0;
  int shift_ = -1;  // -1: shadows not started
  std::vector<std::unique_ptr<ShadowSim>> shadows_;
  uint64_t epoch_accesses_ = 0;  // sampled, this epoch
  // All accesses (sampled or not) since the shadows started, and exponentially decayed.
  uint64_t all_accesses_ = 0;
  double window_all_accesses_ = 0;
  uint64_t epoch_length_ = 0;
  uint32_t cooldown_ = 0;
  uint64_t switches_ = 0;
};

}  // namespace strata::cache
