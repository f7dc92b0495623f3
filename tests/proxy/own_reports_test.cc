#include "proxy/redis/own_reports.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace strata::proxy {
namespace {

// OwnReports is process-wide: each test uses keys of its own and brings its workers' tracking
// connections up and down itself.
class OwnReportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    r.want();
    r.live(0, true);
    r.live(1, true);
  }
  void TearDown() override {
    r.live(0, false);
    r.live(1, false);
    EXPECT_EQ(r.open_markers(), 0u);
  }
  uint64_t open(const std::vector<std::string>& keys, bool flush = false) {
    return r.open(keys, flush);
  }
  std::vector<std::string> finish(uint64_t m, const std::vector<std::string>& keys, bool changed,
                                  bool flush = false, bool* told_flush = nullptr) {
    std::vector<std::string> tell;
    bool f = false;
    r.finish(m, keys, flush, changed, &tell, &f);
    if (told_flush != nullptr) *told_flush = f;
    return tell;
  }
  OwnReports& r = OwnReports::instance();
};

TEST_F(OwnReportsTest, AReportBeforeTheMarkerIsOwnOnEachWorkerUntilItPassesThere) {
  const uint64_t m = open({"a1", "b1"});
  ASSERT_NE(m, 0u);
  EXPECT_TRUE(r.own(0, "a1"));
  EXPECT_TRUE(r.own(1, "b1"));
  EXPECT_FALSE(r.own(0, "c1"));  // not written
  EXPECT_TRUE(finish(m, {"a1", "b1"}, true).empty());
  EXPECT_TRUE(r.own(0, "a1"));  // the reply is in, the marker not yet: still the write's
  r.passed(0, m);
  EXPECT_FALSE(r.own(0, "a1"));  // another client's change now
  EXPECT_TRUE(r.own(1, "a1"));
  r.passed(1, m);
  EXPECT_FALSE(r.own(1, "a1"));
  EXPECT_EQ(r.open_markers(), 0u);
}

TEST_F(OwnReportsTest, AWriteThatChangedNothingTellsTheReportsHeldMeanwhile) {
  const uint64_t m = open({"a2", "b2"});
  EXPECT_TRUE(r.own(1, "a2"));  // held: Redis ran someone else's write of a2 meanwhile
  EXPECT_EQ(finish(m, {"a2", "b2"}, false), std::vector<std::string>{"a2"});
  const uint64_t m2 = open({"a2"});
  EXPECT_TRUE(r.own(0, "a2"));
  EXPECT_TRUE(finish(m2, {"a2"}, true).empty());  // its own change event tells
  r.passed(0, m);
  r.passed(1, m);
  r.passed(0, m2);
  r.passed(1, m2);
}

TEST_F(OwnReportsTest, AMarkerNeverPublishedOrAWorkerLostClosesTheWindow) {
  const uint64_t m = open({"a3"});
  r.dropped(m);
  EXPECT_FALSE(r.own(0, "a3"));
  EXPECT_FALSE(r.own(1, "a3"));
  const uint64_t m2 = open({"a3"});
  r.live(1, false);
  EXPECT_FALSE(r.own(1, "a3"));
  EXPECT_TRUE(r.own(0, "a3"));
  r.passed(0, m2);
  EXPECT_EQ(r.open_markers(), 0u);
  finish(m, {"a3"}, true);
  finish(m2, {"a3"}, true);
  r.live(0, false);
  EXPECT_EQ(open({"a3"}), 0u);  // no tracking connection: nothing to mark
}

TEST_F(OwnReportsTest, AFlushIsMarkedLikeAKey) {
  const uint64_t m = open({}, true);
  EXPECT_TRUE(r.own_flush(0));
  bool told = true;
  finish(m, {}, false, true, &told);
  EXPECT_TRUE(told);  // held, and the flush changed nothing
  r.passed(0, m);
  EXPECT_FALSE(r.own_flush(0));
  EXPECT_TRUE(r.own_flush(1));
  r.passed(1, m);
  EXPECT_FALSE(r.own_flush(1));
}

// Workers on threads of their own, as in strata: each forwards writes of its keys (open, its
// reply, finish) while every worker's tracking connection reads the others' markers (passed) and
// reports (own). A write's key is its own on its worker until that worker reads the marker;
// once every worker has read every marker, none is left open. Also in the ThreadSanitizer pass.
TEST_F(OwnReportsTest, WorkersOnThreadsTellTheirOwnWritesApart) {
  constexpr uint32_t kWorkers = 4;
  constexpr int kWrites = 500;
  for (uint32_t w = 2; w < kWorkers; ++w) r.live(w, true);
  std::mutex mu;
  std::vector<std::vector<uint64_t>> inbox(kWorkers);  // markers each worker has yet to read
  std::atomic<int> wrong{0};
  auto drain = [&](uint32_t w) {
    std::vector<uint64_t> mine;
    {
      std::lock_guard<std::mutex> g(mu);
      mine.swap(inbox[w]);
    }
    for (uint64_t m : mine) r.passed(w, m);
  };
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kWrites; ++i) {
        const std::vector<std::string> keys{"t" + std::to_string(w) + ":" + std::to_string(i)};
        const uint64_t m = r.open(keys, false);
        if (m == 0) {
          ++wrong;
          continue;
        }
        {
          std::lock_guard<std::mutex> g(mu);
          for (auto& box : inbox) box.push_back(m);
        }
        if (!r.own(w, keys[0])) ++wrong;  // this worker has not read the marker yet
        std::vector<std::string> tell;
        bool tell_flush = false;
        r.finish(m, keys, false, true, &tell, &tell_flush);
        if (!tell.empty() || tell_flush) ++wrong;  // it changed the key: nothing held to tell
        if (i % 8 == 0) drain(w);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint32_t w = 0; w < kWorkers; ++w) drain(w);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(r.open_markers(), 0u);
  for (uint32_t w = 0; w < kWorkers; ++w) EXPECT_FALSE(r.own(w, "t0:0"));
  for (uint32_t w = 2; w < kWorkers; ++w) r.live(w, false);
}

}  // namespace
}  // namespace strata::proxy
