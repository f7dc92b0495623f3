#include "policies/policy_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace strata::policies {
namespace {

constexpr const char* kPg = "[postgres]\nconninfo = \"host=127.0.0.1\"\n";

ConfigContext ctx() { return ConfigContext{.has_upstream = true}; }

// The error for `text` (named "t.toml"), or "" when it parses.
std::string error_of(const std::string& text) {
  auto r = parse_policy_text(text, "t.toml", ctx());
  return r ? std::string() : r.error();
}

PolicyConfig parse_ok(const std::string& text) {
  auto r = parse_policy_text(text, "t.toml", ctx());
  EXPECT_TRUE(r.has_value()) << r.error();
  return r ? *r : PolicyConfig{};
}

TEST(PolicyConfig, EmptyFileIsTheDefaults) {
  PolicyConfig c = parse_ok("");
  EXPECT_EQ(c.fallback, Policy{});
  EXPECT_TRUE(c.policies.empty());
  EXPECT_EQ(c.postgres, PostgresConfig{});
  EXPECT_EQ(c.journal, JournalConfig{});
  EXPECT_FALSE(c.any_postgres());
  EXPECT_FALSE(c.any_write_behind());
}

TEST(PolicyConfig, BadStrategyMessageIsExact) {
  EXPECT_EQ(error_of(std::string(kPg) + "\n[[policy]]\nprefix = \"chat:\"\nstrategy = \"x\"\n"),
            "t.toml:6: [[policy]] prefix 'chat:': strategy 'x' is not one of write-through, "
            "write-behind, write-around, refresh-ahead, cache");
}

TEST(PolicyConfig, NotTomlNamesTheLine) {
  EXPECT_EQ(error_of("[default]\nttl_ms = = 3\n").substr(0, 9), "t.toml:2:");
  EXPECT_NE(error_of("[default]\nttl_ms = 1\nttl_ms = 2\n").find("t.toml:3: not valid TOML"),
            std::string::npos);
}

struct Mistake {
  const char* name;
  std::string text;
  std::string expected;  // a substring of the message, location included
};

class PolicyConfigMistakes : public ::testing::TestWithParam<Mistake> {};

TEST_P(PolicyConfigMistakes, GivesItsMessage) {
  const std::string e = error_of(GetParam().text);
  EXPECT_NE(e.find(GetParam().expected), std::string::npos)
      << "message: " << e << "\nexpected to contain: " << GetParam().expected;
}

const std::string kPolicy = std::string(kPg) + "[[policy]]\nprefix = \"p:\"\n";  // lines 1-4

INSTANTIATE_TEST_SUITE_P(
    All, PolicyConfigMistakes,
    ::testing::Values(
        Mistake{"UnknownTable", "[server]\nport = 1\n[cache]\nx = 1\n",
                "t.toml:3: unknown table [cache] (allowed: [server], [postgres], [journal], "
                "[nats], [websocket], [default], [[policy]])"},
        Mistake{"WebsocketPortRange", "[websocket]\nport = 70000\n",
                "t.toml:2: [websocket]: port 70000 is out of range: must be an integer in "
                "0..65535"},
        Mistake{"WebsocketUnknownField", "[websocket]\nprot = 1\n", "t.toml:2: [websocket]"},
        Mistake{"NatsLingerRange", "[nats]\nurl = \"nats://127.0.0.1:4222\"\nlinger_us = 10001\n",
                "t.toml:3: [nats]: linger_us 10001 is out of range: must be an integer in "
                "0..10000"},
        Mistake{"UnknownArrayTable", "[[policies]]\nprefix = \"a\"\n",
                "t.toml:1: unknown table [[policies]]"},
        Mistake{"TopLevelKey", "port = 6380\n", "t.toml:1: unknown top-level key 'port'"},
        Mistake{"PolicyAsTable", "[policy]\nprefix = \"a\"\n",
                "t.toml:1: policy must be written as [[policy]] tables"},
        Mistake{"DefaultNotTable", "default = 3\n", "t.toml:1: default must be a table"},
        Mistake{"UnknownPolicyKey", kPolicy + "strategy = \"cache\"\nttl = 5\n",
                "t.toml:6: [[policy]] prefix 'p:': unknown field 'ttl' (allowed: strategy, l1, "
                "l2, ttl_ms, negative_ttl_ms, refresh_point"},
        Mistake{"UnknownPostgresKey", "[postgres]\nconninfo = \"\"\npool = 3\n",
                "t.toml:3: [postgres]: unknown field 'pool' (allowed: conninfo, pool_size"},
        Mistake{"UnknownJournalKey", "[journal]\npath = \"x\"\n",
                "t.toml:2: [journal]: unknown field 'path' (allowed: dir, segment_bytes, "
                "shutdown_drain_ms, fdatasync, fdatasync_interval_ms)"},
        Mistake{"UnknownDefaultKey", "[default]\nfoo = true\n",
                "t.toml:2: [default]: unknown field 'foo'"},
        Mistake{"PrefixInDefault", "[default]\nprefix = \"a\"\n",
                "t.toml:2: [default]: prefix is not allowed here"},
        Mistake{"WrongTypeBool", kPolicy + "l1 = \"yes\"\n",
                "t.toml:5: [[policy]] prefix 'p:': l1 must be true or false (got a string)"},
        Mistake{"WrongTypeInt", kPolicy + "ttl_ms = \"5s\"\n",
                "t.toml:5: [[policy]] prefix 'p:': ttl_ms must be an integer in 0..315360000000 "
                "(got a string)"},
        Mistake{"FloatForInt", kPolicy + "max_batch = 2.5\n",
                "max_batch must be an integer in 1..10000 (got a floating-point number)"},
        Mistake{"ArrayForInt", kPolicy + "ttl_ms = [1]\n",
                "t.toml:5: [[policy]] prefix 'p:': ttl_ms must be an integer in 0..315360000000 "
                "(got an array)"},
        Mistake{"WrongTypeStrategy", kPolicy + "strategy = 1\n",
                "strategy must be one of write-through, write-behind, write-around, "
                "refresh-ahead, cache (got an integer)"},
        Mistake{"NegativeTtl", kPolicy + "ttl_ms = -1\n",
                "t.toml:5: [[policy]] prefix 'p:': ttl_ms -1 is out of range: must be an "
                "integer in 0..315360000000"},
        Mistake{"MaxBatchZero", kPolicy + "max_batch = 0\n",
                "t.toml:5: [[policy]] prefix 'p:': max_batch 0 is out of range: must be an "
                "integer in 1..10000"},
        Mistake{"MaxBatchHigh", kPolicy + "max_batch = 10001\n",
                "max_batch 10001 is out of range: must be an integer in 1..10000"},
        Mistake{"QueueDepthZero", kPolicy + "max_queue_depth = 0\n",
                "max_queue_depth 0 is out of range"},
        Mistake{"QueueWaitHigh", kPolicy + "queue_wait_ms = 600001\n",
                "queue_wait_ms 600001 is out of range: must be an integer in 0..600000"},
        Mistake{"EvictionWithoutL1Bytes", kPolicy + "eviction = \"lru\"\n",
                "t.toml:5: [[policy]] prefix 'p:': eviction 'lru' needs l1_bytes > 0"},
        Mistake{"EvictionUnknown", kPolicy + "l1_bytes = 4096\neviction = \"mru\"\n",
                "eviction 'mru' is not one of s3fifo, lru, fifo, clock, sieve, wtinylfu, arc, "
                "lirs, adaptive"},
        Mistake{"L1BytesWithL1Off", kPolicy + "l1_bytes = 4096\nl1 = false\n",
                "l1_bytes 4096 with l1 = false"},
        Mistake{"L1BytesHigh", kPolicy + "l1_bytes = 1099511627777\n",
                "l1_bytes 1099511627777 is out of range: must be an integer in 0..1099511627776"},
        Mistake{"L1BytesInDefault", "[default]\nl1_bytes = 4096\n",
                "t.toml:2: [default]: l1_bytes and eviction are not allowed in [default]"},
        Mistake{"FlushIntervalHigh", kPolicy + "flush_interval_ms = 3600001\n",
                "flush_interval_ms 3600001 is out of range"},
        Mistake{"PoolSizeZero", "[postgres]\npool_size = 0\n",
                "t.toml:2: [postgres]: pool_size 0 is out of range: must be an integer in 1..64"},
        Mistake{"SegmentSmall", "[journal]\nsegment_bytes = 100\n",
                "t.toml:2: [journal]: segment_bytes 100 is out of range: must be an integer in "
                "4096..17179869184"},
        Mistake{"EmptyJournalDir", "[journal]\ndir = \"\"\n",
                "t.toml:2: [journal]: dir must be a non-empty string (got an empty string)"},
        Mistake{"RefreshPointOne", kPolicy + "refresh_point = 1.0\n",
                "t.toml:5: [[policy]] prefix 'p:': refresh_point 1 is out of range: must be a "
                "number between 0 and 1, both excluded"},
        Mistake{"RefreshPointZero", kPolicy + "refresh_point = 0\n",
                "refresh_point 0 is out of range"},
        Mistake{"RefreshPointNegative", kPolicy + "refresh_point = -0.5\n",
                "refresh_point -0.5 is out of range"},
        Mistake{"RefreshPointNan", kPolicy + "refresh_point = nan\n",
                "refresh_point nan is out of range"},
        Mistake{"BadTable", kPolicy + "table = \"kv-store\"\n",
                "t.toml:5: [[policy]] prefix 'p:': table 'kv-store' is not a valid SQL "
                "identifier: must be an SQL identifier: [A-Za-z_][A-Za-z0-9_]* (optionally "
                "schema.table)"},
        Mistake{"BadColumnDigit", kPolicy + "key_column = \"1key\"\n",
                "key_column '1key' is not a valid SQL identifier"},
        Mistake{"BadColumnQuote", kPolicy + "value_column = \"v; drop table x\"\n",
                "value_column 'v; drop table x' is not a valid SQL identifier"},
        Mistake{"BadColumnDotted", kPolicy + "version_column = \"a.b.c\"\n",
                "version_column 'a.b.c' is not a valid SQL identifier"},
        Mistake{"BadTableEmptySchema", kPolicy + "table = \".kv\"\n",
                "table '.kv' is not a valid SQL identifier"},
        Mistake{"IdentifierTooLong", kPolicy + "table = \"" + std::string(64, 'a') + "\"\n",
                "is not a valid SQL identifier"},
        Mistake{"MissingPrefix", std::string(kPg) + "[[policy]]\nstrategy = \"cache\"\n",
                "t.toml:3: [[policy]] #1: prefix is required"},
        Mistake{"EmptyPrefix", std::string(kPg) + "[[policy]]\nprefix = \"\"\n",
                "t.toml:4: [[policy]] #1: prefix must be a non-empty string of at most 1024 "
                "bytes (got an empty string"},
        Mistake{"IntegerPrefix", "[[policy]]\nprefix = 3\n",
                "t.toml:2: [[policy]] #1: prefix must be a non-empty string of at most 1024 "
                "bytes (got an integer"},
        Mistake{"DuplicatePrefix",
                kPolicy + "strategy = \"write-through\"\n\n[[policy]]\nprefix = \"p:\"\n",
                "t.toml:8: [[policy]] prefix 'p:': duplicate prefix (first defined at line 4"},
        Mistake{"CacheNowhere", kPolicy + "strategy = \"cache\"\nl1 = false\nl2 = false\n",
                "t.toml:7: [[policy]] prefix 'p:': l1 and l2 are both false with strategy "
                "'cache'"},
        Mistake{"DefaultNowhere", "[default]\nl1 = false\nl2 = false\n",
                "t.toml:3: [default]: l1 and l2 are both false with strategy 'cache'"},
        Mistake{"RefreshAheadNoTtl", kPolicy + "strategy = \"refresh-ahead\"\n",
                "t.toml:5: [[policy]] prefix 'p:': strategy 'refresh-ahead' needs ttl_ms > 0"},
        Mistake{"RefreshAheadZeroTtl", kPolicy + "ttl_ms = 0\nstrategy = \"refresh-ahead\"\n",
                "t.toml:5: [[policy]] prefix 'p:': strategy 'refresh-ahead' needs ttl_ms > 0"},
        Mistake{"NoPostgres", "[[policy]]\nprefix = \"u:\"\nstrategy = \"write-through\"\n",
                "t.toml:3: [[policy]] prefix 'u:': strategy 'write-through' uses PostgreSQL, "
                "but [postgres] conninfo is not set"},
        Mistake{"EmptyConninfo",
                "[postgres]\nconninfo = \"\"\n[default]\nstrategy = \"write-behind\"\n",
                "t.toml:4: [default]: strategy 'write-behind' uses PostgreSQL, but [postgres] "
                "conninfo is not set"},
        Mistake{"InheritedStrategyNoPostgres",
                "[default]\nstrategy = \"write-around\"\n[[policy]]\nprefix = \"a:\"\n",
                "t.toml:2: [default]: strategy 'write-around' uses PostgreSQL"},
        Mistake{"FlushIntervalUnderWriteThrough",
                kPolicy + "strategy = \"write-through\"\nflush_interval_ms = 50\n",
                "t.toml:6: [[policy]] prefix 'p:': flush_interval_ms has no effect with "
                "strategy 'write-through': only write-behind uses it (remove it, or choose such "
                "a strategy)"},
        Mistake{"UnusedFieldBeforeStrategy",
                kPolicy + "refresh_point = 0.5\nstrategy = \"write-behind\"\n",
                "t.toml:5: [[policy]] prefix 'p:': refresh_point has no effect with strategy "
                "'write-behind': only refresh-ahead uses it"},
        Mistake{"FirstUnusedFieldInFileOrder",
                kPolicy + "strategy = \"write-around\"\nqueue_wait_ms = 5\nmax_batch = 5\n",
                "t.toml:6: [[policy]] prefix 'p:': queue_wait_ms has no effect"},
        Mistake{"NegativeTtlUnderCache", kPolicy + "negative_ttl_ms = 100\n",
                "t.toml:5: [[policy]] prefix 'p:': negative_ttl_ms has no effect with strategy "
                "'cache': only the PostgreSQL strategies use it"},
        Mistake{"StampedeLeaseUnderCache", kPolicy + "stampede_lease_ms = 200\n",
                "t.toml:5: [[policy]] prefix 'p:': stampede_lease_ms has no effect with "
                "strategy 'cache': only the PostgreSQL strategies use it"},
        Mistake{"StampedeLeaseTooLong",
                kPolicy + "strategy = \"write-through\"\nstampede_lease_ms = 60001\n",
                "t.toml:6: [[policy]] prefix 'p:': stampede_lease_ms 60001 is out of range: "
                "must be an integer in 0..60000"},
        Mistake{"TableUnderInheritedCache",
                "[default]\nstrategy = \"cache\"\n[[policy]]\nprefix = \"c:\"\n"
                "version_column = \"v\"\n",
                "t.toml:5: [[policy]] prefix 'c:': version_column has no effect with strategy "
                "'cache': only the PostgreSQL strategies use it"},
        Mistake{"DateValue", kPolicy + "ttl_ms = 1979-05-27\n", "(got a date/time)"},
        Mistake{"SubTable", "[postgres.extra]\nx = 1\n",
                "t.toml:1: [postgres]: unknown field 'extra'"}),
    [](const ::testing::TestParamInfo<Mistake>& info) { return std::string(info.param.name); });

TEST(PolicyConfig, FirstMistakeInFileOrderIsReported) {
  // toml++ sorts keys by name; "zz" would come after "ttl_ms" by name but stands first.
  const std::string e = error_of("[default]\nzz = 1\nttl_ms = -1\n");
  EXPECT_NE(e.find("t.toml:2:"), std::string::npos) << e;
}

TEST(PolicyConfig, ServerTableIsIgnored) {
  PolicyConfig c = parse_ok("[server]\nport = 6380\nwhatever = \"x\"\n");
  EXPECT_TRUE(c.policies.empty());
}

TEST(PolicyConfig, L2WithoutUpstreamIsNotAnError) {
  auto r = parse_policy_text("[default]\nl1 = false\nl2 = true\n", "t.toml",
                             ConfigContext{.has_upstream = false});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_TRUE(r->fallback.l2);
}

// The fields a strategy does not read are refused only where a [[policy]] writes them: values
// copied from [default] (where they are defaults for other tables too) are not.
TEST(PolicyConfig, CopiedDefaultsAreNeverRefusedAsUnused) {
  PolicyConfig c = parse_ok(std::string(kPg) +
                            "[default]\nstrategy = \"write-behind\"\nflush_interval_ms = 50\n"
                            "refresh_point = 0.5\nnegative_ttl_ms = 7\ntable = \"t\"\n"
                            "[[policy]]\nprefix = \"c:\"\nstrategy = \"cache\"\n"
                            "[[policy]]\nprefix = \"b:\"\nmax_batch = 9\n");
  ASSERT_EQ(c.policies.size(), 2u);
  EXPECT_EQ(c.policies[0].strategy, Strategy::kCache);
  EXPECT_EQ(c.policies[0].flush_interval_ms, 50u);
  EXPECT_EQ(c.policies[0].pg.table, "t");
  EXPECT_EQ(c.policies[1].strategy, Strategy::kWriteBehind);  // inherited: max_batch acts
  EXPECT_EQ(c.policies[1].max_batch, 9u);
}

const char* kFull = R"(
[server]
port = 6380

[postgres]
conninfo = "host=127.0.0.1 port=5432"
pool_size = 4
connect_timeout_ms = 1000
query_timeout_ms = 3000
backoff_max_ms = 500
dead_letter_max = 77

[journal]
dir = "/tmp/j"
segment_bytes = 1048576
shutdown_drain_ms = 1500

[[policy]]
prefix = "user:"
strategy = "write-through"
ttl_ms = 300000
negative_ttl_ms = 5000

[default]
strategy = "cache"
ttl_ms = 1000
l2 = false

[[policy]]
prefix = "chat:"
strategy = "write-behind"
l1 = true
l2 = true
flush_interval_ms = 50
max_batch = 100
max_queue_depth = 1000
queue_wait_ms = 10
table = "public.chat"
key_column = "k"
value_column = "v"
version_column = "ver"

[[policy]]
prefix = "analytics:"
strategy = "refresh-ahead"
ttl_ms = 30000
refresh_point = 0.75

[[policy]]
prefix = "chat:room:"
strategy = "write-around"
l1 = false
)";

