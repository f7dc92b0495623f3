// strata-bench: the hit-rate lab (sim) and the RESP load generator (load).
#include <cstdio>
#include <cstring>

#include "bench/floor_server.h"
#include "bench/sim_cli.h"
#include "bench/ws_fanout.h"
#if __has_include("bench/load.h")
#include "bench/load.h"
#define STRATA_BENCH_HAS_LOAD 1
#endif

namespace {

void usage(FILE* out) {
  std::fputs(
      "usage: strata-bench <command> [options]\n"
      "  sim    replay a trace through eviction policies, print miss ratios (sim --help)\n"
#ifdef STRATA_BENCH_HAS_LOAD
      "  load   drive a RESP server with a workload, report throughput and latency (load --help)\n"
#endif
      "  floor  constant-answer RESP server: the kernel's CPU-per-request floor (floor --help)\n"
      "  ws     WebSocket fan-out latency and CPU per delivery, memory per idle connection\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "sim") == 0) return strata::bench::run_sim(argc - 1, argv + 1);
  if (std::strcmp(cmd, "ws") == 0) return strata::bench::run_ws(argc - 1, argv + 1);
  if (std::strcmp(cmd, "floor") == 0) return strata::bench::run_floor_server(argc - 1, argv + 1);
#ifdef STRATA_BENCH_HAS_LOAD
  if (std::strcmp(cmd, "load") == 0) return run_load(argc - 1, argv + 1);
#endif
  if (std::strcmp(cmd, "-h") == 0 || std::strcmp(cmd, "--help") == 0 ||
      std::strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "strata-bench: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
