#include "cache/sieve_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

TEST(SievePolicy, HandSkipsVisitedAndStaysInPlace) {
  PolicyHarness h("sieve", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  EXPECT_TRUE(h.access(1));
  h.access(4);  // hand at the tail: 1 visited (cleared), 2 goes; the hand rests on 3
  EXPECT_EQ(h.evicted(), Keys({2}));
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({3}));
  EXPECT_TRUE(h.access(1));
  h.access(6);  // the hand continues toward the head: 4
  EXPECT_EQ(h.evicted(), Keys({4}));
  h.access(7);
  EXPECT_EQ(h.evicted(), Keys({5}));
  h.access(8);  // the hand is at 6 (unvisited); 1 stays although it is at the tail
  EXPECT_EQ(h.evicted(), Keys({6}));
}

TEST(SievePolicy, WrapsToTailRatherThanTakingTheNewcomer) {
  PolicyHarness h("sieve", 2);
  h.access(1);
  h.access(2);
  h.access(1);
  h.access(2);
  h.access(3);  // sweep clears 1 and 2, wraps to the tail: 1 goes, not 3
  EXPECT_EQ(h.evicted(), Keys({1}));
  EXPECT_TRUE(h.contains(3));
}

TEST(SievePolicy, ObjectBiggerThanCacheEvictsItselfLast) {
  PolicyHarness h("sieve", 2);
  h.access(1, 1);
  h.access(2, 5);
  EXPECT_EQ(h.evicted(), Keys({1, 2}));
  EXPECT_EQ(h.policy().evict(), kNoSlot);
}

TEST(SievePolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("sieve", 10);
  for (uint64_t k = 1; k <= 5; ++k) h.access(k, 2);
  h.access(2, 2);
  h.access(6, 5);
  EXPECT_EQ(h.evicted(), Keys({1, 3, 4}));
}

TEST(SievePolicy, EraseOfTheObjectUnderTheHand) {
  PolicyHarness h("sieve", 3);
  for (uint64_t k = 1; k <= 4; ++k) h.access(k);
  EXPECT_EQ(h.evicted(), Keys({1}));  // the hand now rests on 2
  h.erase(2);                         // ... and moves on to 3
  h.access(5);
  EXPECT_TRUE(h.evicted().empty());
  h.access(6);
  EXPECT_EQ(h.evicted(), Keys({3}));
  h.erase(6);  // the newest, not yet in the queue
  h.access(7);
  h.access(8);
  EXPECT_EQ(h.evicted(), Keys({4}));
}

TEST(SievePolicy, RandomInvariants) {
  run_random_invariants("sieve", 50, 1, 200, 20000, 1);
  run_random_invariants("sieve", 1000, 100, 300, 20000, 2);
  run_random_invariants("sieve", 3, 1, 10, 5000, 3);
}

TEST(SievePolicy, BeatsLruOnZipf) {
  double sieve = zipf_miss_ratio("sieve", 20000, 1.0, 500, 200000);
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  EXPECT_LT(sieve, lru - 0.03);
}

}  // namespace
}  // namespace strata::cache::testing
