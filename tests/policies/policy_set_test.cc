// STRATA POLICY SET / GET: set_policy_field and describe_policy, plus the strategy names.
#include <gtest/gtest.h>

#include <string>

#include "policies/policy.h"
#include "policies/policy_config.h"

namespace strata::policies {
namespace {

ConfigContext ctx() { return ConfigContext{.has_upstream = true, .has_postgres = true}; }

Policy chat() {
  Policy p;
  p.prefix = "chat:";
  return p;
}

std::string set_error(Policy* p, std::string_view field, std::string_view value,
                      ConfigContext c = ctx()) {
  const Policy before = *p;
  auto r = set_policy_field(p, field, value, c);
  if (r) return "";
  EXPECT_EQ(*p, before) << "a refused SET must leave the policy unchanged";
  return r.error();
}

TEST(Strategy, NamesRoundTrip) {
  for (Strategy s : {Strategy::kCache, Strategy::kWriteThrough, Strategy::kWriteBehind,
                     Strategy::kWriteAround, Strategy::kRefreshAhead}) {
    Strategy back = Strategy::kCache;
    ASSERT_TRUE(parse_strategy(strategy_name(s), &back)) << strategy_name(s);
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(strategy_name(Strategy::kWriteBehind), "write-behind");
  EXPECT_EQ(strategy_name(Strategy::kRefreshAhead), "refresh-ahead");
  Strategy out = Strategy::kWriteAround;
  EXPECT_FALSE(parse_strategy("Write-Through", &out));
  EXPECT_FALSE(parse_strategy("", &out));
  EXPECT_EQ(out, Strategy::kWriteAround);
  EXPECT_EQ(strategy_names_list(),
            "write-through, write-behind, write-around, refresh-ahead, cache");
}

TEST(SetPolicyField, SetsEachKind) {
  Policy p = chat();
  ASSERT_EQ(set_error(&p, "strategy", "write-behind"), "");
  EXPECT_EQ(p.strategy, Strategy::kWriteBehind);
  ASSERT_EQ(set_error(&p, "l1", "no"), "");
  EXPECT_FALSE(p.l1);
  ASSERT_EQ(set_error(&p, "l1", "TRUE"), "");
  EXPECT_TRUE(p.l1);
  ASSERT_EQ(set_error(&p, "l2", "off"), "");
  EXPECT_FALSE(p.l2);
  ASSERT_EQ(set_error(&p, "ttl_ms", "60000"), "");
  EXPECT_EQ(p.ttl_ms, 60000u);
  ASSERT_EQ(set_error(&p, "negative_ttl_ms", "0"), "");
  ASSERT_EQ(set_error(&p, "refresh_point", "0.5"), "");
  EXPECT_EQ(p.refresh_point, 0.5);
  ASSERT_EQ(set_error(&p, "flush_interval_ms", "10"), "");
  EXPECT_EQ(p.flush_interval_ms, 10u);
  ASSERT_EQ(set_error(&p, "max_batch", "10000"), "");
  EXPECT_EQ(p.max_batch, 10000u);
  ASSERT_EQ(set_error(&p, "max_queue_depth", "5"), "");
  EXPECT_EQ(p.max_queue_depth, 5u);
  ASSERT_EQ(set_error(&p, "queue_wait_ms", "0"), "");
  EXPECT_EQ(p.queue_wait_ms, 0u);
  ASSERT_EQ(set_error(&p, "table", "app.chat"), "");
  ASSERT_EQ(set_error(&p, "key_column", "_k1"), "");
  ASSERT_EQ(set_error(&p, "value_column", "V"), "");
  ASSERT_EQ(set_error(&p, "version_column", "ver"), "");
  EXPECT_EQ(p.pg, (PgMapping{"app.chat", "_k1", "V", "ver"}));
}

TEST(SetPolicyField, RefusesWithTheSameMessagesWithoutLocation) {
  Policy p = chat();
  EXPECT_EQ(set_error(&p, "strategy", "write-behnd"),
            "[[policy]] prefix 'chat:': strategy 'write-behnd' is not one of write-through, "
            "write-behind, write-around, refresh-ahead, cache");
  EXPECT_EQ(set_error(&p, "max_batch", "0"),
            "[[policy]] prefix 'chat:': max_batch 0 is out of range: must be an integer in "
            "1..10000");
  EXPECT_EQ(set_error(&p, "max_batch", "10001"),
            "[[policy]] prefix 'chat:': max_batch 10001 is out of range: must be an integer in "
            "1..10000");
  EXPECT_EQ(set_error(&p, "ttl_ms", "5s"),
            "[[policy]] prefix 'chat:': ttl_ms '5s' is not an integer: must be an integer in "
            "0..315360000000");
  EXPECT_EQ(set_error(&p, "ttl_ms", "-1"),
            "[[policy]] prefix 'chat:': ttl_ms -1 is out of range: must be an integer in "
            "0..315360000000");
  EXPECT_NE(set_error(&p, "ttl_ms", "99999999999999999999999").find("is out of range"),
            std::string::npos);
  EXPECT_EQ(set_error(&p, "ttl_ms", ""),
            "[[policy]] prefix 'chat:': ttl_ms '' is not an integer: must be an integer in "
            "0..315360000000");
  EXPECT_EQ(set_error(&p, "l1", "maybe"),
            "[[policy]] prefix 'chat:': l1 'maybe' is not a boolean: must be true or false (or "
            "yes/no)");
  EXPECT_EQ(set_error(&p, "refresh_point", "1"),
            "[[policy]] prefix 'chat:': refresh_point 1 is out of range: must be a number "
            "between 0 and 1, both excluded");
  EXPECT_NE(set_error(&p, "refresh_point", "0").find("refresh_point 0 is out of range"),
            std::string::npos);
  EXPECT_NE(set_error(&p, "refresh_point", "inf").find("refresh_point 'inf' is not a number"),
            std::string::npos);
  EXPECT_NE(set_error(&p, "refresh_point", "0.5x").find("is not a number"), std::string::npos);
  EXPECT_NE(set_error(&p, "table", "a b").find("table 'a b' is not a valid SQL identifier"),
            std::string::npos);
  EXPECT_NE(set_error(&p, "ttl", "5").find("unknown field 'ttl' (allowed: strategy, l1, l2"),
            std::string::npos);
  EXPECT_NE(set_error(&p, "prefix", "x:").find("prefix cannot be changed"), std::string::npos);
}

TEST(SetPolicyField, CrossFieldRules) {
  Policy p = chat();  // strategy cache, l1 and l2 on
  ASSERT_EQ(set_error(&p, "l1", "no"), "");
  EXPECT_NE(set_error(&p, "l2", "no").find("l1 and l2 are both false with strategy 'cache'"),
            std::string::npos);
  EXPECT_TRUE(p.l2);
  EXPECT_EQ(set_error(&p, "strategy", "refresh-ahead"),
            "[[policy]] prefix 'chat:': strategy 'refresh-ahead' needs ttl_ms > 0 "
            "(refresh_point is a fraction of the TTL)");
  ASSERT_EQ(set_error(&p, "ttl_ms", "1000"), "");
  ASSERT_EQ(set_error(&p, "strategy", "refresh-ahead"), "");
  EXPECT_NE(set_error(&p, "ttl_ms", "0").find("needs ttl_ms > 0"), std::string::npos);
  // A PostgreSQL strategy leaves l1 = l2 = false legal: PostgreSQL holds the data.
  ASSERT_EQ(set_error(&p, "l2", "no"), "");
  // Without [postgres] a PostgreSQL strategy is refused.
  Policy q = chat();
  EXPECT_NE(
      set_error(&q, "strategy", "write-through", {.has_upstream = true, .has_postgres = false})
          .find("uses PostgreSQL, but [postgres] conninfo is not set"),
      std::string::npos);
  EXPECT_EQ(set_error(&q, "strategy", "cache", {.has_upstream = false, .has_postgres = false}), "");
}

TEST(SetPolicyField, DefaultPolicyIsNamedDefault) {
  Policy d;
  EXPECT_EQ(set_error(&d, "max_batch", "0"),
            "[default]: max_batch 0 is out of range: must be an integer in 1..10000");
}

TEST(DescribePolicy, FieldOrderAndFormatting) {
  Policy p = chat();
  p.strategy = Strategy::kWriteBehind;
  p.l2 = false;
  p.ttl_ms = 300000;
  p.negative_ttl_ms = 5000;
  p.pg.table = "public.chat";
  auto d = describe_policy(p);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"prefix", "chat:"},
      {"strategy", "write-behind"},
      {"l1", "yes"},
      {"l2", "no"},
      {"ttl_ms", "300000"},
      {"negative_ttl_ms", "5000"},
      {"refresh_point", "0.8"},
      {"stampede_lease_ms", "500"},
      {"flush_interval_ms", "100"},
      {"max_batch", "256"},
      {"max_queue_depth", "100000"},
      {"queue_wait_ms", "2000"},
      {"l1_bytes", "0"},
      {"eviction", ""},
      {"sync", "auto"},
      {"conflict", "lww"},
      {"table", "public.chat"},
      {"key_column", "key"},
      {"value_column", "value"},
      {"version_column", "version"},
  };
  EXPECT_EQ(d, want);
  EXPECT_EQ(describe_policy(Policy{})[0], (std::pair<std::string, std::string>{"prefix", ""}));
}

TEST(DescribePolicy, SetAcceptsWhatGetPrints) {
  Policy p = chat();
  p.strategy = Strategy::kRefreshAhead;
  p.ttl_ms = 1000;
  p.refresh_point = 0.35;
  p.l1 = false;
  Policy q = chat();
  q.strategy = Strategy::kRefreshAhead;
  q.ttl_ms = 1000;
  for (const auto& [field, value] : describe_policy(p)) {
    if (field == "prefix") continue;
    ASSERT_EQ(set_error(&q, field, value), "") << field << "=" << value;
  }
  EXPECT_EQ(q, p);
}

}  // namespace
}  // namespace strata::policies
