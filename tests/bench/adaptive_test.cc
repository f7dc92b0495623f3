// The adaptive policy and its shadow simulations, checked against full simulations.
#include <gtest/gtest.h>

#include <map>
#include <unordered_map>

#include "bench/sim.h"
#include "bench/trace_gen.h"
#include "cache/adaptive_policy.h"
#include "cache/shadow_sim.h"

namespace strata::bench {
namespace {

CacheSize objects(uint64_t n) { return CacheSize{std::to_string(n), SizeUnit::kObjects, n}; }

double full_miss_ratio(const Trace& t, const std::string& policy, uint64_t capacity) {
  auto p = make_sim_policy(policy, capacity);
  return simulate(t, *p, objects(capacity), SimRunOptions{}).miss_ratio();
}

TEST(HashSlotMap, MatchesUnorderedMap) {
  cache::HashSlotMap map;
  std::unordered_map<uint64_t, cache::SlotId> ref;
  trace_detail::Rng rng(1);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t h = rng.below(5000) * 0x100000001ull;  // clustered keys stress the probing
    if (rng.below(3) == 0) {
      map.erase(h);
      ref.erase(h);
    } else if (!ref.contains(h)) {
      map.insert(h, static_cast<cache::SlotId>(i));
      ref[h] = static_cast<cache::SlotId>(i);
    }
    if (i % 97 == 0) {
      for (uint64_t k = 0; k < 5000; k += 37) {
        const uint64_t q = k * 0x100000001ull;
        auto it = ref.find(q);
        ASSERT_EQ(map.find(q), it == ref.end() ? cache::kNoSlot : it->second);
      }
    }
  }
  EXPECT_EQ(map.size(), ref.size());
}

// At sampling rate 1 a shadow is a full simulation: it must count exactly what the simulator
// counts.
TEST(ShadowSim, UnsampledShadowEqualsSimulator) {
  Trace t = *load_trace("zipf:alpha=0.9,objects=20000,requests=200000,seed=3");
  for (std::string_view name : cache::policy_names()) {
    if (name == "adaptive") continue;
    cache::ShadowSim shadow(name, 1000);
    ASSERT_TRUE(shadow.valid());
    for (uint32_t id : t.ids) shadow.access(t.hashes[id], 1);
    auto p = make_sim_policy(std::string(name), 1000);
    SimResult r = simulate(t, *p, objects(1000), SimRunOptions{});
    EXPECT_EQ(shadow.total().misses, r.misses) << name;
    EXPECT_EQ(shadow.total().accesses, r.requests);
  }
}

TEST(ShadowSim, WritesAndErases) {
  cache::ShadowSim shadow("lru", 100);
  shadow.write(1, 60);
  shadow.access(1, 60);  // hit
  shadow.write(1, 500);  // too big: dropped
  shadow.access(1, 60);  // miss
  shadow.erase(1);
  shadow.access(1, 60);  // miss
  EXPECT_EQ(shadow.total().accesses, 3u);
  EXPECT_EQ(shadow.total().misses, 2u);
  EXPECT_EQ(shadow.resident(), 1u);
}

TEST(Adaptive, SamplingRateFollowsCapacity) {
  Trace t = *load_trace("zipf:alpha=1.0,objects=50000,requests=20000");
  for (auto [capacity, rate] : {std::pair<uint64_t, double>{1000, 1.0}, {20000, 0.25}}) {
    cache::AdaptivePolicy p(cache::PolicyParams{capacity});
    simulate(t, p, objects(capacity), SimRunOptions{});
    EXPECT_DOUBLE_EQ(p.sample_rate(), rate) << capacity;
  }
  cache::AdaptivePolicy huge(cache::PolicyParams{uint64_t{1} << 30});
  simulate(t, huge, objects(uint64_t{1} << 30), SimRunOptions{});
  EXPECT_DOUBLE_EQ(huge.sample_rate(), 1.0 / 64);
}

// SHARDS' promise: the sampled, scaled-down shadows estimate each policy's full miss ratio
// within 2 percentage points.
TEST(Adaptive, ShadowEstimatesTrackFullSimulation) {
  Trace t = *load_trace("zipf:alpha=0.9,objects=400000,requests=2000000,seed=11");
  const uint64_t capacity = 100000;
  cache::AdaptivePolicy p(cache::PolicyParams{capacity});
  simulate(t, p, objects(capacity), SimRunOptions{});
  EXPECT_LE(p.sample_rate(), 1.0 / 16);
  for (const auto& e : p.shadow_estimates()) {
    const double full = full_miss_ratio(t, e.policy, capacity);
    EXPECT_NEAR(e.miss_ratio, full, 0.02) << e.policy;
    EXPECT_GT(e.accesses, 50000u);
  }
}

// Within 0.005 of the best fixed policy on workloads that favour different policies.
TEST(Adaptive, CloseToBestFixedPolicy) {
  const char* kTraces[] = {
      "zipf:alpha=1.0,objects=100000,requests=2000000,seed=2",
      "loop:objects=20000,requests=2000000",
      "scan:alpha=1.0,objects=100000,requests=2000000,scan_every=50000,scan_len=20000",
      "shift:objects=100000,requests=2000000,hot=5000,period=200000",
      "recency:requests=2000000,new=0.1,window=50000",
  };
  for (const char* spec : kTraces) {
    Trace t = *load_trace(spec);
    for (uint64_t capacity : {2000, 10000}) {
      std::string best_name;
      double best = 2;
      for (std::string_view name : cache::policy_names()) {
        if (name == "adaptive") continue;
        const double m = full_miss_ratio(t, std::string(name), capacity);
        if (m < best) best = m, best_name = name;
      }
      cache::AdaptivePolicy p(cache::PolicyParams{capacity});
      const double adaptive = simulate(t, p, objects(capacity), SimRunOptions{}).miss_ratio();
      EXPECT_LE(adaptive, best + 0.005) << spec << " @" << capacity << ": best " << best_name << " "
                                        << best << ", adaptive ran " << p.live_policy();
    }
  }
}

TEST(Adaptive, SwitchesAndKeepsTheContract) {
  // A loop defeats the initial LRU; the shadows see s3fifo/wtinylfu do better and it switches,
  // rebuilding from the residents; sizes, writes and deletes must not upset the bookkeeping.
  Trace t = *load_trace("loop:objects=3000,requests=300000,size=10..1000");
  t.ops.assign(t.requests(), Op::kGet);
  for (size_t i = 0; i < t.requests(); i += 13) t.ops[i] = Op::kSet;
  for (size_t i = 5; i < t.requests(); i += 29) t.ops[i] = Op::kDel;
  cache::AdaptiveConfig config;
  config.initial = "lru";
  cache::AdaptivePolicy p(cache::PolicyParams{200000}, config);
  SimResult r = simulate(t, p, CacheSize{"200000B", SizeUnit::kBytes, 200000}, SimRunOptions{});
  EXPECT_GE(p.switches(), 1u);
  EXPECT_NE(p.live_policy(), "lru");
  auto lru = make_sim_policy("lru", 200000);
  const double lru_ratio =
      simulate(t, *lru, CacheSize{"200000B", SizeUnit::kBytes, 200000}, SimRunOptions{})
          .miss_ratio();
  EXPECT_LT(r.miss_ratio(), lru_ratio - 0.02);
  EXPECT_FALSE(r.notes.empty());
}

}  // namespace
}  // namespace strata::bench
