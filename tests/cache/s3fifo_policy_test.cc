#include "cache/s3fifo_policy.h"

#include <gtest/gtest.h>

#include "tests/cache/policy_harness.h"

namespace strata::cache::testing {
namespace {

// Capacity 20: small 2, main 18, ghost 18.
TEST(S3FifoPolicy, HandWorkedSequence) {
  PolicyHarness h("s3fifo", 20);
  // Keys 1 and 2 fill small; until the first eviction a full small overflows into main.
  for (uint64_t k = 1; k <= 20; ++k) h.access(k);
  EXPECT_TRUE(h.evicted().empty());
  h.access(21);  // still no eviction yet, so 21 goes to main; main is over budget
  EXPECT_EQ(h.evicted(), Keys({3}));
  h.access(22);  // small: [22, 2, 1]; its unaccessed tail goes to the ghost
  EXPECT_EQ(h.evicted(), Keys({1}));
  EXPECT_TRUE(h.access(2));
  EXPECT_TRUE(h.access(2));
  h.access(23);  // 2 was hit twice: promoted to main; 22 is evicted instead
  EXPECT_EQ(h.evicted(), Keys({22}));
  h.access(1);  // ghost hit: straight into main, which evicts its oldest
  EXPECT_EQ(h.evicted(), Keys({4}));
  EXPECT_TRUE(h.access(5));
  h.access(24);  // main over budget: 5 was hit, gets reinserted; 6 goes
  EXPECT_EQ(h.evicted(), Keys({6}));
}

TEST(S3FifoPolicy, OneHitInSmallIsNotEnough) {
  PolicyHarness h("s3fifo", 20);
  for (uint64_t k = 1; k <= 21; ++k) h.access(k);  // 3 evicted, has_evicted set
  EXPECT_TRUE(h.access(1));                        // 1 hit once while in small
  h.access(22);
  EXPECT_EQ(h.evicted(), Keys({1}));
}

TEST(S3FifoPolicy, MainIsATwoBitClock) {
  PolicyHarness h("s3fifo", 20);
  for (uint64_t k = 1; k <= 20; ++k) h.access(k);
  for (int i = 0; i < 5; ++i) h.access(3);  // freq saturates at 3
  h.access(4);
  h.access(21);  // main over budget: 3 reinserted with freq 2, 4 with 0; 5 evicted
  EXPECT_EQ(h.evicted(), Keys({5}));
}

TEST(S3FifoPolicy, GhostHitAfterErase) {
  PolicyHarness h("s3fifo", 20);
  for (uint64_t k = 1; k <= 21; ++k) h.access(k);
  h.access(22);
  EXPECT_EQ(h.evicted(), Keys({1}));  // 1 is in the ghost now
  h.erase(2);
  h.access(1);  // ghost hit: main (18 + 1 = 19 > 18), small holds only 22
  EXPECT_TRUE(h.evicted().empty());
  h.access(30);  // now over capacity: main is over budget, so main's oldest (4) goes
  EXPECT_EQ(h.evicted(), Keys({4}));
}

TEST(S3FifoPolicy, BigObjectEvictsSeveralSmall) {
  PolicyHarness h("s3fifo", 100);  // small 10, main 90 (bytes)
  for (uint64_t k = 1; k <= 10; ++k) h.access(k, 10);
  h.access(11, 50);  // small is full before any eviction: goes to main, which sheds 50
  EXPECT_EQ(h.evicted(), Keys({2, 3, 4, 5, 6}));
  EXPECT_EQ(h.used(), 100u);
}

TEST(S3FifoPolicy, ObjectTooBigForSmallIsNextSmallVictim) {
  PolicyHarness h("s3fifo", 100);
  for (uint64_t k = 1; k <= 11; ++k) h.access(k, 10);  // first eviction happened
  h.access(20, 30);                                    // enters small at its tail
  EXPECT_EQ(h.evicted(), Keys({20}));
}

TEST(S3FifoPolicy, RandomInvariants) {
  run_random_invariants("s3fifo", 50, 1, 200, 20000, 1);
  run_random_invariants("s3fifo", 1000, 100, 300, 20000, 2);
  run_random_invariants("s3fifo", 5, 1, 20, 5000, 3);
}

TEST(S3FifoPolicy, BeatsLruOnZipf) {
  double s3 = zipf_miss_ratio("s3fifo", 20000, 1.0, 500, 200000);
  double lru = zipf_miss_ratio("lru", 20000, 1.0, 500, 200000);
  EXPECT_LT(s3, lru - 0.03);
}

}  // namespace
}  // namespace strata::cache::testing
