// The simulation engine: replays a Trace through eviction policies (the very cache/ objects the
// proxy's Store runs) at given capacities and counts misses. The owner loop follows
// cache/eviction_policy.h's contract exactly: a miss inserts, then evicts while used > capacity.
// It makes the same calls cache::Store makes for the same operations, so the two agree request
// by request (tests/bench/store_equivalence_test.cc):
//   get  a read; a miss fills (read-through), a hit is on_hit;
//   set  a write: a resident key is replaced (on_resize if its charge changed, else nothing;
//        never a hit), an absent one inserted;
//   del  on_erase.
// An object bigger than the whole capacity is never inserted (and a write of one drops the key).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trace.h"
#include "cache/eviction_policy.h"

namespace strata::bench {

enum class SizeUnit { kObjects, kBytes };

struct CacheSize {
  std::string spec;  // as given: "1000", "64MB", "1%"
  SizeUnit unit = SizeUnit::kObjects;
  uint64_t capacity = 0;  // objects or bytes
};

// "1000" or "10k": objects. "100B", "64KB", "64MB", "1GB" (powers of 1024, as Redis' maxmemory):
// bytes, needs a sized trace. "1%", "0.5%": of the working set -- objects for a unit-size trace,
// bytes for a sized one.
std::expected<CacheSize, std::string> parse_cache_size(std::string_view text, const Trace& trace,
                                                       const WorkingSet& ws);

struct SimResult {
  std::string policy;
  CacheSize size;
  uint64_t requests = 0;  // gets only; sets and dels update the cache but are not counted
  uint64_t misses = 0;
  uint64_t bytes = 0;  // requested bytes (trace sizes, even when capacity counts objects)
  uint64_t miss_bytes = 0;
  double seconds = 0;      // wall time of this run's replay loop
  double cpu_seconds = 0;  // CPU time of the thread that ran it (honest on a shared machine)
  std::string notes;       // adaptive: the live policy, switches, shadow estimates

  double miss_ratio() const { return requests ? double(misses) / double(requests) : 0; }
  double byte_miss_ratio() const { return bytes ? double(miss_bytes) / double(bytes) : 0; }
};

// "belady" (needs next-access times: pass them to simulate()), "adaptive", or any name
// cache::make_policy knows. nullptr for an unknown name.
std::unique_ptr<cache::EvictionPolicy> make_sim_policy(std::string_view name, uint64_t capacity);
// Every name make_sim_policy accepts, for --help and error messages.
std::vector<std::string> sim_policy_names();

struct SimRunOptions {
  const std::vector<uint32_t>* next_access = nullptr;  // required for belady
  std::vector<uint8_t>* hits = nullptr;                // per request: 1 hit, 0 miss (tests)
  std::atomic<uint64_t>* progress = nullptr;           // requests replayed, bumped in chunks
};

// Replays the whole trace through one policy instance with one capacity. The policy is fresh and
// used for this one replay only (it may ask the replay about its slots: SlotInfo).
SimResult simulate(const Trace& trace, cache::EvictionPolicy& policy, const CacheSize& size,
                   const SimRunOptions& options);

struct SimOptions {
  unsigned threads = 1;
  bool progress = false;  // progress bar on stderr
};

// Every policy at every size; runs (policy, size) pairs on `threads` threads. Results come back
// in policy-major order regardless of which thread finished first.
std::expected<std::vector<SimResult>, std::string> run_sims(
    const Trace& trace, const std::vector<std::string>& policies,
    const std::vector<CacheSize>& sizes, const SimOptions& options);

}  // namespace strata::bench
