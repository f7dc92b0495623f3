#include "cache/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace strata::cache {

namespace {

StoreConfig bounded(uint64_t bytes, uint32_t shards = 4) {
  StoreConfig c;
  c.maxmemory_bytes = bytes;
  c.shards = shards;
  return c;
}

std::string get(Store& s, std::string_view k) {
  auto t = s.lock(k);
  EntryView v;
  if (!t->read(k, &v)) return "<nil>";
  return std::string(v.value);
}

uint64_t put(Store& s, std::string_view k, std::string_view v, int64_t exp = 0) {
  return s.lock(k)->set(k, v, exp);
}

TEST(StoreTest, SetGetEraseOverwrite) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  EXPECT_EQ(get(s, "a"), "<nil>");
  EXPECT_NE(put(s, "a", "1"), 0u);
  EXPECT_EQ(get(s, "a"), "1");
  EXPECT_NE(put(s, "a", "two"), 0u);
  EXPECT_EQ(get(s, "a"), "two");
  EXPECT_EQ(s.stats().keys, 1u);
  EXPECT_TRUE(s.lock("a")->erase("a"));
  EXPECT_FALSE(s.lock("a")->erase("a"));
  EXPECT_EQ(get(s, "a"), "<nil>");
  StoreStats st = s.stats();
  EXPECT_EQ(st.keys, 0u);
  EXPECT_EQ(st.used_bytes, 0u);
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, FindDoesNotCountHits) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  put(s, "k", "v");
  EntryView v;
  EXPECT_TRUE(s.lock("k")->find("k", &v));
  EXPECT_FALSE(s.lock("x")->find("x", &v));
  EXPECT_EQ(s.stats().hits, 0u);
  EXPECT_EQ(s.stats().misses, 0u);
}

// A caller that hashed the key already passes the hash: same entry, same counting; versions are
// unique to one write of one key (CLIENT TRACKING's TrackingSeen names keys by them).
TEST(StoreTest, ReadWithTheCallersHash) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  const uint64_t va = put(s, "a", "1");
  const uint64_t vb = put(s, "b", "2");
  EXPECT_NE(va, vb);
  const uint64_t h = hash_key("a");
  EntryView v;
  EXPECT_TRUE(s.lock("a", h)->read("a", h, &v));
  EXPECT_EQ(v.value, "1");
  EXPECT_EQ(v.version, va);
  EXPECT_TRUE(s.lock("a", h)->find("a", h, &v));
  EXPECT_FALSE(s.lock("c", hash_key("c"))->read("c", hash_key("c"), &v));
  EXPECT_EQ(s.stats().hits, 1u);
  EXPECT_EQ(s.stats().misses, 1u);
  EXPECT_GT(put(s, "a", "1"), vb);  // a rewrite, even of the same value, is a new version
}

// Prefetching a pipeline's lookups is a hint: present, absent, repeated and surplus keys, in
// every partition, leave contents, counters and the eviction order as they were (an LRU store
// whose oldest key was prefetched still evicts that key first).
TEST(StoreTest, PrefetchChangesNothing) {
  ManualClock clock;
  StoreConfig c;
  c.shards = 1;
  c.eviction = "lru";
  c.partitions.push_back({"p:", 0, "lru", 2});
  c.maxmemory_bytes = 1 << 20;  // bounded, so the charge includes the LRU's share
  const uint64_t one = Store(c, &clock).charged_bytes(4, 10);
  c.maxmemory_bytes = 8 * one + one / 2;  // room for 8 entries, not 9
  Store s(c, &clock);
  for (int i = 0; i < 8; ++i) ASSERT_NE(put(s, "k" + std::to_string(i) + "xx", "0123456789"), 0u);
  put(s, "p:1", "v");
  const StoreStats before = s.stats();
  std::vector<Store::LookupHint> hints;
  for (const char* k : {"k0xx", "k0xx", "nope", "p:1", "p:2", "k7xx"}) hints.push_back(s.hint(k));
  while (hints.size() < Store::kPrefetchMax + 5) hints.push_back(s.hint("k0xx"));
  s.prefetch(hints);
  s.prefetch({});
  const StoreStats after = s.stats();
  EXPECT_EQ(after.keys, before.keys);
  EXPECT_EQ(after.used_bytes, before.used_bytes);
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.evictions, before.evictions);
  EXPECT_TRUE(s.check_invariants());
  ASSERT_NE(put(s, "k8xx", "0123456789"), 0u);  // over budget: the least recently used goes
  EXPECT_EQ(get(s, "k0xx"), "<nil>");
  EXPECT_EQ(get(s, "k1xx"), "0123456789");
  EXPECT_EQ(get(s, "p:1"), "v");
}

