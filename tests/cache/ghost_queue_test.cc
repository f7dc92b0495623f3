#include "cache/ghost_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <unordered_map>

namespace strata::cache {
namespace {

TEST(GhostQueue, DropsOldestOverBudget) {
  GhostQueue g(3);
  g.push(10, 1);
  g.push(20, 1);
  g.push(30, 1);
  g.push(40, 1);
  EXPECT_FALSE(g.contains(10));
  EXPECT_TRUE(g.contains(20));
  EXPECT_EQ(g.count(), 3u);
  g.push(50, 2);  // sizes count: 20 and 30 go
  EXPECT_FALSE(g.contains(20));
  EXPECT_FALSE(g.contains(30));
  EXPECT_EQ(g.bytes(), 3u);
}

TEST(GhostQueue, RemoveAndRepush) {
  GhostQueue g(10);
  g.push(0, 1);  // hash 0 is a valid key
  EXPECT_TRUE(g.contains(0));
  EXPECT_TRUE(g.remove(0));
  EXPECT_FALSE(g.remove(0));
  g.push(7, 2);
  g.push(8, 2);
  g.push(7, 3);  // re-push replaces: 7 is now the newest
  EXPECT_EQ(g.bytes(), 5u);
  uint64_t size = 0;
  EXPECT_TRUE(g.pop_oldest(&size));
  EXPECT_EQ(size, 2u);
  EXPECT_FALSE(g.contains(8));
  EXPECT_TRUE(g.contains(7));
  g.push(9, 11);  // bigger than the budget: not kept
  EXPECT_FALSE(g.contains(9));
}

// Against a simple model: many removals from the middle force compaction and growth.
TEST(GhostQueue, MatchesModel) {
  GhostQueue g(500);
  std::deque<std::pair<uint64_t, uint64_t>> model;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200000; ++i) {
    uint64_t h = 2 + rng() % 2000;  // 0 and 1 share a slot by design
    if (rng() % 3 == 0) {
      auto it = std::find_if(model.begin(), model.end(), [&](auto& e) { return e.first == h; });
      bool present = it != model.end();
      if (present) model.erase(it);
      ASSERT_EQ(g.remove(h), present);
    } else {
      uint64_t size = 1 + rng() % 5;
      auto it = std::find_if(model.begin(), model.end(), [&](auto& e) { return e.first == h; });
      if (it != model.end()) model.erase(it);
      g.push(h, size);
      model.emplace_back(h, size);
      uint64_t bytes = 0;
      for (auto& e : model) bytes += e.second;
      while (bytes > 500) {
        bytes -= model.front().second;
        model.pop_front();
      }
    }
    ASSERT_EQ(g.count(), model.size());
  }
  for (auto& e : model) EXPECT_TRUE(g.contains(e.first));
}

}  // namespace
}  // namespace strata::cache
