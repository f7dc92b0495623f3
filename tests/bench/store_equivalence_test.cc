// THE equivalence test: the simulator and the proxy's L1 Store, given the same trace, the same
// policy and the same capacity in bytes, hit and miss on exactly the same requests. This is what
// makes the simulator's predictions about the proxy trustworthy.
#include <gtest/gtest.h>

#include <string>

#include "bench/sim.h"
#include "bench/trace_gen.h"
#include "cache/clock.h"
#include "cache/store.h"

namespace strata::bench {
namespace {

std::string key_of(uint32_t id) { return "user:" + std::to_string(id); }

struct Workload {
  Trace trace;
  std::vector<uint32_t> value_len;  // per object
  uint64_t working_set_bytes = 0;
};

// A Zipf trace whose sizes are what the Store charges for "user:<id>" with each object's value.
Workload make_workload(const cache::Store& store, const std::string& spec, uint32_t value_max) {
  Workload w;
  w.trace = *load_trace(spec);
  trace_detail::Rng rng(99);
  w.value_len.resize(w.trace.objects);
  for (auto& v : w.value_len) v = 1 + static_cast<uint32_t>(rng.below(value_max));
  w.trace.hashes.resize(w.trace.objects);
  std::vector<uint32_t> charge(w.trace.objects);
  for (uint32_t id = 0; id < w.trace.objects; ++id) {
    w.trace.hashes[id] = cache::hash_key(key_of(id));
    charge[id] = static_cast<uint32_t>(store.charged_bytes(key_of(id).size(), w.value_len[id]));
  }
  w.trace.sizes.resize(w.trace.requests());
  for (size_t i = 0; i < w.trace.requests(); ++i) w.trace.sizes[i] = charge[w.trace.ids[i]];
  w.working_set_bytes = working_set(w.trace).bytes;
  return w;
}

// Replays the trace as the proxy would serve it: a read, and on a miss a fill.
std::vector<uint8_t> store_hits(cache::Store& store, const Workload& w, const Trace& t) {
  std::vector<uint8_t> hits(t.requests());
  for (size_t i = 0; i < t.requests(); ++i) {
    const std::string key = key_of(t.ids[i]);
    auto txn = store.lock(key);
    cache::EntryView view;
    switch (t.op_at(i)) {
      case Op::kGet:
        hits[i] = txn->read(key, &view);
        if (!hits[i]) txn->set(key, std::string(w.value_len[t.ids[i]], 'v'), 0);
        break;
      case Op::kSet:  // a SET as the proxy runs it: no lookup first (find() would be a hit)
        txn->set(key, std::string(w.value_len[t.ids[i]], 'v'), 0);
        break;
      case Op::kDel:
        txn->erase(key);
        break;
    }
  }
  return hits;
}

void expect_equivalent(const std::string& policy, const std::string& spec, double fraction,
                       bool with_writes) {
  cache::ManualClock clock;
  // The charge includes the policy's metadata per entry, so the probe runs the same policy.
  cache::StoreConfig probe_config;
  probe_config.shards = 1;
  probe_config.eviction = policy;
  probe_config.maxmemory_bytes = 1;
  cache::Store probe(probe_config, &clock);
  Workload w = make_workload(probe, spec, 2000);
  if (with_writes) {  // every 7th request a write, every 31st a delete
    w.trace.ops.assign(w.trace.requests(), Op::kGet);
    for (size_t i = 0; i < w.trace.requests(); ++i) {
      if (i % 7 == 3) w.trace.ops[i] = Op::kSet;
      if (i % 31 == 5) w.trace.ops[i] = Op::kDel;
    }
  }
  const uint64_t capacity = static_cast<uint64_t>(double(w.working_set_bytes) * fraction);

  cache::StoreConfig config;
  config.shards = 1;
  config.eviction = policy;
  config.maxmemory_bytes = capacity;
  cache::Store store(config, &clock);
  const std::vector<uint8_t> expected = store_hits(store, w, w.trace);

  auto p = make_sim_policy(policy, capacity);
  ASSERT_NE(p, nullptr);
  std::vector<uint8_t> hits;
  simulate(w.trace, *p, CacheSize{"bytes", SizeUnit::kBytes, capacity},
           SimRunOptions{.hits = &hits});
  ASSERT_EQ(hits.size(), expected.size());
  size_t first_diff = hits.size();
  size_t n_hits = 0;
  for (size_t i = 0; i < hits.size(); ++i) {
    n_hits += hits[i];
    if (w.trace.op_at(i) != Op::kGet) continue;  // only reads have a hit or a miss
    if (hits[i] != expected[i] && first_diff == hits.size()) first_diff = i;
  }
  EXPECT_EQ(first_diff, hits.size()) << policy << " on " << spec << " at " << fraction
                                     << ": first disagreement at request " << first_diff;
  EXPECT_GT(n_hits, 0u);
  EXPECT_LT(n_hits, hits.size());
  EXPECT_EQ(store.stats().hits + store.stats().misses,
            with_writes ? size_t(std::count(w.trace.ops.begin(), w.trace.ops.end(), Op::kGet))
                        : w.trace.requests());
}

class StoreEquivalence : public ::testing::TestWithParam<std::string> {};

TEST_P(StoreEquivalence, ZipfReads) {
  for (double fraction : {0.02, 0.2}) {
    expect_equivalent(GetParam(), "zipf:alpha=0.9,objects=20000,requests=200000,seed=5", fraction,
                      false);
  }
}

TEST_P(StoreEquivalence, ScanPollutedReads) {
  expect_equivalent(GetParam(),
                    "scan:alpha=1.0,objects=10000,requests=150000,scan_every=20000,scan_len=3000",
                    0.1, false);
}

TEST_P(StoreEquivalence, ReadsWritesDeletes) {
  expect_equivalent(GetParam(), "zipf:alpha=0.8,objects=10000,requests=100000,seed=6", 0.1, true);
}

std::vector<std::string> all_policies() {
  std::vector<std::string> names;
  for (std::string_view n : cache::policy_names()) names.emplace_back(n);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, StoreEquivalence, ::testing::ValuesIn(all_policies()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strata::bench
