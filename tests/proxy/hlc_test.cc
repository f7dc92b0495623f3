#include "proxy/sync/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace strata::proxy {
namespace {

constexpr int64_t kNowMs = 1'780'000'000'000;  // 2026

TEST(HybridClock, StrictlyIncreasingAcrossThreadsAndSeeded) {
  HybridClock c(7);
  c.seed(UINT64_C(1) << 52);
  EXPECT_GT(c.next(), UINT64_C(1) << 52);
  std::vector<uint64_t> seen[2];
  std::thread a([&] {
    for (int i = 0; i < 100000; ++i) seen[0].push_back(c.next());
  });
  std::thread b([&] {
    for (int i = 0; i < 100000; ++i) seen[1].push_back(c.next());
  });
  a.join();
  b.join();
  for (auto& v : seen) {
    for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
  }
  std::vector<uint64_t> all = seen[0];
  all.insert(all.end(), seen[1].begin(), seen[1].end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());  // never twice
}

TEST(HybridClock, LayoutWallCounterTiebreak) {
  HybridClock c(5);
  const uint64_t a = c.next_at(kNowMs);
  EXPECT_EQ(HybridClock::wall_ms_of(a), kNowMs);
  EXPECT_EQ(a & HybridClock::kTiebreakMax, 5u);
  const uint64_t b = c.next_at(kNowMs);  // same millisecond: the counter
  EXPECT_EQ(HybridClock::wall_ms_of(b), kNowMs);
  EXPECT_EQ((b >> HybridClock::kCounterShift) & HybridClock::kCounterMax, 1u);
  const uint64_t back = c.next_at(kNowMs - 50);  // a clock that went back never goes back
  EXPECT_GT(back, b);
  // Versions of the wall-microsecond clock before this one are all smaller.
  EXPECT_GT(a, static_cast<uint64_t>(kNowMs) * 1000 * 100);
}

TEST(HybridClock, CounterBorrowsTheNextMillisecond) {
  HybridClock c(1);
  uint64_t last = 0;
  for (uint64_t i = 0; i <= HybridClock::kCounterMax + 5; ++i) {
    const uint64_t v = c.next_at(kNowMs);
    ASSERT_GT(v, last);
    last = v;
  }
  EXPECT_EQ(HybridClock::wall_ms_of(last), kNowMs + 1);
}

TEST(HybridClock, ObservedVersionsAreOvertaken) {
  HybridClock a(1), b(2);
  const uint64_t va = a.next_at(kNowMs + 10);  // a peer 10 ms ahead
  b.observe(va);
  EXPECT_GT(b.next_at(kNowMs), va);
  EXPECT_NE(HybridClock::tiebreak_of("node-a"), HybridClock::tiebreak_of("node-b"));
}

}  // namespace
}  // namespace strata::proxy
