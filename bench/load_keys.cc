#include "bench/load_keys.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace strata::bench {

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
  // uint32 ranks and ids: the option parser caps --keys well below 2^32.
  zipf_ = std::make_unique<trace_detail::ZipfSampler>(key_count_, spec_.zipf_alpha);
  Rng rng(seed ^ 0x5eedull);
  permutation_ = trace_detail::permutation(key_count_, rng);
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
      return permutation_[zipf_->draw(rng)];
    case KeyDist::kTrace:  // an empty trace would make next_draw() call back here
      return trace_.requests() == 0 ? 0 : next_draw(rng, sequence).key;
  }
  return 0;
}

}  // namespace strata::bench
