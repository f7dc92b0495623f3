// The one place where every change to a key leaves its worker: writes under every strategy,
// forwarded writes that invalidate L1, native writes of standalone strata, invalidations from
// Redis tracking, and expiries/evictions where L1 is the only tier. Producers publish a
// ChangeEvent; consumers (RESP clients with CLIENT TRACKING, NATS peers, WebSocket subscribers)
// subscribe. Today it counts: per op and source for INFO, and per prefix where the producer
// knows the prefix's counter.
//
// One seam per worker, used only on that worker's thread; counters are relaxed atomics so INFO
// may read them from another worker. An event's views are valid only during publish():
// a subscriber that keeps anything copies it. With no subscriber, publishing allocates nothing.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/loop/server_stats.h"

namespace strata::proxy {

enum class ChangeOp : uint8_t {
  kSet,         // the key now holds `value` (when the producer has it) at `version`
  kDelete,      // the key was deleted
  kInvalidate,  // the key changed; its new value is not known here (read it from a tier)
  kFlushAll,    // every key changed (FLUSHALL, lost tracking); `key` is empty
  kExpire,      // L1 dropped the key at its TTL, and L1 was the only tier that held it
  kEvict,       // L1 evicted the key for room, and L1 was the only tier that held it
};
inline constexpr size_t kChangeOps = 6;

enum class ChangeSource : uint8_t {
  kStrategy,   // a write strata made under its prefix's write strategy (PostgreSQL policies)
  kForwarded,  // a client's write forwarded to Redis (cache strategy in front of Redis)
  kNative,     // a write strata executed itself (standalone, or an L1-only prefix)
  kTracking,   // Redis said another client changed the key (CLIENT TRACKING)
  kStore,      // L1's own expiry or eviction
  kPeer,       // another strata instance (NATS)
  kChangefeed, // PostgreSQL's change feed
};
inline constexpr size_t kChangeSources = 7;

std::string_view change_op_name(ChangeOp op);
std::string_view change_source_name(ChangeSource s);

struct ChangeEvent {
  std::string_view key;
  std::string_view value;   // kSet only, and only when the producer has the bytes
  uint64_t version = 0;     // strata's version of the change; 0: none known (Redis-side changes)
  int64_t expire_at_ms = 0; // kSet: the cache tiers' expiry, 0: none
  ChangeOp op = ChangeOp::kInvalidate;
  ChangeSource source = ChangeSource::kNative;
  uint32_t origin = 0;      // the instance that made the change; 0: this one
  uint64_t client = 0;      // the strata client whose command made it (0: none known here)
  // The prefix's counter of changes, when the producer knows its policy entry; else null.
  std::atomic<uint64_t>* prefix_changes = nullptr;
};

// Finds a key's per-prefix change counter for producers that do not know its policy (forwarded
// writes, tracking); set by the worker when policies are configured.
class PrefixCounters {
 public:
  virtual std::atomic<uint64_t>* changes_for(std::string_view key) = 0;

 protected:
  ~PrefixCounters() = default;
};

class ChangeSubscriber {
 public:
  virtual void on_change(const ChangeEvent& e) = 0;

 protected:
  ~ChangeSubscriber() = default;
};

// Counts per op and per source (INFO's Strata section sums them over workers).
struct ChangeCounts {
  std::array<std::atomic<uint64_t>, kChangeOps> by_op{};
  std::array<std::atomic<uint64_t>, kChangeSources> by_source{};
};

class ChangeSeam {
 public:
  // Subscribers are few and long-lived (one per consumer kind and worker).
  static constexpr size_t kSubscribersMax = 16;

  void publish(const ChangeEvent& e) noexcept {
    bump_local(counts_.by_op[static_cast<size_t>(e.op)]);
    bump_local(counts_.by_source[static_cast<size_t>(e.source)]);
    std::atomic<uint64_t>* per_prefix = e.prefix_changes;
    if (per_prefix == nullptr && prefixes_ != nullptr && !e.key.empty()) {
      per_prefix = prefixes_->changes_for(e.key);
    }
    if (per_prefix != nullptr) per_prefix->fetch_add(1, std::memory_order_relaxed);
    for (ChangeSubscriber* s : subscribers_) s->on_change(e);
  }
  // Convenience for producers that only know the key and what happened to it.
  void publish(std::string_view key, ChangeOp op, ChangeSource source,
               uint64_t client = 0) noexcept {
    ChangeEvent e;
    e.key = key;
    e.op = op;
    e.source = source;
    e.client = client;
    publish(e);
  }
  // False when kSubscribersMax are already subscribed.
  bool subscribe(ChangeSubscriber* s);
  void unsubscribe(ChangeSubscriber* s);
  bool has_subscribers() const { return !subscribers_.empty(); }
  void set_prefix_counters(PrefixCounters* p) { prefixes_ = p; }
  const ChangeCounts& counts() const { return counts_; }

 private:
  ChangeCounts counts_;
  PrefixCounters* prefixes_ = nullptr;
  std::vector<ChangeSubscriber*> subscribers_;
};

// The seam of the worker running on this thread (null on other threads). Lets a producer that
// has no worker context of its own -- L1's expiry/eviction hook, called inside the Store --
// publish through the worker that triggered it.
ChangeSeam* thread_seam();
void set_thread_seam(ChangeSeam* seam);

}  // namespace strata::proxy
