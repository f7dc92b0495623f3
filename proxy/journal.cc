// Journal: one worker's append side. Records appended during a loop iteration accumulate in
// the newest segment's pending buffer; flush() (end of the iteration) hands the oldest pending
// buffer to IoDriver::write_file with fdatasync, one write in flight at a time, so everything
// appended meanwhile goes out in the next group. Rotation opens a new segment for later
// appends; the old one is sealed in the ledger once its last write completed.
#include "proxy/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <utility>

#include "proxy/endpoint.h"
#include "proxy/log.h"
#include "proxy/worker.h"

namespace strata::proxy {
namespace {

// The directory entry of a new segment must be durable before records in it are acknowledged.
// Once per segment (every segment_bytes), so a synchronous fsync is acceptable here.
bool sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// What the journal's endpoint reports to the journal.
class FileSink {
 public:
  virtual ~FileSink() = default;
  virtual void write_done(long res) = 0;
  virtual void file_gone() = 0;
};

}  // namespace

// The journal's presence in the worker's slot table: write_file completions are routed to it
// by token. Its fd is the segment being written; files are closed by the journal, not here.
class JournalFile final : public Endpoint {
 public:
  JournalFile(Worker* worker, FileSink* journal) : Endpoint(worker, -1), journal_(journal) {}
  ~JournalFile() override {
    if (journal_ != nullptr) journal_->file_gone();
  }
  void on_recv(const char*, long) override {}
  void on_file_done(long res) override {
    if (journal_ != nullptr) journal_->write_done(res);
  }
  void set_fd(int fd) { fd_ = fd; }
  void detach() { journal_ = nullptr; }

 protected:
  void release_socket() override {}

 private:
  FileSink* journal_;
};

struct Journal::Impl final : FileSink {
  struct Segment {
    uint64_t id = 0;
    int fd = -1;
    uint64_t written = 0;  // bytes on disk (or in flight): the next write's offset
    std::string pending;   // encoded records not yet handed to the kernel
    std::vector<std::move_only_function<void(bool)>> pending_cbs;
    bool closing = false;  // rotated away from: no more appends; sealed once drained
  };

  Worker* worker;
  JournalLedger* ledger;
  policies::JournalConfig config;
  JournalFile* file = nullptr;   // owned by the worker's slot table
  std::deque<Segment> segments;  // front: oldest with data to write; back: takes appends
  bool inflight = false;
  std::string inflight_buf;
  std::vector<std::move_only_function<void(bool)>> inflight_cbs;
  uint64_t inflight_segment = 0;
  uint64_t group_commits = 0;
  uint64_t bytes_written = 0;
  bool warned_rotation = false;

  Impl(Worker* w, JournalLedger* l, const policies::JournalConfig& c)
      : worker(w), ledger(l), config(c) {}

  bool open_segment(std::string* err) {
    Segment s;
    std::string path;
    s.id = ledger->new_segment(worker->index(), &path);
    s.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (s.fd < 0 || !sync_dir(ledger->dir())) {
      *err = "cannot create journal segment " + path + ": " + strerror(errno);
      if (s.fd >= 0) ::close(s.fd);
      ledger->seal(s.id);  // empty: unlinked (or was never created)
      return false;
    }
    segments.push_back(std::move(s));
    return true;
  }

  uint64_t append(const policies::JournalRecord& r, std::move_only_function<void(bool)> cb) {
    if (segments.empty()) {  // open() failed or was not called: nothing can be made durable
      cb(false);
      return 0;
    }
    Segment* cur = &segments.back();
    const size_t size = policies::kJournalHeaderBytes + r.key.size() + r.value.size();
    if (cur->written + cur->pending.size() > 0 &&
        cur->written + cur->pending.size() + size > config.segment_bytes) {
      std::string err;
      cur->closing = true;
      if (open_segment(&err)) {
        cur = &segments.back();
      } else {
        cur->closing = false;  // keep writing past segment_bytes rather than refuse writes
        if (!warned_rotation) STRATA_LOG_WARN("journal: %s", err.c_str());
        warned_rotation = true;
      }
    }
    policies::encode_journal_record(r, &cur->pending);
    cur->pending_cbs.push_back(std::move(cb));
    ledger->add_live(cur->id, 1);
    return cur->id;
  }

