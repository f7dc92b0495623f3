// Log-linear latency histogram in the spirit of HdrHistogram: each power of two is split into
// kSubBuckets linear sub-buckets, so every recorded value is kept within 1/kSubBuckets relative
// error, with a fixed, small memory footprint and O(1) recording (no allocation after
// construction). Values are unsigned integers (the load generator records nanoseconds).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace strata::bench {

class HdrHistogram {
 public:
  // 2^7 = 128 sub-buckets per power of two: relative error below 0.8%.
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Values 0 .. 2^64-1: the linear part [0, 2*kSubBuckets) then one row per further power of two.
  static constexpr size_t kBucketCount = (64 - kSubBucketBits + 1) * kSubBuckets;

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t count);
  void merge(const HdrHistogram& other);
  void reset();

  uint64_t count() const { return total_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  // Smallest bucket upper bound at or below which `percentile` percent of the values lie,
  // clamped to the exact max (HdrHistogram's "highest equivalent value" convention).
  uint64_t percentile(double percentile) const;

  static size_t index_of(uint64_t value);
  static uint64_t lowest_of(size_t index);
  static uint64_t highest_of(size_t index);

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t total_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // Sum for the mean; long double keeps ns sums over billions of requests exact enough.
  long double sum_ = 0;
};

}  // namespace strata::bench
