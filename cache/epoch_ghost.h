// A compact ghost for S3-FIFO: 32-bit fingerprints of recently evicted keys in an open-addressing
// table of 6-byte slots, with FIFO order approximated by insertion epoch. GhostQueue (ARC) keeps
// an exact FIFO ring of 64-bit hashes and sizes plus an index, ~48 bytes per ghost entry; this
// is ~10, which S3-FIFO pays for about 0.9 ghost entries per resident object.
//
// Epochs: a push is tagged with the current epoch; an epoch closes once budget/kEpochsPerBudget
// bytes were pushed into it. While the live bytes exceed the budget the oldest epoch is retired
// as a whole: its entries become dead at once (their tags fall out of the live window) and are
// reclaimed lazily -- reused by inserts, erased by a sweep of a few slots per push, or dropped
// when the table is rebuilt. The ghost thus holds between budget minus one epoch and the
// budget, where an exact FIFO holds the budget minus at most one entry: within 1/128 of it.
//
// Fingerprints: the home slot is derived from the fingerprint itself (so entries can be moved
// and rehashed without their full hash); two keys collide with probability ~2^-32 per pair, so a
// lookup wrongly hits with probability ~live/2^32 (2.3e-5 at 100k entries): negligible next to
// miss ratios. A removal gives back the caller's current size of the key (its size when it was
// pushed is not stored); for keys whose size did not change that is exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cache/prefetch.h"

namespace strata::cache {

class EpochGhost {
 public:
  // Table slots per live entry right after a rebuild (load 0.625); rebuilt when live plus dead
  // slots reach kMaxLoad of it. Steady-state memory: kSlotsPerEntry * kSlotBytes per entry.
  static constexpr double kSlotsPerEntry = 1.6;
  static constexpr double kMaxLoad = 0.8;
  static constexpr size_t kSlotBytes = 6;
  static constexpr uint32_t kEpochsPerBudget = 128;

  explicit EpochGhost(uint64_t budget);

  // Adds a key the caller knows is absent (S3-FIFO removes a key when it is inserted, so an
  // evicted key is never in its ghost). A size above the budget is not kept.
  void push_absent(uint64_t hash, uint64_t size);
  // Forgets the key; true if it was present. `size` is given back to the budget.
  bool remove(uint64_t hash, uint64_t size);
  bool contains(uint64_t hash) const;
  // Starts loading the line that remove() or contains() of `hash` reads first.
  void prefetch_lookup(uint64_t hash) const {
    if (!slots_.empty()) cache::prefetch(&slots_[home(fingerprint(hash))]);
  }

  uint64_t budget() const { return budget_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t count() const { return live_; }
  size_t memory_bytes() const {
    return slots_.capacity() * sizeof(Slot) + stats_.capacity() * sizeof(EpochStat);
  }

 private:
  struct Slot {
    uint16_t w[3];  // fingerprint (w[0..1]; 0: empty) and the low 16 bits of its epoch (w[2])
  };
  static_assert(sizeof(Slot) == kSlotBytes);
  struct EpochStat {
    uint64_t bytes = 0;
    uint64_t count = 0;
  };
  static constexpr size_t kNotFound = SIZE_MAX;
  static constexpr size_t kMinSlots = 16;
  static constexpr size_t kGrowMax = 8;  // a growing table at most multiplies by this per step
  // Live epochs at most (the budget allows kEpochsPerBudget, more when removals thinned them).
  // Tags are 16 bits, so a dead entry must be erased before 65536 - kLiveEpochsMax more epochs
  // open, or its tag would look live again: each new epoch sweeps 1/kSweepDivisor of the table,
  // a full pass every kSweepDivisor epochs (inserts reuse dead slots and rebuilds drop them too).
  static constexpr uint64_t kLiveEpochsMax = 1024;
  static constexpr size_t kSweepDivisor = 64;

  static uint32_t fingerprint(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    const auto f = static_cast<uint32_t>(h >> 32);
    return f == 0 ? 1 : f;
  }
  // Multiply-shift range reduction: any table size works, so memory tracks the live count.
  size_t home(uint32_t fp) const { return (uint64_t{fp} * slots_.size()) >> 32; }
  size_t next(size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  static uint32_t fp_of(const Slot& s) {
    uint32_t f;
    std::memcpy(&f, s.w, sizeof f);
    return f;
  }
  static Slot make_slot(uint32_t fp, uint64_t epoch) {
    Slot s;
    std::memcpy(s.w, &fp, sizeof fp);
    s.w[2] = static_cast<uint16_t>(epoch);
    return s;
  }
  // Epoch of a live tag, or kNoEpoch when the tag is outside the live window.
  static constexpr uint64_t kNoEpoch = UINT64_MAX;
  uint64_t epoch_of(uint16_t tag) const {
    const uint64_t age = static_cast<uint16_t>(static_cast<uint16_t>(epoch_) - tag);
    return age <= epoch_ - oldest_ ? epoch_ - age : kNoEpoch;
  }
  EpochStat& stat(uint64_t epoch) { return stats_[epoch & (stats_.size() - 1)]; }

  size_t find(uint32_t fp) const;
  void insert(uint32_t fp);
  void erase_slot(size_t i);
  void sweep(size_t steps);
  void rebuild(size_t slots);
  void make_room();
  void purge();
  void open_epoch();
  void retire_oldest();

  uint64_t budget_;
  uint64_t epoch_target_;  // bytes that close an epoch
  uint64_t bytes_ = 0;     // live bytes
  uint64_t live_ = 0;      // live entries
  uint64_t epoch_ = 0;     // current epoch
  uint64_t oldest_ = 0;    // oldest live epoch
  size_t occupied_ = 0;    // non-empty slots, live or dead
  size_t sweep_cursor_ = 0;
  std::vector<Slot> slots_;
  std::vector<EpochStat> stats_;  // per live epoch, by epoch mod size (a power of two)
};

}  // namespace strata::cache
