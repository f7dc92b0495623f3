#include "bench/load.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "bench/load_keys.h"
#include "bench/load_options.h"
#include "bench/load_report.h"
#include "bench/load_runner.h"
#include "bench/trace.h"

namespace strata::bench {
namespace {

// Builds the key stream; a trace also sets the key count and, when sized, the value range.
std::expected<KeyGen, std::string> make_keys(LoadOptions& o) {
  if (o.trace_spec.empty()) return KeyGen(o.dist, o.keys, o.seed);
  auto trace = load_trace(o.trace_spec);
  if (!trace) return std::unexpected("--trace: " + trace.error());
  if (trace->requests() == 0) return std::unexpected("--trace: the trace has no requests");
  o.keys = trace->objects;
  o.dist = KeyDistSpec{KeyDist::kTrace, 0};
  if (trace->sized() && !o.value_size_given) {
    uint32_t largest = 1;
    for (uint32_t size : trace->sizes) largest = std::max(largest, size);
    o.value_min = 1;
    o.value_max = std::min(largest, kTraceValueBytesMax);
  }
  if (auto ok = check_load_limits(o); !ok) return std::unexpected(ok.error());
  std::fprintf(stderr, "trace %s: %zu requests over %u objects%s%s\n", o.trace_spec.c_str(),
               trace->requests(), trace->objects, trace->ops.empty() ? "" : ", with ops",
               trace->sized() ? ", with sizes" : "");
  return KeyGen(std::move(*trace));
}

int run(int argc, char** argv) {
  auto parsed = parse_load_options(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().c_str());
    return parsed.error() == load_usage() ? 0 : 2;
  }
  LoadOptions o = std::move(*parsed);
  // One key stream for all runs: with the same seed, A and B see the same requests.
  auto keys = make_keys(o);
  if (!keys) {
    std::fprintf(stderr, "%s\n", keys.error().c_str());
    return 2;
  }
  if (o.prefill) {
    for (const Target& t : o.targets) {
      auto s = prefill_target(o, t);
      if (!s) {
        std::fprintf(stderr, "prefill %s failed: %s\n", t.name().c_str(), s.error().c_str());
        return 1;
      }
      std::fprintf(stderr, "prefilled %llu keys on %s in %.2f s\n",
                   static_cast<unsigned long long>(o.keys), t.name().c_str(), *s);
    }
  }
  std::vector<RunResult> runs;
  bool failed = false;
  for (int round = 1; round <= o.rounds; ++round) {
    for (const Target& t : o.targets) {
      auto r = run_target(o, t, *keys, RunSettings{round, o.progress});
      if (!r) {
        std::fprintf(stderr, "%s %s round %d failed: %s\n", t.label.c_str(), t.name().c_str(),
                     round, r.error().c_str());
        return 1;
      }
      failed = failed || r->errors != 0;
      runs.push_back(std::move(*r));
    }
  }
  print_load_report(o, runs, stdout);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace strata::bench

int run_load(int argc, char** argv) { return strata::bench::run(argc, argv); }
