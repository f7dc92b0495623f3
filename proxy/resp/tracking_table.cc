#include "proxy/resp/tracking_table.h"

#include <algorithm>

#include "proxy/redis/own_reports.h"
#include "proxy/resp/tracked_keys.h"

namespace strata::proxy {
namespace {

void add_once(std::vector<uint64_t>* ids, uint64_t id) {
  if (std::find(ids->begin(), ids->end(), id) == ids->end()) ids->push_back(id);
}

}  // namespace

TrackingTable& TrackingTable::instance() {
  static TrackingTable table;
  return table;
}

void TrackingTable::set_max_keys(size_t n, std::vector<TrackingTold>* evicted) {
  std::lock_guard lock(mu_);
  max_keys_ = n;
  if (n > 0) evict_to(n, evicted);  // 0: no limit
}

void TrackingTable::evict_to(size_t n, std::vector<TrackingTold>* evicted) {
  // The next key from the table's cursor is as good a victim as Redis's random pick.
  while (keys_.size() > n) {
    TrackingTold t;
    keys_.take_any(&t.key, &t.clients);
    evicted->push_back(std::move(t));
    ++evicted_;
  }
}

size_t TrackingTable::max_keys() const {
  std::lock_guard lock(mu_);
  return max_keys_;
}

void TrackingTable::enable(uint64_t client, bool bcast, const std::vector<std::string>& prefixes) {
  std::lock_guard lock(mu_);
  tracking_.insert(client);
  set_clients_locked();
  if (!bcast) return;
  for (const std::string& p : prefixes) add_once(&prefixes_[p], client);
  if (prefixes.empty()) add_once(&prefixes_[std::string()], client);
}

void TrackingTable::disable(uint64_t client) {
  std::lock_guard lock(mu_);
  disable_locked(client);
}

void TrackingTable::closed(uint64_t client, const TrackedKeys& keys) {
  std::lock_guard lock(mu_);
  disable_locked(client);
  if (keys_.empty()) return;
  keys.for_each([&](std::string_view key) {
    const uint64_t hash = cache::hash_key(key);
    std::vector<uint64_t>* readers = keys_.find(key, hash);
    if (readers == nullptr) return;
    std::erase(*readers, client);
    if (readers->empty()) keys_.erase(key, hash);
  });
}

void TrackingTable::disable_locked(uint64_t client) {
  tracking_.erase(client);
  set_clients_locked();
  // Its keys stay until they change (as in Redis): telling a client that no longer tracks is
  // skipped where it would be sent, and the entry goes at that change.
  for (auto it = prefixes_.begin(); it != prefixes_.end();) {
    std::erase(it->second, client);
    it = it->second.empty() ? prefixes_.erase(it) : std::next(it);
  }
}

void TrackingTable::set_clients_locked() {
  clients_.store(tracking_.size(), std::memory_order_relaxed);
  // Redis's reports of strata's own writes are told apart once someone could hear them.
  if (!tracking_.empty()) OwnReports::instance().want();
}

void TrackingTable::remember(std::string_view key, uint64_t hash, uint64_t client,
                             std::vector<Told>* evicted, bool known_absent) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t>* readers = keys_.find(key, hash);
  if (readers == nullptr) {
    // 0: no limit, as in Redis.
    if (max_keys_ > 0 && keys_.size() >= max_keys_) evict_to(max_keys_ - 1, evicted);
    bool added = false;
    readers = &keys_.emplace(key, hash, &added);
  }
  if (known_absent) {
    readers->push_back(client);
  } else {
    add_once(readers, client);
  }
}

void TrackingTable::changed(std::string_view key, std::vector<uint64_t>* readers,
                            std::vector<PrefixHit>* bcast) {
  std::lock_guard lock(mu_);
  if (!keys_.empty()) {
    const uint64_t hash = cache::hash_key(key);
    if (std::vector<uint64_t>* r = keys_.find(key, hash)) {
      *readers = std::move(*r);
      keys_.erase(key, hash);
    }
  }
  for (const auto& [prefix, ids] : prefixes_) {
    if (key.starts_with(prefix)) bcast->push_back(PrefixHit{prefix, ids});
  }
}

void TrackingTable::flushed(std::vector<uint64_t>* clients) {
  std::lock_guard lock(mu_);
  keys_.clear();
  clients->assign(tracking_.begin(), tracking_.end());
}

TrackingTable::Counts TrackingTable::counts() const {
  std::lock_guard lock(mu_);
  Counts c;
  c.keys = keys_.size();
  keys_.for_each(
      [&](std::string_view, const std::vector<uint64_t>& ids) { c.items += ids.size(); });
  c.clients = tracking_.size();
  c.prefixes = prefixes_.size();
  c.evicted = evicted_;
  return c;
}

}  // namespace strata::proxy
