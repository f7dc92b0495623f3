#include "bench/sim.h"

#include <gtest/gtest.h>

#include "bench/belady.h"
#include "bench/sim_report.h"

namespace strata::bench {
namespace {

Trace trace_of(std::vector<uint32_t> ids, std::vector<uint32_t> sizes = {}) {
  Trace t;
  t.ids = std::move(ids);
  t.sizes = std::move(sizes);
  t.objects = t.ids.empty() ? 0 : *std::max_element(t.ids.begin(), t.ids.end()) + 1;
  for (uint32_t i = 0; i < t.objects; ++i) t.hashes.push_back(mix64(i));
  return t;
}

CacheSize objects(uint64_t n) { return CacheSize{std::to_string(n), SizeUnit::kObjects, n}; }

SimResult run(const Trace& t, const std::string& policy, const CacheSize& size,
              std::vector<uint8_t>* hits = nullptr) {
  auto p = make_sim_policy(policy, size.capacity);
  EXPECT_NE(p, nullptr) << policy;
  std::vector<uint32_t> next = next_accesses(t);
  return simulate(t, *p, size, SimRunOptions{.next_access = &next, .hits = hits});
}

TEST(Belady, TextbookReferenceString) {
  // 1 2 3 4 1 2 5 1 2 3 4 5 with 3 frames: the optimum takes 7 faults.
  Trace t = trace_of({1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5});
  SimResult r = run(t, "belady", objects(3));
  EXPECT_EQ(r.requests, 12u);
  EXPECT_EQ(r.misses, 7u);
}

TEST(Belady, BypassesObjectsNeededLast) {
  // a b c a b, room for 2: c is never needed again, so it is evicted on arrival.
  std::vector<uint8_t> hits;
  SimResult r = run(trace_of({0, 1, 2, 0, 1}), "belady", objects(2), &hits);
  EXPECT_EQ(r.misses, 3u);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 0, 1, 1}));
}

TEST(Belady, EvictsFarthestNextAccess) {
  // Room for 2. At request 2 (c): a is next used at 5, b at 3, c at 4 -> evict a.
  std::vector<uint8_t> hits;
  run(trace_of({0, 1, 2, 1, 2, 0}), "belady", objects(2), &hits);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 0, 1, 1, 0}));
}

TEST(Belady, NeverWorseThanOnlinePolicies) {
  Trace t = *load_trace("zipf:alpha=0.8,objects=2000,requests=30000,seed=9");
  for (uint64_t cap : {10, 100, 500}) {
    const uint64_t opt = run(t, "belady", objects(cap)).misses;
    for (std::string_view name : cache::policy_names()) {
      EXPECT_LE(opt, run(t, std::string(name), objects(cap)).misses) << name << " @" << cap;
    }
  }
}

TEST(Belady, HeapSurvivesEraseOfAnySlot) {
  BeladyPolicy b;
  for (uint32_t s = 0; s < 50; ++s) {
    b.set_next_access((s * 37) % 101);
    b.on_insert(s, 0, 1);
  }
  for (uint32_t s = 0; s < 50; s += 3) b.on_erase(s);
  uint32_t last = UINT32_MAX;
  for (cache::SlotId v; (v = b.evict()) != cache::kNoSlot;) {
    const uint32_t key = (v * 37) % 101;
    EXPECT_LE(key, last);
    EXPECT_NE(v % 3, 0u);
    last = key;
  }
}

TEST(Sim, LruAndFifoByHand) {
  // a b a c b, room for 2. LRU: c evicts b (a was touched) -> b misses. FIFO: c evicts a.
  Trace t = trace_of({0, 1, 0, 2, 1});
  std::vector<uint8_t> hits;
  EXPECT_EQ(run(t, "lru", objects(2), &hits).misses, 4u);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  EXPECT_EQ(run(t, "fifo", objects(2), &hits).misses, 3u);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 1, 0, 1}));
}

TEST(Sim, BytesCapacityUsesTraceSizes) {
  // Sizes 60, 50, 60: with 100 bytes only one of a/b fits at a time.
  Trace t = trace_of({0, 1, 0, 1}, {60, 50, 60, 50});
  SimResult r = run(t, "lru", CacheSize{"100B", SizeUnit::kBytes, 100});
  EXPECT_EQ(r.misses, 4u);
  EXPECT_EQ(r.bytes, 220u);
  EXPECT_EQ(r.miss_bytes, 220u);
  r = run(t, "lru", CacheSize{"110B", SizeUnit::kBytes, 110});
  EXPECT_EQ(r.misses, 2u);
  EXPECT_DOUBLE_EQ(r.byte_miss_ratio(), 110.0 / 220.0);
  // Counted in objects the same trace fits entirely; byte ratio still weighs by size.
  r = run(t, "lru", objects(2));
  EXPECT_EQ(r.misses, 2u);
}

