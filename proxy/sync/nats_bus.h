// The bus between strata instances: core NATS (nats.c), strata's own envelope
// (protocol/sync_event.h) and loss detection (sync_receiver.h). One per process.
//
// Threads: nats.c runs its own (the connection's reader, timers, its garbage collector); the
// bus adds a ticker (silence, the staleness bound, dropped-message checks) and a sender. A
// received message is checked and applied to L1 on nats.c's reader thread, as it is parsed
// (nats.c's message filter: no hand-off to a delivery thread; L1 is thread-safe), then handed
// to every worker through a bounded inbox, so each worker fences its own fills and publishes
// the change on its seam (source peer). Publishing is thread-safe and
// never waits on the network: nats.c copies into its buffer (and holds up to its reconnect
// buffer while reconnecting); a refused publish is counted, and receivers see the gap.
#pragma once

#include <nats/nats.h>

// nats.c's message filter, called on its reader thread with each message before it is queued
// for a subscription's delivery thread; setting *msg to null takes the message. Exported by
// libnats (3.x) and used by its own tests, but declared only in its private natsp.h/conn.h.
extern "C" void natsConn_setFilterWithClosure(natsConnection* nc,
                                              void (*filter)(natsConnection* nc, natsMsg** msg,
                                                             void* closure),
                                              void* closure);

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/store.h"
#include "policies/policy_config.h"
#include "protocol/sync_event.h"
#include "proxy/loop/event_loop.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/hlc.h"
#include "proxy/sync/sync_receiver.h"
#include "proxy/sync/sync_state.h"

namespace strata::proxy {

// A change another instance made, as a worker's seam gets it.
struct PeerEvent {
  std::string key;
  std::string value;
  uint64_t version = 0;
  int64_t expire_at_ms = 0;
  uint64_t origin = 0;
  ChangeOp op = ChangeOp::kInvalidate;
};

struct SyncCounters {
  std::atomic<uint64_t> published_messages{0};  // NATS messages: batches and heartbeats
  std::atomic<uint64_t> published_batches{0};   // ... of changes
  std::atomic<uint64_t> published_sections{0};  // (worker, partition) sections in them
  std::atomic<uint64_t> published_events{0};
  std::atomic<uint64_t> publish_failures{0};
  std::atomic<uint64_t> received_messages{0};
  std::atomic<uint64_t> applied_events{0};
  std::atomic<uint64_t> installed_values{0};  // update mode: values installed without a read
  std::atomic<uint64_t> stale_refused{0};     // events older than what was seen for the key
  std::atomic<uint64_t> skewed{0};            // versions too far ahead of our clock
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> nats_dropped{0};      // nats.c dropped for a slow subscription
  std::atomic<uint64_t> inbox_dropped{0};     // a worker's inbox was full
  std::atomic<uint64_t> keys_dropped{0};      // L1 entries dropped for a loss
  std::atomic<uint64_t> degraded_episodes{0};
  std::atomic<uint64_t> outbox_dropped{0};  // messages dropped: the outbox was full
  std::atomic<uint64_t> peer_guard_episodes{0};  // a peer's horizon made synced keys skip L1
  std::atomic<uint64_t> unknown_format{0};  // messages of a newer format (partition dropped)
};

class NatsBus {
 public:
  struct Setup {
    policies::NatsConfig nats;
    std::string instance;  // stable name of this instance
    uint32_t workers = 1;
  };
  NatsBus(Setup setup, cache::Store* store, const SyncPolicies* policies, HybridClock* clock,
          SyncState* status);
  ~NatsBus();
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  // Before start: where worker i's peer events go (its loop is woken when some arrive).
  void attach_worker(uint32_t index, Loop* loop);
  // Connects (in the background when the servers are not up yet), subscribes, starts the
  // ticker. False with *err only for a configuration nats.c refuses.
  bool start(std::string* err);
  void stop();

  // Worker side.
  void take_peer_events(uint32_t worker, std::vector<PeerEvent>* out);
  // Thread-safe and never blocks on nats.c (whose publish waits on its connection lock, held
  // while it reconnects): the message goes to a bounded outbox the bus's sender thread drains.
  // Past outbox_bytes_max it is dropped and counted; receivers see the gap.
  // A changes message (format 3, one section): the sender joins every one waiting into batches
  // (SyncBatchEncoder, up to batch_bytes_max) on changes_subject().
  void publish_changes(std::string_view message) { publish(false, message); }
  // A heartbeat: sent after every changes message queued before it.
  void publish_heartbeat(std::string_view message) { publish(true, message); }
  const std::string& changes_subject() const { return changes_subject_; }
  const std::string& heartbeat_subject() const { return heartbeat_subject_; }
  uint32_t partition_of(std::string_view key) const;
  uint32_t partitions() const { return setup_.nats.partitions; }
  uint32_t heartbeat_ms() const { return setup_.nats.heartbeat_ms; }
  uint32_t batch_bytes_max() const { return setup_.nats.batch_bytes_max; }
  uint64_t origin() const { return origin_; }
  uint64_t epoch() const { return epoch_; }
  const protocol::SyncLimits& send_limits() const { return send_limits_; }
  SyncCounters& counters() { return counters_; }
  bool connected() const { return connected_.load(std::memory_order_relaxed); }

  // INFO's "# Sync" lines.
  std::string info_lines() const;

