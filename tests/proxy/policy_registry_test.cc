#include "proxy/tiers/policy_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "proxy/tiers/tier_shared.h"

namespace strata::proxy {
namespace {

std::string temp_file(const std::string& text) {
  char path[] = "/tmp/strata_policy_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

const char* kGood = R"(
[postgres]
conninfo = "host=127.0.0.1 port=1"
[[policy]]
prefix = "user:"
strategy = "write-through"
ttl_ms = 1000
[[policy]]
prefix = "chat:"
strategy = "write-behind"
)";

TEST(PolicyRegistry, LongestPrefixAndSql) {
  auto cfg = policies::parse_policy_text(kGood, "t.toml", {});
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  PolicyRegistry r("", {}, *cfg);
  const PolicySnapshot* s = r.current();
  EXPECT_TRUE(s->any_postgres);
  EXPECT_EQ(s->match("user:1").policy.strategy, policies::Strategy::kWriteThrough);
  EXPECT_EQ(s->match("chat:9").policy.strategy, policies::Strategy::kWriteBehind);
  EXPECT_EQ(s->match("other").policy.strategy, policies::Strategy::kCache);
  const MappingSql& sql = s->match("user:1").sql;
  EXPECT_EQ(sql.select, "SELECT \"value\", \"version\" FROM \"strata_kv\" WHERE \"key\" = $1");
  EXPECT_NE(sql.upsert.find("ON CONFLICT (\"key\") DO UPDATE"), std::string::npos);
  EXPECT_NE(sql.upsert.find("WHERE t.\"version\" < EXCLUDED.\"version\""), std::string::npos);
  EXPECT_NE(sql.upsert_rows(3).find("($7, $8, $9::bigint, now())"), std::string::npos);
  EXPECT_EQ(sql.remove,
            "DELETE FROM \"strata_kv\" WHERE \"key\" = $1 AND \"version\" <= $2::bigint");
  EXPECT_NE(sql.tombstone.find("VALUES ($1, NULL, $2::bigint, now()) ON CONFLICT"),
            std::string::npos)
      << sql.tombstone;
  EXPECT_NE(sql.tombstone.find("WHERE t.\"version\" < EXCLUDED.\"version\""), std::string::npos);
  EXPECT_FALSE(PolicyRegistry::setup_sql(*cfg).empty());
}

TEST(PolicyRegistry, CustomMappingQuotesAndHasNoUpdatedAt) {
  auto cfg = policies::parse_policy_text(R"(
[postgres]
conninfo = "x=1"
[[policy]]
prefix = "s:"
strategy = "write-around"
table = "app.streams"
key_column = "id"
value_column = "body"
version_column = "rev"
)",
                                         "t.toml", {});
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  PolicyRegistry r("", {}, *cfg);
  const MappingSql& sql = r.current()->match("s:1").sql;
  EXPECT_EQ(sql.select, "SELECT \"body\", \"rev\" FROM \"app\".\"streams\" WHERE \"id\" = $1");
  EXPECT_EQ(sql.upsert.find("updated_at"), std::string::npos);
  EXPECT_TRUE(PolicyRegistry::setup_sql(*cfg).empty());  // no default table to create
}

TEST(PolicyRegistry, BadReloadKeepsRunningPolicies) {
  const std::string path = temp_file(kGood);
  auto cfg = policies::load_policy_file(path, {});
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  PolicyRegistry r(path, {}, *cfg);
  const PolicySnapshot* before = r.current();
  std::ofstream(path) << "[[policy]]\nprefix = \"user:\"\nstrategy = \"write-behnd\"\n";
  auto res = r.reload();
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().find("write-behnd"), std::string::npos) << res.error();
  EXPECT_EQ(r.current(), before);
  EXPECT_EQ(r.current()->match("user:1").policy.strategy, policies::Strategy::kWriteThrough);

  std::ofstream(path) << kGood
                      << "[[policy]]\nprefix = \"user:vip:\"\nstrategy = \"write-behind\"\n";
  ASSERT_TRUE(r.reload().has_value());
  EXPECT_EQ(r.current()->match("user:vip:1").policy.strategy, policies::Strategy::kWriteBehind);
  // Counters survive a reload.
  EXPECT_EQ(r.current()->match("user:1").stats, before->match("user:1").stats);
  unlink(path.c_str());
}

TEST(PolicyRegistry, SetFieldValidatesAndCreates) {
  auto cfg = policies::parse_policy_text(kGood, "t.toml", {});
  ASSERT_TRUE(cfg.has_value());
  PolicyRegistry r("", {}, *cfg);
  ASSERT_TRUE(r.set_field("user:", "ttl_ms", "5000").has_value());
  EXPECT_EQ(r.current()->match("user:1").policy.ttl_ms, 5000u);
  auto bad = r.set_field("user:", "max_batch", "0");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("max_batch"), std::string::npos) << bad.error();
  ASSERT_TRUE(r.set_field("new:", "strategy", "write-around").has_value());
  EXPECT_EQ(r.current()->match("new:x").policy.strategy, policies::Strategy::kWriteAround);
}

TEST(PolicyRegistry, NoPostgresRefusesPostgresStrategy) {
  PolicyRegistry r("", {}, policies::PolicyConfig{});
  EXPECT_FALSE(r.set_field("a:", "strategy", "write-through").has_value());
  EXPECT_TRUE(r.set_field("a:", "l1", "no").has_value());
  EXPECT_TRUE(r.current()->any_tier_off);
}

TEST(NegativeCache, ExpiresAndErases) {
  NegativeCache n;
  n.put("a", 100);
  EXPECT_TRUE(n.hit("a", 100));
  EXPECT_FALSE(n.hit("a", 101));
  n.put("b", 100);
  n.erase("b");
  EXPECT_FALSE(n.hit("b", 50));
}

TEST(RefreshSet, OnePerKey) {
  RefreshSet s;
  EXPECT_TRUE(s.try_begin("k"));
  EXPECT_FALSE(s.try_begin("k"));
  s.end("k");
  EXPECT_TRUE(s.try_begin("k"));
}

TEST(WriteBehindShared, PendingIsFoundUntilCommitted) {
  auto cfg = policies::parse_policy_text(kGood, "t.toml", {});
  ASSERT_TRUE(cfg.has_value());
  PolicyRegistry r("", {}, *cfg);
  WriteBehindShared wb(nullptr, 10);
  const PolicyEntry& e = r.current()->match("chat:1");
  policies::PendingWrite w;
  w.key = "chat:1";
  w.value = "v1";
  w.version = 10;
  wb.push(e, w);
  w.value = "v2";
  w.version = 11;
  wb.push(e, w);  // coalesced
  policies::PendingWrite got;
  ASSERT_TRUE(wb.find("chat:", "chat:1", &got));
  EXPECT_EQ(got.value, "v2");
  std::vector<FlushBatch> batches;
  wb.take(0, true, 4, &batches);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].writes.size(), 1u);
  EXPECT_EQ(batches[0].writes[0].version, 11u);
  EXPECT_EQ(wb.depth(), 1u);
  policies::WriteView done;
  done.key = "chat:1";
  done.version = 11;
  wb.settle("chat:", std::span(&done, 1), true);
  EXPECT_EQ(wb.depth(), 0u);
  EXPECT_FALSE(wb.find("chat:", "chat:1", &got));
}

}  // namespace
}  // namespace strata::proxy
