#include "cache/lru_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

TEST(LruPolicy, EvictsLeastRecentlyUsed) {
  PolicyHarness h("lru", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  EXPECT_TRUE(h.access(1));
  EXPECT_FALSE(h.access(4));
  EXPECT_EQ(h.evicted(), Keys({2}));
  EXPECT_TRUE(h.access(3));
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({1}));
}

TEST(LruPolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("lru", 10);
  for (uint64_t k = 1; k <= 5; ++k) h.access(k, 2);
  h.access(2, 2);  // 2 becomes most recent
  h.access(6, 5);
  EXPECT_EQ(h.evicted(), Keys({1, 3, 4}));
  EXPECT_EQ(h.used(), 9u);
}

TEST(LruPolicy, ObjectBiggerThanCacheEvictsItself) {
  PolicyHarness h("lru", 10);
  h.access(1, 4);
  h.access(2, 11);
  EXPECT_EQ(h.evicted(), Keys({1, 2}));
  EXPECT_EQ(h.used(), 0u);
}

TEST(LruPolicy, EraseAndResize) {
  PolicyHarness h("lru", 4);
  for (uint64_t k = 1; k <= 4; ++k) h.access(k);
  h.erase(1);
  h.access(5);
  EXPECT_TRUE(h.evicted().empty());
  h.resize(4, 2);  // grows in place: the oldest goes
  EXPECT_EQ(h.evicted(), Keys({2}));
  EXPECT_EQ(h.evict_one(), 3u);
  EXPECT_EQ(h.evict_one(), 4u);
  EXPECT_EQ(h.evict_one(), 5u);
  EXPECT_EQ(h.policy().evict(), kNoSlot);
}

TEST(LruPolicy, RandomInvariants) {
  run_random_invariants("lru", 50, 1, 200, 20000, 1);
  run_random_invariants("lru", 1000, 100, 300, 20000, 2);
}

TEST(LruPolicy, BeatsFifoOnZipf) {
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  double fifo = zipf_miss_ratio("fifo", 20000, 1.0, 500, 200000);
  EXPECT_LT(lru, fifo);
}

}  // namespace
}  // namespace strata::cache::testing
