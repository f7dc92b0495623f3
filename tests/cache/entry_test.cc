// Entry's two header formats (short: key <= 255, value <= 65535 bytes; long otherwise) through
// the Store: lengths at and across the limits, with and without a TTL, overwrites that change
// the format, and the charge staying what charged_bytes() says.
#include "cache/entry.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "cache/store.h"

namespace strata::cache {
namespace {

TEST(Entry, ShortAndLongHeaders) {
  EXPECT_EQ(Entry::alloc_bytes(11, 8, false), 31u);  // fits mimalloc's 32-byte class
  EXPECT_EQ(Entry::alloc_bytes(255, 65535, false), 12u + 255 + 65535);
  EXPECT_EQ(Entry::alloc_bytes(256, 1, false), 20u + 256 + 1);
  EXPECT_EQ(Entry::alloc_bytes(1, 65536, true), 32u + 1 + 65536);
  for (const auto& [k, v] : {std::pair<size_t, size_t>{0, 0}, {255, 65535}, {256, 0}, {3, 70000}}) {
    for (bool ttl : {false, true}) {
      const std::string key(k, 'k');
      const std::string value(v, 'v');
      Entry* e = Entry::create(key, value, ttl);
      ASSERT_NE(e, nullptr);
      e->set_version(77);
      if (ttl) e->set_expire_at_ms(123456789);
      EXPECT_EQ(e->key(), key);
      EXPECT_EQ(e->value(), value);
      EXPECT_EQ(e->version(), 77u);
      EXPECT_EQ(e->has_ttl(), ttl);
      EXPECT_EQ(e->expire_at_ms(), ttl ? 123456789 : 0);
      EXPECT_EQ(e->request_bytes(), Entry::alloc_bytes(k, v, ttl));
      Entry::destroy(e);
    }
  }
}

TEST(Entry, StoreAcrossFormats) {
  ManualClock clock(1000);
  StoreConfig c;
  c.shards = 2;
  Store s(c, &clock);
  std::map<std::string, std::pair<std::string, bool>> model;  // key -> value, has TTL
  auto put = [&](const std::string& k, size_t v_len, char fill, bool ttl) {
    const std::string v(v_len, fill);
    ASSERT_NE(s.lock(k)->set(k, v, ttl ? 99999 : 0), 0u);
    model[k] = {v, ttl};
  };
  const std::string long_key(300, 'L');
  const std::string edge_key(255, 'E');
  for (int round = 0; round < 3; ++round) {
    const char fill = static_cast<char>('a' + round);
    put("small", 8, fill, round == 1);
    put("small", 70000, fill, false);  // short -> long in place of the old entry
    put("grows", 65535, fill, false);
    put("grows", 65536, fill, round == 2);
    put("grows", 5, fill, false);  // long -> short
    put(edge_key, 65535, fill, round == 0);
    put(long_key, 10, fill, round != 0);
  }
  ASSERT_TRUE(s.lock("small")->set_expire("small", 5000));
  model["small"].second = true;
  uint64_t expected = 0;
  for (const auto& [k, v] : model) {
    auto t = s.lock(k);
    EntryView view;
    ASSERT_TRUE(t->read(k, &view)) << k.size();
    EXPECT_EQ(view.value, v.first);
    EXPECT_EQ(view.expire_at_ms != 0, v.second);
    expected += s.charged_bytes(k.size(), v.first.size(), v.second);
  }
  EXPECT_EQ(s.stats().used_bytes, expected);
  EXPECT_TRUE(s.check_invariants());
}

}  // namespace
}  // namespace strata::cache
