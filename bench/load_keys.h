// Key-id streams for the load generator: built-in zipf (inverse CDF over a permuted key space),
// uniform and sequential -- endless and table-light, for duration runs -- or a replay of any
// bench/trace.h spec (the simulator's generators and trace files), cycled, with its per-request
// ops and sizes when the trace has them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trace.h"

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

enum class KeyDist : uint8_t { kUniform, kZipf, kSequential, kTrace };

struct KeyDistSpec {
  KeyDist dist = KeyDist::kZipf;
  double zipf_alpha = 1.0;
};

// Parses "zipf", "zipf:0.99", "uniform", "sequential"; returns false on anything else.
bool parse_key_dist(std::string_view text, KeyDistSpec& out);
std::string key_dist_name(const KeyDistSpec& spec);

// One request's key, and its op/size when the stream dictates them (trace replay).
struct KeyDraw {
  uint64_t key = 0;
  bool has_op = false;
  Op op = Op::kGet;
  bool has_size = false;
  uint32_t size = 0;
};

// Shared read-only tables (the zipf CDF or a trace can be tens of MB); per-thread state is the
// caller's Rng and cursor.
class KeyGen {
 public:
  KeyGen(KeyDistSpec spec, uint64_t key_count, uint64_t seed);
  explicit KeyGen(Trace trace);
  uint64_t key_count() const { return key_count_; }
  KeyDist dist() const { return spec_.dist; }
  const Trace* trace() const { return spec_.dist == KeyDist::kTrace ? &trace_ : nullptr; }
  // Where worker `index` of `workers` starts its cursor: spread over the sequence or trace.
  uint64_t cursor_start(uint64_t index, uint64_t workers) const;
  // Next key id in [0, key_count). `cursor` is the caller's own position (sequential, trace).
  uint64_t next(Rng& rng, uint64_t& cursor) const;
  KeyDraw next_draw(Rng& rng, uint64_t& cursor) const;

 private:
  uint64_t sample_zipf_rank(double u) const;

  KeyDistSpec spec_;
  uint64_t key_count_;
  Trace trace_;
  std::vector<double> cdf_;            // cdf_[r] = P(rank <= r), zipf only
  std::vector<uint32_t> guide_;        // guide_[g] = first rank with cdf >= g/guide size
  std::vector<uint32_t> permutation_;  // rank -> key id, so hot keys are scattered
};

}  // namespace strata::bench
