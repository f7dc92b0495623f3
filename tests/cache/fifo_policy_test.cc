#include "cache/fifo_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

TEST(FifoPolicy, EvictsInInsertionOrderIgnoringHits) {
  PolicyHarness h("fifo", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  EXPECT_TRUE(h.access(1));
  h.access(4);
  EXPECT_EQ(h.evicted(), Keys({1}));
  h.access(5);
  EXPECT_EQ(h.evicted(), Keys({2}));
}

TEST(FifoPolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("fifo", 10);
  for (uint64_t k = 1; k <= 5; ++k) h.access(k, 2);
  h.access(6, 6);
  EXPECT_EQ(h.evicted(), Keys({1, 2, 3}));
}

TEST(FifoPolicy, EraseOfResidentId) {
  PolicyHarness h("fifo", 3);
  h.access(1);
  h.access(2);
  h.access(3);
  h.erase(1);
  h.erase(3);
  h.access(4);
  h.access(5);
  h.access(6);
  EXPECT_EQ(h.evicted(), Keys({2}));
}

TEST(FifoPolicy, RandomInvariants) {
  run_random_invariants("fifo", 50, 1, 200, 20000, 1);
  run_random_invariants("fifo", 1000, 100, 300, 20000, 2);
}

}  // namespace
}  // namespace strata::cache::testing
