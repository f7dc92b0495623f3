#include "cache/wtinylfu_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

// Capacity 100: window 1, main 99 (protected 79).
TEST(WTinyLfuPolicy, CandidateMustBeStrictlyMoreFrequent) {
  PolicyHarness h("wtinylfu", 100);
  for (uint64_t k = 1; k <= 100; ++k) h.access(k);  // fills without a duel
  EXPECT_TRUE(h.evicted().empty());
  h.access(101);  // 100 leaves the window: freq 1 vs victim 1's freq 1, a tie keeps 1
  EXPECT_EQ(h.evicted(), Keys({100}));
  h.access(102);
  EXPECT_EQ(h.evicted(), Keys({101}));
  h.access(100);  // the sketch remembers 100: its frequency is now 2
  EXPECT_EQ(h.evicted(), Keys({102}));
  h.access(103);  // 100 leaves the window and beats probation's LRU victim
  EXPECT_EQ(h.evicted(), Keys({1}));
  EXPECT_TRUE(h.contains(100));
}

TEST(WTinyLfuPolicy, ProbationHitIsProtected) {
  PolicyHarness h("wtinylfu", 100);
  for (uint64_t k = 1; k <= 100; ++k) h.access(k);
  EXPECT_TRUE(h.access(1));  // probation -> protected; 2 is now probation's LRU
  EXPECT_TRUE(h.access(100));
  h.access(200);  // 100 (freq 2) leaves the window and beats 2, not 1
  EXPECT_EQ(h.evicted(), Keys({2}));
  for (uint64_t k = 201; k < 203; ++k) h.access(k);  // 200 and 201 lose ties to 3
  EXPECT_EQ(h.evicted(), Keys({201}));
  h.access(101);
  h.access(101);  // 101 (freq 2) leaves the window when 102 arrives
  h.access(102);
  EXPECT_EQ(h.evicted(), Keys({3}));
}

TEST(WTinyLfuPolicy, BigObjectIsJudgedAndEvictsSeveralSmall) {
  PolicyHarness h("wtinylfu", 1000);  // window 10 bytes, main 990
  for (uint64_t k = 1; k <= 10; ++k) h.access(k, 100);
  h.access(11, 300);  // bigger than the window: straight to a duel, and it loses a tie
  EXPECT_EQ(h.evicted(), Keys({11}));
  h.access(11, 300);  // frequency 2 now: it wins against each small victim in turn
  EXPECT_EQ(h.evicted(), Keys({1, 2, 3}));
  EXPECT_EQ(h.used(), 1000u);
}

TEST(WTinyLfuPolicy, EraseFromEverySegment) {
  PolicyHarness h("wtinylfu", 100);
  for (uint64_t k = 1; k <= 100; ++k) h.access(k);
  h.access(5);  // protected
  h.erase(5);
  h.erase(100);  // window
  h.erase(1);    // probation
  h.access(300);
  h.access(301);
  h.access(302);
  EXPECT_TRUE(h.evicted().empty());
  h.access(303);  // 302 duels probation's LRU (2) and loses the tie
  EXPECT_EQ(h.evicted(), Keys({302}));
}

TEST(WTinyLfuPolicy, RandomInvariants) {
  run_random_invariants("wtinylfu", 50, 1, 200, 20000, 1);
  run_random_invariants("wtinylfu", 1000, 100, 300, 20000, 2);
  run_random_invariants("wtinylfu", 3, 1, 10, 5000, 3);
}

TEST(WTinyLfuPolicy, BeatsLruOnZipf) {
  double w = zipf_miss_ratio("wtinylfu", 20000, 1.0, 500, 200000);
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  EXPECT_LT(w, lru - 0.03);
}

}  // namespace
}  // namespace strata::cache::testing
