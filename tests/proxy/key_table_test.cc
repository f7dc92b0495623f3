// KeyTable<V>: open addressing with short keys in the slot (CLIENT TRACKING's bookkeeping).
#include "proxy/resp/key_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "cache/hash.h"

namespace strata::proxy {
namespace {

using Readers = std::vector<uint64_t>;

std::map<std::string, Readers> listed(const KeyTable<Readers>& t) {
  std::map<std::string, Readers> out;
  t.for_each([&](std::string_view k, const Readers& r) {
    EXPECT_TRUE(out.emplace(std::string(k), r).second) << k;
  });
  return out;
}

TEST(KeyTable, ValuesFollowTheirKeys) {
  KeyTable<Readers> t;
  bool added = false;
  t.emplace("a", cache::hash_key("a"), &added).push_back(1);
  EXPECT_TRUE(added);
  t.emplace("a", cache::hash_key("a"), &added).push_back(2);
  EXPECT_FALSE(added);
  const std::string longer(40, 'k');
  t.emplace(longer, cache::hash_key(longer), &added).push_back(3);
  ASSERT_NE(t.find("a", cache::hash_key("a")), nullptr);
  EXPECT_EQ(*t.find("a", cache::hash_key("a")), (Readers{1, 2}));
  EXPECT_EQ(*t.find(longer, cache::hash_key(longer)), Readers{3});
  EXPECT_EQ(t.find("b", cache::hash_key("b")), nullptr);
  EXPECT_TRUE(t.erase("a", cache::hash_key("a")));
  EXPECT_FALSE(t.erase("a", cache::hash_key("a")));
  EXPECT_EQ(t.size(), 1u);
  std::string key;
  Readers r;
  ASSERT_TRUE(t.take_any(&key, &r));
  EXPECT_EQ(key, longer);
  EXPECT_EQ(r, Readers{3});
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.take_any(&key, &r));
}

// Random emplaces, erases and take_any against std::map, with few hash values so that probe
// runs are long, wrap around and are shifted back (values and long keys moving with them).
TEST(KeyTable, MatchesAModelUnderRandomOps) {
  for (const uint64_t hash_mask : {uint64_t{3}, uint64_t{31}, ~uint64_t{0}}) {
    KeyTable<Readers> t;
    std::map<std::string, Readers> model;
    std::mt19937_64 rng(hash_mask + 1);
    auto hash = [&](std::string_view k) { return cache::hash_key(k) & hash_mask; };
    for (int op = 0; op < 20000; ++op) {
      std::string k = "k" + std::to_string(rng() % 300);
      if (rng() % 3 == 0) k += std::string(20, 'x');  // past the inline bytes
      const int what = static_cast<int>(rng() % 10);
      if (what < 6) {
        bool added = false;
        const uint64_t id = rng() % 1000;
        t.emplace(k, hash(k), &added).push_back(id);
        ASSERT_EQ(added, !model.contains(k)) << k;
        model[k].push_back(id);
      } else if (what < 9) {
        ASSERT_EQ(t.erase(k, hash(k)), model.erase(k) == 1) << k;
      } else {
        std::string key;
        Readers r;
        ASSERT_EQ(t.take_any(&key, &r), !model.empty());
        if (!key.empty()) {
          ASSERT_EQ(model.at(key), r) << key;
          model.erase(key);
        }
      }
      if (op % 97 == 0) {
        // erase_if: every entry seen, changed in place (the same way if seen twice), some gone.
        auto f = [](Readers* r) {
          if (r->size() % 3 == 0) return true;
          r->back() &= ~uint64_t{1};
          return false;
        };
        std::map<std::string, int> seen;
        t.erase_if([&](std::string_view k, Readers* r) {
          ++seen[std::string(k)];
          return f(r);
        });
        for (auto it = model.begin(); it != model.end();) {
          it = f(&it->second) ? model.erase(it) : std::next(it);
        }
        for (const auto& [k, r] : model) ASSERT_TRUE(seen.contains(k)) << k;
      }
      ASSERT_EQ(t.size(), model.size());
      if (op % 1000 == 0) {
        ASSERT_EQ(listed(t), model);
      }
    }
    ASSERT_EQ(listed(t), model);
    for (const auto& [k, r] : model) {
      ASSERT_NE(t.find(k, hash(k)), nullptr) << k;
      ASSERT_EQ(*t.find(k, hash(k)), r) << k;
    }
    KeyTable<Readers> moved(std::move(t));
    ASSERT_EQ(listed(moved), model);
    moved.clear();
    EXPECT_TRUE(moved.empty());
  }
}

}  // namespace
}  // namespace strata::proxy
