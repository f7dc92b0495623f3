// TrackedKeys: a tracking client's keys in the table, an exact open-addressing set.
#include "proxy/resp/tracked_keys.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache/hash.h"

namespace strata::proxy {
namespace {

using Insert = TrackedKeys::Insert;

uint64_t h(std::string_view k) { return cache::hash_key(k); }

std::unordered_set<std::string> listed(const TrackedKeys& t) {
  std::unordered_set<std::string> out;
  t.for_each([&](std::string_view k) { EXPECT_TRUE(out.emplace(k).second) << k; });
  return out;
}

TEST(TrackedKeys, InsertFindEraseShortAndLongKeys) {
  TrackedKeys t(100);
  const std::string shorter = "key:000000012345";  // 16 bytes: in the slot
  const std::string longer = "user:profile:000000012345";
  EXPECT_FALSE(t.contains(shorter, h(shorter)));
  EXPECT_EQ(t.insert(shorter, h(shorter)), Insert::kAdded);
  EXPECT_EQ(t.insert(longer, h(longer)), Insert::kAdded);
  EXPECT_EQ(t.insert(shorter, h(shorter)), Insert::kPresent);
  EXPECT_EQ(t.insert(longer, h(longer)), Insert::kPresent);
  EXPECT_EQ(t.insert("", h("")), Insert::kAdded);  // the empty key is a key
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(listed(t), (std::unordered_set<std::string>{shorter, longer, ""}));
  t.erase(longer, h(longer));
  t.erase("absent", h("absent"));
  EXPECT_FALSE(t.contains(longer, h(longer)));
  EXPECT_TRUE(t.contains(shorter, h(shorter)));
  EXPECT_EQ(t.size(), 2u);
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.contains(shorter, h(shorter)));
}

// Keys whose hashes are equal are still told apart by their bytes: a hash never stands for a
// key (a client that skipped the table for another key's sake would miss its invalidation).
TEST(TrackedKeys, EqualHashesAreDifferentKeys) {
  TrackedKeys t(100);
  const uint64_t same = 42;
  EXPECT_EQ(t.insert("a", same), Insert::kAdded);
  EXPECT_FALSE(t.contains("b", same));
  EXPECT_EQ(t.insert("b", same), Insert::kAdded);
  EXPECT_EQ(t.insert("a-rather-long-key-past-inline", same), Insert::kAdded);
  EXPECT_EQ(t.insert("b", same), Insert::kPresent);
  t.erase("a", same);
  EXPECT_TRUE(t.contains("b", same));
  EXPECT_TRUE(t.contains("a-rather-long-key-past-inline", same));
  EXPECT_FALSE(t.contains("a", same));
}

TEST(TrackedKeys, RefusesPastMaxUntilCleared) {
  TrackedKeys t(3);
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(t.insert(k, h(k)), Insert::kAdded);
  EXPECT_FALSE(t.overflowed());
  EXPECT_EQ(t.insert("d", h("d")), Insert::kFull);
  EXPECT_EQ(t.insert("a", h("a")), Insert::kPresent);  // present keys are still found
  EXPECT_TRUE(t.overflowed());
  EXPECT_FALSE(t.contains("d", h("d")));
  t.erase("a", h("a"));
  EXPECT_EQ(t.insert("d", h("d")), Insert::kAdded);
  EXPECT_TRUE(t.overflowed());  // a key was refused since the last clear
  t.clear();
  EXPECT_FALSE(t.overflowed());
}

TEST(TrackedKeys, MoveTakesTheKeys) {
  TrackedKeys a(10);
  a.insert("x-long-enough-to-be-on-the-heap", h("x-long-enough-to-be-on-the-heap"));
  TrackedKeys b(std::move(a));
  EXPECT_TRUE(b.contains("x-long-enough-to-be-on-the-heap", h("x-long-enough-to-be-on-the-heap")));
  a = TrackedKeys(10);
  a.insert("y", h("y"));
  b = std::move(a);
  EXPECT_TRUE(b.contains("y", h("y")));
  EXPECT_EQ(b.size(), 1u);
}

// Random inserts and erases against std::unordered_set, with few hash values so that probe
// runs are long, wrap around the end of the table and are shifted back by erases.
TEST(TrackedKeys, MatchesAModelUnderRandomOps) {
  for (const uint64_t hash_mask : {uint64_t{7}, uint64_t{63}, ~uint64_t{0}}) {
    TrackedKeys t(400);
    std::unordered_set<std::string> model;
    std::mt19937_64 rng(hash_mask);
    auto hash = [&](const std::string& k) { return h(k) & hash_mask; };
    for (int op = 0; op < 20000; ++op) {
      std::string k = "k" + std::to_string(rng() % 500);
      if (rng() % 3 == 0) k += std::string(20, 'x');  // past the inline bytes
      if (rng() % 2 == 0) {
        const Insert r = t.insert(k, hash(k));
        if (model.contains(k)) {
          ASSERT_EQ(r, Insert::kPresent) << k;
        } else if (model.size() >= 400) {
          ASSERT_EQ(r, Insert::kFull) << k;
        } else {
          ASSERT_EQ(r, Insert::kAdded) << k;
          model.insert(k);
        }
      } else {
        t.erase(k, hash(k));
        model.erase(k);
      }
      ASSERT_EQ(t.size(), model.size());
      if (op % 1000 == 0) {
        ASSERT_EQ(listed(t), model);
        for (const std::string& m : model) ASSERT_TRUE(t.contains(m, hash(m))) << m;
      }
    }
    ASSERT_EQ(listed(t), model);
  }
}

}  // namespace
}  // namespace strata::proxy