TEST(Sim, ObjectBiggerThanCacheIsNotKept) {
  Trace t = trace_of({0, 0, 1, 1}, {500, 500, 10, 10});
  std::vector<uint8_t> hits;
  run(t, "lru", CacheSize{"100B", SizeUnit::kBytes, 100}, &hits);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 0, 1}));
}

TEST(Sim, SetsAndDeletesUpdateButDoNotCount) {
  Trace t = trace_of({0, 0, 0, 0, 0});
  t.ops = {Op::kSet, Op::kGet, Op::kDel, Op::kGet, Op::kGet};
  std::vector<uint8_t> hits;
  SimResult r = run(t, "lru", objects(10), &hits);
  EXPECT_EQ(r.requests, 3u);
  EXPECT_EQ(r.misses, 1u);  // the get after the delete
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 1, 0, 0, 1}));
}

TEST(Sim, ResizeOnHitEvicts) {
  // b grows from 10 to 95 bytes on its second request: a (oldest) must go.
  Trace t = trace_of({0, 1, 1, 0}, {10, 10, 95, 10});
  std::vector<uint8_t> hits;
  run(t, "lru", CacheSize{"100B", SizeUnit::kBytes, 100}, &hits);
  EXPECT_EQ(hits, (std::vector<uint8_t>{0, 0, 1, 0}));
}

TEST(Sim, CacheSizeParsing) {
  Trace unit = trace_of({0, 1, 2, 3, 0});
  Trace sized = trace_of({0, 1}, {1000, 3000});
  auto ws_u = working_set(unit);
  auto ws_s = working_set(sized);
  auto s = parse_cache_size("1000", unit, ws_u);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->unit, SizeUnit::kObjects);
  EXPECT_EQ(s->capacity, 1000u);
  EXPECT_EQ(parse_cache_size("10k", unit, ws_u)->capacity, 10000u);
  EXPECT_EQ(parse_cache_size("50%", unit, ws_u)->capacity, 2u);
  s = parse_cache_size("64MB", sized, ws_s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->unit, SizeUnit::kBytes);
  EXPECT_EQ(s->capacity, 64u << 20);
  EXPECT_EQ(parse_cache_size("1kb", sized, ws_s)->capacity, 1024u);
  EXPECT_EQ(parse_cache_size("10%", sized, ws_s)->capacity, 400u);
  EXPECT_FALSE(parse_cache_size("64MB", unit, ws_u));  // bytes need sizes
  EXPECT_FALSE(parse_cache_size("abc", unit, ws_u));
  EXPECT_FALSE(parse_cache_size("0", unit, ws_u));
  EXPECT_FALSE(parse_cache_size("150%", unit, ws_u));
}

TEST(Sim, RunSimsOrderAndThreadsAgree) {
  Trace t = *load_trace("zipf:alpha=1.0,objects=5000,requests=50000,seed=2");
  std::vector<CacheSize> sizes = {objects(50), objects(500)};
  std::vector<std::string> policies = {"lru", "s3fifo", "belady"};
  auto one = run_sims(t, policies, sizes, SimOptions{.threads = 1});
  auto four = run_sims(t, policies, sizes, SimOptions{.threads = 4});
  ASSERT_TRUE(one && four);
  ASSERT_EQ(one->size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ((*one)[i].policy, policies[i / 2]);
    EXPECT_EQ((*one)[i].size.capacity, sizes[i % 2].capacity);
    EXPECT_EQ((*one)[i].misses, (*four)[i].misses);
  }
  auto bad = run_sims(t, {"lru", "nope"}, sizes, SimOptions{});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("unknown policy 'nope'"), std::string::npos);
}

TEST(Sim, LoopDefeatsLruAtAnySmallerSize) {
  Trace t = *load_trace("loop:objects=100,requests=10000");
  EXPECT_EQ(run(t, "lru", objects(99)).misses, 10000u);
  EXPECT_EQ(run(t, "lru", objects(100)).misses, 100u);
}

TEST(Report, CsvJsonSvg) {
  SimResult r;
  r.policy = "lru";
  r.size = objects(1000);
  r.requests = 10;
  r.misses = 4;
  r.bytes = 100;
  r.miss_bytes = 50;
  SimResult r2 = r;
  r2.size = objects(10000);
  r2.misses = 2;
  const std::string csv = format_csv({r, r2});
  EXPECT_EQ(csv,
            "policy,size,requests,miss_ratio,byte_miss_ratio\n"
            "lru,1000,10,0.400000,0.500000\nlru,10000,10,0.200000,0.500000\n");
  const std::string json = format_json("zipf:\"x\"", {r});
  EXPECT_NE(json.find("\"trace\": \"zipf:\\\"x\\\"\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"miss_ratio\": 0.400000"), std::string::npos);
  const std::string svg = render_svg("t<1>", {r, r2});
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">lru</text>"), std::string::npos);
  EXPECT_NE(format_table({r}).find("0.4000"), std::string::npos);
}

}  // namespace
}  // namespace strata::bench
