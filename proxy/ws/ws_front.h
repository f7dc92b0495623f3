// One worker's half of the WebSocket channel: the connections it accepted on the WebSocket
// port, the index of their subscriptions, and the fan-out of the change stream to them. It is
// a subscriber of the worker's change seam: every change of a key someone subscribes to goes
// into the process's stream (WsHub) from here, and at the end of every loop iteration (or when
// another worker appended and woke it) the front takes what is new and hands each change's
// frame to the connections subscribed to its key.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/store.h"
#include "policies/policy_config.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/server_stats.h"
#include "proxy/sync/change_seam.h"
#include "proxy/ws/ws_hub.h"

namespace strata::proxy {

class Tiers;
class Upstream;
class WsConn;
struct TierShared;
class WsSessions;

// Counters of the channel, over all workers (INFO # WebSocket).
struct WsCounters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> rejected{0};         // handshake refused (bad request, auth, limit)
  std::atomic<uint64_t> subscriptions{0};
  std::atomic<uint64_t> messages_out{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> merged{0};           // changes merged into a later one for a slow client
  std::atomic<uint64_t> slow_closes{0};
  std::atomic<uint64_t> resumes_history{0};
  std::atomic<uint64_t> resumes_snapshot{0};
  std::atomic<uint64_t> snapshots{0};
  std::atomic<uint64_t> acks{0};
  std::atomic<uint64_t> nacks_conflict{0};
  std::atomic<uint64_t> nacks_denied{0};
  std::atomic<uint64_t> nacks_invalid{0};
  std::atomic<uint64_t> nacks_rate_limited{0};
  std::atomic<uint64_t> nacks_error{0};
  std::atomic<uint64_t> replayed_ops{0};     // resent operations answered again
  std::atomic<uint64_t> protocol_errors{0};  // connections closed for a bad frame or message
  std::atomic<uint64_t> expired_closes{0};   // token expired on an open connection
  // Fan-out latency, change appended -> its frame handed to the kernel (the connection's turn
  // in the fan-out), in microseconds: a log2 histogram (bucket i: < 2^i us).
  std::array<std::atomic<uint64_t>, 32> fanout_us{};
};

// What all workers' fronts share.
struct WsShared {
  const policies::WebsocketConfig* config = nullptr;
  WsHub* hub = nullptr;
  WsSessions* sessions = nullptr;
  WsCounters* counters = nullptr;
  std::string instance;
  std::vector<std::string> public_read;  // from config->public_read
};

// What a front needs of the worker it lives on.
struct WsContext {
  Loop* loop = nullptr;
  uint32_t worker = 0;
  WsShared* shared = nullptr;
  cache::Store* store = nullptr;
  Tiers* tiers = nullptr;           // null without [postgres]
  TierShared* tier_shared = nullptr;
  Upstream* upstream = nullptr;     // null: standalone (keys outside PostgreSQL policies in L1)
  ServerStats* stats = nullptr;     // client ids
};

// Send chains handed to the kernel per loop iteration by the fan-out. A change for 5,000
// subscribers is 5,000 sends (on loopback ~20 ms of kernel time, the receiver's half
// included): in slices, the loop reads and answers its other clients between them, and each
// slice's io_uring_enter ends in user space, where the kernel may schedule another thread (the
// kernel runs without preemption: one enter of 5,000 sends holds its core for all of them).
constexpr size_t kWsFlushesPerIteration = 256;

// A fan-out's latency samples, added to WsCounters::fanout_us once per slice.
using WsLatencyBatch = std::array<uint64_t, 32>;

// INFO # WebSocket: every counter, the stream's state, and the fan-out latency's p50/p99 (the
// upper bound of their power-of-two bucket, in microseconds).
std::string ws_info_lines(const WsShared& shared);

class WsFront final : public ChangeSubscriber {
 public:
  explicit WsFront(const WsContext& ctx);
  ~WsFront();

  void on_accept(int fd);
  void on_change(const ChangeEvent& e) override;
  // Takes the stream's new changes and queues their frames on this worker's subscribers; hands
  // the next kWsFlushesPerIteration send chains to the kernel (once per loop iteration; the
  // loop does not wait while some are left); wakes the other workers when this one appended.
  // End of every loop iteration, on wake, and before a write's ack.
  void deliver();
  void on_tick(int64_t now_ms);
  // FLUSHALL: every subscription here starts over from a snapshot.
  void resync_all();

  // For connections.
  const WsContext& ctx() const { return ctx_; }
  WsHub& hub() { return *ctx_.shared->hub; }
  const policies::WebsocketConfig& config() const { return *ctx_.shared->config; }
  WsCounters& counters() { return *ctx_.shared->counters; }
  uint64_t cursor() const { return cursor_; }
  void add_subscription(WsConn* c, std::string_view key, bool prefix);
  void remove_subscription(WsConn* c, std::string_view key, bool prefix);
  void connection_closed(WsConn* c);
  // A connection has frames of the fan-out waiting in its send chain: it gets its turn.
  void queue_flush(WsConn* c);
  // A frame queued for a client (INFO's messages and bytes out, added up per iteration).
  void count_out(size_t bytes) {
    ++out_messages_;
    out_bytes_ += bytes;
  }
  // A connection's write changed `key` at `version` (its change seq, 0: none appended).
  void note_own_change(uint64_t client, std::string_view key, uint64_t version, uint64_t seq);
  // Reads one key's (or a prefix's page of) current values for a snapshot: through the tiers
  // for PostgreSQL policies, from L1 where it is the only tier. False with *why when neither.
  using SnapshotDone = std::move_only_function<void(struct SnapshotPage&&)>;
  bool read_snapshot(std::string_view key_or_prefix, bool prefix, std::string_view after,
                     size_t limit, SnapshotDone done, std::string* why);

 private:
  struct Subscriber {
    WsConn* conn;
    uint32_t count;  // subscriptions of this connection to this key/prefix
  };
  void fan_out(const WsChangePtr& c);
  void flush_slice();
  void add_counts();
  // A change without its value: read it, then append. Until the tiers hold `min_version` (a
  // peer's write-behind write on its way to PostgreSQL), read again every tick, for at most
  // kRefetchWaitMaxMs from `since_ms`.
  void refetch(std::string_view key, uint64_t min_version, int64_t since_ms);
  bool l1_only(std::string_view key) const;

  WsContext ctx_;
  uint64_t cursor_ = 0;
  bool appended_ = false;
  uint64_t flush_gen_seen_ = 0;
  std::set<WsConn*> conns_;
  std::unordered_map<std::string, std::vector<Subscriber>> by_key_;
  std::map<std::string, std::vector<Subscriber>, std::less<>> by_prefix_;
  std::multiset<size_t> prefix_lengths_;
  std::unordered_map<uint64_t, WsConn*> by_client_;
  struct Refetch {
    uint64_t min_version = 0;
    int64_t since_ms = 0;
  };
  std::map<std::string, Refetch, std::less<>> refetch_retry_;  // read again next tick
  std::vector<WsChangePtr> batch_;  // scratch
  // Connections waiting for their turn to send (each at most once), oldest first.
  std::deque<Token> flush_queue_;
  uint64_t slice_iteration_ = 0;  // the loop iteration of the last slice
  bool kick_armed_ = false;       // a timer due now keeps the loop from waiting
  uint64_t out_messages_ = 0;
  uint64_t out_bytes_ = 0;
};

}  // namespace strata::proxy
