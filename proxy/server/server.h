// The daemon: the shared L1 store, one Worker thread per core, signal handling and shutdown.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/clock.h"
#include "proxy/loop/loop_clock.h"
#include "cache/store.h"
#include "proxy/server/options.h"
#include "proxy/loop/server_stats.h"
#include "proxy/server/worker.h"
#include "proxy/sync/sync_state.h"
#include "policies/policy_config.h"

namespace strata::proxy {

class Server {
 public:
  explicit Server(Options options);
  ~Server();

  // Opens listeners and starts the workers. False with *err when start-up fails.
  bool start(std::string* err);
  // Blocks until SIGINT/SIGTERM, then stops the workers and returns.
  void wait_for_signal();
  void stop();

 private:
  Options options_;
  LoopClock clock_;  // workers read their loop's time
  // Before the store: it tells this of expiries and evictions until the store is gone.
  std::unique_ptr<class StoreRemovals> removals_;
  std::unique_ptr<cache::Store> store_;
  std::unique_ptr<class HitRateMonitor> hitrate_;
  ServerStats stats_;
  Shared shared_{};
  // The WebSocket channel's shared parts: they outlive the workers that use them.
  policies::WebsocketConfig ws_config_;
  std::unique_ptr<class WsHub> ws_hub_;
  std::unique_ptr<class WsSessions> ws_sessions_;
  std::unique_ptr<struct WsCounters> ws_counters_;
  std::unique_ptr<struct WsShared> ws_shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  bool running_ = false;  // every worker started
  std::unique_ptr<class PolicyRegistry> registry_;
  std::unique_ptr<class JournalLedger> ledger_;
  std::unique_ptr<struct TierShared> tiers_;
  policies::NatsConfig nats_;   // url empty: no sync bus
  std::string instance_;        // this instance's stable name
  SyncState sync_status_;
  std::unique_ptr<class NatsBus> bus_;
  std::unique_ptr<class Changefeed> changefeed_;  // [postgres] changefeed = true

  // Shards of each prefix's own L1 partition: few, so an adaptive partition's shadows see
  // enough of its keys per shard.
  static constexpr uint32_t kPartitionShards = 4;

  bool start_policies(std::string* err);
  bool start_websocket(std::string* err);
  std::string default_instance_name() const;
  bool store_config(cache::StoreConfig* sc, std::string* err) const;
  void reload_policies();
  void drain_write_behind();
};

}  // namespace strata::proxy
