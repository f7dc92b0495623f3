// Formats load results as text, CSV or JSON: one entry per (target, round), a total per target
// over all rounds, and B/A ratios when there are two targets.
#pragma once

#include <cstdio>
#include <vector>

#include "bench/load_options.h"
#include "bench/load_runner.h"

namespace strata::bench {

void print_load_report(const LoadOptions& options, const std::vector<RunResult>& runs,
                       std::FILE* out);

}  // namespace strata::bench
