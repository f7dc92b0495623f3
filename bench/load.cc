#include "bench/load.h"

#include <cstdio>
#include <vector>

#include "bench/load_keys.h"
#include "bench/load_options.h"
#include "bench/load_report.h"
#include "bench/load_runner.h"

namespace strata::bench {
namespace {

int run(int argc, char** argv) {
  auto options = parse_load_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "%s\n", options.error().c_str());
    return options.error() == load_usage() ? 0 : 2;
  }
  const LoadOptions& o = *options;
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
  // One key generator for all runs: with the same seed, A and B see the same request stream.
  const KeyGen keys(o.dist, o.keys, o.seed);
  std::vector<RunResult> runs;
  bool failed = false;
  for (int round = 1; round <= o.rounds; ++round) {
    for (const Target& t : o.targets) {
      auto r = run_target(o, t, keys, RunSettings{round, o.progress});
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
