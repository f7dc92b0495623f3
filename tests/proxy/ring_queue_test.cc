#include "proxy/loop/ring_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace strata::proxy {
namespace {

TEST(RingQueue, FifoAcrossWrapAndGrowth) {
  RingQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  int next_in = 0;
  int next_out = 0;
  // Interleaved pushes and pops wrap the head around the array, and growth happens with a
  // wrapped head: order must survive both.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) q.push_back(std::to_string(next_in++));
    EXPECT_EQ(q.front(), std::to_string(next_out));
    q.pop_front();
    ++next_out;
    EXPECT_EQ(q.back(), std::to_string(next_in - 1));
    EXPECT_EQ(q.size(), static_cast<size_t>(next_in - next_out));
    for (size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], std::to_string(next_out + int(i)));
  }
  while (!q.empty()) {
    EXPECT_EQ(q.front(), std::to_string(next_out++));
    q.pop_front();
  }
  EXPECT_EQ(next_out, next_in);
}

TEST(RingQueue, PopReleasesTheElement) {
  RingQueue<std::unique_ptr<int>> q;
  auto shared = std::make_shared<int>(7);
  std::weak_ptr<int> watch = shared;
  RingQueue<std::shared_ptr<int>> holders;
  holders.push_back(std::move(shared));
  holders.emplace_back() = std::make_shared<int>(8);
  holders.pop_front();
  EXPECT_TRUE(watch.expired());  // not kept alive by the array slot it left
  EXPECT_EQ(*holders.front(), 8);
  q.push_back(std::make_unique<int>(1));
  q.clear();
  EXPECT_TRUE(q.empty());
  q.push_back(std::make_unique<int>(2));
  EXPECT_EQ(*q.front(), 2);
}

TEST(RingQueue, DrainedAfterABurstStillWorks) {
  RingQueue<int> q;
  for (int i = 0; i < 5000; ++i) q.push_back(int{i});
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(q.front(), i);
    q.pop_front();
  }
  EXPECT_TRUE(q.empty());  // the big array was let go
  q.push_back(42);
  EXPECT_EQ(q.front(), 42);
  EXPECT_EQ(q.back(), 42);
}

}  // namespace
}  // namespace strata::proxy
