// JournalLedger: live records per segment (shared by the workers), and the segment files'
// life cycle on its preparer thread -- spares zero-filled or recycled ahead of need, drained
// segments renamed to free-<id>.log for reuse (a bounded number) or unlinked. File work never
// runs on a worker: a zero-fill writes segment_bytes, and even a rename may wait for the
// filesystem's journal.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "proxy/journal/journal.h"
#include "proxy/loop/log.h"

namespace strata::proxy {
namespace {

const char kZeros[kJournalZeroChunkBytes] = {};

// Renames a free file to `to` and opens it; -1 (and the file gone) unless it is exactly
// `bytes` long and fully allocated -- a segment that grew past its size, or one written under
// another segment_bytes, is not reused.
int reuse_file(const std::string& from, const std::string& to, uint64_t bytes) {
  if (::rename(from.c_str(), to.c_str()) < 0) {
    ::unlink(from.c_str());
    return -1;
  }
  const int fd = ::open(to.c_str(), O_WRONLY | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == bytes &&
      static_cast<uint64_t>(st.st_blocks) * 512 >= bytes) {
    return fd;
  }
  if (fd >= 0) ::close(fd);
  ::unlink(to.c_str());
  return -1;
}

// A new file of `bytes` zeros, on disk (data and size) when this returns; abandoned (and
// removed) when *stop is set meanwhile.
int zero_fill(const std::string& path, uint64_t bytes, const std::atomic<bool>* stop,
              std::string* err) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = "cannot create " + path + ": " + strerror(errno);
    return -1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t done = 0;
  while (done < bytes && !stop->load(std::memory_order_relaxed)) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - done, sizeof kZeros));
    const ssize_t w = ::pwrite(fd, kZeros, n, static_cast<off_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    ::sync_file_range(fd, static_cast<off_t>(done), w, SYNC_FILE_RANGE_WRITE);
    done += static_cast<uint64_t>(w);
    const auto due = t0 + std::chrono::microseconds(done * 1000000 / kJournalZeroFillBytesPerSec);
    std::this_thread::sleep_until(due);
  }
  if (done < bytes || ::fdatasync(fd) < 0) {
    *err = done < bytes && stop->load() ? "shutting down"
                                        : "cannot zero-fill " + path + ": " + strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return -1;
  }
  return fd;
}

}  // namespace

bool journal_sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

JournalLedger::JournalLedger(std::string dir) : dir_(std::move(dir)) {}

JournalLedger::~JournalLedger() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Spares never used: the next start reads them as empty segments and recycles them.
  for (auto& [w, s] : spares_) ::close(s.fd);
}

std::string JournalLedger::path_of(uint64_t id, uint32_t worker) const {
  char name[64];
  snprintf(name, sizeof name, "/seg-%016llu-w%u.log", static_cast<unsigned long long>(id), worker);
  return dir_ + name;
}

uint64_t JournalLedger::new_segment(uint32_t worker, std::string* path) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  *path = path_of(id, worker);
  segs_[id].path = *path;
  return id;
}

void JournalLedger::start_preparing(uint64_t segment_bytes) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  segment_bytes_ = segment_bytes;
  thread_ = std::thread([this] { run(); });
}

void JournalLedger::want_spare(uint32_t worker) {
  {
    std::lock_guard lock(mu_);
    if (spares_.contains(worker) ||
        std::find(wanted_.begin(), wanted_.end(), worker) != wanted_.end()) {
      return;
    }
    wanted_.push_back(worker);
  }
  cv_.notify_all();
}

bool JournalLedger::take_spare(uint32_t worker, SpareSegment* out) {
  std::lock_guard lock(mu_);
  auto it = spares_.find(worker);
  if (it == spares_.end()) return false;
  *out = std::move(it->second);
  spares_.erase(it);
  segs_[out->id].path = out->path;
  return true;
}

void JournalLedger::add_live(uint64_t segment, uint64_t n) {
  std::lock_guard lock(mu_);
  if (auto it = segs_.find(segment); it != segs_.end()) it->second.live += n;
}

void JournalLedger::release(uint64_t segment) {
  std::unique_lock lock(mu_);
  auto it = segs_.find(segment);
  if (it == segs_.end()) return;
  if (it->second.live > 0) --it->second.live;
  maybe_retire(segment, it->second);
  const bool now = !thread_.joinable() && !retiring_.empty();
  lock.unlock();
  if (now) retire_files();
}

