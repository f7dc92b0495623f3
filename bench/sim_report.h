// Presenting simulation results: an aligned table, CSV, JSON, and an SVG plot of miss ratio
// against cache size (log x) with one line per policy.
#pragma once

#include <string>
#include <vector>

#include "bench/sim.h"

namespace strata::bench {

std::string format_table(const std::vector<SimResult>& results);
// Header: policy,size,requests,miss_ratio,byte_miss_ratio (size = capacity in objects or bytes).
std::string format_csv(const std::vector<SimResult>& results);
std::string format_json(const std::string& trace, const std::vector<SimResult>& results);
std::string render_svg(const std::string& title, const std::vector<SimResult>& results);

}  // namespace strata::bench
