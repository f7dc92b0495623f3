#include "proxy/redis/own_reports.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

namespace strata::proxy {

OwnReports& OwnReports::instance() {
  static OwnReports reports;
  return reports;
}

OwnReports::OwnReports() {
  // Other strata processes may share the Redis: each marks on a channel of its own.
  char name[96];
  std::snprintf(name, sizeof name, "__strata__:own-writes:%d:%016llx", static_cast<int>(getpid()),
                static_cast<unsigned long long>(std::random_device{}()) << 32 ^
                    std::random_device{}());
  channel_ = name;
}

uint64_t OwnReports::open(std::span<const std::string> keys, bool flush) {
  if (!wanted()) return 0;
  std::lock_guard lock(mu_);
  if (live_ == 0) return 0;  // no tracking connection: nothing would report the write
  const uint64_t id = ++next_;
  Marker& m = markers_[id];
  m.keys.assign(keys.begin(), keys.end());
  m.flush = flush;
  m.waiting = live_;
  for (const std::string& k : keys) {
    KeyState& s = keys_[k];
    s.markers.push_back(id);
    ++s.writes;
  }
  if (flush) {
    flush_.markers.push_back(id);
    ++flush_.writes;
  }
  return id;
}

void OwnReports::finish(uint64_t marker, std::span<const std::string> keys, bool flush,
                        bool changed, std::vector<std::string>* tell, bool* tell_flush) {
  if (marker == 0) return;
  std::lock_guard lock(mu_);
  // The writes of a key finish in turn; a report held meanwhile is told by the first that
  // changed the key (its change event), or here when none did.
  auto finish_one = [&](KeyState& s) {
    if (s.writes > 0) --s.writes;
    const bool tell_held = s.held && !changed;
    s.held = false;
    return tell_held;
  };
  for (const std::string& k : keys) {
    auto it = keys_.find(k);
    if (it == keys_.end()) continue;
    if (finish_one(it->second)) tell->push_back(k);
    settle_locked(k, &it->second);
  }
  if (flush && finish_one(flush_)) *tell_flush = true;
}

void OwnReports::passed(uint32_t worker, uint64_t marker) {
  if (worker >= kWorkersMax) return;
  std::lock_guard lock(mu_);
  pass_locked(marker, uint64_t{1} << worker);
}

void OwnReports::dropped(uint64_t marker) {
  std::lock_guard lock(mu_);
  pass_locked(marker, ~uint64_t{0});
}

void OwnReports::live(uint32_t worker, bool up) {
  if (worker >= kWorkersMax) return;
  const uint64_t bit = uint64_t{1} << worker;
  std::lock_guard lock(mu_);
  if (up) {
    live_ |= bit;
    return;
  }
  live_ &= ~bit;
  std::vector<uint64_t> ids;
  for (const auto& [id, m] : markers_) {
    if ((m.waiting & bit) != 0) ids.push_back(id);
  }
  for (uint64_t id : ids) pass_locked(id, bit);
}

void OwnReports::pass_locked(uint64_t marker, uint64_t worker_bits) {
  auto it = markers_.find(marker);
  if (it == markers_.end()) return;
  Marker& m = it->second;
  m.waiting &= ~worker_bits;
  if (m.waiting != 0) return;
  for (const std::string& k : m.keys) {
    auto s = keys_.find(k);
    if (s == keys_.end()) continue;
    std::erase(s->second.markers, marker);
    settle_locked(k, &s->second);
  }
  if (m.flush) std::erase(flush_.markers, marker);
  markers_.erase(it);
}

void OwnReports::settle_locked(const std::string& key, KeyState* s) {
  if (s->markers.empty() && s->writes == 0) keys_.erase(key);
}

bool OwnReports::own_locked(KeyState& s, uint64_t bit) {
  for (uint64_t id : s.markers) {
    auto m = markers_.find(id);
    if (m != markers_.end() && (m->second.waiting & bit) != 0) {
      s.held = true;
      return true;
    }
  }
  return false;
}

bool OwnReports::own(uint32_t worker, std::string_view key) {
  if (worker >= kWorkersMax) return false;
  std::lock_guard lock(mu_);
  if (keys_.empty()) return false;
  auto it = keys_.find(std::string(key));
  return it != keys_.end() && own_locked(it->second, uint64_t{1} << worker);
}

bool OwnReports::own_flush(uint32_t worker) {
  if (worker >= kWorkersMax) return false;
  std::lock_guard lock(mu_);
  return own_locked(flush_, uint64_t{1} << worker);
}

size_t OwnReports::open_markers() const {
  std::lock_guard lock(mu_);
  return markers_.size();
}

}  // namespace strata::proxy
