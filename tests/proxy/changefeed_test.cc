// The change feed's pure parts: which tables map to cache keys (TableMap), how a column's text
// becomes cached bytes, and how strata's own writes are recognized when they come back
// (OwnWrites), including from several threads at once (also run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "policies/policy_config.h"
#include "proxy/changefeed/own_writes.h"
#include "proxy/changefeed/table_map.h"

namespace strata::proxy {
namespace {

policies::Policy pg_policy(std::string prefix, std::string table = "strata_kv",
                           std::string key_column = "key") {
  policies::Policy p;
  p.prefix = std::move(prefix);
  p.strategy = policies::Strategy::kWriteThrough;
  p.pg.table = std::move(table);
  p.pg.key_column = std::move(key_column);
  return p;
}

TEST(TableMap, PrefixesGroupedByTableAndStrataKvAlwaysFollowed) {
  policies::PolicyConfig c;
  c.policies.push_back(pg_policy("user:"));
  c.policies.push_back(pg_policy("item:", "app.items", "id"));
  c.policies.push_back(pg_policy("cart:"));
  policies::Policy cache_only;
  cache_only.prefix = "tmp:";
  c.policies.push_back(cache_only);  // no PostgreSQL: no table
  const TableMap m = TableMap::build(c);
  ASSERT_EQ(m.tables().size(), 2u);
  const MappedTable* kv = m.find("public", "strata_kv");
  ASSERT_NE(kv, nullptr);
  EXPECT_EQ(kv->prefixes, (std::vector<std::string>{"user:", "cart:"}));
  const MappedTable* items = m.find("app", "items");
  ASSERT_NE(items, nullptr);
  EXPECT_EQ(items->key_column, "id");
  EXPECT_EQ(items->prefixes, std::vector<std::string>{"item:"});
  EXPECT_EQ(m.find("public", "items"), nullptr);  // the schema is part of the name

  policies::PolicyConfig own_table_only;
  own_table_only.policies.push_back(pg_policy("item:", "items"));
  const TableMap m2 = TableMap::build(own_table_only);
  EXPECT_NE(m2.find("public", "strata_kv"), nullptr) << "the default table is followed too";

  EXPECT_TRUE(TableMap::build(policies::PolicyConfig{}).tables().empty())
      << "no PostgreSQL policy: nothing to follow";
}

TEST(TableMap, ColumnTextToCachedBytes) {
  std::string out;
  EXPECT_TRUE(cache_bytes_of(17, "\\x6869ff00", &out));  // bytea, hex form
  EXPECT_EQ(out, std::string("hi\xff\0", 4));
  EXPECT_TRUE(cache_bytes_of(17, "\\x", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(cache_bytes_of(17, "\\x6", &out));    // odd digits
  EXPECT_FALSE(cache_bytes_of(17, "\\x6g", &out));   // not hex
  EXPECT_FALSE(cache_bytes_of(17, "hi", &out));      // escape form: not decoded, invalidated
  EXPECT_TRUE(cache_bytes_of(25, "plain text", &out));  // text
  EXPECT_EQ(out, "plain text");
  EXPECT_TRUE(cache_bytes_of(3802, "{\"a\": 1}", &out));  // jsonb
  EXPECT_FALSE(cache_bytes_of(23, "42", &out));  // int4: strata does not cache its text form
}

TEST(TableMap, VersionText) {
  EXPECT_EQ(version_of_text("1883888469647818813"), 1883888469647818813ull);
  EXPECT_EQ(version_of_text("0"), 0u);
  EXPECT_EQ(version_of_text("-5"), 0u);
  EXPECT_EQ(version_of_text("12x"), 0u);
  EXPECT_EQ(version_of_text(""), 0u);
  EXPECT_EQ(version_of_text("99999999999999999999"), 0u);  // past int64
}

// (OwnWrites' rules: own_writes_test.cc.) Here: a refused write is forgotten, and the table
// under several threads at once (this file runs under TSan too).
class OwnWritesShared : public ::testing::Test {
 protected:
  std::atomic<bool> active{true};
  OwnWrites own{&active};
  static uint64_t h(std::string_view v) { return OwnWrites::hash_value(v); }
};

TEST_F(OwnWritesShared, RefusedWriteIsForgotten) {
  own.writing("k", 50, "v", false);
  own.failed("k", 49);  // not the recorded one: kept
  own.failed("k", 50);
  EXPECT_EQ(own.match("k", 40, h("older"), false), OwnWrites::Match::kNone)
      << "a refused write never comes back: older rows are not superseded by it";
}

TEST_F(OwnWritesShared, WorkersRecordWhileTheFeedMatches) {
  constexpr int kThreads = 4, kKeys = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([this, t] {
      for (int i = t; i < kKeys; i += kThreads) {
        own.writing("key" + std::to_string(i), static_cast<uint64_t>(i) + 1,
                    "v" + std::to_string(i), false);
      }
    });
  }
  // Meanwhile the feed decodes rows of other keys (someone else's writes).
  std::thread feed([this] {
    for (int i = 0; i < kKeys; ++i) {
      EXPECT_EQ(own.match("other" + std::to_string(i), 7, h("x"), false), OwnWrites::Match::kNone);
    }
  });
  for (auto& w : writers) w.join();
  feed.join();
  int own_rows = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "key" + std::to_string(i), value = "v" + std::to_string(i);
    own_rows += own.match(key, static_cast<uint64_t>(i) + 1, h(value), false) == OwnWrites::Match::kOwn;
    EXPECT_EQ(own.match(key, static_cast<uint64_t>(i) + 1, h(value), false), OwnWrites::Match::kNone)
        << "recognized once";
  }
  EXPECT_EQ(own_rows, kKeys) << "every write recognized";
}

}  // namespace
}  // namespace strata::proxy
