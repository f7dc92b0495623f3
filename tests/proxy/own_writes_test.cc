// OwnWrites: the change feed's record of strata's own writes (and peers'), matched against the
// rows it decodes. A record lives only while its write may still come.
#include "proxy/changefeed/own_writes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace strata::proxy {
namespace {

using Match = OwnWrites::Match;

uint64_t h(std::string_view v) { return OwnWrites::hash_value(v); }

class OwnWritesTest : public ::testing::Test {
 protected:
  std::atomic<bool> active_{true};
  OwnWrites t_{&active_};
};

TEST_F(OwnWritesTest, OwnWriteComesBackOnce) {
  t_.note("k", 100, h("a"), false);
  EXPECT_EQ(t_.match("k", 100, h("a"), false), Match::kOwn);
  EXPECT_EQ(t_.match("k", 100, h("a"), false), Match::kNone);  // forgotten once it came back
  t_.note("k", 101, 0, true);
  EXPECT_EQ(t_.match("k", 0, 0, true), Match::kOwn);  // a DELETE's row: its key only
}

TEST_F(OwnWritesTest, OlderRowWhileTheWriteIsToComeIsSuperseded) {
  t_.note("k", 100, h("a"), false);
  EXPECT_EQ(t_.match("k", 5, h("x"), false), Match::kSuperseded);
  EXPECT_EQ(t_.match("k", 100, h("a"), false), Match::kOwn);
}

TEST_F(OwnWritesTest, OnlyWritingWhileActive) {
  active_ = false;
  t_.writing("k", 100, "a", false);
  EXPECT_EQ(t_.match("k", 5, h("x"), false), Match::kNone);
  active_ = true;
  t_.writing("j", 100, "a", false);
  EXPECT_EQ(t_.match("j", 100, h("a"), false), Match::kOwn);
}

// A peer's write told of (over NATS) after the feed decoded its commit: not recorded, so the
// key's later rows of lower versions -- an admin tool's DELETE, INSERT and UPDATE -- are not
// taken for superseded ones (the caches would keep the old value for good).
TEST_F(OwnWritesTest, WriteToldOfAfterItsCommitIsNotRecorded) {
  EXPECT_EQ(t_.match("k", 100, h("a"), false), Match::kNone);
  t_.note("k", 100, h("a"), false);
  EXPECT_EQ(t_.match("k", 0, 0, true), Match::kNone);
  EXPECT_EQ(t_.match("k", 1, h("b"), false), Match::kNone);
  EXPECT_EQ(t_.match("k", 1, h("c"), false), Match::kNone);
  // The same for a write below a version already committed (it lost to it).
  t_.note("k", 99, h("z"), false);
  EXPECT_EQ(t_.match("k", 1, h("d"), false), Match::kNone);
}

TEST_F(OwnWritesTest, DeleteToldOfAfterItsCommitIsNotRecorded) {
  EXPECT_EQ(t_.match("k", 0, 0, true), Match::kNone);
  t_.note("k", 100, 0, true);
  EXPECT_EQ(t_.match("k", 1, h("b"), false), Match::kNone);  // INSERT, version 1
  EXPECT_EQ(t_.match("k", 0, 0, true), Match::kNone);        // an admin's DELETE: not strata's
}

// PostgreSQL kept the write at another version (the row's + 1 where it was newer): the row at
// or past the record's version that is not the write ends the record.
TEST_F(OwnWritesTest, RowAtOrPastTheRecordEndsIt) {
  t_.note("k", 100, h("a"), false);
  EXPECT_EQ(t_.match("k", 200, h("a"), false), Match::kNone);
  EXPECT_EQ(t_.match("k", 1, h("b"), false), Match::kNone);
  t_.note("j", 100, h("a"), false);
  EXPECT_EQ(t_.match("j", 100, h("x"), false), Match::kNone);  // its version, another value
  EXPECT_EQ(t_.match("j", 1, h("b"), false), Match::kNone);
}

TEST_F(OwnWritesTest, NewerWritesAfterSeenRowsAreRecorded) {
  EXPECT_EQ(t_.match("k", 100, h("a"), false), Match::kNone);
  t_.note("k", 101, h("b"), false);
  EXPECT_EQ(t_.match("k", 101, h("b"), false), Match::kOwn);
  t_.note("k", 102, 0, true);  // the key is there: its removal is to come
  EXPECT_EQ(t_.match("k", 0, 0, true), Match::kOwn);
}

TEST_F(OwnWritesTest, SeenKeysAreForgottenOldestFirst) {
  const size_t n = 2 * OwnWrites::kSeenMax;
  for (size_t i = 0; i < n; ++i) t_.match("k" + std::to_string(i), 100, h("a"), false);
  // The first key's row is forgotten: a note of it counts again.
  t_.note("k0", 100, h("a"), false);
  EXPECT_EQ(t_.match("k0", 100, h("a"), false), Match::kOwn);
  // The last ones are remembered.
  for (size_t i = n - 1000; i < n; ++i) {
    const std::string k = "k" + std::to_string(i);
    t_.note(k, 100, h("a"), false);
    EXPECT_EQ(t_.match(k, 5, h("b"), false), Match::kNone) << k;
  }
}

}  // namespace
}  // namespace strata::proxy