 private:
  static void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* self);
  static void on_read(natsConnection* nc, natsMsg** msg, void* self);
  void receive(natsMsg* msg);
  void release_spent();
  static void on_disconnected(natsConnection* nc, void* self);
  static void on_reconnected(natsConnection* nc, void* self);
  static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* self);

  class Decoded;
  void handle(std::string_view data, int64_t now_ms);  // rx_mu_ held
  void apply(const protocol::SyncRecord& r, uint64_t origin, int64_t now_ms);  // rx_mu_ held
  void drop(const Drops& d);  // rx_mu_ held: drops synced keys of the partitions from L1
  void fan_out_pending();  // rx_mu_ held: pending_ to every worker's inbox
  void wake_idle_workers();
  void refuse_unknown_format(std::string_view data, const protocol::SyncError& e);  // rx_mu_
  void ticker();
  void set_connected(bool up, int64_t now_ms);
  void note_lag(std::string_view key, int64_t lag_ms);
  void note_returned(const Drops& d);  // rx_mu_ held
  void refresh_server_url();

  Setup setup_;
  cache::Store* store_;
  const SyncPolicies* policies_;
  HybridClock* clock_;
  SyncState* status_;
  protocol::SyncLimits limits_;       // receiving
  protocol::SyncLimits send_limits_;  // sending
  uint64_t origin_;
  uint64_t epoch_;
  std::string changes_subject_;
  std::string heartbeat_subject_;
  std::string wildcard_;

  natsOptions* opts_ = nullptr;
  natsConnection* conn_ = nullptr;
  natsSubscription* sub_ = nullptr;

  // Receiving: nats.c's reader thread and the ticker.
  mutable std::mutex rx_mu_;
  SyncReceiver rx_;
  // Handled messages not yet given back to nats.c (see receive()): at most this many, or this
  // many bytes, and at most one tick old.
  std::vector<natsMsg*> spent_;
  size_t spent_bytes_ = 0;
  static constexpr size_t kSpentMessagesMax = 256;
  static constexpr size_t kSpentBytesMax = 1 << 20;
  Drops drops_;  // scratch
  // Update mode: the newest version an event carried per key, so a late older event never
  // installs over a newer one (a bounded table: past its size, events older than the oldest
  // version it forgot are refused as stale).
  std::unordered_map<std::string, uint64_t> seen_;
  uint64_t forgotten_below_ = 0;
  static constexpr size_t kSeenMax = 1 << 20;
  // Apply lag (now - the change's version time), in log2 buckets of ms: overall and per prefix.
  std::vector<uint64_t> lag_buckets_;
  std::map<std::string, std::vector<uint64_t>, std::less<>> lag_by_prefix_;

  struct Inbox {
    std::mutex mu;
    std::vector<PeerEvent> events;
    std::atomic<size_t> waiting{0};  // events.size(), read without the lock by the worker
    bool woken = false;  // a wake is on its way and the worker has not taken the inbox since
    Loop* loop = nullptr;
  };
  std::vector<std::unique_ptr<Inbox>> inboxes_;
  std::vector<PeerEvent> pending_;  // rx_mu_: the events of the message being handled
  // An inbox this full wakes its worker at once instead of at the next tick.
  static constexpr size_t kInboxWakeEventsMax = 4096;
  size_t inbox_wake_events_;
  std::atomic<bool> warned_format_{false};

  std::atomic<bool> connected_{false};
  std::atomic<int64_t> down_since_ms_{0};  // 0: up
  uint64_t last_nats_dropped_ = 0;
  SyncCounters counters_;

  void publish(bool heartbeat, std::string_view data);
  void sender();
  void send_batch();  // the sender's batch_, if any

  struct Outgoing {
    bool heartbeat = false;
    std::string data;
  };
  static constexpr size_t kOutboxBytesMax = 64ull << 20;
  // Coalescing (see sender()): a stream busier than one group per linger_window() is sent in
  // groups linger() apart ([nats] linger_us), one wake-up each. Every message costs the peers a
  // wake-up and a read, so the group's span is what bounds sync's CPU per write; the default
  // 400 us keeps the lag's p50 near 0.2 ms at 10,000 writes/s (it adds half of it on average)
  // and sends ~0.18 messages per write (bench/sync_lag.py, which also runs other values).
  std::chrono::microseconds linger() const {
    return std::chrono::microseconds(setup_.nats.linger_us);
  }
  std::chrono::microseconds linger_window() const {
    return setup_.nats.linger_us == 0 ? std::chrono::microseconds(0)
                                      : linger() + kLingerWindowExtra;
  }
  static constexpr std::chrono::microseconds kLingerWindowExtra{500};
  static constexpr size_t kLingerMessagesMax = 64;
  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::vector<Outgoing> outbox_;
  std::vector<Outgoing> sending_;  // the sender's side of the swap
  bool sender_idle_ = false;       // the sender waits for a publish to wake it
  std::string batch_;              // the sender's: the batch being joined
  protocol::SyncBatchEncoder batcher_{&batch_};
  size_t outbox_bytes_ = 0;
  bool out_stopping_ = false;
  std::thread sender_;

  mutable std::mutex url_mu_;
  std::string server_url_;  // the NATS server connected to, as the ticker last saw it

  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  std::thread ticker_;
};

}  // namespace strata::proxy
