#include "bench/hdr_histogram.h"

#include <bit>
#include <cmath>

namespace strata::bench {

size_t HdrHistogram::index_of(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  const int magnitude = 63 - std::countl_zero(value);  // value in [2^m, 2^(m+1))
  const int shift = magnitude - kSubBucketBits;        // >= 1 here
  // (value >> shift) is in [kSubBuckets, 2*kSubBuckets): the sub-bucket within row `shift`.
  return static_cast<size_t>((static_cast<uint64_t>(shift) + 1) * kSubBuckets +
                             ((value >> shift) - kSubBuckets));
}

uint64_t HdrHistogram::lowest_of(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t sub = index % kSubBuckets + kSubBuckets;
  return sub << shift;
}

uint64_t HdrHistogram::highest_of(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t sub = index % kSubBuckets + kSubBuckets;
  return ((sub + 1) << shift) - 1;
}

void HdrHistogram::record_n(uint64_t value, uint64_t count) {
  if (count == 0) return;
  counts_[index_of(value)] += count;
  total_ += count;
  if (value < min_) min_ = value;
  if (value > max_) max_ = value;
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void HdrHistogram::merge(const HdrHistogram& other) {
  if (other.total_ == 0) return;
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  if (other.min_ < min_) min_ = other.min_;
  if (other.max_ > max_) max_ = other.max_;
  sum_ += other.sum_;
}

void HdrHistogram::reset() { *this = HdrHistogram{}; }

double HdrHistogram::mean() const {
  return total_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(total_));
}

uint64_t HdrHistogram::percentile(double percentile) const {
  if (total_ == 0) return 0;
  if (percentile <= 0) return min_;
  if (percentile >= 100) return max_;
  // Rank of the value at `percentile`, 1-based; ceil so p50 of {1,2} is 1 and p100 is the max.
  uint64_t rank =
      static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t high = highest_of(i);
      return high < max_ ? (high > min_ ? high : min_) : max_;
    }
  }
  return max_;
}

}  // namespace strata::bench
