// One load-generator thread: its own io_uring and a slice of the connections. Each connection
// is a closed loop: send a batch of `pipeline` commands, read until every reply of the batch
// has arrived, record latencies (from the batch's send time), start the next batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "bench/hdr_histogram.h"
#include "bench/load_keys.h"
#include "bench/load_options.h"

namespace strata::bench {

// Run phases, set by the coordinating thread and read by workers once per batch.
enum class LoadPhase : int {
  kSetup = -1,  // workers connect, then wait: nothing is sent yet
  kWarmup = 0,  // load runs, nothing is recorded
  kMeasure = 1,
  kStop = 2,  // connections finish their batch in flight and go idle
};

// Read-only inputs shared by all workers of one run.
struct LoadPlan {
  const LoadOptions* options = nullptr;
  const Target* target = nullptr;
  const KeyGen* keys = nullptr;
  std::atomic<int>* phase = nullptr;
  std::atomic<int>* ready = nullptr;  // workers bump it once connected
  // Prints a start-up note (e.g. the epoll fallback) once per run, from any worker.
  std::atomic<bool>* noted = nullptr;
  void note_once(const std::string& note) const;
  // Commands up to the key digits: "*2\r\n$3\r\nGET\r\n$<klen>\r\n<prefix>" and the SET twin.
  std::string get_head;
  std::string set_head;
  std::string del_head;
  std::string value_bytes;  // value_max filler bytes; SET values are prefixes of it
};

// Written by one worker; `completed` and `errors` are read live by the progress line.
struct alignas(64) WorkerStats {
  std::atomic<uint64_t> completed{0};  // measured replies so far
  std::atomic<uint64_t> errors{0};
  uint64_t gets = 0;
  uint64_t sets = 0;
  uint64_t dels = 0;        // trace replays with a del op
  uint64_t get_hits = 0;    // client-observed: GET returned a value
  uint64_t get_misses = 0;  // GET returned null
  uint64_t error_replies = 0;
  uint64_t connection_errors = 0;
  uint64_t last_completion_ns = 0;  // CLOCK_MONOTONIC of the last measured reply
  HdrHistogram latency_ns;
  std::string first_error;
};

struct WorkerSlice {
  int connections = 0;
  uint64_t requests = 0;  // measured requests budget of this worker; 0 = until kStop
  uint64_t seed = 1;
  uint64_t sequence_start = 0;  // first key id of the sequential distribution
};

uint64_t monotonic_ns();

// Runs until the budget is spent or the phase becomes kStop and every batch in flight is done.
// Start-up failures (connect, io_uring) land in stats.first_error with errors bumped.
void run_worker(const LoadPlan& plan, WorkerSlice slice, WorkerStats& stats) noexcept;

}  // namespace strata::bench
