// Trace spec parsing, shared generator helpers, and trace-wide passes (working set, next access).
#include "bench/trace.h"

#include <algorithm>
#include <charconv>

#include "bench/trace_gen.h"

namespace strata::bench {
namespace trace_detail {

namespace {

// "1000", "10M", "2.5k", "1e6": integral counts with decimal suffixes for readable specs.
bool parse_count(std::string_view text, uint64_t* out) {
  double scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        scale = 1e3;
        break;
      case 'm':
      case 'M':
        scale = 1e6;
        break;
      case 'g':
      case 'G':
        scale = 1e9;
        break;
      default:
        break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  uint64_t whole = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), whole);
  if (ec == std::errc() && end == text.data() + text.size() && scale == 1) {
    *out = whole;
    return true;
  }
  double real = 0;
  auto [end2, ec2] = std::from_chars(text.data(), text.data() + text.size(), real);
  if (ec2 != std::errc() || end2 != text.data() + text.size()) return false;
  real *= scale;
  if (real < 0 || real > 1.8e19 || real != std::floor(real)) return false;
  *out = static_cast<uint64_t>(real);
  return true;
}

}  // namespace

SpecParams::SpecParams(std::string_view kind, std::string_view body) : kind_(kind) {
  while (!body.empty()) {
    const size_t comma = body.find(',');
    std::string_view item = body.substr(0, comma);
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      throw SpecError(kind_ + ": expected key=value, got '" + std::string(item) + "'");
    }
    std::string key(item.substr(0, eq));
    if (values_.contains(key)) throw SpecError(kind_ + ": '" + key + "' given twice");
    values_[key] = std::string(item.substr(eq + 1));
  }
}

uint64_t SpecParams::u64(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  uint64_t value = 0;
  if (!parse_count(it->second, &value)) {
    throw SpecError(kind_ + ": " + key + "='" + it->second + "' is not a whole number");
  }
  if (value < min || value > max) {
    throw SpecError(kind_ + ": " + key + "=" + it->second + " is outside [" + std::to_string(min) +
                    ", " + std::to_string(max) + "]");
  }
  return value;
}

double SpecParams::real(const std::string& key, double fallback, double min, double max) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw SpecError(kind_ + ": " + key + "='" + text + "' is not a number");
  }
  if (!(value >= min && value <= max)) {
    throw SpecError(kind_ + ": " + key + "=" + text + " is outside [" + std::to_string(min) + ", " +
                    std::to_string(max) + "]");
  }
  return value;
}

std::string SpecParams::text(const std::string& key, const std::string& fallback) {
  used_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

void SpecParams::check_all_used() const {
  for (const auto& [key, value] : values_) {
    if (!used_.contains(key)) {
      std::string known;
      for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
      throw SpecError(kind_ + ": unknown parameter '" + key + "' (known: " + known + ")");
    }
  }
}

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) {
    s = mix64(x);
    x += 0x9e3779b97f4a7c15ull;
  }
}

ZipfSampler::ZipfSampler(uint64_t n, double alpha) : cdf_(n), guide_(n + 1) {
  double sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    sum += std::pow(static_cast<double>(i + 1), -alpha);
    cdf_[i] = sum;
  }
  for (auto& c : cdf_) c /= sum;
  cdf_.back() = 1.0;  // no rounding gap at the top
  uint64_t rank = 0;
  for (uint64_t j = 0; j <= n; ++j) {
    const double u = static_cast<double>(j) / static_cast<double>(n);
    while (rank + 1 < n && cdf_[rank] <= u) ++rank;
    guide_[j] = static_cast<uint32_t>(rank);
  }
}

uint64_t ZipfSampler::draw(Rng& rng) const {
  const double u = rng.uniform();
  // guide_[j] is the first rank whose cdf exceeds j/n, a lower bound for any u >= j/n.
  uint64_t rank = guide_[static_cast<uint64_t>(u * static_cast<double>(cdf_.size()))];
  while (cdf_[rank] <= u) ++rank;
  return rank;
}

void ZipfSampler::draw_many(Rng& rng, uint32_t* out, size_t n) const {
  constexpr size_t kBatch = 256;
  double u[kBatch];
  uint32_t g[kBatch];
  for (size_t begin = 0; begin < n; begin += kBatch) {
    const size_t m = std::min(kBatch, n - begin);
    for (size_t k = 0; k < m; ++k) {
      u[k] = rng.uniform();
      g[k] = static_cast<uint32_t>(u[k] * static_cast<double>(cdf_.size()));
      __builtin_prefetch(&guide_[g[k]]);
    }
    for (size_t k = 0; k < m; ++k) {
      g[k] = guide_[g[k]];
      __builtin_prefetch(&cdf_[g[k]]);
    }
    for (size_t k = 0; k < m; ++k) {
      uint64_t rank = g[k];
      while (cdf_[rank] <= u[k]) ++rank;
      out[begin + k] = static_cast<uint32_t>(rank);
    }
  }
}

