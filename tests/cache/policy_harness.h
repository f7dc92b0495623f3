// A tiny owner for eviction-policy tests: maps keys to slots (reusing freed slots, as Store
// does), follows the EvictionPolicy contract, and checks what the policy returns.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/eviction_policy.h"

namespace strata::cache::testing {

// Distinct keys get distinct, well-spread hashes (ghosts are keyed by hash).
inline uint64_t key_hash(uint64_t key) {
  uint64_t h = key + 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

using Keys = std::vector<uint64_t>;

class PolicyHarness {
 public:
  PolicyHarness(std::string_view policy, uint64_t capacity)
      : policy_(make_policy(policy, PolicyParams{capacity})), capacity_(capacity) {}

  EvictionPolicy& policy() { return *policy_; }
  uint64_t used() const { return used_; }
  size_t resident() const { return by_key_.size(); }
  bool contains(uint64_t key) const { return by_key_.contains(key); }
  // Keys evicted by the last access() or resize(), in eviction order.
  const std::vector<uint64_t>& evicted() const { return evicted_; }

  // A read-through access: a hit tells the policy; a miss inserts and evicts to fit.
  // Returns true on a hit.
  bool access(uint64_t key, uint64_t size = 1) {
    evicted_.clear();
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      policy_->on_hit(it->second);
      return true;
    }
    SlotId slot = alloc_slot();
    slots_[slot] = Slot{key, size, true};
    by_key_[key] = slot;
    used_ += size;
    policy_->on_insert(slot, key_hash(key), size);
    evict_to_fit();
    return false;
  }

  void erase(uint64_t key) {
    auto it = by_key_.find(key);
    ASSERT_NE(it, by_key_.end());
    policy_->on_erase(it->second);
    release(it->second);
  }

  void resize(uint64_t key, uint64_t new_size) {
    evicted_.clear();
    SlotId slot = by_key_.at(key);
    policy_->on_resize(slot, slots_[slot].size, new_size);
    used_ = used_ - slots_[slot].size + new_size;
    slots_[slot].size = new_size;
    evict_to_fit();
  }

  // Evicts one object outside of the normal flow (e.g. to probe the policy's next victim).
  uint64_t evict_one() {
    SlotId slot = policy_->evict();
    EXPECT_NE(slot, kNoSlot);
    uint64_t key = check_victim(slot);
    release(slot);
    return key;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    uint64_t size = 0;
    bool live = false;
  };

  void evict_to_fit() {
    while (used_ > capacity_) {
      SlotId slot = policy_->evict();
      ASSERT_NE(slot, kNoSlot) << "policy has nothing to evict while over capacity";
      evicted_.push_back(check_victim(slot));
      release(slot);
    }
  }

  uint64_t check_victim(SlotId slot) {
    EXPECT_LT(slot, slots_.size());
    EXPECT_TRUE(slots_[slot].live) << "evict() returned a non-resident slot " << slot;
    return slots_[slot].key;
  }

  SlotId alloc_slot() {
    if (!free_.empty()) {
      SlotId s = free_.back();
      free_.pop_back();
      return s;
    }
    slots_.emplace_back();
    return static_cast<SlotId>(slots_.size() - 1);
  }

  void release(SlotId slot) {
    Slot& s = slots_[slot];
    ASSERT_TRUE(s.live);
    by_key_.erase(s.key);
    used_ -= s.size;
    s.live = false;
    free_.push_back(slot);
  }

  std::unique_ptr<EvictionPolicy> policy_;
  uint64_t capacity_;
  uint64_t used_ = 0;
  std::vector<Slot> slots_;
  std::vector<SlotId> free_;
  std::unordered_map<uint64_t, SlotId> by_key_;
  std::vector<uint64_t> evicted_;
};

// Random operations against a policy: inserts of mixed sizes, hits, resizes and erases. The
// harness checks each victim; here we check capacity and that the policy's view matches ours.
inline void run_random_invariants(std::string_view policy, uint64_t capacity, uint64_t max_size,
                                  uint64_t keys, int ops, uint32_t seed) {
  PolicyHarness h(policy, capacity);
  ASSERT_NE(&h.policy(), nullptr);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < ops; ++i) {
    uint64_t key = rng() % keys;
    uint64_t size = 1 + rng() % max_size;
    uint32_t op = rng() % 100;
    if (op < 5 && h.contains(key)) {
      h.erase(key);
    } else if (op < 10 && h.contains(key) && size <= capacity) {
      h.resize(key, size);
    } else if (size <= capacity) {
      h.access(key, size);
    }
    ASSERT_LE(h.used(), capacity);
    if (::testing::Test::HasFailure()) return;
  }
  // Draining: every resident object comes out exactly once, then nothing.
  size_t n = h.resident();
  for (size_t i = 0; i < n; ++i) h.evict_one();
  EXPECT_EQ(h.resident(), 0u);
  EXPECT_EQ(h.policy().evict(), kNoSlot);
}

// Zipf(alpha) over n objects by inverse CDF; ranks map to ids through a random permutation.
class ZipfTrace {
 public:
  ZipfTrace(uint64_t n, double alpha, uint32_t seed) : cdf_(n), ids_(n), rng_(seed) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += std::pow(static_cast<double>(i + 1), -alpha);
    double acc = 0;
    for (uint64_t i = 0; i < n; ++i) {
      acc += std::pow(static_cast<double>(i + 1), -alpha) / sum;
      cdf_[i] = acc;
      ids_[i] = i;
    }
    std::shuffle(ids_.begin(), ids_.end(), rng_);
  }
  uint64_t next() {
    double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    size_t rank = std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1);
    return ids_[rank];
  }

 private:
  std::vector<double> cdf_;
  std::vector<uint64_t> ids_;
  std::mt19937_64 rng_;
};

// Miss ratio of `policy` on a Zipf trace with unit-size objects and a cache of `capacity`.
inline double zipf_miss_ratio(std::string_view policy, uint64_t objects, double alpha,
                              uint64_t capacity, uint64_t requests, uint32_t seed = 42) {
  PolicyHarness h(policy, capacity);
  ZipfTrace trace(objects, alpha, seed);
  uint64_t misses = 0;
  for (uint64_t i = 0; i < requests; ++i) misses += h.access(trace.next()) ? 0 : 1;
  return static_cast<double>(misses) / static_cast<double>(requests);
}

}  // namespace strata::cache::testing