TEST(StoreTest, EmptyAndBinaryKeysAndValues) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  const std::string bin1("a\0b", 3), bin2("a\0c", 3), zeros(5, '\0');
  put(s, "", "empty-key");
  put(s, "ev", "");
  put(s, bin1, zeros);
  put(s, bin2, "c");
  EXPECT_EQ(get(s, ""), "empty-key");
  EXPECT_EQ(get(s, "ev"), "");
  EXPECT_EQ(get(s, bin1), zeros);
  EXPECT_EQ(get(s, bin2), "c");
  EXPECT_EQ(get(s, "a"), "<nil>");
  EXPECT_EQ(s.stats().keys, 4u);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, BigValues) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  std::string big(8 << 20, 'x');
  big[12345] = 'y';
  put(s, "big", big);
  EXPECT_EQ(get(s, "big"), big);
  EXPECT_GE(s.stats().used_bytes, big.size());
  put(s, "big", "small");
  EXPECT_LT(s.stats().used_bytes, 1000u);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, EntryBiggerThanShardBudgetIsNotStored) {
  ManualClock clock;
  Store s(bounded(64 * 1024, 4), &clock);  // 16 KiB per shard
  put(s, "k", "old");
  EXPECT_EQ(put(s, "k", std::string(20000, 'x')), 0u);
  EXPECT_EQ(get(s, "k"), "<nil>");  // the stale value is gone too
  EXPECT_EQ(s.stats().used_bytes, 0u);
  EXPECT_EQ(s.entry_bytes_max(), 16u * 1024);
  const size_t fits = 16 * 1024 - 200;
  ASSERT_LE(s.charged_bytes(1, fits), s.entry_bytes_max());
  EXPECT_NE(put(s, "k", std::string(fits, 'x')), 0u);
}

TEST(StoreTest, LengthLimits) {
  ManualClock clock;
  StoreConfig c;
  c.key_bytes_max = 4;
  c.value_bytes_max = 8;
  Store s(c, &clock);
  EXPECT_EQ(put(s, "toolong", "v"), 0u);
  EXPECT_EQ(put(s, "k", "123456789"), 0u);
  EXPECT_NE(put(s, "k", "12345678"), 0u);
}

TEST(StoreTest, VersionsStrictlyIncrease) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t v = put(s, "k", std::to_string(i));
    EXPECT_GT(v, last);
    last = v;
    auto t = s.lock("k");
    EntryView view;
    ASSERT_TRUE(t->find("k", &view));
    EXPECT_EQ(view.version, v);
    ASSERT_TRUE(t->set_expire("k", clock.now_ms() + 1000));
    ASSERT_TRUE(t->find("k", &view));
    EXPECT_GT(view.version, last);
    last = view.version;
  }
  // A key deleted and re-created never reuses a version.
  s.lock("k")->erase("k");
  EXPECT_GT(put(s, "k", "again"), last);
  // Versions are unique across keys too.
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(seen.insert(put(s, "key" + std::to_string(i), "v")).second);
}

