// What the rest of the proxy asks of the sync bus: which keys are synced (their prefix's policy,
// `sync` resolved), and whether synced keys must skip L1 right now -- the bus has been down
// longer than max_staleness_ms, so L1 may hold values other instances changed since.
#pragma once

#include <atomic>
#include <string_view>

#include "policies/policy.h"

namespace strata::proxy {

class SyncPolicies {
 public:
  virtual policies::SyncMode sync_of(std::string_view key) const = 0;
  // The policy prefix `key` falls under ("" for the default), for per-prefix figures.
  virtual std::string_view prefix_of(std::string_view key) const = 0;

 protected:
  ~SyncPolicies() = default;
};

struct SyncState {
  const SyncPolicies* policies = nullptr;
  // Set by the bus while it is down past max_staleness_ms (and before it first connects):
  // this instance is cut off; synced keys skip L1 and their writes are refused.
  std::atomic<bool> degraded{false};
  // Set while a peer has gone silent and may still be taking writes nobody hears of (until it
  // must have noticed its own isolation and refused them): synced keys skip L1 here.
  std::atomic<bool> peer_guard{false};

  // Reads of `key` must not be served from L1, nor fill it: two relaxed loads when healthy.
  bool l1_bypass(std::string_view key) const {
    return (degraded.load(std::memory_order_relaxed) ||
            peer_guard.load(std::memory_order_relaxed)) &&
           policies->sync_of(key) != policies::SyncMode::kOff;
  }
  // Writes of `key` must be refused: no peer could hear of them in time.
  bool refuse_write(std::string_view key) const {
    return degraded.load(std::memory_order_relaxed) &&
           policies->sync_of(key) != policies::SyncMode::kOff;
  }
};

}  // namespace strata::proxy
