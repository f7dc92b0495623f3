// Runs one measured load against one target: starts the worker threads, drives the phases
// (setup, warmup, measure, stop), prints the progress line and collects client- and server-side
// numbers (INFO deltas, CPU time).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "bench/hdr_histogram.h"
#include "bench/load_keys.h"
#include "bench/load_options.h"

namespace strata::bench {

struct RunResult {
  std::string label;     // "A" / "B"
  std::string endpoint;  // host:port
  int round = 0;         // 1-based; 0 for a total over rounds
  uint64_t requests = 0;
  uint64_t errors = 0;
  double elapsed_s = 0;
  uint64_t gets = 0;
  uint64_t sets = 0;
  uint64_t dels = 0;
  uint64_t get_hits = 0;
  uint64_t get_misses = 0;
  HdrHistogram latency_ns;
  std::optional<uint64_t> server_hits;  // INFO deltas over the measured interval
  std::optional<uint64_t> server_misses;
  std::optional<uint64_t> l1_hits;
  std::optional<double> server_cpu_s;
  std::string cpu_source;   // "proc" or "info"
  double client_cpu_s = 0;  // this process's user+sys time over the measured interval
  std::string first_error;

  double throughput() const {
    return elapsed_s > 0 ? static_cast<double>(requests) / elapsed_s : 0;
  }
  std::optional<double> client_hit_ratio() const;
  std::optional<double> server_hit_ratio() const;
  std::optional<double> l1_hit_ratio() const;  // l1_hits per GET sent
  std::optional<double> cpu_us_per_request() const;
  std::optional<double> client_cpu_us_per_request() const;
  // Adds another run of the same target (for totals over rounds).
  void accumulate(const RunResult& other);
};

struct RunSettings {
  int round = 1;
  bool progress = true;
};

std::expected<RunResult, std::string> run_target(const LoadOptions& options, const Target& target,
                                                 const KeyGen& keys, RunSettings settings);

// SETs every key once (sequential keys, no measurement output); returns the elapsed seconds.
std::expected<double, std::string> prefill_target(const LoadOptions& options, const Target& target);

}  // namespace strata::bench