TEST(StoreTest, LazyExpiry) {
  ManualClock clock(1'000'000);
  Store s(StoreConfig{}, &clock);
  put(s, "t", "v", 1'000'100);
  put(s, "p", "v");
  EXPECT_EQ(s.stats().keys_with_ttl, 1u);
  clock.set_ms(1'000'100);  // alive at exactly the expiry millisecond (as Redis)
  EXPECT_EQ(get(s, "t"), "v");
  {
    auto t = s.lock("t");
    EntryView v;
    ASSERT_TRUE(t->find("t", &v));
    EXPECT_EQ(v.expire_at_ms, 1'000'100);
  }
  clock.advance_ms(1);
  EXPECT_EQ(get(s, "t"), "<nil>");
  StoreStats st = s.stats();
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.keys, 1u);
  EXPECT_EQ(st.keys_with_ttl, 0u);
  EXPECT_FALSE(s.lock("t")->set_expire("t", 0));
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, SetExpireAddsAndRemovesTtl) {
  ManualClock clock(1000);
  Store s(StoreConfig{}, &clock);
  put(s, "k", "value");
  const uint64_t plain = s.stats().used_bytes;
  EXPECT_EQ(plain, s.charged_bytes(1, 5));
  EXPECT_TRUE(s.lock("k")->set_expire("k", 5000));
  EXPECT_EQ(s.stats().keys_with_ttl, 1u);
  EXPECT_EQ(s.stats().used_bytes, s.charged_bytes(1, 5, true));
  EXPECT_EQ(get(s, "k"), "value");
  EXPECT_TRUE(s.lock("k")->set_expire("k", 0));
  EXPECT_EQ(s.stats().keys_with_ttl, 0u);
  EXPECT_EQ(s.stats().used_bytes, plain);
  clock.set_ms(10000);
  EXPECT_EQ(get(s, "k"), "value");
  // Overwriting without a TTL clears it (SET semantics).
  put(s, "k", "v", 20000);
  put(s, "k", "v");
  clock.set_ms(30000);
  EXPECT_EQ(get(s, "k"), "v");
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, ActiveExpiry) {
  ManualClock clock(1000);
  Store s(bounded(0, 8), &clock);
  for (int i = 0; i < 1000; ++i) put(s, "ttl" + std::to_string(i), "v", 2000);
  for (int i = 0; i < 100; ++i) put(s, "keep" + std::to_string(i), "v", 100000);
  for (int i = 0; i < 100; ++i) put(s, "plain" + std::to_string(i), "v");
  EXPECT_EQ(s.active_expire(1000), 0u);
  clock.set_ms(3000);
  size_t removed = 0;
  for (int round = 0; round < 200 && s.stats().keys > 200; ++round) removed += s.active_expire(100);
  StoreStats st = s.stats();
  EXPECT_EQ(st.keys, 200u);
  EXPECT_EQ(removed, 1000u);
  EXPECT_EQ(st.expired, 1000u);
  EXPECT_EQ(st.keys_with_ttl, 100u);
  EXPECT_EQ(s.active_expire(0), 0u);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, LeaseNormalFillInstalled) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  const uint64_t tok = s.begin_fill("k");
  EXPECT_NE(tok, 0u);
  EXPECT_TRUE(s.complete_fill("k", tok, "from-upstream", 0));
  EXPECT_EQ(get(s, "k"), "from-upstream");
  EXPECT_FALSE(s.complete_fill("k", tok, "again", 0));  // a lease is used once
}

TEST(StoreTest, LeaseFillAfterConcurrentSetRefused) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  const uint64_t tok = s.begin_fill("k");
  put(s, "k", "newer");
  EXPECT_FALSE(s.complete_fill("k", tok, "older", 0));
  EXPECT_EQ(get(s, "k"), "newer");
  const uint64_t tok2 = s.begin_fill("k");
  s.lock("k")->erase("k");
  EXPECT_FALSE(s.complete_fill("k", tok2, "older", 0));
  EXPECT_EQ(get(s, "k"), "<nil>");
}

TEST(StoreTest, LeaseFillAfterInvalidateRefused) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  put(s, "k", "v");
  const uint64_t tok = s.begin_fill("k");
  s.invalidate("k");
  EXPECT_EQ(get(s, "k"), "<nil>");
  EXPECT_FALSE(s.complete_fill("k", tok, "stale", 0));
  EXPECT_EQ(get(s, "k"), "<nil>");
  EXPECT_FALSE(s.complete_fill("other", tok, "x", 0));
}

TEST(StoreTest, LeaseTokensUniqueAndShared) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  std::set<uint64_t> tokens;
  for (int i = 0; i < 500; ++i) {
    const uint64_t t = s.begin_fill("k" + std::to_string(i));
    EXPECT_NE(t, 0u);
    EXPECT_TRUE(tokens.insert(t).second);
  }
  // Concurrent misses on one key share its lease; the first fill wins.
  const uint64_t a = s.begin_fill("k1");
  EXPECT_EQ(a, s.begin_fill("k1"));
  EXPECT_TRUE(s.complete_fill("k1", a, "x", 0));
  EXPECT_FALSE(s.complete_fill("k1", a, "y", 0));
  EXPECT_NE(s.begin_fill("k1"), a);
}

