#include "cache/clock_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

TEST(ClockPolicy, ReferencedObjectsGetASecondChance) {
  PolicyHarness h("clock", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  EXPECT_TRUE(h.access(1));
  h.access(4);  // 1 is referenced: bit cleared, hand moves on; 2 goes
  EXPECT_EQ(h.evicted(), Keys({2}));
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({3}));
  h.access(6);  // 1's second chance is used up
  EXPECT_EQ(h.evicted(), Keys({1}));
  h.access(7);
  EXPECT_EQ(h.evicted(), Keys({4}));
}

TEST(ClockPolicy, AllReferencedFallsBackToOldest) {
  PolicyHarness h("clock", 3);
  for (uint64_t k = 1; k <= 3; ++k) h.access(k);
  for (uint64_t k = 1; k <= 3; ++k) h.access(k);
  h.access(4);  // a full sweep clears every bit, then the oldest goes
  EXPECT_EQ(h.evicted(), Keys({1}));
}

TEST(ClockPolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("clock", 10);
  for (uint64_t k = 1; k <= 5; ++k) h.access(k, 2);
  h.access(1, 2);
  h.access(6, 5);
  EXPECT_EQ(h.evicted(), Keys({2, 3, 4}));
  EXPECT_EQ(h.used(), 9u);
}

TEST(ClockPolicy, EraseOfResidentId) {
  PolicyHarness h("clock", 3);
  for (uint64_t k = 1; k <= 3; ++k) h.access(k);
  h.erase(1);
  h.access(4);
  EXPECT_TRUE(h.evicted().empty());
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({2}));
}

TEST(ClockPolicy, RandomInvariants) {
  run_random_invariants("clock", 50, 1, 200, 20000, 1);
  run_random_invariants("clock", 1000, 100, 300, 20000, 2);
}

TEST(ClockPolicy, BeatsFifoOnZipf) {
  double clock = zipf_miss_ratio("clock", 20000, 1.0, 500, 200000);
  double fifo = zipf_miss_ratio("fifo", 20000, 1.0, 500, 200000);
  EXPECT_LT(clock, fifo);
}

}  // namespace
}  // namespace strata::cache::testing
