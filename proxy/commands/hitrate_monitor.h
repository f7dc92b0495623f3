// Live hit-rate estimates per key prefix, without a trace: every key whose hash falls in a
// 2^-shift spatial sample (SHARDS) is replayed, per prefix, through shadow caches of every
// eviction policy at several L1 sizes. Only sampled keys cost anything (a hash test for the
// rest), so it stays on. Reported by `STRATA HITRATE [prefix]` and INFO's hitrate section.
//
// A prefix is the key up to and including its first ':' ("user:42" -> "user:"); keys without
// one, and prefixes beyond prefixes_max, are grouped under "*". Keys under a prefix with an L1
// partition of its own are grouped under that prefix, shadowed at sizes around that partition.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache/prefix_table.h"
#include "cache/shadow_sim.h"

namespace strata::proxy {

// A prefix with an L1 partition of its own: its shadows model sizes around that partition.
struct HitRatePartition {
  std::string prefix;
  uint64_t capacity_bytes = 0;
  std::string live_policy;
};

struct HitRateConfig {
  uint32_t sample_shift = 8;       // sample 1 key in 256
  uint32_t prefixes_max = 32;      // distinct prefixes tracked; the rest go to "*"
  uint64_t l1_capacity_bytes = 0;  // default L1 partition; 0: unbounded, absolute sizes then
  std::string live_policy = "s3fifo";
  std::vector<HitRatePartition> partitions;
  // Longer prefixes under a partitioned one whose keys stay in the default L1 (as in Store).
  std::vector<std::string> default_prefixes;
};

class HitRateMonitor {
 public:
  explicit HitRateMonitor(HitRateConfig config);
  ~HitRateMonitor();

  // Cheap unless the key is sampled. `size` is what the entry costs in L1 (charged bytes).
  static bool sampled(uint64_t key_hash, uint32_t shift) {
    return cache::sampled_key(key_hash, shift);
  }
  uint32_t sample_shift() const { return config_.sample_shift; }
  // size 0: unknown (a read); the prefix's mean written size is used if the shadow must fill.
  void read(std::string_view key, uint64_t key_hash, uint64_t size);
  // One read, sampled at random in time (about 1 in kReadCountEvery, whatever its key): the
  // estimate of each prefix's total reads. Spatial sampling alone biases the miss ratio by
  // whichever hot keys the hash sample happens to hold (SHARDS-adj, Waldspurger et al.): the
  // estimates divide sampled misses by rate x estimated total reads instead.
  void count_read(std::string_view key);
  static constexpr uint32_t kReadCountEvery = 32;
  void write(std::string_view key, uint64_t key_hash, uint64_t size);
  void erase(std::string_view key, uint64_t key_hash);

  // Text tables: one prefix, or all when prefix is empty; "" if the prefix is unknown.
  std::string report(std::string_view prefix) const;
  // INFO lines: per prefix, sampled reads and the best policy at the current size.
  std::string info_lines() const;

 private:
  struct Group;
  Group* group_for(std::string_view key);
  Group* make_group(std::string_view prefix, const HitRatePartition* partition);
  static void prefetch_sims(const Group& g, uint64_t key_hash);
  void describe(const Group& g, std::string* out) const;
  double estimate(const Group& g, const cache::ShadowSim& s) const;
  // Time-sampled reads a prefix needs before its total is trusted for SHARDS-adj.
  static constexpr uint64_t kCountedReadsMin = 64;

  HitRateConfig config_;
  // Partitioned and default-routed prefixes -> partition (null: the default L1), as the Store
  // routes them.
  cache::PrefixTable<const HitRatePartition*> routes_{nullptr};
  mutable std::mutex mu_;  // taken only for sampled keys and reports
  std::vector<std::unique_ptr<Group>> groups_;
};

}  // namespace strata::proxy
