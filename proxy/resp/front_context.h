// What a client connection needs of the worker it lives on: the loop, the L1 store, the
// upstream and tiered path when configured, the change seam, its limits, and the few server
// facts only the worker can compose (FrontHost). Nothing else of the worker or server.
#pragma once

#include <atomic>
#include <cstdint>

#include "cache/store.h"
#include "proxy/commands/command.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/server_stats.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/sync_state.h"

namespace strata::proxy {

class HitRateMonitor;
class Tiers;
class TrackingSeen;
class Upstream;
struct TierShared;

// A client's limits (from the server's options; see Options for each one's meaning).
struct ClientLimits {
  uint64_t bulk_bytes_max = 512ull << 20;
  uint64_t multibulk_count_max = 2147483647;
  uint64_t query_buffer_bytes_max = 1ull << 30;
  uint64_t output_buffer_bytes_max = 1ull << 30;
  uint64_t output_pause_bytes = 1ull << 20;
  uint32_t output_stall_ms = 30'000;
  uint32_t pending_replies_max = 4096;
  uint32_t idle_timeout_s = 0;
  bool auth_required = false;  // a requirepass is set
  bool l1_enabled = true;      // false: pass-through
};

class FrontHost {
 public:
  // A snapshot of server facts for INFO/HELLO/CLIENT; full: also the parts that cost.
  virtual const ServerView& server_view(bool refresh, bool full) = 0;

 protected:
  ~FrontHost() = default;
};

struct FrontContext {
  Loop* loop = nullptr;
  cache::Store* store = nullptr;
  ServerStats* stats = nullptr;
  HitRateMonitor* hitrate = nullptr;  // null when sampling is off
  Upstream* upstream = nullptr;       // null: standalone
  Tiers* tiers = nullptr;             // null without [postgres]
  TierShared* tier_shared = nullptr;  // policies; null when none are configured
  ChangeSeam* seam = nullptr;
  FrontHost* host = nullptr;
  const SyncState* sync = nullptr;  // null without a sync bus
  // The worker's L1-hit filter for CLIENT TRACKING (tracking_seen.h); null: none, a tracking
  // client's GET goes to its TrackedKeys each time.
  TrackingSeen* tracking_seen = nullptr;
  std::atomic<uint64_t>* commands = nullptr;  // the worker's command counter
  ClientLimits limits;
};

}  // namespace strata::proxy
