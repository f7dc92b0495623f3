// Journal: one worker's append side. Records appended during a loop iteration accumulate in
// the newest segment's pending buffer; flush() (end of the iteration) hands the oldest pending
// records (at most kJournalMaxGroupBytes, or one record) to IoDriver::write_file with
// fdatasync. Up to kJournalMaxCommitsInFlight commits run at once, each through its own
// endpoint (the driver allows one file write per token): a group need not wait for the
// previous group's fdatasync to end before its own starts, and the kernel merges the device
// flushes of overlapping ones. Commits complete in submission order -- a commit's records are
// acknowledged only once every earlier commit is on disk, so recovery, which stops at the
// first gap, never drops an acknowledged record. Rotation moves later appends to the ledger's
// pre-allocated spare (or, when none is ready, a new growing file); the old segment is sealed
// in the ledger once its last write completed. The first append asks for a spare, and each
// spare asks for the next once half full: a proxy that never writes behind never zero-fills.
// With fdatasync_interval_ms, commits are plain writes, acknowledged once in the page cache, and
// a background fdatasync (its own endpoint) follows: for the newest segment once per interval
// (checked every loop turn; an idle worker turns every tick_ms), at once for a rotated segment
// (closed only once synced) or one holding kJournalMaxGroupBytes unsynced. No segment ever
// holds more than kJournalTornWindowBytes unsynced -- a commit waits for the sync instead --
// since recovery takes a gap followed by records further on than that for corruption, and
// write-back after a power loss may leave such gaps anywhere in the unsynced span.
#include "proxy/journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <utility>

#include "proxy/loop/endpoint.h"
#include "proxy/loop/log.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/server_stats.h"

namespace strata::proxy {
namespace {

// What the journal's endpoint reports to the journal.
class FileSink {
 public:
  virtual ~FileSink() = default;
  virtual void write_done(size_t commit, long res) = 0;
  virtual void file_gone(size_t commit) = 0;
};

}  // namespace

// The journal's presence in the worker's slot table: write_file completions are routed to it
// by token. Its fd is the segment being written; files are closed by the journal, not here.
class JournalFile final : public Endpoint {
 public:
  JournalFile(Loop* loop, FileSink* journal, size_t commit)
      : Endpoint(loop, -1), journal_(journal), commit_(commit) {}
  ~JournalFile() override {
    if (journal_ != nullptr) journal_->file_gone(commit_);
  }
  void on_recv(const char*, long) override {}
  void on_file_done(long res) override {
    if (journal_ != nullptr) journal_->write_done(commit_, res);
  }
  void set_fd(int fd) { fd_ = fd; }
  void detach() { journal_ = nullptr; }

 protected:
  void release_socket() override {}

 private:
  FileSink* journal_;
  size_t commit_;  // which of the journal's commit slots this endpoint carries
};

struct Journal::Impl final : FileSink {
  struct Pending {
    size_t end = 0;  // where the record ends in the pending buffer
    std::move_only_function<void(bool)> durable;
  };
  struct Segment {
    uint64_t id = 0;
    int fd = -1;
    uint64_t capacity = 0;  // pre-allocated bytes; 0: a growing file
    uint64_t written = 0;   // bytes on disk (or in flight): the next write's offset
    uint64_t acked = 0;     // bytes whose write completed
    uint64_t synced = 0;    // interval mode: bytes known fdatasync'ed
    std::string pending;    // encoded records not yet handed to the kernel
    std::vector<Pending> records;
    bool closing = false;  // rotated away from: no more appends; sealed once drained
    uint64_t used() const { return written + pending.size(); }
  };

  // One group commit: a write + fdatasync of `buf` into `segment`.
  struct Commit {
    JournalFile* file = nullptr;  // owned by the worker's slot table
    bool busy = false;
    bool done = false;  // completed, waiting for the earlier commits
    long res = 0;
    uint64_t segment = 0;
    uint64_t end = 0;  // the segment's offset after this write
    std::string buf;
    std::vector<Pending> records;
  };

