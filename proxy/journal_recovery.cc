// JournalLedger (live records per segment, shared by the workers) and start-up recovery.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "proxy/journal.h"

namespace strata::proxy {
namespace {

// "seg-0000000000000042-w3.log" -> 42; 0 if the name is not a segment's.
uint64_t segment_id(std::string_view name) {
  constexpr std::string_view kPrefix = "seg-";
  constexpr size_t kDigits = 16;
  if (!name.starts_with(kPrefix) || !name.ends_with(".log")) return 0;
  if (name.size() < kPrefix.size() + kDigits + 2 || name[kPrefix.size() + kDigits] != '-' ||
      name[kPrefix.size() + kDigits + 1] != 'w') {
    return 0;
  }
  uint64_t id = 0;
  for (char c : name.substr(kPrefix.size(), kDigits)) {
    if (c < '0' || c > '9') return 0;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return id;
}

bool make_dirs(const std::string& dir, std::string* err) {
  for (size_t at = 1; at <= dir.size(); ++at) {
    if (at < dir.size() && dir[at] != '/') continue;
    const std::string part = dir.substr(0, at);
    if (::mkdir(part.c_str(), 0755) < 0 && errno != EEXIST) {
      *err = "cannot create journal directory " + part + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

bool read_file(const std::string& path, std::string* out, std::string* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot open " + path + ": " + strerror(errno);
    return false;
  }
  out->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = "cannot read " + path + ": " + strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

}  // namespace

JournalLedger::JournalLedger(std::string dir) : dir_(std::move(dir)) {}

uint64_t JournalLedger::new_segment(uint32_t worker, std::string* path) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  char name[64];
  snprintf(name, sizeof name, "/seg-%016llu-w%u.log", static_cast<unsigned long long>(id), worker);
  *path = dir_ + name;
  segs_[id].path = *path;
  return id;
}

void JournalLedger::add_live(uint64_t segment, uint64_t n) {
  std::lock_guard lock(mu_);
  if (auto it = segs_.find(segment); it != segs_.end()) it->second.live += n;
}

void JournalLedger::release(uint64_t segment) {
  std::lock_guard lock(mu_);
  auto it = segs_.find(segment);
  if (it == segs_.end()) return;
  if (it->second.live > 0) --it->second.live;
  maybe_unlink(segment, it->second);
}

void JournalLedger::seal(uint64_t segment) {
  std::lock_guard lock(mu_);
  auto it = segs_.find(segment);
  if (it == segs_.end()) return;
  it->second.sealed = true;
  maybe_unlink(segment, it->second);
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

void JournalLedger::maybe_unlink(uint64_t id, Seg& s) {
  if (!s.sealed || s.live > 0) return;
  ::unlink(s.path.c_str());  // a crash before this only means replaying superseded records
  segs_.erase(id);
}

std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger) {
  std::string err;
  if (!make_dirs(ledger->dir(), &err)) return std::unexpected(err);
  DIR* d = ::opendir(ledger->dir().c_str());
  if (d == nullptr) {
    return std::unexpected("cannot list journal directory " + ledger->dir() + ": " +
                           strerror(errno));
  }
  std::vector<std::pair<uint64_t, std::string>> files;
  while (dirent* e = ::readdir(d)) {
    if (uint64_t id = segment_id(e->d_name); id != 0) {
      files.emplace_back(id, ledger->dir() + "/" + e->d_name);
    }
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());

  JournalRecovery rec;
  std::unordered_map<std::string, size_t> newest;  // key -> index in rec.writes
  std::string data;
  for (const auto& [id, path] : files) {
    if (!read_file(path, &data, &err)) return std::unexpected(err);
    size_t off = 0;
    while (off < data.size()) {
      policies::JournalRecord r;
      size_t used = 0;
      const auto res =
          policies::decode_journal_record(std::string_view(data).substr(off), &r, &used);
      if (res == policies::JournalDecode::kCorrupt) {
        return std::unexpected(path + ":" + std::to_string(off) + ": corrupt journal record");
      }
      if (res == policies::JournalDecode::kTorn) break;
      ++rec.records;
      rec.max_version = std::max(rec.max_version, r.version);
      auto [it, fresh] = newest.try_emplace(std::string(r.key), rec.writes.size());
      if (fresh) {
        rec.writes.push_back(
            RecoveredWrite{r.op, r.version, std::string(r.key), std::string(r.value), id});
      } else if (RecoveredWrite& w = rec.writes[it->second]; r.version >= w.version) {
        w = RecoveredWrite{r.op, r.version, std::string(r.key), std::string(r.value), id};
      }
      off += used;
    }
    if (off < data.size()) {
      // A crash mid-append: cut the tail so the next recovery reads a clean segment.
      rec.torn_bytes += data.size() - off;
      if (::truncate(path.c_str(), static_cast<off_t>(off)) < 0) {
        return std::unexpected("cannot truncate torn tail of " + path + ": " + strerror(errno));
      }
    }
  }
  rec.segments = files.size();

  std::lock_guard lock(ledger->mu_);
  for (const auto& [id, path] : files) {
    auto& s = ledger->segs_[id];
    s.path = path;
    s.sealed = true;
    ledger->next_id_ = std::max(ledger->next_id_, id + 1);
  }
  for (const RecoveredWrite& w : rec.writes) ++ledger->segs_[w.segment].live;
  for (const auto& [id, path] : files) ledger->maybe_unlink(id, ledger->segs_[id]);
  return rec;
}

}  // namespace strata::proxy
