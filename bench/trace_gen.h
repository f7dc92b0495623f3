// Internals of bench/trace.cc: the spec's key=value parameters, the seeded RNG, and one function
// per generator or file format. Only trace*.cc and tests include this.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trace.h"

namespace strata::bench::trace_detail {

// Spec parsing runs at start-up, where the house style allows exceptions; load_trace() turns
// this into an error value.
struct SpecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// key=value pairs after "kind:"; every key must be consumed, so typos are reported.
class SpecParams {
 public:
  SpecParams(std::string_view kind, std::string_view body);
  uint64_t u64(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max);
  double real(const std::string& key, double fallback, double min, double max);
  bool has(const std::string& key) const { return values_.contains(key); }
  std::string text(const std::string& key, const std::string& fallback);
  // Throws if a key was given that no getter asked for.
  void check_all_used() const;

 private:
  std::string kind_;
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

// xoshiro256**, seeded through splitmix64: fast, and identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) {  // [0, n), Lemire's multiply-shift (bias < 2^-64 * n)
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Ranks 0..n-1 with p(rank i) proportional to (i+1)^-alpha, drawn by inverse CDF. A guide table
// (first rank per 1/n slice of [0,1)) makes each draw a short forward scan instead of a
// binary search over n doubles.
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double alpha);
  uint64_t draw(Rng& rng) const;
  // The same as n calls to draw(), in order, but software-pipelined: the guide and CDF loads of
  // a batch are prefetched together instead of missing the cache one after another.
  void draw_many(Rng& rng, uint32_t* out, size_t n) const;

 private:
  std::vector<double> cdf_;
  std::vector<uint32_t> guide_;
};

// A random permutation of 0..n-1 (Fisher-Yates), so Zipf's hot ranks are not neighbouring ids.
std::vector<uint32_t> permutation(uint64_t n, Rng& rng);

// size=N or size=A..B (log-uniform per object). Unit when absent.
struct SizeDist {
  bool unit = true;
  uint32_t min = 1;
  uint32_t max = 1;
  uint32_t draw(Rng& rng) const;
};
SizeDist parse_size_dist(SpecParams& params);

// Fills trace.hashes (mix of id and seed) and, for a sized distribution, per-request sizes from
// one size per object.
void finish_generated(Trace& trace, const SizeDist& sizes, uint64_t seed);

// Draws n Zipf ranks mapped through perm (random ids for hot ranks) into out.
void draw_zipf_ids(const ZipfSampler& zipf, const std::vector<uint32_t>& perm, Rng& rng,
                   uint32_t* out, size_t n);

Trace generate_zipf(SpecParams& params);
Trace generate_uniform(SpecParams& params);
Trace generate_loop(SpecParams& params);
Trace generate_scan(SpecParams& params);
Trace generate_shift(SpecParams& params);
Trace generate_onehit(SpecParams& params);
Trace generate_recency(SpecParams& params);

Trace read_csv_trace(const std::string& path);
Trace read_oracle_trace(const std::string& path);

}  // namespace strata::bench::trace_detail
