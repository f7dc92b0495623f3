// One worker: one thread, one event loop (io_uring, or epoll where refused), its own listener
// on the shared port (SO_REUSEPORT), the client connections it accepted, its own upstream
// connections and tiered path, and its change seam. Connections never move between workers.
// The L1 store is shared (sharded locks). The worker is the top of proxy/: it builds each
// part's narrow context (loop, front, upstream, tiers) and is the only one that knows them all.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/store.h"
#include "proxy/commands/command.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/server_stats.h"
#include "proxy/resp/front_context.h"
#include "proxy/server/options.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/sync_state.h"

namespace strata::proxy {

class Upstream;
class Tiers;

// What all workers share, read-mostly. Everything here is set before any worker serves.
struct Shared {
  const Options* options;
  cache::Store* store;
  ServerStats* stats;
  int64_t start_ms;
  std::string io_description;               // of worker 0, for INFO
  class HitRateMonitor* hitrate = nullptr;  // null when sampling is off
  std::vector<class Worker*> workers;       // for INFO's sums of per-worker counters
  struct TierShared* tiers = nullptr;       // policies; with [postgres], the tiered path
  class NatsBus* bus = nullptr;             // the sync bus; null without [nats]
  SyncState* sync = nullptr;               // with the bus: whether synced keys may use L1
  struct WsShared* ws = nullptr;           // the WebSocket channel; null without [websocket]
  class Changefeed* changefeed = nullptr;  // PostgreSQL's change feed; null unless configured
};

class Worker final : public LoopOwner, public FrontHost {
 public:
  Worker(uint32_t index, Shared* shared);
  ~Worker() override;

  // Creates the event loop, the listener, the upstream and the tiered path. False with *err.
  // The loop accepts nothing until run().
  bool init(std::string* err, std::string* driver_note);
  void run() noexcept;
  void request_stop();  // thread-safe

  uint64_t commands() const { return commands_.load(std::memory_order_relaxed); }
  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  const ChangeSeam& seam() const { return seam_; }
  Loop& loop() { return loop_; }
  const DriverFeatures& features() const { return loop_.features(); }
  Upstream* upstream() { return upstream_.get(); }
  Tiers* tiers() { return tiers_.get(); }

  // LoopOwner.
  void on_accept(int fd, uint32_t listener) override;
  void on_tick(int64_t now_ms) override;
  void end_of_iteration(int64_t now_ms) override;
  void on_wake() override;
  void start_of_iteration() override;
  // FrontHost.
  const ServerView& server_view(bool refresh, bool full) override;

 private:
  const Options& options() const { return *shared_->options; }
  std::string changes_info() const;

  uint32_t index_;
  Shared* shared_;
  Loop loop_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  bool accepting_ = false;         // the listeners are armed
  int64_t accept_deadline_ms_ = 0;  // ... at the latest then, upstream connected or not
  void maybe_start_accepting(int64_t now_ms);
  int64_t last_housekeeping_ms_ = 0;
  ChangeSeam seam_;
  FrontContext front_;
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<Tiers> tiers_;
  std::unique_ptr<class SyncPublisher> publisher_;  // with the sync bus
  std::unique_ptr<class TrackingNotifier> tracking_;  // CLIENT TRACKING's invalidations
  std::unique_ptr<class WsFront> ws_;                 // the WebSocket channel
  std::unique_ptr<class ChangefeedApplier> changefeed_;  // worker 0, with the change feed
  std::unique_ptr<class PeerWriteRecorder> peer_writes_;  // worker 0, with the change feed
  int ws_listen_fd_ = -1;
  std::unique_ptr<class TrackingSeen> tracking_seen_;  // its L1-hit filter
  ServerView view_;
  alignas(64) std::atomic<uint64_t> commands_{0};  // written by this worker only
  std::atomic<uint64_t> forwarded_{0};
};

}  // namespace strata::proxy