  Loop* loop;
  JournalLedger* ledger;
  policies::JournalConfig config;
  JournalCounters own_counters;  // when the owner shares none
  JournalCounters* counters;
  std::deque<Segment> segments;  // front: oldest with data to write; back: takes appends
  std::vector<Commit> commits;   // kJournalMaxCommitsInFlight slots
  std::deque<size_t> order;      // busy slots, oldest first
  uint64_t failed_segment = 0;   // a write into it failed: later ones there fail too
  // Interval mode's background fdatasync: its endpoint, the segment and bytes it covers.
  JournalFile* sync_file = nullptr;
  bool sync_busy = false;
  uint64_t sync_segment = 0;
  uint64_t sync_end = 0;
  int64_t last_sync_ms = 0;  // steady clock: a wall-clock step must not stall the syncs
  bool spare_asked = false;  // a spare is being prepared for this worker
  bool warned_rotation = false;

  Impl(Loop* w, JournalLedger* l, const policies::JournalConfig& c, JournalCounters* k)
      : loop(w),
        ledger(l),
        config(c),
        counters(k != nullptr ? k : &own_counters),
        commits(policies::kJournalMaxCommitsInFlight) {}

  // Segments are pre-allocated only when commits are fdatasync'ed: that is what it saves.
  bool preallocate() const { return config.fdatasync; }
  bool interval() const { return config.fdatasync && config.fdatasync_interval_ms > 0; }
  size_t sync_slot() const { return commits.size(); }  // the sync endpoint's FileSink index

  Segment* find_segment(uint64_t id) {
    for (Segment& s : segments) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }

  bool writing(uint64_t segment) const {
    for (size_t i : order) {
      if (commits[i].segment == segment) return true;
    }
    return false;
  }

  bool open_growing(std::string* err) {
    Segment s;
    std::string path;
    s.id = ledger->new_segment(loop->index(), &path);
    s.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (s.fd < 0 || !journal_sync_dir(ledger->dir())) {
      *err = "cannot create journal segment " + path + ": " + strerror(errno);
      if (s.fd >= 0) ::close(s.fd);
      ledger->seal(s.id);  // empty: retired (or was never created)
      return false;
    }
    segments.push_back(std::move(s));
    return true;
  }

  void ask_spare() {
    if (!preallocate() || spare_asked) return;
    spare_asked = true;
    ledger->want_spare(loop->index());
  }

  bool take_spare() {
    SpareSegment sp;
    if (!preallocate() || !ledger->take_spare(loop->index(), &sp)) return false;
    spare_asked = false;
    Segment s;
    s.id = sp.id;
    s.fd = sp.fd;
    s.capacity = sp.capacity;
    segments.push_back(std::move(s));
    return true;
  }

  // Later appends go to a new segment: the spare if ready, else a new growing file, else
  // (the disk refuses new files) the current one past segment_bytes rather than refuse writes.
  Segment* rotate() {
    segments.back().closing = true;
    if (take_spare()) return &segments.back();
    ask_spare();
    std::string err;
    if (open_growing(&err)) return &segments.back();
    segments.back().closing = false;
    if (!warned_rotation) STRATA_LOG_WARN("journal: %s", err.c_str());
    warned_rotation = true;
    return &segments.back();
  }

  uint64_t append(const policies::JournalRecord& r, std::move_only_function<void(bool)> cb) {
    if (segments.empty()) {  // open() failed or was not called: nothing can be made durable
      cb(false);
      return 0;
    }
    ask_spare();  // the first write behind: from now on, segments are pre-allocated
    Segment* cur = &segments.back();
    const size_t size = policies::kJournalHeaderBytes + r.key.size() + r.value.size();
    if (cur->used() > 0 && cur->used() + size > config.segment_bytes) cur = rotate();
    policies::encode_journal_record(r, cur->id, &cur->pending);
    cur->records.push_back(Pending{cur->pending.size(), std::move(cb)});
    ledger->add_live(cur->id, 1);
    return cur->id;
  }

  // Seals segments that were rotated away from and have nothing left to write (or to sync).
  void retire_drained() {
    while (segments.size() > 1 && segments.front().closing && segments.front().pending.empty() &&
           !writing(segments.front().id) && !unsynced(segments.front())) {
      Segment& s = segments.front();
      ::close(s.fd);
      ledger->seal(s.id);
      segments.pop_front();
    }
  }

  // Moves the oldest pending records of `s`, up to one group's bytes, into commit `c`.
  void take_group(Segment& s, Commit& c) {
    size_t n = 0;
    while (n < s.records.size() &&
           (n == 0 || s.records[n].end <= policies::kJournalMaxGroupBytes)) {
      ++n;
    }
    c.buf.clear();
    c.records.clear();
    if (n == s.records.size()) {
      std::swap(c.buf, s.pending);
      std::swap(c.records, s.records);
      return;
    }
    const size_t bytes = s.records[n - 1].end;
    c.buf.assign(s.pending, 0, bytes);
    s.pending.erase(0, bytes);
    for (size_t i = 0; i < n; ++i) c.records.push_back(std::move(s.records[i]));
    s.records.erase(s.records.begin(), s.records.begin() + static_cast<ptrdiff_t>(n));
    for (Pending& p : s.records) p.end -= bytes;
  }

