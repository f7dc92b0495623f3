// strata-bench floor: a constant-answer RESP server, the CPU-per-request floor of this machine's
// loopback TCP path (see floor_server.cc).
#pragma once

namespace strata::bench {

int run_floor_server(int argc, char** argv);

}  // namespace strata::bench
