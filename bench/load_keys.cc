#include "bench/load_keys.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

namespace strata::bench {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
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

bool parse_key_dist(std::string_view text, KeyDistSpec& out) {
  if (text == "uniform") {
    out = {KeyDist::kUniform, 0};
    return true;
  }
  if (text == "sequential") {
    out = {KeyDist::kSequential, 0};
    return true;
  }
  if (text == "zipf") {
    out = {KeyDist::kZipf, 1.0};
    return true;
  }
  if (text.starts_with("zipf:")) {
    const std::string alpha_text(text.substr(5));
    char* end = nullptr;
    const double alpha = std::strtod(alpha_text.c_str(), &end);
    if (end == alpha_text.c_str() || *end != '\0' || !(alpha > 0) || alpha > 10) return false;
    out = {KeyDist::kZipf, alpha};
    return true;
  }
  return false;
}

std::string key_dist_name(const KeyDistSpec& spec) {
  switch (spec.dist) {
    case KeyDist::kUniform:
      return "uniform";
    case KeyDist::kSequential:
      return "sequential";
    case KeyDist::kTrace:
      return "trace";
    case KeyDist::kZipf: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "zipf:%g", spec.zipf_alpha);
      return buf;
    }
  }
  return "?";
}

KeyGen::KeyGen(KeyDistSpec spec, uint64_t key_count, uint64_t seed)
    : spec_(spec), key_count_(std::max<uint64_t>(key_count, 1)) {
  if (spec_.dist != KeyDist::kZipf) return;
  // Zipf tables are uint32-indexed; the option parser caps --keys well below 2^32.
  cdf_.resize(key_count_);
  double total = 0;
  for (uint64_t r = 0; r < key_count_; ++r) {
    total += 1.0 / std::pow(static_cast<double>(r + 1), spec_.zipf_alpha);
    cdf_[r] = total;
  }
  for (auto& c : cdf_) c /= total;
  cdf_.back() = 1.0;
  // Guide table: makes the inverse-CDF search O(1) on average instead of a log-n binary search.
  guide_.resize(key_count_);
  uint64_t r = 0;
  for (uint64_t g = 0; g < key_count_; ++g) {
    const double threshold = static_cast<double>(g) / static_cast<double>(key_count_);
    while (cdf_[r] < threshold) ++r;
    guide_[g] = static_cast<uint32_t>(r);
  }
  permutation_.resize(key_count_);
  std::iota(permutation_.begin(), permutation_.end(), 0u);
  Rng rng(seed ^ 0x5eedull);
  for (uint64_t i = key_count_ - 1; i > 0; --i) {
    std::swap(permutation_[i], permutation_[rng.below(i + 1)]);
  }
}

KeyGen::KeyGen(Trace trace)
    : spec_{KeyDist::kTrace, 0},
      key_count_(std::max<uint64_t>(trace.objects, 1)),
      trace_(std::move(trace)) {}

uint64_t KeyGen::cursor_start(uint64_t index, uint64_t workers) const {
  const uint64_t length = spec_.dist == KeyDist::kTrace ? trace_.requests() : key_count_;
  return workers == 0 ? 0 : length * index / workers;
}

KeyDraw KeyGen::next_draw(Rng& rng, uint64_t& cursor) const {
  if (spec_.dist != KeyDist::kTrace || trace_.requests() == 0) {
    return KeyDraw{next(rng, cursor)};
  }
  if (cursor >= trace_.requests()) cursor = 0;
  const size_t i = cursor++;
  KeyDraw draw{trace_.ids[i]};
  if (!trace_.ops.empty()) {
    draw.has_op = true;
    draw.op = trace_.ops[i];
  }
  if (trace_.sized()) {
    draw.has_size = true;
    draw.size = trace_.sizes[i];
  }
  return draw;
}

uint64_t KeyGen::sample_zipf_rank(double u) const {
  uint64_t r = guide_[static_cast<uint64_t>(u * static_cast<double>(key_count_))];
  while (cdf_[r] <= u && r + 1 < key_count_) ++r;
  return r;
}

uint64_t KeyGen::next(Rng& rng, uint64_t& sequence) const {
  switch (spec_.dist) {
    case KeyDist::kUniform:
      return rng.below(key_count_);
    case KeyDist::kSequential: {
      const uint64_t id = sequence % key_count_;
      ++sequence;
      return id;
    }
    case KeyDist::kZipf:
      return permutation_[sample_zipf_rank(rng.unit())];
    case KeyDist::kTrace:  // an empty trace would make next_draw() call back here
      return trace_.requests() == 0 ? 0 : next_draw(rng, sequence).key;
  }
  return 0;
}

}  // namespace strata::bench