TEST(StoreTest, OverwritesKeepAccountingExact) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  std::mt19937 rng(3);
  std::unordered_map<std::string, std::pair<size_t, bool>> live;
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "k" + std::to_string(rng() % 300);
    const size_t len = rng() % 64;
    const bool ttl = rng() % 4 == 0;
    const std::string v(len, static_cast<char>('a' + i % 26));
    const uint64_t before = put(s, k, "");  // versions still move on every write
    ASSERT_GT(put(s, k, v, ttl ? clock.now_ms() + 1000 : 0), before);
    live[k] = {len, ttl};
    ASSERT_EQ(get(s, k), v);
  }
  uint64_t expected = 0;
  for (const auto& [k, lt] : live) expected += s.charged_bytes(k.size(), lt.first, lt.second);
  EXPECT_EQ(s.stats().used_bytes, expected);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StoreTest, MemoryAccountingExact) {
  ManualClock clock;
  Store s(StoreConfig{}, &clock);
  uint64_t expected = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "key:" + std::to_string(i);
    const std::string v(i % 300, 'v');
    const bool ttl = i % 3 == 0;
    put(s, k, v, ttl ? clock.now_ms() + 100000 : 0);
    expected += s.charged_bytes(k.size(), v.size(), ttl);
  }
  EXPECT_EQ(s.stats().used_bytes, expected);
  EXPECT_TRUE(s.check_invariants());
  for (int i = 0; i < 2000; i += 2)
    s.lock("key:" + std::to_string(i))->erase("key:" + std::to_string(i));
  EXPECT_TRUE(s.check_invariants());
  s.flush_all();
  EXPECT_EQ(s.stats().used_bytes, 0u);
  EXPECT_EQ(s.stats().keys, 0u);
  EXPECT_EQ(s.stats().keys_with_ttl, 0u);
  EXPECT_EQ(get(s, "key:1"), "<nil>");
}

class StoreEvictionTest : public ::testing::TestWithParam<std::string_view> {};

TEST_P(StoreEvictionTest, KeepsUsedUnderMaxmemory) {
  ManualClock clock;
  const uint64_t maxmemory = 256 * 1024;
  StoreConfig c = bounded(maxmemory, 4);
  c.eviction = std::string(GetParam());
  Store s(c, &clock);
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "key:" + std::to_string(rng() % 5000);
    if (i % 3 == 0) {
      get(s, k);
    } else {
      put(s, k, std::string(50 + i % 200, 'x'), i % 5 == 0 ? clock.now_ms() + 1000 : 0);
    }
    if (i % 1000 == 0) {
      ASSERT_LE(s.stats().used_bytes, maxmemory);
    }
  }
  StoreStats st = s.stats();
  EXPECT_LE(st.used_bytes, maxmemory);
  EXPECT_GT(st.used_bytes, maxmemory / 2);
  EXPECT_GT(st.evictions, 0u);
  EXPECT_GT(st.hits, 0u);
  EXPECT_TRUE(s.check_invariants());
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, StoreEvictionTest,
                         ::testing::ValuesIn(policy_names().begin(), policy_names().end()),
                         [](const auto& info) { return std::string(info.param); });

