// Start-up recovery of the write-behind journal: every segment read up to its first
// non-record, the newest record per key kept, drained segments retired, free files adopted.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "proxy/journal/journal.h"

namespace strata::proxy {
namespace {

// "seg-0000000000000042-w3.log" -> 42, "free-0000000000000042.log" -> 42; 0 for other names.
uint64_t file_id(std::string_view name, bool* free) {
  constexpr size_t kDigits = 16;
  *free = name.starts_with("free-");
  const std::string_view prefix = *free ? "free-" : "seg-";
  if (!name.starts_with(prefix) || !name.ends_with(".log")) return 0;
  const std::string_view rest = name.substr(prefix.size() + kDigits);
  if (name.size() < prefix.size() + kDigits + 4 ||
      (*free ? rest != ".log" : !rest.starts_with("-w"))) {
    return 0;
  }
  uint64_t id = 0;
  for (char c : name.substr(prefix.size(), kDigits)) {
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
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out->reserve(static_cast<size_t>(st.st_size));
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

struct JournalFiles {
  std::vector<std::pair<uint64_t, std::string>> segments;  // by id
  std::vector<std::pair<uint64_t, std::string>> free;
};

std::expected<JournalFiles, std::string> list_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return std::unexpected("cannot list journal directory " + dir + ": " + strerror(errno));
  }
  JournalFiles out;
  while (dirent* e = ::readdir(d)) {
    bool free = false;
    if (uint64_t id = file_id(e->d_name, &free); id != 0) {
      (free ? out.free : out.segments).emplace_back(id, dir + "/" + e->d_name);
    }
  }
  ::closedir(d);
  std::sort(out.segments.begin(), out.segments.end());
  std::sort(out.free.begin(), out.free.end());
  return out;
}

// Reads one segment's records into `rec` (the newest per key). Its end is the first
// non-record; a valid record of the segment further on than the commits in flight can reach
// proves the non-record corruption (commits are acknowledged in order: an acknowledged commit
// means every earlier one is on disk).
std::expected<void, std::string> read_segment(uint64_t id, const std::string& path,
                                              std::string* data, JournalRecovery* rec,
                                              std::unordered_map<std::string, size_t>* newest) {
  std::string err;
  if (!read_file(path, data, &err)) return std::unexpected(err);
  const std::string_view all(*data);
  uint32_t magic = 0;
  if (all.size() >= sizeof magic) std::memcpy(&magic, all.data(), sizeof magic);
  if (magic == policies::kJournalMagicV1) {
    return std::unexpected(path + ": a journal segment of an older strata (format 1): " +
                           "replay it with that version first");
  }
  size_t off = 0;
  for (;;) {
    policies::JournalRecord r;
    size_t used = 0;
    const auto res = policies::decode_journal_record(all.substr(off), id, &r, &used);
    if (res == policies::JournalDecode::kCorrupt) {
      return std::unexpected(path + ":" + std::to_string(off) + ": corrupt journal record");
    }
    if (res != policies::JournalDecode::kRecord) {
      rec->torn_bytes += res == policies::JournalDecode::kTorn ? used : 0;
      break;
    }
    ++rec->records;
    rec->max_version = std::max(rec->max_version, r.version);
    RecoveredWrite w{r.op, r.version, std::string(r.key), std::string(r.value), id};
    auto [it, fresh] = newest->try_emplace(w.key, rec->writes.size());
    if (fresh) {
      rec->writes.push_back(std::move(w));
    } else if (r.version >= rec->writes[it->second].version) {
      rec->writes[it->second] = std::move(w);
    }
    off += used;
  }
  const size_t later =
      policies::find_journal_record(all, off + policies::kJournalTornWindowBytes, id);
  if (later != std::string_view::npos) {
    return std::unexpected(path + ":" + std::to_string(off) +
                           ": corrupt journal record (a valid record follows at " +
                           std::to_string(later) + ")");
  }
  return {};
}

}  // namespace

std::expected<JournalRecovery, std::string> recover_journal(JournalLedger* ledger) {
  std::string err;
  if (!make_dirs(ledger->dir(), &err)) return std::unexpected(err);
  auto files = list_files(ledger->dir());
  if (!files) return std::unexpected(files.error());
  JournalRecovery rec;
  std::unordered_map<std::string, size_t> newest;  // key -> index in rec.writes
  std::string data;
  for (const auto& [id, path] : files->segments) {
    if (auto ok = read_segment(id, path, &data, &rec, &newest); !ok) {
      return std::unexpected(ok.error());
    }
  }
  rec.segments = files->segments.size();

  std::unique_lock lock(ledger->mu_);
  for (const auto& [id, path] : files->free) {
    ledger->next_id_ = std::max(ledger->next_id_, id + 1);
    if (ledger->free_.size() < kJournalFreeSegmentsMax) {
      ledger->free_.push_back(path);
    } else {
      ::unlink(path.c_str());
    }
  }
  for (const auto& [id, path] : files->segments) {
    auto& s = ledger->segs_[id];
    s.path = path;
    s.sealed = true;
    ledger->next_id_ = std::max(ledger->next_id_, id + 1);
  }
  for (const RecoveredWrite& w : rec.writes) ++ledger->segs_[w.segment].live;
  for (const auto& [id, path] : files->segments) ledger->maybe_retire(id, ledger->segs_[id]);
  const bool now = !ledger->thread_.joinable();
  lock.unlock();
  if (now) ledger->retire_files();
  return rec;
}

}  // namespace strata::proxy