  bool unsynced(const Segment& s) const {
    return interval() && (s.acked > s.synced || (sync_busy && sync_segment == s.id));
  }

  static int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Interval mode: a commit into `s` must leave at most kJournalTornWindowBytes unsynced.
  bool window_allows(const Segment& s) const {
    if (!interval()) return true;
    const size_t group = std::min(s.pending.size(), policies::kJournalMaxGroupBytes);
    return s.written - s.synced + group <= policies::kJournalTornWindowBytes;
  }

  // Interval mode: starts the fdatasync of the first segment that needs one now.
  void maybe_sync() {
    if (!interval() || sync_busy || sync_file == nullptr) return;
    const int64_t now = steady_ms();
    const bool due = now - last_sync_ms >= static_cast<int64_t>(config.fdatasync_interval_ms);
    for (Segment& s : segments) {
      if (s.acked <= s.synced) continue;
      const bool urgent = s.closing || s.acked - s.synced >= policies::kJournalMaxGroupBytes ||
                          !window_allows(s);
      if (!urgent && !due) continue;
      sync_busy = true;
      sync_segment = s.id;
      sync_end = s.acked;
      if (due) last_sync_ms = now;
      sync_file->set_fd(s.fd);
      loop->driver().write_file(sync_file->token(), s.fd, s.pending.data(), 0, 0, true);
      return;
    }
  }

  void sync_done(long res) {
    sync_busy = false;
    Segment* s = find_segment(sync_segment);
    if (res < 0) {
      // The OKs went out already. Linux reports a write-back error once and may drop the dirty
      // pages, so a retry would "succeed" over bytes that never reached the disk: the segment is
      // given up instead (no more appends; closed as if synced), and each failure is logged.
      // Its records are still in the write-behind queue, on their way to PostgreSQL.
      STRATA_LOG_ERROR(
          "journal: fdatasync of segment %llu failed: %s; writes acknowledged into it may not "
          "survive a power loss until PostgreSQL has them",
          static_cast<unsigned long long>(sync_segment), strerror(static_cast<int>(-res)));
      if (s != nullptr && !s->closing && &segments.back() == s) rotate();
      bump(counters->failures);
    } else {
      bump(counters->background_syncs);
    }
    if (s != nullptr) s->synced = std::max(s->synced, sync_end);
    retire_drained();
  }

  void flush() {
    if (segments.empty()) return;
    maybe_sync();
    // A growing file (the first, or a fallback) gives way as soon as a spare is ready.
    if (spare_asked && segments.back().capacity == 0) {
      const size_t growing = segments.size() - 1;
      if (take_spare()) segments[growing].closing = true;
    }
    retire_drained();
    for (Segment& s : segments) {
      while (!s.pending.empty() && order.size() < commits.size() && window_allows(s)) {
        if (!submit(s)) return;
      }
    }
    maybe_sync();  // a commit held back by the window needs its sync now
    const Segment& back = segments.back();
    if (back.capacity > 0 && back.written > back.capacity / 2) ask_spare();
  }

  bool submit(Segment& s) {
    size_t slot = 0;
    while (commits[slot].busy) ++slot;
    Commit& c = commits[slot];
    if (c.file == nullptr) return false;  // the worker is closing down
    take_group(s, c);
    c.busy = true;
    c.done = false;
    c.segment = s.id;
    c.end = s.written + c.buf.size();
    order.push_back(slot);
    c.file->set_fd(s.fd);
    loop->driver().write_file(c.file->token(), s.fd, c.buf.data(), c.buf.size(), s.written,
                                config.fdatasync && !interval());
    s.written += c.buf.size();
    return true;
  }

  // Only this slot's endpoint is gone: the others must still be detached by ~Journal.
  void file_gone(size_t slot) override {
    if (slot == sync_slot()) {
      sync_file = nullptr;
    } else {
      commits[slot].file = nullptr;
    }
  }

