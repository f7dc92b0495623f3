#include "proxy/redis/own_reports.h"

#include <gtest/gtest.h>

#include <string>
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

}  // namespace
}  // namespace strata::proxy