  // Seals segments that were rotated away from and have nothing left to write.
  void retire_drained() {
    while (segments.size() > 1 && segments.front().closing && segments.front().pending.empty() &&
           !(inflight && inflight_segment == segments.front().id)) {
      Segment& s = segments.front();
      ::close(s.fd);
      ledger->seal(s.id);
      segments.pop_front();
    }
  }

  void flush() {
    if (inflight || file == nullptr) return;
    retire_drained();
    for (Segment& s : segments) {
      if (s.pending.empty()) continue;
      inflight_buf.clear();
      std::swap(inflight_buf, s.pending);
      std::swap(inflight_cbs, s.pending_cbs);
      s.pending_cbs.clear();
      inflight = true;
      inflight_segment = s.id;
      file->set_fd(s.fd);
      worker->driver().write_file(file->token(), s.fd, inflight_buf.data(), inflight_buf.size(),
                                  s.written, config.fdatasync);
      s.written += inflight_buf.size();
      return;
    }
  }

  void file_gone() override { file = nullptr; }

  void write_done(long res) override {
    inflight = false;
    const bool ok = res == static_cast<long>(inflight_buf.size());
    ++group_commits;
    if (ok) {
      bytes_written += inflight_buf.size();
    } else {
      on_write_failed(res);
    }
    auto cbs = std::move(inflight_cbs);
    inflight_cbs.clear();
    retire_drained();
    for (auto& cb : cbs) cb(ok);
  }

  // The segment's tail is now unknown: later appends go to a new segment, and the failed
  // records, never acknowledged, stop counting as live.
  void on_write_failed(long res) {
    STRATA_LOG_ERROR("journal: write of %zu bytes to segment %llu failed: %s", inflight_buf.size(),
                     static_cast<unsigned long long>(inflight_segment),
                     strerror(static_cast<int>(-res)));
    for (size_t i = 0; i < inflight_cbs.size(); ++i) ledger->release(inflight_segment);
    Segment& back = segments.back();
    if (back.id == inflight_segment && !back.closing) {
      std::string err;
      back.closing = true;
      if (!open_segment(&err)) {
        back.closing = false;
        STRATA_LOG_ERROR("journal: %s", err.c_str());
      }
    }
  }
};

Journal::Journal(Worker* worker, JournalLedger* ledger, const policies::JournalConfig& config)
    : impl_(std::make_unique<Impl>(worker, ledger, config)) {}

Journal::~Journal() {
  if (impl_->file != nullptr) {
    impl_->file->detach();
    impl_->file->close();
  }
  // A write still in flight may be read by the kernel after this: its buffer is left behind.
  if (impl_->inflight) static_cast<void>(new std::string(std::move(impl_->inflight_buf)));
  for (auto& s : impl_->segments) {
    if (s.fd >= 0) ::close(s.fd);
  }
}

bool Journal::open(std::string* err) {
  if (!impl_->segments.empty()) return true;
  auto file = std::make_unique<JournalFile>(impl_->worker, impl_.get());
  impl_->file = file.get();
  impl_->worker->adopt(std::move(file));
  return impl_->open_segment(err);
}

uint64_t Journal::append(const policies::JournalRecord& r,
                         std::move_only_function<void(bool ok)> durable) {
  return impl_->append(r, std::move(durable));
}

void Journal::flush() { impl_->flush(); }

uint64_t Journal::group_commits() const { return impl_->group_commits; }

uint64_t Journal::bytes_written() const { return impl_->bytes_written; }

}  // namespace strata::proxy