void draw_zipf_ids(const ZipfSampler& zipf, const std::vector<uint32_t>& perm, Rng& rng,
                   uint32_t* out, size_t n) {
  zipf.draw_many(rng, out, n);
  constexpr size_t kAhead = 32;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&perm[out[i + kAhead]]);
    out[i] = perm[out[i]];
  }
}

std::vector<uint32_t> permutation(uint64_t n, Rng& rng) {
  std::vector<uint32_t> perm(n);
  for (uint64_t i = 0; i < n; ++i) perm[i] = static_cast<uint32_t>(i);
  for (uint64_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  return perm;
}

uint32_t SizeDist::draw(Rng& rng) const {
  if (unit || min == max) return min;
  const double lo = std::log(static_cast<double>(min));
  const double hi = std::log(static_cast<double>(max) + 1);
  const double v = std::exp(lo + (hi - lo) * rng.uniform());
  return std::clamp(static_cast<uint32_t>(v), min, max);
}

SizeDist parse_size_dist(SpecParams& params) {
  SizeDist dist;
  if (!params.has("size")) {
    params.text("size", "");
    return dist;
  }
  const std::string text = params.text("size", "");
  const size_t dots = text.find("..");
  uint64_t lo = 0;
  uint64_t hi = 0;
  const bool ok = dots == std::string::npos ? parse_count(text, &lo) && (hi = lo, true)
                                            : parse_count(text.substr(0, dots), &lo) &&
                                                  parse_count(text.substr(dots + 2), &hi);
  if (!ok || lo == 0 || hi < lo || hi > kTraceObjectBytesMax) {
    throw SpecError("size='" + text + "': expected N or A..B with 1 <= A <= B < 2^32");
  }
  dist.unit = false;
  dist.min = static_cast<uint32_t>(lo);
  dist.max = static_cast<uint32_t>(hi);
  return dist;
}

void finish_generated(Trace& trace, const SizeDist& sizes, uint64_t seed) {
  trace.hashes.resize(trace.objects);
  for (uint32_t id = 0; id < trace.objects; ++id) trace.hashes[id] = mix64(id ^ (seed << 32));
  if (sizes.unit) return;
  Rng rng(seed ^ 0x5153u);  // its own stream: sizes do not perturb the id sequence
  std::vector<uint32_t> object_size(trace.objects);
  for (auto& s : object_size) s = sizes.draw(rng);
  trace.sizes.resize(trace.ids.size());
  for (size_t i = 0; i < trace.ids.size(); ++i) trace.sizes[i] = object_size[trace.ids[i]];
}

}  // namespace trace_detail

std::expected<Trace, std::string> load_trace(std::string_view spec) {
  using namespace trace_detail;
  const size_t colon = spec.find(':');
  const std::string kind(spec.substr(0, colon));
  const std::string_view body =
      colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  try {
    if (kind == "csv" || kind == "oracle") {
      if (body.empty()) return std::unexpected(kind + ": expected " + kind + ":FILE");
      Trace t =
          kind == "csv" ? read_csv_trace(std::string(body)) : read_oracle_trace(std::string(body));
      t.description = std::string(spec);
      return t;
    }
    using Generator = Trace (*)(SpecParams&);
    static const std::map<std::string, Generator> kGenerators = {
        {"zipf", generate_zipf},      {"uniform", generate_uniform}, {"loop", generate_loop},
        {"scan", generate_scan},      {"shift", generate_shift},     {"onehit", generate_onehit},
        {"recency", generate_recency}};
    auto it = kGenerators.find(kind);
    if (it == kGenerators.end()) {
      return std::unexpected("unknown trace kind '" + kind +
                             "' (known: zipf, uniform, loop, scan, shift, onehit, recency, "
                             "csv:FILE, oracle:FILE)");
    }
    SpecParams params(kind, body);
    Trace t = it->second(params);
    params.check_all_used();
    t.description = std::string(spec);
    return t;
  } catch (const SpecError& e) {
    return std::unexpected(std::string(e.what()));
  }
}

WorkingSet working_set(const Trace& trace) {
  std::vector<uint32_t> last_size(trace.objects, 0);
  WorkingSet ws;
  for (size_t i = 0; i < trace.requests(); ++i) {
    uint32_t& s = last_size[trace.ids[i]];
    if (s == 0) ++ws.objects;
    ws.bytes += static_cast<uint64_t>(trace.size_at(i)) - s;
    s = trace.size_at(i);
  }
  return ws;
}

std::vector<uint32_t> next_accesses(const Trace& trace) {
  std::vector<uint32_t> next(trace.requests());
  std::vector<uint32_t> seen(trace.objects, kNoNextAccess);
  for (size_t i = trace.requests(); i-- > 0;) {
    uint32_t& s = seen[trace.ids[i]];
    next[i] = s;
    s = static_cast<uint32_t>(i);
  }
  return next;
}

}  // namespace strata::bench