TEST(PolicyConfig, GoodFileRoundTrips) {
  PolicyConfig c = parse_ok(kFull);
  EXPECT_EQ(c.postgres.conninfo, "host=127.0.0.1 port=5432");
  EXPECT_EQ(c.postgres.pool_size, 4u);
  EXPECT_EQ(c.postgres.connect_timeout_ms, 1000u);
  EXPECT_EQ(c.postgres.query_timeout_ms, 3000u);
  EXPECT_EQ(c.postgres.backoff_max_ms, 500u);
  EXPECT_EQ(c.postgres.dead_letter_max, 77u);
  EXPECT_EQ(c.journal.dir, "/tmp/j");
  EXPECT_EQ(c.journal.segment_bytes, 1048576u);
  EXPECT_EQ(c.journal.shutdown_drain_ms, 1500u);

  EXPECT_EQ(c.fallback.prefix, "");
  EXPECT_EQ(c.fallback.strategy, Strategy::kCache);
  EXPECT_EQ(c.fallback.ttl_ms, 1000u);
  EXPECT_FALSE(c.fallback.l2);

  ASSERT_EQ(c.policies.size(), 4u);  // file order
  const Policy& user = c.policies[0];
  EXPECT_EQ(user.prefix, "user:");
  EXPECT_EQ(user.strategy, Strategy::kWriteThrough);
  EXPECT_EQ(user.ttl_ms, 300000u);
  EXPECT_EQ(user.negative_ttl_ms, 5000u);
  EXPECT_FALSE(user.l2);  // copied from [default], though [default] comes later in the file
  const Policy& chat = c.policies[1];
  EXPECT_EQ(chat.strategy, Strategy::kWriteBehind);
  EXPECT_TRUE(chat.l2);
  EXPECT_EQ(chat.ttl_ms, 1000u);
  EXPECT_EQ(chat.flush_interval_ms, 50u);
  EXPECT_EQ(chat.max_batch, 100u);
  EXPECT_EQ(chat.max_queue_depth, 1000u);
  EXPECT_EQ(chat.queue_wait_ms, 10u);
  EXPECT_EQ(chat.pg, (PgMapping{"public.chat", "k", "v", "ver"}));
  EXPECT_EQ(c.policies[2].refresh_point, 0.75);
  EXPECT_EQ(c.policies[3].prefix, "chat:room:");
  EXPECT_FALSE(c.policies[3].l1);
  EXPECT_TRUE(c.any_postgres());
  EXPECT_TRUE(c.any_write_behind());
}