void JournalLedger::release(std::span<const uint64_t> segments) {
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < segments.size();) {
    const uint64_t id = segments[i];
    size_t n = 1;
    while (i + n < segments.size() && segments[i + n] == id) ++n;
    i += n;
    auto it = segs_.find(id);
    if (it == segs_.end()) continue;
    it->second.live -= std::min<uint64_t>(it->second.live, n);
    maybe_retire(id, it->second);
  }
  const bool now = !thread_.joinable() && !retiring_.empty();
  lock.unlock();
  if (now) retire_files();
}

void JournalLedger::seal(uint64_t segment) {
  std::unique_lock lock(mu_);
  auto it = segs_.find(segment);
  if (it == segs_.end()) return;
  it->second.sealed = true;
  maybe_retire(segment, it->second);
  const bool now = !thread_.joinable() && !retiring_.empty();
  lock.unlock();
  if (now) retire_files();
}

uint64_t JournalLedger::live_records() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [id, s] : segs_) n += s.live;
  return n;
}

uint64_t JournalLedger::segments() const {
  std::lock_guard lock(mu_);
  return segs_.size();
}

uint64_t JournalLedger::free_segments() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

uint64_t JournalLedger::recycled_segments() const {
  std::lock_guard lock(mu_);
  return recycled_;
}

void JournalLedger::settle() {
  std::unique_lock lock(mu_);
  if (!thread_.joinable()) {
    lock.unlock();
    retire_files();
    return;
  }
  cv_.wait(lock, [&] { return stop_ || (retiring_.empty() && wanted_.empty() && !busy_); });
}

// A crash before the file is renamed or unlinked only means replaying superseded records.
void JournalLedger::maybe_retire(uint64_t id, Seg& s) {
  if (!s.sealed || s.live > 0) return;
  retiring_.emplace_back(id, std::move(s.path));
  segs_.erase(id);
  cv_.notify_all();
}

void JournalLedger::retire_files() {
  std::unique_lock lock(mu_);
  while (!retiring_.empty()) {
    auto [id, path] = std::move(retiring_.front());
    retiring_.pop_front();
    const bool keep = free_.size() + free_pending_ < kJournalFreeSegmentsMax;
    char name[64];
    snprintf(name, sizeof name, "/free-%016llu.log", static_cast<unsigned long long>(id));
    const std::string to = dir_ + name;
    free_pending_ += keep ? 1 : 0;
    lock.unlock();
    const bool kept = keep && ::rename(path.c_str(), to.c_str()) == 0;
    if (!kept) ::unlink(path.c_str());
    lock.lock();
    free_pending_ -= keep ? 1 : 0;
    if (kept) free_.push_back(to);
  }
}

void JournalLedger::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !retiring_.empty() || !wanted_.empty(); });
    if (stop_) return;
    busy_ = true;
    if (!retiring_.empty()) {
      lock.unlock();
      retire_files();
      lock.lock();
    } else {
      const uint32_t worker = wanted_.front();
      wanted_.erase(wanted_.begin());
      if (!spares_.contains(worker)) prepare(worker, lock);
    }
    busy_ = false;
    cv_.notify_all();
  }
}

// Recycles a free file if there is one (a rename), else zero-fills a new one; then makes the
// name durable. Called with the lock held; drops it for the file work.
void JournalLedger::prepare(uint32_t worker, std::unique_lock<std::mutex>& lock) {
  const uint64_t id = next_id_++;
  const std::string path = path_of(id, worker);
  const uint64_t bytes = segment_bytes_;
  std::string reuse;
  if (!free_.empty()) {
    reuse = std::move(free_.front());
    free_.pop_front();
  }
  lock.unlock();
  std::string err;
  int fd = reuse.empty() ? -1 : reuse_file(reuse, path, bytes);
  const bool recycled = fd >= 0;
  if (fd < 0) fd = zero_fill(path, bytes, &stop_, &err);
  if (fd >= 0 && !journal_sync_dir(dir_)) {
    err = "cannot sync journal directory " + dir_ + ": " + strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    fd = -1;
  }
  if (fd < 0 && !stop_.load()) {
    STRATA_LOG_WARN("journal: no pre-allocated segment: %s", err.c_str());
  }
  lock.lock();
  if (fd < 0) return;
  recycled_ += recycled ? 1 : 0;
  spares_[worker] = SpareSegment{id, fd, path, bytes};
}

}  // namespace strata::proxy
