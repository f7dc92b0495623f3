#include "bench/hdr_histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

namespace strata::bench {
namespace {

TEST(HdrHistogram, EmptyReportsZero) {
  auto h = std::make_unique<HdrHistogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->percentile(50), 0u);
  EXPECT_EQ(h->min(), 0u);
  EXPECT_EQ(h->max(), 0u);
}

TEST(HdrHistogram, SmallValuesAreExact) {
  auto h = std::make_unique<HdrHistogram>();
  for (uint64_t v = 1; v <= 100; ++v) h->record(v);
  EXPECT_EQ(h->percentile(50), 50u);
  EXPECT_EQ(h->percentile(90), 90u);
  EXPECT_EQ(h->percentile(99), 99u);
  EXPECT_EQ(h->percentile(99.9), 100u);
  EXPECT_EQ(h->percentile(100), 100u);
  EXPECT_EQ(h->min(), 1u);
  EXPECT_DOUBLE_EQ(h->mean(), 50.5);
}

TEST(HdrHistogram, LargeValuesWithinRelativeError) {
  auto h = std::make_unique<HdrHistogram>();
  // 1..1'000'000 (µs-like range in ns): percentile p is ~p% of 1e6.
  for (uint64_t v = 1; v <= 1000000; ++v) h->record(v * 1000);
  const double tolerance = 1.0 / HdrHistogram::kSubBuckets;
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double expected = p / 100.0 * 1e9;
    const double got = static_cast<double>(h->percentile(p));
    EXPECT_NEAR(got / expected, 1.0, tolerance) << "p" << p;
    EXPECT_GE(got, expected) << "highest-equivalent convention";
  }
  EXPECT_EQ(h->max(), 1000000000u);
}

TEST(HdrHistogram, RecordNAndMerge) {
  auto a = std::make_unique<HdrHistogram>();
  auto b = std::make_unique<HdrHistogram>();
  a->record_n(1000, 99);
  b->record_n(5000000, 1);
  a->merge(*b);
  EXPECT_EQ(a->count(), 100u);
  EXPECT_NEAR(static_cast<double>(a->percentile(99)), 1000, 8);
  EXPECT_EQ(a->percentile(99.9), 5000000u);  // clamped to the exact max
  EXPECT_EQ(a->max(), 5000000u);
  EXPECT_EQ(a->min(), 1000u);
}

TEST(HdrHistogram, BucketBoundsAreConsistent) {
  for (uint64_t v :
       {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456789ull, 1ull << 40, ~0ull}) {
    const size_t i = HdrHistogram::index_of(v);
    ASSERT_LT(i, HdrHistogram::kBucketCount);
    EXPECT_LE(HdrHistogram::lowest_of(i), v);
    EXPECT_GE(HdrHistogram::highest_of(i), v);
    if (v >= HdrHistogram::kSubBuckets) {  // below that buckets are exact (width 1)
      const double width =
          static_cast<double>(HdrHistogram::highest_of(i) - HdrHistogram::lowest_of(i) + 1);
      EXPECT_LE(width / static_cast<double>(v), 1.0 / HdrHistogram::kSubBuckets + 1e-12);
    }
  }
  // Indexes are monotonic in the value.
  size_t last = 0;
  for (uint64_t v = 0; v < 100000; v += 7) {
    const size_t i = HdrHistogram::index_of(v);
    EXPECT_GE(i, last);
    last = i;
  }
}

}  // namespace
}  // namespace strata::bench
