#include "cache/arc_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

uint64_t target_t1(PolicyHarness& h) { return dynamic_cast<ArcPolicy&>(h.policy()).target_t1(); }

TEST(ArcPolicy, HandWorkedSequenceWithGhostHits) {
  PolicyHarness h("arc", 4);
  for (uint64_t k = 1; k <= 4; ++k) h.access(k);  // T1 = [4 3 2 1]
  h.access(5);  // |T1| = c and B1 is empty: T1's LRU goes without a ghost
  EXPECT_EQ(h.evicted(), Keys({1}));
  EXPECT_TRUE(h.access(2));  // T1 -> T2
  h.access(6);               // REPLACE: |T1| = 3 > p = 0, so T1's LRU goes to B1
  EXPECT_EQ(h.evicted(), Keys({3}));
  h.access(3);  // B1 hit: p grows to 1; 3 enters T2; T1 still exceeds p
  EXPECT_EQ(h.evicted(), Keys({4}));
  EXPECT_EQ(target_t1(h), 1u);
  h.access(7);
  EXPECT_EQ(h.evicted(), Keys({5}));
  EXPECT_TRUE(h.access(2));
  h.access(4);  // B1 hit: p = 2 = |T1|, so T2's LRU (3) goes to B2
  EXPECT_EQ(h.evicted(), Keys({3}));
  EXPECT_EQ(target_t1(h), 2u);
  h.access(3);  // B2 hit: p shrinks to 1; T1 is over target again
  EXPECT_EQ(h.evicted(), Keys({6}));
  EXPECT_EQ(target_t1(h), 1u);
}

TEST(ArcPolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("arc", 10);
  for (uint64_t k = 1; k <= 5; ++k) h.access(k, 2);
  h.access(6, 5);
  EXPECT_EQ(h.evicted(), Keys({1, 2, 3}));
  EXPECT_EQ(h.used(), 9u);
  h.access(3, 2);  // 3 is in B1: a ghost hit, it enters T2 and p grows by its size
  EXPECT_EQ(target_t1(h), 2u);
  EXPECT_EQ(h.evicted(), Keys({4}));
}

TEST(ArcPolicy, ObjectBiggerThanCacheEvictsItselfLast) {
  PolicyHarness h("arc", 4);
  h.access(1);
  h.access(2, 9);
  EXPECT_EQ(h.evicted(), Keys({1, 2}));
  EXPECT_EQ(h.policy().evict(), kNoSlot);
}

TEST(ArcPolicy, EraseKeepsGhosts) {
  PolicyHarness h("arc", 4);
  for (uint64_t k = 1; k <= 4; ++k) h.access(k);
  h.access(1);  // T2
  h.access(5);
  h.access(6);
  EXPECT_EQ(h.evicted(), Keys({3}));  // 2 went to B1 first, then |T1|+|B1| > c dropped it
  h.erase(1);                         // from T2
  h.erase(6);                         // the newest
  h.access(2);                        // no longer a ghost
  EXPECT_EQ(target_t1(h), 0u);
  h.access(3);  // B1 hit although there is room
  EXPECT_TRUE(h.evicted().empty());
  EXPECT_EQ(target_t1(h), 1u);
}

TEST(ArcPolicy, RandomInvariants) {
  run_random_invariants("arc", 50, 1, 200, 20000, 1);
  run_random_invariants("arc", 1000, 100, 300, 20000, 2);
  run_random_invariants("arc", 3, 1, 10, 5000, 3);
}

TEST(ArcPolicy, BeatsLruOnZipf) {
  double arc = zipf_miss_ratio("arc", 20000, 1.0, 500, 200000);
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  EXPECT_LT(arc, lru - 0.03);
}

}  // namespace
}  // namespace strata::cache::testing
