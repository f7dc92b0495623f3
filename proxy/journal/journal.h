// The write-behind journal on local disk: segments, one set per worker, written with io_uring
// (IoDriver::write_file) and group-committed: records appended during one loop iteration go out
// in one write + fdatasync, and their `durable` callbacks run when it is done. Segments are
// pre-allocated: the ledger's preparer thread zero-fills one spare per worker ahead of need (or
// recycles a released segment by renaming it), so records overwrite blocks that are already
// allocated and written and fdatasync flushes data only: no file-size or extent change to
// write (no filesystem-journal commit, which on a shared disk queues behind every fsync). The
// JournalLedger, shared by all workers, counts live records per segment and retires a segment
// once every record in it has been flushed to PostgreSQL (or superseded).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "policies/journal_format.h"
#include "policies/policy_config.h"

namespace strata::proxy {

class Loop;
class JournalLedger;
struct JournalRecovery;
std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);

// A segment file made ready ahead of need: `capacity` bytes allocated and written (zeros or a
// recycled segment's old records), its name durable in the directory.
struct SpareSegment {
  uint64_t id = 0;
  int fd = -1;
  std::string path;
  uint64_t capacity = 0;
};

// Released segments kept for reuse (renamed free-<id>.log) rather than unlinked.
constexpr size_t kJournalFreeSegmentsMax = 4;
// The preparer zero-fills in chunks of this size, starting each one's write-back as it goes
// (no device flush until the end), at most kJournalZeroFillBytesPerSec: a new segment's
// write-back must not flood the disk queue the group commits wait in.
constexpr size_t kJournalZeroChunkBytes = 1 << 20;
constexpr uint64_t kJournalZeroFillBytesPerSec = 64ull << 20;

// fsync of a directory: a new or renamed segment's name must be durable before records in it
// are acknowledged.
bool journal_sync_dir(const std::string& dir);

// Thread-safe: any worker may release a record that another worker's journal wrote.
class JournalLedger {
 public:
  explicit JournalLedger(std::string dir);
  ~JournalLedger();
  const std::string& dir() const { return dir_; }
  // A new (empty, growing) segment file path for `worker`; ids grow across restarts (recovery
  // seeds them). The fallback when no spare is ready.
  uint64_t new_segment(uint32_t worker, std::string* path);
  // Starts the preparer thread for segments of `segment_bytes` (later calls change nothing).
  void start_preparing(uint64_t segment_bytes);
  // Asks the preparer for a spare segment for `worker` (one at most is kept per worker).
  void want_spare(uint32_t worker);
  // Hands over `worker`'s spare, registered as a segment; false if none is ready yet.
  bool take_spare(uint32_t worker, SpareSegment* out);
  void add_live(uint64_t segment, uint64_t n);
  // One record of `segment` is no longer needed; the file is retired (kept for reuse, or
  // unlinked) once the segment is sealed and has no live record.
  void release(uint64_t segment);
  // The same for many records (a flushed batch: mostly one segment), under one lock.
  void release(std::span<const uint64_t> segments);
  void seal(uint64_t segment);
  uint64_t live_records() const;
  uint64_t segments() const;
  uint64_t free_segments() const;
  uint64_t recycled_segments() const;  // spares made by renaming a free file
  // Waits until the preparer has nothing to do (tests; shutdown).
  void settle();

 private:
  friend struct JournalRecovery;
  friend std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);
  struct Seg {
    std::string path;
    uint64_t live = 0;
    bool sealed = false;
  };
  void maybe_retire(uint64_t id, Seg& s);  // mutex held
  void retire_files();                     // mutex not held
  void run();
  void prepare(uint32_t worker, std::unique_lock<std::mutex>& lock);
  std::string path_of(uint64_t id, uint32_t worker) const;

  std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Seg> segs_;
  std::deque<std::pair<uint64_t, std::string>> retiring_;  // sealed, drained: id, path
  std::deque<std::string> free_;                           // free-<id>.log paths
  size_t free_pending_ = 0;                                // being renamed to free-<id>.log
  uint64_t recycled_ = 0;  // spares made from a free file (recycled_segments())
  std::unordered_map<uint32_t, SpareSegment> spares_;
  std::vector<uint32_t> wanted_;
  uint64_t segment_bytes_ = 0;
  bool busy_ = false;              // the preparer is working outside the lock
  std::atomic<bool> stop_{false};  // set under mu_; a zero-fill reads it without the lock
  std::thread thread_;
};

struct RecoveredWrite {
  policies::JournalRecord::Op op;
  uint64_t version;
  std::string key;
  std::string value;
  uint64_t segment;  // ledger id of the (sealed) segment it came from
};

struct JournalRecovery {
  std::vector<RecoveredWrite> writes;  // the newest record per key, across all segments
  uint64_t max_version = 0;
  uint64_t segments = 0;
  uint64_t records = 0;     // records read (before keeping the newest per key)
  uint64_t torn_bytes = 0;  // bytes of torn records (a crash mid-write) ending segments
};

// Start-up, before the workers run: creates `dir` if missing, reads every segment up to its
// first non-record (zeros, stale records of a recycled file, a torn record), registers them in
// the ledger as sealed with one live record per returned write (records superseded within the
// journal are not live), adopts free-*.log files for reuse, and seeds segment ids past the
// existing ones. A corrupt record in the middle of a segment -- one followed by a valid record
// of the segment further than kJournalTornWindowBytes on -- is an error naming file and offset.
std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);

// Every worker's journal adds to these (INFO's journal_* lines).
struct JournalCounters {
  std::atomic<uint64_t> group_commits{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> background_syncs{0};  // fdatasync_interval_ms mode
  std::atomic<uint64_t> failures{0};          // failed group commits or background fdatasyncs
};

class Journal {
 public:
  // `counters` (may be null: the journal keeps its own) are where it counts; the accessors
  // below read them, every worker's journal together when shared.
  Journal(Loop* loop, JournalLedger* ledger, const policies::JournalConfig& config,
          JournalCounters* counters = nullptr);
  ~Journal();
  // Opens this worker's first segment. False with *err on failure.
  bool open(std::string* err);
  // Appends a record and returns its segment id (already counted live in the ledger).
  // `durable` runs on this worker once the record is on disk (ok) or the write failed (!ok).
  uint64_t append(const policies::JournalRecord& r, std::move_only_function<void(bool ok)> durable);
  // Called at the end of every loop iteration: starts group writes while records wait and
  // fewer than kJournalMaxCommitsInFlight are in flight. Appends rotate to a new segment past
  // segment_bytes, and from a growing (not pre-allocated) segment as soon as a spare is ready.
  void flush();
  uint64_t group_commits() const;
  uint64_t bytes_written() const;
  uint64_t background_syncs() const;  // fdatasync_interval_ms mode's fdatasyncs done

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::proxy
