// TrackingSeen: a worker's filter of the L1 entry versions its tracking clients read with the
// TrackingTable holding their bit for the key. (The bits come from TrackingTable::acquire_bit.)
#include "proxy/resp/tracking_seen.h"

#include <gtest/gtest.h>

namespace strata::proxy {
namespace {

TEST(TrackingSeen, PerClientAndPerVersion) {
  TrackingSeen s;
  const int a = 0;
  const int b = 1;
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
  const int a = 3;
  const int b = TrackingSeen::kClientsMax - 1;
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

// A closed client's bit stays set until the bit is claimed by its next holder, which finds it
// clean: one walk for every bit released since.
TEST(TrackingSeen, AReleasedBitIsClearedWhenClaimed) {
  TrackingSeen s;
  s.note(5, 3, 30);
  s.note(6, 3, 30);
  s.note(7, 4, 40);
  s.release(5);
  s.release(6);
  EXPECT_TRUE(s.seen(6, 3, 30));  // nobody's meanwhile: nobody asks
  s.claim(7);  // never released: left alone
  EXPECT_TRUE(s.seen(7, 4, 40));
  s.claim(5);
  EXPECT_FALSE(s.seen(5, 3, 30));
  EXPECT_FALSE(s.seen(6, 3, 30));  // cleared in the same walk
  EXPECT_TRUE(s.seen(7, 4, 40));
}

// Four versions per bucket: a fifth one in the bucket pushes the oldest out (a miss, never a
// wrong hit); and the table doubles, starting over, as versions fill it.
TEST(TrackingSeen, LossyButNeverWrong) {
  TrackingSeen s;
  const int a = 0;
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