TEST(PolicyConfig, TableLongestPrefixWins) {
  PrefixTable<Policy> t = parse_ok(kFull).table();
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.match("chat:room:7").strategy, Strategy::kWriteAround);
  EXPECT_EQ(t.match_prefix("chat:room:7"), "chat:room:");
  EXPECT_EQ(t.match("chat:7").strategy, Strategy::kWriteBehind);
  EXPECT_EQ(t.match("chat:roo").strategy, Strategy::kWriteBehind);
  EXPECT_EQ(t.match("user:1").strategy, Strategy::kWriteThrough);
  EXPECT_EQ(t.match("users").strategy, Strategy::kCache);
  EXPECT_EQ(t.match_prefix("users"), "");
  EXPECT_EQ(t.match("").prefix, "");
}

TEST(PolicyConfig, LoadFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "strata_policy_test.toml";
  {
    std::ofstream out(path);
    out << "[default]\nstrategy = \"nope\"\n";
  }
  auto r = load_policy_file(path, ctx());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().rfind(path + ":2: [default]: strategy 'nope' is not one of", 0), 0u)
      << r.error();
  std::remove(path.c_str());
  auto missing = load_policy_file(path, ctx());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find(path + ": cannot read:"), std::string::npos);
}

TEST(PolicyConfig, ExampleConfigParses) {
  const std::string path = std::string(STRATA_SOURCE_DIR) + "/config/strata.example.toml";
  auto r = load_policy_file(path, ctx());
  ASSERT_TRUE(r.has_value()) << r.error();
  const PolicyConfig& c = *r;
  EXPECT_FALSE(c.postgres.conninfo.empty());
  EXPECT_EQ(c.fallback.strategy, Strategy::kCache);
  PrefixTable<Policy> t = c.table();
  const Policy& user = t.match("user:42");
  EXPECT_EQ(user.strategy, Strategy::kWriteThrough);
  EXPECT_TRUE(user.l1 && user.l2);
  const Policy& chat = t.match("chat:1");
  EXPECT_EQ(chat.strategy, Strategy::kWriteBehind);
  EXPECT_TRUE(chat.l1 && chat.l2);
  const Policy& stream = t.match("stream:1");
  EXPECT_EQ(stream.strategy, Strategy::kWriteAround);
  EXPECT_FALSE(stream.l1);
  EXPECT_TRUE(stream.l2);
  const Policy& analytics = t.match("analytics:daily");
  EXPECT_EQ(analytics.strategy, Strategy::kRefreshAhead);
  EXPECT_FALSE(analytics.l1);
  EXPECT_TRUE(analytics.l2);
  EXPECT_GT(analytics.ttl_ms, 0u);
  EXPECT_TRUE(c.any_write_behind());
}

