// The write-behind journal on local disk: append-only segments, one set per worker, written
// with io_uring (IoDriver::write_file) and group-committed: records appended during one loop
// iteration go out in one write + fdatasync, and their `durable` callbacks run when it is done.
// A segment is deleted once every record in it has been flushed to PostgreSQL (or superseded):
// the JournalLedger, shared by all workers, counts live records per segment.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "policies/journal_format.h"
#include "policies/policy_config.h"

namespace strata::proxy {

class Worker;
class JournalLedger;
struct JournalRecovery;
std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);

// Thread-safe: any worker may release a record that another worker's journal wrote.
class JournalLedger {
 public:
  explicit JournalLedger(std::string dir);
  const std::string& dir() const { return dir_; }
  // A new segment file path for `worker`; ids grow across restarts (recovery seeds them).
  uint64_t new_segment(uint32_t worker, std::string* path);
  void add_live(uint64_t segment, uint64_t n);
  // One record of `segment` is no longer needed; the file is unlinked once the segment is
  // sealed and has no live record.
  void release(uint64_t segment);
  void seal(uint64_t segment);
  uint64_t live_records() const;
  uint64_t segments() const;

 private:
  friend struct JournalRecovery;
  friend std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);
  struct Seg {
    std::string path;
    uint64_t live = 0;
    bool sealed = false;
  };
  void maybe_unlink(uint64_t id, Seg& s);  // mutex held
  std::string dir_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Seg> segs_;
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
  uint64_t torn_bytes = 0;  // ignored torn tails
};

// Start-up, before the workers run: creates `dir` if missing, reads every segment, registers
// them in the ledger as sealed with one live record per returned write (records superseded
// within the journal are not live), and seeds segment ids past the existing ones. A corrupt
// record in the middle of a segment is an error naming the file and offset.
std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger);

class Journal {
 public:
  Journal(Worker* worker, JournalLedger* ledger, const policies::JournalConfig& config);
  ~Journal();
  // Opens this worker's first segment. False with *err on failure.
  bool open(std::string* err);
  // Appends a record and returns its segment id (already counted live in the ledger).
  // `durable` runs on this worker once the record is on disk (ok) or the write failed (!ok).
  uint64_t append(const policies::JournalRecord& r, std::move_only_function<void(bool ok)> durable);
  // Called at the end of every loop iteration: starts a group write if records wait and no
  // write is in flight. Rotates to a new segment past segment_bytes.
  void flush();
  uint64_t group_commits() const;
  uint64_t bytes_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::proxy
