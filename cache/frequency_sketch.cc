#include "cache/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace strata::cache {

FrequencySketch::FrequencySketch(uint64_t width_hint) {
  table_.assign(std::bit_ceil(std::clamp<uint64_t>(width_hint, 1, kWidthMax)), 0);
  set_width(table_.size());
}

void FrequencySketch::set_width(uint64_t width) {
  mask_ = width - 1;
  period_ = kResetPerWord * width;
}

void FrequencySketch::ensure_width(uint64_t width_hint) {
  uint64_t want = std::bit_ceil(std::clamp<uint64_t>(width_hint, 1, kWidthMax));
  while (table_.size() < want) {
    size_t old = table_.size();
    table_.resize(old * 2);
    std::copy(table_.begin(), table_.begin() + old, table_.begin() + old);
    additions_ *= 2;  // the copies count as samples, keeping the reset phase
  }
  set_width(table_.size());
}

bool FrequencySketch::increment_at(uint64_t index, uint32_t counter) {
  uint32_t offset = counter << 2;
  uint64_t mask = uint64_t{0xf} << offset;
  if ((table_[index] & mask) == mask) return false;
  table_[index] += uint64_t{1} << offset;
  return true;
}

void FrequencySketch::increment(uint64_t key_hash) {
  uint32_t item = spread(key_hash);
  uint32_t start = (item & 3) << 2;
  bool added = false;
  for (int depth = 0; depth < 4; ++depth) {
    added |= increment_at(index_of(item, depth), start + depth);
  }
  if (added && ++additions_ == period_) reset();
}

uint32_t FrequencySketch::frequency(uint64_t key_hash) const {
  uint32_t item = spread(key_hash);
  uint32_t start = (item & 3) << 2;
  uint32_t freq = kCounterMax;
  for (int depth = 0; depth < 4; ++depth) {
    uint32_t count = (table_[index_of(item, depth)] >> ((start + depth) << 2)) & 0xf;
    freq = std::min(freq, count);
  }
  return freq;
}

// Halves every counter; the odd ones lost half a count each, which the sample size accounts for
// (Caffeine's truncation correction).
void FrequencySketch::reset() {
  static constexpr uint64_t kOneMask = 0x1111111111111111ULL;
  static constexpr uint64_t kResetMask = 0x7777777777777777ULL;
  uint64_t odd = 0;
  for (uint64_t& word : table_) {
    odd += static_cast<uint64_t>(std::popcount(word & kOneMask));
    word = (word >> 1) & kResetMask;
  }
  additions_ = (additions_ - (odd >> 2)) >> 1;
}

}  // namespace strata::cache