TEST(PolicyConfig, NatsLinger) {
  EXPECT_EQ(PolicyConfig{}.nats.linger_us, 400u);
  EXPECT_EQ(parse_ok("[nats]\nurl = \"nats://127.0.0.1:4222\"\nlinger_us = 0\n").nats.linger_us,
            0u);
  EXPECT_EQ(
      parse_ok("[nats]\nurl = \"nats://127.0.0.1:4222\"\nlinger_us = 2000\n").nats.linger_us,
      2000u);
}

TEST(PolicyConfig, ChangefeedFields) {
  PolicyConfig c = parse_ok(std::string(kPg) +
                            "changefeed = true\nchangefeed_slot = \"s_1\"\n"
                            "changefeed_publication = \"p\"\nchangefeed_status_interval_ms = 500\n"
                            "changefeed_takeover_ms = 300\n");
  EXPECT_TRUE(c.postgres.changefeed);
  EXPECT_EQ(c.postgres.changefeed_slot, "s_1");
  EXPECT_EQ(c.postgres.changefeed_publication, "p");
  EXPECT_EQ(c.postgres.changefeed_status_interval_ms, 500u);
  EXPECT_EQ(c.postgres.changefeed_takeover_ms, 300u);
  EXPECT_EQ(error_of("[postgres]\nchangefeed = true\n"),
            "t.toml: [postgres] changefeed = true needs conninfo (the change feed reads "
            "PostgreSQL's logical replication stream)");
  EXPECT_EQ(error_of(std::string(kPg) + "changefeed = true\nchangefeed_slot = \"Bad-Name\"\n"),
            "t.toml: [postgres] changefeed_slot 'Bad-Name': use 1 to 63 lower-case letters, "
            "digits or '_'");
  EXPECT_NE(error_of(std::string(kPg) + "changefeed_takeover_ms = 1\n").find("changefeed_takeover_ms"),
            std::string::npos);
}

}  // namespace
}  // namespace strata::policies
