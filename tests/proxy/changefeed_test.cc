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

class OwnWritesTest : public ::testing::Test {
 protected:
  std::atomic<bool> active{true};
  OwnWrites own{&active};
  static uint64_t h(std::string_view v) { return OwnWrites::hash_value(v); }
};

TEST_F(OwnWritesTest, ExactVersionAndValueIsOwnOnce) {
  own.writing("k", 10, "v", false);
  EXPECT_EQ(own.match("k", 10, h("other"), false), OwnWrites::Match::kNone)
      << "same version, another value: a direct write that left the version alone";
  EXPECT_EQ(own.match("k", 10, h("v"), false), OwnWrites::Match::kOwn);
  EXPECT_EQ(own.match("k", 10, h("v"), false), OwnWrites::Match::kNone)
      << "recognized once: a later row with the same version and value is someone else's";
}

TEST_F(OwnWritesTest, OlderThanAnOwnWriteIsSuperseded) {
  own.writing("k", 20, "new", false);
  EXPECT_EQ(own.match("k", 19, h("whatever"), false), OwnWrites::Match::kSuperseded);
  EXPECT_EQ(own.match("k", 21, h("new"), false), OwnWrites::Match::kNone)
      << "newer than anything strata wrote: someone else's";
  EXPECT_EQ(own.match("k", 20, h("new"), false), OwnWrites::Match::kOwn);
}

TEST_F(OwnWritesTest, LateRecordNeverReplacesNewer) {
  own.writing("k", 30, "b", false);
  own.writing("k", 25, "a", false);  // an older write recorded late
  EXPECT_EQ(own.match("k", 30, h("b"), false), OwnWrites::Match::kOwn);
}

TEST_F(OwnWritesTest, Deletes) {
  own.writing("k", 40, {}, true);
  EXPECT_EQ(own.match("k", 40, 0, false), OwnWrites::Match::kNone) << "a value is not a delete";
  EXPECT_EQ(own.match("k", 0, 0, true), OwnWrites::Match::kOwn)
      << "a DELETE's row carries only its key: strata's own when strata removed the key last";
  own.writing("k", 41, "back", false);
  EXPECT_EQ(own.match("k", 0, 0, true), OwnWrites::Match::kNone)
      << "strata's newest write of the key put it back: the delete is someone else's";
}

TEST_F(OwnWritesTest, FailedWriteForgottenAndInactiveRecordsNothing) {
  own.writing("k", 50, "v", false);
  own.failed("k", 49);  // not the recorded one
  own.failed("k", 50);
  EXPECT_EQ(own.match("k", 50, h("v"), false), OwnWrites::Match::kNone);
  active = false;
  own.writing("j", 60, "v", false);
  EXPECT_EQ(own.match("j", 60, h("v"), false), OwnWrites::Match::kNone)
      << "not the reader: nothing is recorded";
}

TEST_F(OwnWritesTest, ManyThreadsRecordOneReads) {
  constexpr int kThreads = 4, kKeys = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([this, t] {
      for (int i = t; i < kKeys; i += kThreads) {
        own.writing("key" + std::to_string(i), static_cast<uint64_t>(i) + 1, "v" + std::to_string(i), false);
      }
    });
  }
  std::atomic<int> matched{0};
  std::thread reader([&] {
    for (int pass = 0; pass < 50 && matched.load() < kKeys; ++pass) {
      for (int i = 0; i < kKeys; ++i) {
        if (own.match("key" + std::to_string(i), static_cast<uint64_t>(i) + 1,
                      h("v" + std::to_string(i)), false) == OwnWrites::Match::kOwn) {
          matched.fetch_add(1);
        }
      }
      std::this_thread::yield();
    }
  });
  for (auto& w : writers) w.join();
  reader.join();
  for (int i = 0; i < kKeys; ++i) {  // what the reader passed before it was recorded
    if (own.match("key" + std::to_string(i), static_cast<uint64_t>(i) + 1,
                  h("v" + std::to_string(i)), false) == OwnWrites::Match::kOwn) {
      matched.fetch_add(1);
    }
  }
  EXPECT_EQ(matched.load(), kKeys) << "every write recognized exactly once";
}

}  // namespace
}  // namespace strata::proxy
