// TinyLFU's frequency sketch as Caffeine's simulator builds it (CountMin4 with periodic reset):
// 4-bit counters packed 16 to a uint64_t, four counters per key (one per depth, each in its own
// word, at nibble start+depth), the estimate is their minimum, and after 10 * width additions
// every counter is halved so old popularity fades.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::cache {

class FrequencySketch {
 public:
  // Width cap in words (8 bytes each): 32 MiB, enough for caches of ~4M objects.
  static constexpr uint64_t kWidthMax = uint64_t{1} << 22;
  static constexpr uint32_t kCounterMax = 15;
  // Additions between resets, per word of width (Caffeine's 10 * maximum).
  static constexpr uint64_t kResetPerWord = 10;

  // `width_hint` counters' words; rounded up to a power of two.
  explicit FrequencySketch(uint64_t width_hint);

  // Grows to at least `width_hint` words. Unlike Caffeine's ensureCapacity it keeps the counts:
  // doubling the width adds one index bit, so each key's word moves to i or i + width, and
  // copying the table into both halves leaves every estimate unchanged.
  void ensure_width(uint64_t width_hint);
  uint64_t width() const { return table_.size(); }

  void increment(uint64_t key_hash);
  uint32_t frequency(uint64_t key_hash) const;

 private:
  static uint32_t spread(uint64_t key_hash) {
    uint64_t h = key_hash;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return static_cast<uint32_t>(h);
  }
  uint64_t index_of(uint32_t item, int depth) const {
    static constexpr uint64_t kSeed[4] = {0xc3a5c85c97cb3127ULL, 0xb492b66fbe98f273ULL,
                                          0x9ae16a3b2f90404fULL, 0xcbf29ce484222325ULL};
    uint64_t h = kSeed[depth] * item;
    h += h >> 32;
    return h & mask_;
  }
  bool increment_at(uint64_t index, uint32_t counter);
  void reset();
  void set_width(uint64_t width);

  std::vector<uint64_t> table_;
  uint64_t mask_ = 0;
  uint64_t additions_ = 0;
  uint64_t period_ = 0;
};

}  // namespace strata::cache
