// Key-id generators for the load generator: zipf (inverse CDF over a permuted key space),
// uniform and sequential. Deliberately small: once bench/trace.h's shared generators land,
// KeyGen can become a thin adapter over them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strata::bench {

// xoshiro256** -- fast, good-quality, and each worker thread owns one (no locking).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  // Uniform in [0, bound) without modulo bias worth caring about (Lemire's multiply-shift).
  uint64_t below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t s_[4];
};

enum class KeyDist : uint8_t { kUniform, kZipf, kSequential };

struct KeyDistSpec {
  KeyDist dist = KeyDist::kZipf;
  double zipf_alpha = 1.0;
};

// Parses "zipf", "zipf:0.99", "uniform", "sequential"; returns false on anything else.
bool parse_key_dist(std::string_view text, KeyDistSpec& out);
std::string key_dist_name(const KeyDistSpec& spec);

// Shared read-only tables (the zipf CDF can be tens of MB); per-thread state lives in KeyCursor.
class KeyGen {
 public:
  KeyGen(KeyDistSpec spec, uint64_t key_count, uint64_t seed);
  uint64_t key_count() const { return key_count_; }
  KeyDist dist() const { return spec_.dist; }
  // Next key id in [0, key_count). `sequence` is the caller's own counter (sequential dist).
  uint64_t next(Rng& rng, uint64_t& sequence) const;

 private:
  uint64_t sample_zipf_rank(double u) const;

  KeyDistSpec spec_;
  uint64_t key_count_;
  std::vector<double> cdf_;            // cdf_[r] = P(rank <= r), zipf only
  std::vector<uint32_t> guide_;        // guide_[g] = first rank with cdf >= g/guide size
  std::vector<uint32_t> permutation_;  // rank -> key id, so hot keys are scattered
};

}  // namespace strata::bench
