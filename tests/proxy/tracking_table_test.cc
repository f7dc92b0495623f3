// TrackingTable: which clients to tell when a key changes (CLIENT TRACKING served by strata).
#include "proxy/resp/tracking_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cache/hash.h"
#include "proxy/resp/tracked_keys.h"

namespace strata::proxy {
namespace {

std::vector<uint64_t> readers_of(TrackingTable& t, std::string_view key) {
  std::vector<uint64_t> readers;
  std::vector<TrackingTable::PrefixHit> bcast;
  t.changed(key, &readers, &bcast);
  std::sort(readers.begin(), readers.end());
  return readers;
}

TEST(TrackingTableTest, ReadersAreToldOnceAndForgotten) {
  TrackingTable t;
  t.enable(1, false, {});
  t.enable(2, false, {});
  EXPECT_TRUE(t.active());
  std::vector<TrackingTold> evicted;
  t.remember("k", 1, &evicted);
  t.remember("k", 2, &evicted);
  t.remember("k", 1, &evicted);  // once per client
  t.remember("other", 2, &evicted);
  EXPECT_EQ(t.counts().keys, 2u);
  EXPECT_EQ(t.counts().items, 3u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(readers_of(t, "k").empty());
  EXPECT_TRUE(evicted.empty());
}

// A caller that knows the client is not a reader yet (its TrackedKeys lacked the key) skips the
// search; one that does not know still gets each client once.
TEST(TrackingTableTest, KnownAbsentReadersAreAppended) {
  TrackingTable t;
  std::vector<TrackingTold> evicted;
  t.remember("k", 1, &evicted, /*known_absent=*/true);
  t.remember("k", 2, &evicted, /*known_absent=*/true);
  t.remember("k", 1, &evicted);  // tracking was off once: searched
  EXPECT_EQ(t.counts().items, 2u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{1, 2}));
}

TEST(TrackingTableTest, PastMaxKeysTheEvictedAreNamedWithTheirReaders) {
  TrackingTable t;
  t.enable(7, false, {});
  std::vector<TrackingTold> evicted;
  t.set_max_keys(2, &evicted);
  t.remember("a", 7, &evicted);
  t.remember("b", 7, &evicted);
  EXPECT_TRUE(evicted.empty());
  t.remember("c", 7, &evicted);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].clients, std::vector<uint64_t>{7});
  EXPECT_EQ(t.counts().keys, 2u);
  EXPECT_EQ(t.counts().evicted, 1u);
  evicted.clear();
  t.set_max_keys(1, &evicted);
  EXPECT_EQ(evicted.size(), 1u);
  EXPECT_EQ(t.counts().keys, 1u);
}

TEST(TrackingTableTest, BcastPrefixesMatch) {
  TrackingTable t;
  t.enable(3, true, {"user:"});
  t.enable(4, true, {});
  std::vector<uint64_t> readers;
  std::vector<TrackingTable::PrefixHit> bcast;
  t.changed("user:1", &readers, &bcast);
  EXPECT_TRUE(readers.empty());
  EXPECT_EQ(bcast.size(), 2u);
  bcast.clear();
  t.changed("item:1", &readers, &bcast);
  ASSERT_EQ(bcast.size(), 1u);
  EXPECT_EQ(bcast[0].clients, std::vector<uint64_t>{4});
  t.disable(4);
  bcast.clear();
  t.changed("item:1", &readers, &bcast);
  EXPECT_TRUE(bcast.empty());
}

// Tracking OFF keeps a client's keys (as in Redis); a client that is gone leaves the keys it
// read, and a key nobody else read goes with it.
TEST(TrackingTableTest, AClosedClientLeavesItsKeys) {
  TrackingTable t;
  t.enable(1, false, {});
  t.enable(2, false, {});
  TrackedKeys mine(100);
  std::vector<TrackingTold> evicted;
  for (const char* k : {"shared", "only-mine"}) {
    mine.insert(k, cache::hash_key(k));
    t.remember(k, 1, &evicted);
  }
  t.remember("shared", 2, &evicted);
  mine.insert("changed-since", cache::hash_key("changed-since"));  // no longer in the table
  t.closed(1, mine);
  EXPECT_EQ(t.counts().clients, 1u);
  EXPECT_EQ(t.counts().keys, 1u);
  EXPECT_EQ(t.counts().items, 1u);
  EXPECT_EQ(readers_of(t, "shared"), std::vector<uint64_t>{2});

  t.remember("kept", 2, &evicted);
  t.disable(2);
  EXPECT_FALSE(t.active());
  EXPECT_EQ(readers_of(t, "kept"), std::vector<uint64_t>{2});
}

TEST(TrackingTableTest, FlushEmptiesAndNamesEveryTrackingClient) {
  TrackingTable t;
  t.enable(5, false, {});
  t.enable(6, true, {});
  std::vector<TrackingTold> evicted;
  t.remember("a", 5, &evicted);
  std::vector<uint64_t> clients;
  t.flushed(&clients);
  std::sort(clients.begin(), clients.end());
  EXPECT_EQ(clients, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(t.counts().keys, 0u);
}

}  // namespace
}  // namespace strata::proxy
