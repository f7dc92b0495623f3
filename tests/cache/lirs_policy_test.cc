#include "cache/lirs_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

size_t non_resident(PolicyHarness& h) {
  return dynamic_cast<LirsPolicy&>(h.policy()).non_resident_count();
}

// Capacity 3: LIR budget 2, HIR budget 1.
TEST(LirsPolicy, HandWorkedSequence) {
  PolicyHarness h("lirs", 3);
  h.access(1);  // LIR
  h.access(2);  // LIR
  h.access(3);  // the LIR set is full: HIR, S = [3 2 1], Q = [3]
  h.access(4);  // Q's front goes; 3 stays in S as non-resident
  EXPECT_EQ(h.evicted(), Keys({3}));
  EXPECT_EQ(non_resident(h), 1u);
  h.access(3);  // non-resident hit: 3 becomes LIR, bottom LIR 1 is demoted to Q; 4 goes
  EXPECT_EQ(h.evicted(), Keys({4}));
  EXPECT_TRUE(h.access(1));  // HIR resident not in S: back on S's top, stays HIR
  EXPECT_TRUE(h.access(1));  // HIR resident in S: becomes LIR, demoting 2; pruning drops 4
  EXPECT_EQ(non_resident(h), 0u);
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({2}));  // 2 was no longer in S: forgotten entirely
  h.access(4);                        // a stranger again
  EXPECT_EQ(h.evicted(), Keys({5}));
  EXPECT_EQ(non_resident(h), 1u);
}

TEST(LirsPolicy, ReturningBigObjectDemotesSeveralLir) {
  PolicyHarness h("lirs", 100);                       // LIR budget 99
  for (uint64_t k = 1; k <= 9; ++k) h.access(k, 10);  // all LIR
  h.access(10, 10);                                   // HIR
  h.access(11, 30);                                   // HIR: Q's front (10), then 11 itself goes
  EXPECT_EQ(h.evicted(), Keys({10, 11}));
  h.access(11, 30);  // non-resident hit: LIR; 1, 2, 3 demoted to make room; two leave
  EXPECT_EQ(h.evicted(), Keys({1, 2}));
  EXPECT_EQ(h.used(), 100u);
  EXPECT_TRUE(h.contains(3));
}

TEST(LirsPolicy, EraseOfBottomLirPrunes) {
  PolicyHarness h("lirs", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  h.access(4);  // 3 non-resident
  EXPECT_EQ(h.evicted(), Keys({3}));
  h.erase(1);  // bottom LIR: S is pruned down to 2... which is LIR, so 3 survives
  EXPECT_EQ(non_resident(h), 1u);
  h.erase(2);  // now the non-resident 3 reaches the bottom and is pruned
  EXPECT_EQ(non_resident(h), 0u);
  h.access(5);
  h.access(6);
  h.access(7);  // 4 and 5 are in Q... one of them goes
  EXPECT_EQ(h.evicted().size(), 1u);
}

TEST(LirsPolicy, NonResidentEntriesAreBounded) {
  PolicyHarness h("lirs", 100);
  h.access(1);
  for (int round = 0; round < 3; ++round) {
    for (uint64_t k = 2; k < 2000; ++k) h.access(k);  // mostly one-hit HIR traffic
    EXPECT_TRUE(h.access(1));                         // keep 1 on top
  }
  EXPECT_LE(non_resident(h), 200u);
}

TEST(LirsPolicy, RandomInvariants) {
  run_random_invariants("lirs", 50, 1, 200, 20000, 1);
  run_random_invariants("lirs", 1000, 100, 300, 20000, 2);
  run_random_invariants("lirs", 3, 1, 10, 5000, 3);
}

TEST(LirsPolicy, BeatsLruOnZipf) {
  double lirs = zipf_miss_ratio("lirs", 20000, 1.0, 500, 200000);
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  EXPECT_LT(lirs, lru - 0.03);
}

}  // namespace
}  // namespace strata::cache::testing
