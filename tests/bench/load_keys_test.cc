#include "bench/load_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace strata::bench {
namespace {

TEST(LoadKeys, ParsesDistributions) {
  KeyDistSpec spec;
  ASSERT_TRUE(parse_key_dist("zipf:0.8", spec));
  EXPECT_EQ(spec.dist, KeyDist::kZipf);
  EXPECT_DOUBLE_EQ(spec.zipf_alpha, 0.8);
  ASSERT_TRUE(parse_key_dist("uniform", spec));
  EXPECT_EQ(spec.dist, KeyDist::kUniform);
  EXPECT_FALSE(parse_key_dist("zipf:", spec));
  EXPECT_FALSE(parse_key_dist("pareto", spec));
}

TEST(LoadKeys, ZipfIsSkewedAndInRange) {
  constexpr uint64_t kKeys = 1000;
  const KeyGen gen({KeyDist::kZipf, 1.0}, kKeys, 7);
  Rng rng(1);
  uint64_t seq = 0;
  std::vector<uint64_t> counts(kKeys);
  constexpr int kSamples = 200000;
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t k = gen.next(rng, seq);
    ASSERT_LT(k, kKeys);
    ++counts[k];
  }
  std::sort(counts.rbegin(), counts.rend());
  // Zipf(1) over 1000 keys: the top key has 1/H(1000) ~ 13.4% of the mass, rank 2 half that.
  EXPECT_NEAR(static_cast<double>(counts[0]) / kSamples, 0.134, 0.01);
  EXPECT_NEAR(static_cast<double>(counts[1]) / counts[0], 0.5, 0.05);
}

TEST(LoadKeys, UniformAndSequential) {
  const KeyGen uniform({KeyDist::kUniform, 0}, 10, 1);
  const KeyGen sequential({KeyDist::kSequential, 0}, 3, 1);
  Rng rng(3);
  uint64_t seq = 0;
  std::vector<int> seen(10);
  for (int i = 0; i < 1000; ++i) ++seen[uniform.next(rng, seq)];
  for (int c : seen) EXPECT_GT(c, 50);
  seq = 0;
  EXPECT_EQ(sequential.next(rng, seq), 0u);
  EXPECT_EQ(sequential.next(rng, seq), 1u);
  EXPECT_EQ(sequential.next(rng, seq), 2u);
  EXPECT_EQ(sequential.next(rng, seq), 0u);
}

}  // namespace
}  // namespace strata::bench
