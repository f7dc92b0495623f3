// Store partitions: routing by longest prefix, separate budgets and policies, one lock order
// across partitions, versions unique store-wide, scans and stats covering every partition.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "cache/store.h"

namespace strata::cache {
namespace {

constexpr uint64_t kPartBytes = 64 * 1024;

StoreConfig partitioned() {
  StoreConfig c;
  c.maxmemory_bytes = 256 * 1024;
  c.shards = 4;
  c.partitions.push_back({"user:", kPartBytes, "lru", 2});
  c.partitions.push_back({"chat:", kPartBytes, "adaptive", 1});
  c.default_prefixes.push_back("user:admin:");
  return c;
}

uint64_t put(Store& s, std::string_view k, std::string_view v) { return s.lock(k)->set(k, v, 0); }

TEST(StorePartitionTest, RoutesByLongestPrefix) {
  ManualClock clock;
  Store s(partitioned(), &clock);
  EXPECT_EQ(s.partition_of("user:1"), 1u);
  EXPECT_EQ(s.partition_of("chat:room:9"), 2u);
  EXPECT_EQ(s.partition_of("user:admin:1"), 0u);  // a longer prefix without a partition
  EXPECT_EQ(s.partition_of("other"), 0u);
  EXPECT_EQ(s.partition_of("use"), 0u);
  EXPECT_EQ(s.capacity_for("user:1"), kPartBytes);
  EXPECT_EQ(s.capacity_for("x"), 256u * 1024);
}

TEST(StorePartitionTest, BudgetsAreSeparate) {
  ManualClock clock;
  Store s(partitioned(), &clock);
  const std::string value(200, 'v');
  for (int i = 0; i < 50; ++i) put(s, "keep:" + std::to_string(i), value);
  for (int i = 0; i < 5000; ++i) put(s, "user:" + std::to_string(i), value);  // ~16x its budget
  auto parts = s.partition_stats();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].prefix, "");
  EXPECT_EQ(parts[0].stats.keys, 50u);  // the default partition lost nothing
  EXPECT_EQ(parts[0].stats.evictions, 0u);
  EXPECT_GT(parts[1].stats.evictions, 0u);
  EXPECT_LE(parts[1].stats.used_bytes, kPartBytes);
  EXPECT_EQ(parts[1].eviction, "lru");
  ASSERT_EQ(parts[1].live_policies.size(), 1u);
  EXPECT_EQ(parts[1].live_policies[0], (std::pair<std::string, uint32_t>{"lru", 2}));
  EXPECT_EQ(parts[2].eviction, "adaptive");
  ASSERT_EQ(parts[2].live_policies.size(), 1u);
  EXPECT_EQ(parts[2].live_policies[0].first, "s3fifo");  // adaptive's initial live policy
  const StoreStats total = s.stats();
  EXPECT_EQ(total.keys, parts[0].stats.keys + parts[1].stats.keys + parts[2].stats.keys);
  EXPECT_TRUE(s.check_invariants());
}

TEST(StorePartitionTest, MultiKeyTxnAndVersionsAcrossPartitions) {
  ManualClock clock;
  Store s(partitioned(), &clock);
  std::vector<std::string_view> keys = {"user:1", "chat:1", "x", "user:admin:1", "user:2"};
  std::set<uint64_t> versions;
  {
    auto txn = s.lock(keys);
    for (std::string_view k : keys) versions.insert(txn->set(k, "v", 0));
  }
  EXPECT_EQ(versions.size(), keys.size());  // unique store-wide
  EXPECT_FALSE(versions.contains(0));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  do {
    std::vector<std::string> out;
    cursor = s.scan_keys(cursor, 2, &out);
    seen.insert(out.begin(), out.end());
  } while (cursor != 0);
  EXPECT_EQ(seen.size(), keys.size());
  s.flush_all();
  EXPECT_EQ(s.stats().keys, 0u);
}

TEST(StorePartitionTest, ChargeFollowsThePartitionsPolicy) {
  ManualClock clock;
  Store s(partitioned(), &clock);
  // Adaptive carries shadow metadata per entry; LRU less: the same entry costs differently.
  EXPECT_GT(s.charged_bytes("chat:1", 10), s.charged_bytes("user:1", 10));
  EXPECT_EQ(s.charged_bytes("x", 10), s.charged_bytes(1, 10));
}

TEST(StorePartitionTest, RefusesBadLayouts) {
  ManualClock clock;
  StoreConfig c = partitioned();
  c.partitions[0].shards = 3;
  EXPECT_THROW(Store(c, &clock), std::invalid_argument);
  c = partitioned();
  c.partitions[0].prefix = "";
  EXPECT_THROW(Store(c, &clock), std::invalid_argument);
  c = partitioned();
  c.partitions[1].eviction = "nope";
  EXPECT_THROW(Store(c, &clock), std::invalid_argument);
}

}  // namespace
}  // namespace strata::cache
