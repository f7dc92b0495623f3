// Synthetic trace generators. Each is a pure function of its parameters and seed, so a spec
// names one exact trace: same spec, same requests, on every machine.
#include "bench/trace_gen.h"

#include <algorithm>
#include <cmath>

namespace strata::bench::trace_detail {

namespace {

constexpr uint64_t kDefaultObjects = 1'000'000;
constexpr uint64_t kDefaultRequests = 10'000'000;

struct Common {
  uint64_t objects;
  uint64_t requests;
  uint64_t seed;
  SizeDist sizes;
};

Common common(SpecParams& p, bool with_objects = true) {
  Common c{};
  c.objects = with_objects ? p.u64("objects", kDefaultObjects, 1, kTraceObjectsMax) : 0;
  c.requests = p.u64("requests", kDefaultRequests, 1, kTraceRequestsMax);
  c.seed = p.u64("seed", 1, 0, UINT64_MAX);
  c.sizes = parse_size_dist(p);
  return c;
}

Trace start(uint64_t requests) {
  Trace t;
  t.ids.reserve(requests);
  return t;
}

}  // namespace

Trace generate_zipf(SpecParams& p) {
  const double alpha = p.real("alpha", 1.0, 0.0, 10.0);
  const Common c = common(p);
  Rng rng(c.seed);
  const ZipfSampler zipf(c.objects, alpha);
  const std::vector<uint32_t> perm = permutation(c.objects, rng);
  Trace t;
  t.ids.resize(c.requests);
  draw_zipf_ids(zipf, perm, rng, t.ids.data(), c.requests);
  t.objects = static_cast<uint32_t>(c.objects);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

Trace generate_uniform(SpecParams& p) {
  const Common c = common(p);
  Rng rng(c.seed);
  Trace t = start(c.requests);
  for (uint64_t i = 0; i < c.requests; ++i)
    t.ids.push_back(static_cast<uint32_t>(rng.below(c.objects)));
  t.objects = static_cast<uint32_t>(c.objects);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

Trace generate_loop(SpecParams& p) {
  const Common c = common(p);
  Trace t = start(c.requests);
  for (uint64_t i = 0; i < c.requests; ++i) t.ids.push_back(static_cast<uint32_t>(i % c.objects));
  t.objects = static_cast<uint32_t>(c.objects);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

// Zipf traffic where, every scan_every requests, a scan of scan_len never-seen keys runs
// (a batch job or a crawler walking the keyspace): the classic pollution LRU suffers from.
Trace generate_scan(SpecParams& p) {
  const double alpha = p.real("alpha", 1.0, 0.0, 10.0);
  const Common c = common(p);
  const uint64_t scan_every = p.u64("scan_every", 100'000, 1, kTraceRequestsMax);
  const uint64_t scan_len =
      p.u64("scan_len", std::max<uint64_t>(1, c.objects / 100), 1, kTraceRequestsMax);
  Rng rng(c.seed);
  const ZipfSampler zipf(c.objects, alpha);
  const std::vector<uint32_t> perm = permutation(c.objects, rng);
  Trace t = start(c.requests);
  uint64_t next_new = c.objects;
  for (uint64_t i = 0; i < c.requests;) {
    for (uint64_t k = 0; k < scan_every && i < c.requests; ++k, ++i) {
      t.ids.push_back(perm[zipf.draw(rng)]);
    }
    for (uint64_t k = 0; k < scan_len && i < c.requests; ++k, ++i) {
      if (next_new > kTraceObjectsMax) throw SpecError("scan: too many scan keys for uint32 ids");
      t.ids.push_back(static_cast<uint32_t>(next_new++));
    }
  }
  t.objects = static_cast<uint32_t>(next_new);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

// hot_frac of the requests go uniformly to a hot window of `hot` objects, the rest uniformly to
// all objects; every `period` requests the window moves to the next `hot` objects of a random
// permutation, so yesterday's hot keys go cold at once.
Trace generate_shift(SpecParams& p) {
  const Common c = common(p);
  const uint64_t hot = p.u64("hot", std::max<uint64_t>(1, c.objects / 100), 1, c.objects);
  const double hot_frac = p.real("hot_frac", 0.9, 0.0, 1.0);
  const uint64_t period =
      p.u64("period", std::max<uint64_t>(1, c.requests / 10), 1, kTraceRequestsMax);
  Rng rng(c.seed);
  const std::vector<uint32_t> perm = permutation(c.objects, rng);
  Trace t = start(c.requests);
  uint64_t offset = 0;
  for (uint64_t i = 0; i < c.requests; ++i) {
    if (i > 0 && i % period == 0) offset = (offset + hot) % c.objects;
    if (rng.uniform() < hot_frac) {
      t.ids.push_back(perm[(offset + rng.below(hot)) % c.objects]);
    } else {
      t.ids.push_back(static_cast<uint32_t>(rng.below(c.objects)));
    }
  }
  t.objects = static_cast<uint32_t>(c.objects);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

// Zipf traffic mixed with a fraction `onehit` of requests for keys requested exactly once.
Trace generate_onehit(SpecParams& p) {
  const double alpha = p.real("alpha", 1.0, 0.0, 10.0);
  const double onehit = p.real("onehit", 0.2, 0.0, 1.0);
  const Common c = common(p);
  Rng rng(c.seed);
  const ZipfSampler zipf(c.objects, alpha);
  const std::vector<uint32_t> perm = permutation(c.objects, rng);
  Trace t = start(c.requests);
  uint64_t next_new = c.objects;
  for (uint64_t i = 0; i < c.requests; ++i) {
    if (rng.uniform() < onehit) {
      if (next_new > kTraceObjectsMax) throw SpecError("onehit: too many keys for uint32 ids");
      t.ids.push_back(static_cast<uint32_t>(next_new++));
    } else {
      t.ids.push_back(perm[zipf.draw(rng)]);
    }
  }
  t.objects = static_cast<uint32_t>(next_new);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

// Each request is, with probability `new`, a never-seen key; otherwise it repeats the request
// made d requests ago, d log-uniform in [1, window]. Popularity is purely a matter of recency:
// the workload LRU is optimal-ish for and frequency-based admission can hurt.
Trace generate_recency(SpecParams& p) {
  const Common c = common(p, /*with_objects=*/false);
  const double fresh = p.real("new", 0.1, 0.0, 1.0);
  const uint64_t window = p.u64("window", 100'000, 1, kTraceRequestsMax);
  Rng rng(c.seed);
  const double log_window = std::log(static_cast<double>(window) + 1);
  Trace t = start(c.requests);
  uint64_t next_new = 0;
  for (uint64_t i = 0; i < c.requests; ++i) {
    if (i == 0 || rng.uniform() < fresh) {
      t.ids.push_back(static_cast<uint32_t>(next_new++));
      continue;
    }
    uint64_t d = static_cast<uint64_t>(std::exp(log_window * rng.uniform()));
    d = std::clamp<uint64_t>(d, 1, i);
    t.ids.push_back(t.ids[i - d]);
  }
  t.objects = static_cast<uint32_t>(next_new);
  finish_generated(t, c.sizes, c.seed);
  return t;
}

}  // namespace strata::bench::trace_detail
