// TrackingSeen: a worker's filter of the L1 entry versions its tracking clients read with the
// key in their TrackedKeys.
#include "proxy/resp/tracking_seen.h"

#include <gtest/gtest.h>

#include <vector>

namespace strata::proxy {
namespace {

TEST(TrackingSeen, PerClientAndPerVersion) {
  TrackingSeen s;
  const int a = s.acquire();
  const int b = s.acquire();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_NE(a, b);
  EXPECT_FALSE(s.seen(a, 7, 100));
  s.note(a, 7, 100);
  EXPECT_TRUE(s.seen(a, 7, 100));
  EXPECT_FALSE(s.seen(b, 7, 100));  // another client's read says nothing of b
  EXPECT_FALSE(s.seen(a, 7, 101));  // a newer entry of the key, or another key: not seen
  s.note(b, 7, 100);
  EXPECT_TRUE(s.seen(b, 7, 100));
  s.note(a, 7, 0);  // version 0 is no entry
  EXPECT_FALSE(s.seen(a, 7, 0));
}

TEST(TrackingSeen, ForgetOneKeyOrAll) {
  TrackingSeen s;
  const int a = s.acquire();
  const int b = s.acquire();
  s.note(a, 1, 10);
  s.note(b, 1, 10);
  s.note(a, 2, 20);
  s.forget(a, 1);
  EXPECT_FALSE(s.seen(a, 1, 10));
  EXPECT_TRUE(s.seen(b, 1, 10));
  EXPECT_TRUE(s.seen(a, 2, 20));
  s.forget_all(a);
  EXPECT_FALSE(s.seen(a, 2, 20));
  EXPECT_TRUE(s.seen(b, 1, 10));
}

TEST(TrackingSeen, AReleasedBitComesBackClean) {
  TrackingSeen s;
  std::vector<int> bits;
  for (int i = 0; i < TrackingSeen::kClientsMax; ++i) bits.push_back(s.acquire());
  EXPECT_EQ(s.acquire(), -1);  // all taken: such a client uses its TrackedKeys alone
  s.note(bits[5], 3, 30);
  s.release(bits[5]);
  const int again = s.acquire();
  EXPECT_EQ(again, bits[5]);
  EXPECT_FALSE(s.seen(again, 3, 30));  // the last holder's reads are not its
}

// Four versions per bucket: a fifth one in the bucket pushes the oldest out (a miss, never a
// wrong hit); and the table doubles, starting over, as versions fill it.
TEST(TrackingSeen, LossyButNeverWrong) {
  TrackingSeen s;
  const int a = s.acquire();
  const uint64_t hash = 5;  // one bucket for all
  for (uint64_t v = 1; v <= TrackingSeen::kWays + 1; ++v) s.note(a, hash, v);
  EXPECT_FALSE(s.seen(a, hash, 1));
  for (uint64_t v = 2; v <= TrackingSeen::kWays + 1; ++v) EXPECT_TRUE(s.seen(a, hash, v));
  const size_t before = s.buckets();
  for (uint64_t v = 100; v < 100 + before; ++v) s.note(a, v, v);
  EXPECT_GT(s.buckets(), before);
  for (uint64_t v = 1; v < 100; ++v) EXPECT_FALSE(s.seen(a, v, v));  // only what was noted
}

}  // namespace
}  // namespace strata::proxy
