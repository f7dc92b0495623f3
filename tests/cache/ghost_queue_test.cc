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

// push_absent defers indexing: entries must be visible, removable and dropped in order anyway.
TEST(GhostQueue, PushAbsentMatchesModel) {
  GhostQueue g(300);
  std::deque<std::pair<uint64_t, uint64_t>> model;
  std::mt19937_64 rng(9);
  uint64_t next = 2;
  for (int i = 0; i < 100000; ++i) {
    if (rng() % 3 == 0 && !model.empty()) {
      size_t at = rng() % model.size();
      ASSERT_TRUE(g.remove(model[at].first));
      model.erase(model.begin() + at);
    } else if (rng() % 7 == 0) {
      ASSERT_FALSE(g.remove(next + 12345678));  // never pushed
    } else {
      uint64_t size = 1 + rng() % 4;
      g.push_absent(next, size);
      model.emplace_back(next++, size);
      uint64_t bytes = 0;
      for (auto& e : model) bytes += e.second;
      while (bytes > 300) {
        bytes -= model.front().second;
        model.pop_front();
      }
    }
    ASSERT_EQ(g.count(), model.size());
    if (!model.empty()) {
      ASSERT_TRUE(g.contains(model.back().first));
      ASSERT_TRUE(g.contains(model.front().first));
    }
  }
  uint64_t size = 0;
  for (auto& e : model) {
    ASSERT_TRUE(g.pop_oldest(&size));
    EXPECT_EQ(size, e.second);
  }
  EXPECT_FALSE(g.pop_oldest());
}

}  // namespace
}  // namespace strata::cache