TEST(StoreTest, ScanVisitsAllKeysAcrossGrowth) {
  ManualClock clock;
  Store s(bounded(0, 4), &clock);
  std::unordered_set<std::string> initial;
  for (int i = 0; i < 100; ++i) {
    initial.insert("a" + std::to_string(i));
    put(s, "a" + std::to_string(i), "v");
  }
  std::unordered_map<std::string, int> seen;
  uint64_t cursor = 0;
  int calls = 0;
  int added = 0;
  do {
    std::vector<std::string> out;
    cursor = s.scan_keys(cursor, 10, &out);
    for (auto& k : out) ++seen[k];
    // Grow the tables between calls: every key present throughout must still be returned.
    for (int j = 0; j < 50; ++j, ++added) put(s, "b" + std::to_string(added), "v");
    ++calls;
  } while (cursor != 0 && calls < 100000);
  for (const auto& k : initial) EXPECT_EQ(seen.count(k), 1u) << k;
  EXPECT_GT(s.stats().keys, 1000u);  // growth did happen
  // A quiet full scan returns each key exactly once.
  seen.clear();
  cursor = 0;
  do {
    std::vector<std::string> out;
    cursor = s.scan_keys(cursor, 7, &out);
    for (auto& k : out) ++seen[k];
  } while (cursor != 0);
  EXPECT_EQ(seen.size(), s.stats().keys);
  for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << k;
}

TEST(StoreTest, MultiKeyTxnLocksManyShards) {
  ManualClock clock;
  Store s(bounded(0, 128), &clock);
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back("m" + std::to_string(i));
  std::vector<std::string_view> views(keys.begin(), keys.end());
  {
    auto t = s.lock(views);  // > 64 distinct shards: locks them all
    for (auto k : views) t->set(k, "v", 0);
  }
  auto t2 = s.lock(std::span<const std::string_view>(views.data(), 3));
  EntryView v;
  EXPECT_TRUE(t2->read(views[2], &v));
}

TEST(StoreTest, ConcurrentRandomOps) {
  ManualClock clock(1000);
  Store s(bounded(512 * 1024, 8), &clock);
  constexpr int kThreads = 4;
  constexpr int kOps = 30000;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kOps; ++i) {
        const std::string k = "k" + std::to_string(rng() % 2000);
        switch (rng() % 10) {
          case 0:
          case 1: {
            auto txn = s.lock(k);
            EntryView v;
            if (txn->read(k, &v) && !v.value.empty()) {
              ASSERT_EQ(v.value[0], 'v');
            }
            break;
          }
          case 2:
            s.lock(k)->erase(k);
            break;
          case 3:
            s.lock(k)->set_expire(k, rng() % 2 ? clock.now_ms() + rng() % 50 : 0);
            break;
          case 4: {  // multi-key: MSET-like, atomically
            const std::string k2 = "k" + std::to_string(rng() % 2000);
            const std::string k3 = "k" + std::to_string(rng() % 2000);
            std::string_view ks[] = {k, k2, k3};
            auto txn = s.lock(ks);
            for (auto key : ks) txn->set(key, "v" + std::to_string(i), 0);
            break;
          }
          case 5: {
            const uint64_t tok = s.begin_fill(k);
            s.complete_fill(k, tok, "vfill", clock.now_ms() + 100);
            break;
          }
          case 6:
            if (t == 0) {
              clock.advance_ms(1);
              s.active_expire(50);
            } else {
              s.invalidate(k);
            }
            break;
          default:
            s.lock(k)->set(k, "v" + std::string(rng() % 400, 'x'),
                           rng() % 3 ? 0 : clock.now_ms() + 20);
        }
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_TRUE(s.check_invariants());
  StoreStats st = s.stats();
  EXPECT_LE(st.used_bytes, 512u * 1024);
  std::vector<std::string> all;
  uint64_t cursor = 0;
  do {
    cursor = s.scan_keys(cursor, 100, &all);
  } while (cursor != 0);
  EXPECT_LE(all.size(), st.keys);
}

TEST(StoreTest, RejectsBadConfig) {
  ManualClock clock;
  StoreConfig c;
  c.shards = 3;
  EXPECT_THROW(Store(c, &clock), std::invalid_argument);
}

TEST(StoreTest, HashSpreadsShortKeys) {
  std::unordered_set<uint64_t> hashes;
  uint32_t shard_counts[64] = {};
  for (int i = 0; i < 100000; ++i) {
    const uint64_t h = hash_key("key:" + std::to_string(i));
    hashes.insert(h);
    ++shard_counts[(h >> 32) & 63];
  }
  EXPECT_EQ(hashes.size(), 100000u);
  for (uint32_t c : shard_counts) EXPECT_NEAR(c, 100000 / 64, 250);
  EXPECT_NE(hash_key(""), hash_key(std::string_view("\0", 1)));
}

}  // namespace
}  // namespace strata::cache
