// What every worker's Tiers share: the policy registry, the versions strata gives writes, the
// write-behind queues (one per prefix) with their dead letters, the journal ledger, the set of
// keys being refreshed ahead, and the negative cache. Each part has its own lock; workers hold
// one only for a map operation, never across I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "policies/write_behind_queue.h"
#include "proxy/journal/journal.h"
#include "proxy/sync/hlc.h"
#include "proxy/tiers/policy_registry.h"

namespace strata::proxy {

// A batch of write-behind writes of one prefix, handed to one worker to flush (`writes` view
// the batch's own bytes).
struct FlushBatch : policies::WriteBatch {
  std::string prefix;
  MappingSql sql;
};

class WriteBehindShared {
 public:
  // Key and value bytes held by all write-behind queues together; past it writers wait (as
  // past a prefix's max_queue_depth), so big values cannot run memory out either.
  static constexpr uint64_t kBytesMax = 1ull << 30;

  WriteBehindShared(JournalLedger* ledger, size_t dead_letter_max);

  // Queue limits follow the policies (after a reload too).
  void apply(const PolicySnapshot& snap);
  bool has_room(const PolicyEntry& e);
  void push(const PolicyEntry& e, const policies::WriteView& w);
  void push(const PolicyEntry& e, const policies::PendingWrite& w) {
    push(e, policies::view_of(w));
  }
  // Copies the newest pending write of key (prefix's queue) into *out.
  bool find(std::string_view prefix, std::string_view key, policies::PendingWrite* out);
  // The newest pending write of every key starting with key_prefix, in the queue of the
  // policy `prefix` (WebSocket snapshots).
  void collect(std::string_view prefix, std::string_view key_prefix,
               std::vector<policies::PendingWrite>* out);
  // Batches due now (all waiting writes when force), at most `max_batches`.
  void take(int64_t now_ms, bool force, size_t max_batches, std::vector<FlushBatch>* out);
  // Settles the rows of one statement (prefix's queue) under one lock: committed (ok) or to
  // be retried.
  void settle(const std::string& prefix, std::span<const policies::WriteView> rows, bool ok);
  void rejected(const std::string& prefix, std::string_view key, uint64_t version,
                std::string error, int64_t now_ms);

  struct QueueInfo {
    size_t depth = 0;
    int64_t oldest_ms = 0;
  };
  QueueInfo info(std::string_view prefix);
  size_t depth();  // all queues
  bool any_due(int64_t now_ms);

  // Dead letters.
  std::vector<policies::DeadLetterList::Item> dead_letters();
  size_t dead_letter_count();
  // RETRY: back into their queues (unless a newer write is pending). Returns how many.
  size_t retry(std::string_view key, const PolicySnapshot& snap);
  size_t drop(std::string_view key);

 private:
  struct Queue {
    explicit Queue(policies::WriteBehindQueue::Limits l) : q(l) {}
    policies::WriteBehindQueue q;
    MappingSql sql;
  };
  Queue& queue_for(const PolicyEntry& e);  // mu_ held
  void release(const std::vector<uint64_t>& segs);

  JournalLedger* ledger_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  policies::DeadLetterList dead_;
  std::vector<uint64_t> released_;  // scratch, mu_ held
};

// Keys with a refresh-ahead reload in flight, across workers: one reload per key at a time.
class RefreshSet {
 public:
  bool try_begin(std::string_view key);
  void end(std::string_view key);

 private:
  static constexpr size_t kMax = 65536;  // in-flight reloads; past it, refreshes wait a turn
  std::mutex mu_;
  std::unordered_set<std::string> keys_;
};

// "Not in PostgreSQL" answers, kept negative_ttl_ms; dropped by any write of the key.
class NegativeCache {
 public:
  bool hit(std::string_view key, int64_t now_ms);
  void put(std::string_view key, int64_t expire_at_ms);
  void erase(std::string_view key);

 private:
  static constexpr size_t kMax = 1 << 18;  // entries; when full the cache starts over
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> until_;
  // until_.size(), readable without the lock: a write of a key is not held up by the lock
  // while no answer is cached (seq_cst: an entry put before a write's erase is seen by it).
  std::atomic<size_t> size_{0};
};

// Told of every row strata is about to write to PostgreSQL (strategy writes and write-behind
// flushes), so the change feed recognizes them when they come back. Thread-safe.
class PgWriteObserver {
 public:
  virtual void writing(std::string_view key, uint64_t version, std::string_view value,
                       bool is_delete) = 0;
  // The write was refused (it will not come back).
  virtual void failed(std::string_view key, uint64_t version) = 0;

 protected:
  ~PgWriteObserver() = default;
};

struct TierShared {
  PolicyRegistry* registry = nullptr;
  JournalLedger* ledger = nullptr;
  std::unique_ptr<WriteBehindShared> write_behind;
  // Write versions (sync/hlc.h), seeded past the journal's newest at start, so every write's
  // version is newer than any made before it, across restarts too.
  HybridClock versions;
  RefreshSet refreshing;
  NegativeCache negative;
  // Clients waiting in STRATA FLUSH-BEHIND (any worker): while there are any, every waiting
  // write is flushed now, whatever the interval; likewise while draining at shutdown.
  std::atomic<int64_t> flush_waiters{0};
  std::atomic<bool> draining{false};
  JournalCounters journal;
  PgWriteObserver* pg_writes = nullptr;  // with the change feed
};

}  // namespace strata::proxy
