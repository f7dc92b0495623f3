#include "cache/epoch_ghost.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <set>

#include "cache/s3fifo_policy.h"
#include "tests/cache/policy_harness.h"

namespace strata::cache {
namespace {

using testing::key_hash;

TEST(EpochGhost, SmallBudgetIsAnExactFifo) {
  // Budget below kEpochsPerBudget: every entry is an epoch of its own.
  EpochGhost g(3);
  for (uint64_t k = 1; k <= 4; ++k) g.push_absent(key_hash(k), 1);
  EXPECT_FALSE(g.contains(key_hash(1)));
  EXPECT_TRUE(g.contains(key_hash(2)));
  EXPECT_EQ(g.count(), 3u);
  g.push_absent(key_hash(5), 2);  // sizes count: 2 and 3 go
  EXPECT_FALSE(g.contains(key_hash(2)));
  EXPECT_FALSE(g.contains(key_hash(3)));
  EXPECT_TRUE(g.contains(key_hash(4)));
  EXPECT_EQ(g.bytes(), 3u);
  EXPECT_TRUE(g.remove(key_hash(4), 1));
  EXPECT_FALSE(g.remove(key_hash(4), 1));
  EXPECT_EQ(g.bytes(), 2u);
  g.push_absent(key_hash(6), 4);  // bigger than the budget: not kept
  EXPECT_FALSE(g.contains(key_hash(6)));
  g.push_absent(0, 1);  // hash 0 is a valid key
  EXPECT_TRUE(g.contains(0));
}

// Against an exact FIFO of the same budget: the ghost may forget up to one epoch early, never
// remembers anything the exact one forgot, and the retained bytes stay within an epoch of it.
TEST(EpochGhost, TracksAnExactFifoWithinAnEpoch) {
  constexpr uint64_t kBudget = 20000;
  const uint64_t epoch = kBudget / EpochGhost::kEpochsPerBudget;
  EpochGhost g(kBudget);
  std::deque<uint64_t> model;  // unit sizes, newest at the back
  std::mt19937_64 rng(7);
  uint64_t next_key = 1;
  for (int i = 0; i < 400000; ++i) {
    if (rng() % 4 == 0 && !model.empty()) {
      const size_t at = rng() % model.size();
      const uint64_t k = model[at];
      const bool present = g.contains(key_hash(k));
      const size_t newer = model.size() - 1 - at;
      if (newer + 2 * epoch < kBudget) {
        ASSERT_TRUE(present) << "forgot a young entry";
      }
      EXPECT_EQ(g.remove(key_hash(k), 1), present);
      model.erase(model.begin() + static_cast<ptrdiff_t>(at));
    } else {
      g.push_absent(key_hash(next_key), 1);
      model.push_back(next_key++);
      if (model.size() > kBudget) model.pop_front();
    }
    ASSERT_LE(g.bytes(), kBudget);
    ASSERT_EQ(g.bytes(), g.count());
  }
  EXPECT_GE(g.bytes() + 2 * epoch, model.size());
  const std::set<uint64_t> kept(model.begin(), model.end());
  for (uint64_t k = 1; k < next_key; k += 97) {
    if (kept.contains(k)) continue;
    EXPECT_FALSE(g.contains(key_hash(k))) << k;
  }
}

// The memory S3-FIFO charges for its ghost is what the ghost really uses at steady state.
TEST(EpochGhost, SteadyStateMemoryWithinS3FifoCharge) {
  constexpr uint64_t kCapacity = 50000;
  testing::PolicyHarness h("s3fifo", kCapacity);
  for (uint64_t k = 1; k <= 4 * kCapacity; ++k) h.access(k);  // all distinct: the ghost fills
  const auto& s3 = dynamic_cast<const S3FifoPolicy&>(h.policy());
  const EpochGhost& g = s3.ghost();
  EXPECT_GT(g.count(), kCapacity * 8 / 10);
  const double per_resident = double(g.memory_bytes()) / double(h.resident());
  const double charged =
      S3FifoPolicy::kGhostRatio * EpochGhost::kSlotsPerEntry * double(EpochGhost::kSlotBytes);
  EXPECT_LE(per_resident, charged * 1.05) << "ghost bytes per resident " << per_resident;
}

}  // namespace
}  // namespace strata::cache
