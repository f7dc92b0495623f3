// `strata-bench sim ...`: argument parsing and output for the hit-rate simulator.
#pragma once

namespace strata::bench {

// argv[0] is "sim". Returns the process exit code (0 ok, 1 runtime failure, 2 usage error).
int run_sim(int argc, char** argv);
const char* sim_usage();

}  // namespace strata::bench
