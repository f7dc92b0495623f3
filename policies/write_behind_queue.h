// Write-behind as decisions and queues, no I/O: the pending writes of one prefix, coalesced per
// key, handed out in batches (one write per key per batch, oldest first), with per-key order
// kept (a key whose flush is in flight is not handed out again until that flush is settled).
// Not thread-safe: the proxy holds a mutex around it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::policies {

// A write that owns its bytes: journal recovery, dead letters, copies out of the queue.
struct PendingWrite {
  std::string key;
  std::string value;  // empty for a delete
  uint64_t version = 0;
  bool is_delete = false;
  uint64_t segment = 0;  // journal segment holding this write's record (0: none)
  int64_t enqueued_ms = 0;
};

// The same fields as views: what push() copies from and batches hand out.
struct WriteView {
  std::string_view key;
  std::string_view value;
  uint64_t version = 0;
  bool is_delete = false;
  uint64_t segment = 0;
  int64_t enqueued_ms = 0;

  PendingWrite to_owned() const;
};
WriteView view_of(const PendingWrite& w);

// Writes handed out by take_batch: their key and value bytes copied into one buffer that the
// views point into (moving the batch keeps them valid; copying it would not).
struct WriteBatch {
  WriteBatch() = default;
  WriteBatch(WriteBatch&&) = default;
  WriteBatch& operator=(WriteBatch&&) = default;
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;
  void clear() {
    bytes.clear();
    writes.clear();
  }

  std::vector<char> bytes;
  std::vector<WriteView> writes;
};

class WriteBehindQueue {
 public:
  struct Limits {
    uint32_t flush_interval_ms = 100;
    uint32_t max_batch = 256;
    uint32_t max_queue_depth = 100000;
  };
  explicit WriteBehindQueue(Limits limits);
  ~WriteBehindQueue();
  WriteBehindQueue(const WriteBehindQueue&) = delete;
  WriteBehindQueue& operator=(const WriteBehindQueue&) = delete;
  WriteBehindQueue(WriteBehindQueue&& other) noexcept;  // `other` is left empty, unusable
  WriteBehindQueue& operator=(WriteBehindQueue&& other) noexcept;
  void set_limits(Limits limits);
  const Limits& limits() const;

  // False when max_queue_depth keys are pending: the writer must wait (backpressure).
  bool has_room() const;
  // Adds a write (its bytes are copied). A waiting (not in flight) write of the same key is
  // replaced (coalesced) and its journal segment appended to *released; a write older than the
  // pending one is dropped the same way. A key in flight keeps at most one waiting successor.
  // Equal versions count as older (a replayed record). A coalesced write keeps the place and
  // enqueued_ms of the write it replaced: the key has been dirty since then. Segment 0 is
  // never appended to *released (nor is anything when released is null).
  void push(const WriteView& w, std::vector<uint64_t>* released);
  void push(const PendingWrite& w, std::vector<uint64_t>* released) { push(view_of(w), released); }
  // The newest pending write of `key` (waiting, else in flight); its views are valid until the
  // queue changes.
  std::optional<WriteView> find(std::string_view key) const;
  // The newest pending write of every key starting with `prefix` (in no order), appended to
  // *out. Walks the whole table: for snapshots, not for the write path.
  void collect(std::string_view prefix, std::vector<PendingWrite>* out) const;
  // A batch is due when the oldest waiting write is flush_interval_ms old, or max_batch
  // writes wait, or `force` (FLUSH-BEHIND, shutdown) and anything waits.
  bool due(int64_t now_ms, bool force) const;
  // Moves up to max_batch waiting writes (oldest first) to in flight and copies them to *out
  // (*out is cleared first; returns the number of writes; 0 when no batch is due). A waiting
  // successor of a key in flight is not eligible: it neither makes a batch due nor joins one.
  size_t take_batch(int64_t now_ms, bool force, WriteBatch* out);
  // The flush of (key, version) committed: it leaves the queue (segment to *released).
  void committed(std::string_view key, uint64_t version, std::vector<uint64_t>* released);
  // A transient failure: the write waits again in its place (ahead of later writes), unless a
  // newer write of the key superseded it meanwhile (then it is dropped and its segment
  // released, and the successor takes its place). Calls for a (key, version) not in flight are
  // ignored, here and in committed/rejected.
  void failed(std::string_view key, uint64_t version, std::vector<uint64_t>* released);
  // PostgreSQL refused it for good: it leaves the queue and is returned for the dead-letter
  // list (its segment stays live until the dead letter is dropped or retried).
  std::optional<PendingWrite> rejected(std::string_view key, uint64_t version);

  size_t depth() const;                // keys with a pending write (waiting or in flight)
  size_t waiting() const;              // writes not yet handed out
  size_t in_flight() const;            // writes handed out, not settled
  uint64_t bytes() const;              // key + value bytes held
  int64_t oldest_enqueued_ms() const;  // of the oldest pending write; 0 when empty

 private:
  struct Impl;
  Impl* impl_;
};

// Writes PostgreSQL rejected for good, bounded (the oldest is evicted past `max`, its segment
// released). STRATA DEADLETTER LIST|RETRY|DROP.
class DeadLetterList {
 public:
  struct Item {
    PendingWrite write;
    std::string error;  // SQLSTATE and message
    int64_t at_ms = 0;
  };
  explicit DeadLetterList(size_t max) : max_(max) {}
  // Adds an item; if full, the oldest is removed and its segment appended to *released.
  void add(Item item, std::vector<uint64_t>* released);
  const std::deque<Item>& items() const { return items_; }
  // Removes the items for `key` (all when key is empty) and returns them.
  std::vector<Item> take(std::string_view key);
  size_t size() const { return items_.size(); }

 private:
  size_t max_;
  std::deque<Item> items_;
};

}  // namespace strata::policies
