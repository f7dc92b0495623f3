// Process-wide counters, written by workers with relaxed atomics and read by INFO.
#pragma once

#include <atomic>
#include <cstdint>

namespace strata::proxy {

struct ServerStats {
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> total_commands{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> output_limit_disconnects{0};
  std::atomic<uint64_t> idle_disconnects{0};
  std::atomic<uint64_t> query_limit_disconnects{0};
  std::atomic<uint64_t> upstream_hits{0};    // L1 misses answered by a value from upstream
  std::atomic<uint64_t> upstream_misses{0};  // L1 misses upstream did not have either
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> upstream_forwarded{0};
  std::atomic<uint64_t> upstream_ready_conns{0};
  std::atomic<uint64_t> upstream_pinned_total{0};  // clients given a pinned connection
  std::atomic<uint64_t> next_client_id{1};
};

// A counter only one thread writes (a worker's own): a relaxed load and store, no locked add.
inline void bump_local(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace strata::proxy