  void write_done(size_t slot, long res) override {
    if (slot == sync_slot()) return sync_done(res);
    commits[slot].done = true;
    commits[slot].res = res;
    std::vector<std::pair<std::vector<Pending>, bool>> settled;
    while (!order.empty() && commits[order.front()].done) {
      Commit& c = commits[order.front()];
      order.pop_front();
      c.busy = false;
      bump(counters->group_commits);
      const bool ok = c.res == static_cast<long>(c.buf.size()) && c.segment != failed_segment;
      if (ok) {
        bump(counters->bytes_written, c.buf.size());
        if (Segment* s = find_segment(c.segment); s != nullptr) s->acked = c.end;
      } else {
        bump(counters->failures);
        on_write_failed(c, &settled);
      }
      settled.emplace_back(std::move(c.records), ok);
      c.records.clear();
    }
    retire_drained();
    for (auto& [records, ok] : settled) {
      for (auto& p : records) p.durable(ok);
    }
  }

  // The segment's tail is now unknown, and recovery stops at its first gap: commits still
  // in flight there and records waiting for it fail too (never acknowledged, no longer live),
  // and later appends go to a new segment.
  void on_write_failed(const Commit& c,
                       std::vector<std::pair<std::vector<Pending>, bool>>* settled) {
    if (c.segment != failed_segment) {
      STRATA_LOG_ERROR("journal: write of %zu bytes to segment %llu failed: %s", c.buf.size(),
                       static_cast<unsigned long long>(c.segment),
                       strerror(static_cast<int>(c.res < 0 ? -c.res : EIO)));
    }
    failed_segment = c.segment;
    for (size_t i = 0; i < c.records.size(); ++i) ledger->release(c.segment);
    for (Segment& s : segments) {
      if (s.id != c.segment) continue;
      for (size_t i = 0; i < s.records.size(); ++i) ledger->release(s.id);
      settled->emplace_back(std::move(s.records), false);
      s.records.clear();
      s.pending.clear();
    }
    const Segment& back = segments.back();
    if (back.id == c.segment && !back.closing) rotate();
  }
};

Journal::Journal(Loop* loop, JournalLedger* ledger, const policies::JournalConfig& config,
                 JournalCounters* counters)
    : impl_(std::make_unique<Impl>(loop, ledger, config, counters)) {}

Journal::~Journal() {
  for (auto& c : impl_->commits) {
    if (c.file != nullptr) {
      c.file->detach();
      c.file->close();
    }
  }
  if (impl_->sync_file != nullptr) {
    impl_->sync_file->detach();
    impl_->sync_file->close();
  }
  // A write still in flight may be read by the kernel after this: its buffer is left behind.
  for (auto& c : impl_->commits) {
    if (c.busy) static_cast<void>(new std::string(std::move(c.buf)));
  }
  for (auto& s : impl_->segments) {
    // Interval mode at shutdown: what was acknowledged reaches the disk before the files close.
    if (impl_->interval() && s.acked > s.synced) ::fdatasync(s.fd);
    if (s.fd >= 0) ::close(s.fd);
  }
}

bool Journal::open(std::string* err) {
  if (!impl_->segments.empty()) return true;
  for (size_t i = 0; i < impl_->commits.size(); ++i) {
    auto file = std::make_unique<JournalFile>(impl_->loop, impl_.get(), i);
    impl_->commits[i].file = file.get();
    impl_->loop->adopt(std::move(file));
  }
  if (impl_->interval()) {
    auto file = std::make_unique<JournalFile>(impl_->loop, impl_.get(), impl_->sync_slot());
    impl_->sync_file = file.get();
    impl_->loop->adopt(std::move(file));
    impl_->last_sync_ms = Impl::steady_ms();
  }
  if (impl_->preallocate()) impl_->ledger->start_preparing(impl_->config.segment_bytes);
  if (!impl_->config.fdatasync && impl_->config.fdatasync_interval_ms > 0) {
    STRATA_LOG_WARN("journal: fdatasync_interval_ms is ignored with fdatasync = false");
  }
  return impl_->open_growing(err);
}

uint64_t Journal::append(const policies::JournalRecord& r,
                         std::move_only_function<void(bool ok)> durable) {
  return impl_->append(r, std::move(durable));
}

void Journal::flush() { impl_->flush(); }

uint64_t Journal::group_commits() const { return impl_->counters->group_commits.load(); }

uint64_t Journal::bytes_written() const { return impl_->counters->bytes_written.load(); }

uint64_t Journal::background_syncs() const { return impl_->counters->background_syncs.load(); }

}  // namespace strata::proxy
