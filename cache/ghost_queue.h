// A ghost: the hashes of recently evicted keys, oldest dropped first once their summed sizes
// exceed a budget. Used by S3-FIFO (G) and ARC (B1, B2). A ring of (hash, size) in insertion
// order plus an open-addressing index hash -> ring position, so push, lookup and removal from
// the middle are O(1) and steady state allocates nothing.
//
// Dropping the oldest entry only advances the ring's head: its index slot goes stale (its
// position falls outside [head, tail)) and is reused by a later insert or reclaimed by a sweep
// of a few slots per drop. That saves a cache miss per eviction, the ghost's main cost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cache/prefetch.h"

namespace strata::cache {

class GhostQueue {
 public:
  explicit GhostQueue(uint64_t budget = 0) : budget_(budget) {}

  // Adds `hash` as the newest entry (replacing an older copy), then drops the oldest entries
  // while the summed sizes exceed the budget.
  void push(uint64_t hash, uint64_t size);
  // As push(), for a hash the caller knows is absent (S3-FIFO and ARC remove a key's hash when
  // it is inserted, so an evicted key is never in its ghost). Indexing is deferred for a few
  // pushes, with the index line prefetched, so the push costs no cache-miss stall.
  void push_absent(uint64_t hash, uint64_t size);
  // Forgets `hash`; true if it was present.
  bool remove(uint64_t hash);
  bool contains(uint64_t hash) const;
  // Starts loading the index line that contains() or remove() of `hash` reads first.
  void prefetch_lookup(uint64_t hash) const {
    if (!index_.empty()) cache::prefetch(&index_[tag_of(normalize(hash)) & (index_.size() - 1)]);
  }
  // Drops the oldest live entry; false when empty. Its size is stored in *size if non-null.
  bool pop_oldest(uint64_t* size = nullptr);

  void set_budget(uint64_t budget);
  uint64_t budget() const { return budget_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t count() const { return live_; }
  size_t memory_bytes() const {
    return ring_.capacity() * sizeof(Entry) + index_.capacity() * sizeof(IndexSlot);
  }

 private:
  struct Entry {
    uint64_t hash;  // 0: removed (a hole skipped when it reaches the oldest end)
    uint64_t size;
  };
  // 8 bytes so the index stays cache-friendly; the full hash is confirmed in the ring.
  struct IndexSlot {
    uint32_t tag;  // high half of mix(hash); its low bits are also the home slot
    uint32_t pos;  // low 32 bits of the entry's absolute ring position; kEmpty: free slot
  };
  static constexpr uint64_t kNotFound = UINT64_MAX;
  static constexpr uint32_t kEmpty = UINT32_MAX;
  // Ring and index start at this size and double together. The ring is kept at least twice the
  // live count, so the index (as big as the ring) is at most half live, plus stale slots.
  static constexpr size_t kRingInitial = 64;
  // Index slots examined for staleness per dropped entry: it keeps stale slots under about a
  // quarter of the index, so probes stay short.
  static constexpr int kSweepPerDrop = 4;

  // 0 marks removed ring entries, so a real hash of 0 is stored as 1.
  static uint64_t normalize(uint64_t hash) { return hash == 0 ? 1 : hash; }
  static uint32_t tag_of(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return static_cast<uint32_t>(h >> 32);
  }
  // Whether a position is live in the ring (wrapping 32-bit arithmetic).
  bool in_window(uint32_t pos) const {
    return static_cast<uint32_t>(pos - static_cast<uint32_t>(head_)) <
           static_cast<uint32_t>(tail_ - head_);
  }
  static constexpr int kPendingMax = 8;
  struct Pending {
    uint64_t hash;  // 0: removed before it was indexed
    uint64_t size;
  };

  uint64_t find(uint64_t hash) const;  // index slot number or kNotFound
  void append(uint64_t hash, uint64_t size);
  void flush_pending();
  void index_insert(uint32_t tag, uint32_t pos);
  void index_erase_slot(uint64_t slot);
  void sweep(int slots);
  void drop_head_holes();
  void make_room();
  void rebuild(size_t ring_capacity);

  uint64_t budget_;
  uint64_t bytes_ = 0;
  uint64_t live_ = 0;
  uint64_t head_ = 0;  // oldest absolute position
  uint64_t tail_ = 0;  // next absolute position
  uint64_t sweep_cursor_ = 0;
  uint64_t occupied_ = 0;  // index slots in use, live or stale
  // Newest entries, not yet in the ring (counted in live_ and bytes_), oldest first.
  Pending pending_[kPendingMax];
  int pending_count_ = 0;
  std::vector<Entry> ring_;
  std::vector<IndexSlot> index_;
};

}  // namespace strata::cache
