// TimerHeap alone (order, cancel, re-arming from a callback, the limit), and on a real loop of
// each driver: a timer fires at its deadline although the tick is a second away.
#include "proxy/loop/timer_heap.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {
namespace {

TEST(TimerHeap, RunsDueTimersInDeadlineThenArmingOrder) {
  TimerHeap t;
  std::vector<int> ran;
  t.add(30, [&] { ran.push_back(3); });
  t.add(10, [&] { ran.push_back(1); });
  t.add(20, [&] { ran.push_back(2); });
  t.add(10, [&] { ran.push_back(11); });  // same deadline: after the one armed first
  EXPECT_EQ(t.wait_ms(0), 10);
  EXPECT_EQ(t.wait_ms(15), 0);
  EXPECT_EQ(t.run_due(9), 0u);
  EXPECT_EQ(t.run_due(20), 3u);
  EXPECT_EQ(ran, (std::vector<int>{1, 11, 2}));
  EXPECT_EQ(t.armed(), 1u);
  EXPECT_EQ(t.run_due(100), 1u);
  EXPECT_EQ(t.wait_ms(100), -1);
  EXPECT_EQ(t.armed(), 0u);
}

TEST(TimerHeap, CancelledTimersNeverRunNorBoundTheWait) {
  TimerHeap t;
  int ran = 0;
  const TimerHeap::Id a = t.add(5, [&] { ran += 1; });
  t.add(50, [&] { ran += 10; });
  EXPECT_TRUE(t.cancel(a));
  EXPECT_FALSE(t.cancel(a));
  EXPECT_FALSE(t.cancel(0));
  EXPECT_EQ(t.wait_ms(0), 50);  // the cancelled one no longer bounds the wait
  EXPECT_EQ(t.run_due(60), 1u);
  EXPECT_EQ(ran, 10);
}

TEST(TimerHeap, CallbacksMayArmAndCancel) {
  TimerHeap t;
  std::vector<std::string> ran;
  TimerHeap::Id later = 0;
  t.add(10, [&] {
    ran.push_back("first");
    t.add(10, [&] { ran.push_back("armed-due"); });  // due now: runs in the same call
    t.add(40, [&] { ran.push_back("armed-later"); });
    t.cancel(later);
  });
  later = t.add(20, [&] { ran.push_back("cancelled"); });
  EXPECT_EQ(t.run_due(30), 2u);
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "armed-due"}));
  EXPECT_EQ(t.wait_ms(30), 10);
}

TEST(TimerHeap, RefusesPastTheLimitAndStaysBoundedUnderChurn) {
  TimerHeap t;
  for (size_t i = 0; i < TimerHeap::kTimersMax; ++i) ASSERT_NE(t.add(1000, [] {}), 0u);
  EXPECT_EQ(t.add(1000, [] {}), 0u);
  EXPECT_EQ(t.armed(), TimerHeap::kTimersMax);
  EXPECT_EQ(t.run_due(1000), TimerHeap::kTimersMax);
  // Arm and cancel far more timers than the limit: cancelled slots are reclaimed.
  for (size_t i = 0; i < 5 * TimerHeap::kTimersMax; ++i) {
    const TimerHeap::Id id = t.add(static_cast<int64_t>(5000 + i), [] {});
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(t.cancel(id));
  }
  int ran = 0;
  t.add(2000, [&] { ++ran; });
  EXPECT_EQ(t.wait_ms(1990), 10);
  EXPECT_EQ(t.run_due(100'000), 1u);
  EXPECT_EQ(ran, 1);
}

class NoOwner final : public LoopOwner {
 public:
  void on_accept(int, uint32_t) override {}
  void on_tick(int64_t) override { ++ticks; }
  void end_of_iteration(int64_t) override {}
  int ticks = 0;
};

void fires_between_ticks(bool epoll) {
  NoOwner owner;
  Loop loop(0, &owner);
  DriverOptions d;
  d.tick_ms = 1000;  // the timer must not wait for it
  d.force_epoll = epoll;
  std::string err, note;
  ASSERT_TRUE(loop.init(d, !epoll, &err, &note)) << err;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Clock::time_point fired{};
  loop.timers().add(loop.now_ms() + 20, [&] { fired = Clock::now(); });
  for (int i = 0; i < 50 && fired == Clock::time_point{}; ++i) loop.run_once();
  ASSERT_NE(fired, Clock::time_point{});
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(fired - start).count();
  EXPECT_GE(ms, 18);   // not early (loop time is whole milliseconds)
  EXPECT_LT(ms, 500);  // nowhere near the tick
  EXPECT_EQ(owner.ticks, 0);
  loop.close_all();
}

TEST(TimerHeap, FiresBetweenTicksOnUring) { fires_between_ticks(false); }
TEST(TimerHeap, FiresBetweenTicksOnEpoll) { fires_between_ticks(true); }

}  // namespace
}  // namespace strata::proxy
