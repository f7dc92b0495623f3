// One key's read in flight on one worker (tiers_read.cc), with its stampede lease state
// (tiers_lease.cc). Internal to proxy/tiers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/loop/timer_heap.h"
#include "proxy/tiers/tiers.h"

namespace strata::proxy {

struct Tiers::Flight {
  // The stampede lease in Redis (tiers_lease.cc): what this read does about the other
  // instances missing the same key.
  enum class LeaseStage : uint8_t {
    kNone,     // no lease business now (reading L2, reading PostgreSQL, or no lease at all)
    kAsking,   // the lease script is out (a timer guards against a slow Redis)
    kWaiting,  // another instance holds the lease: a timer for the next look at L2
  };

  std::string key;
  const PolicyEntry* entry = nullptr;
  uint64_t id = 0;     // this worker's flights, in order: tells a flight from a later one
  uint64_t lease = 0;  // the L1 fill lease (Store::begin_fill)
  std::vector<Waiter> waiters;
  bool l2_value = false;  // GET answered with a value
  bool l2_failed = false;
  bool pg_stage = false;  // waiting on PostgreSQL: readers who join now wait on it too
  std::string value;

  LeaseStage lease_stage = LeaseStage::kNone;
  // Bumped at every stage change: a reply or timer of an earlier stage changes nothing.
  uint64_t lease_gen = 0;
  TimerHeap::Id timer = 0;
  bool waited = false;     // found the lease held at least once
  bool yield = false;      // a write of the key arrived here: stop waiting, read PostgreSQL
  int64_t wait_until_ms = 0;
  uint32_t poll_ms = 0;    // the next wait between looks at L2 (backs off)
  bool holds_lease = false;  // this flight won the lease: it reads PostgreSQL, then releases
  std::string lease_ver;     // L2's version of the key when the lease was won
};

}  // namespace strata::proxy
