// Key-id streams for the load generator: zipf (bench/trace_gen.h's sampler over a permuted key
// space), uniform and sequential -- endless, for duration runs -- or a replay of any
// bench/trace.h spec (the simulator's generators and trace files), cycled, with its per-request
// ops and sizes when the trace has them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trace.h"
#include "bench/trace_gen.h"

namespace strata::bench {

// The simulator's generator internals: one RNG and one Zipf sampler for both tools.
using Rng = trace_detail::Rng;

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
  KeyDistSpec spec_;
  uint64_t key_count_;
  Trace trace_;
  std::unique_ptr<trace_detail::ZipfSampler> zipf_;  // zipf only
  std::vector<uint32_t> permutation_;                // zipf rank -> key id: hot keys scattered
};

}  // namespace strata::bench
