#include "proxy/resp/tracking_table.h"

#include <algorithm>
#include <bit>

#include "proxy/redis/own_reports.h"
#include "proxy/resp/tracked_keys.h"

namespace strata::proxy {
namespace {

void add_once(std::vector<uint64_t>* ids, uint64_t id) {
  if (std::find(ids->begin(), ids->end(), id) == ids->end()) ids->push_back(id);
}

// Some reader, dead or alive (a key with none goes).
template <typename R>
bool has_readers(const R& r) {
  for (uint64_t bits : r.bits) {
    if (bits != 0) return true;
  }
  return r.more != nullptr && (!r.more->words.empty() || !r.more->ids.empty());
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
  // Keys only dead bits hold go first, and may make room enough.
  if (dead_ && keys_.size() > n) sweep_locked();
  // The next key from the table's cursor is as good a victim as Redis's random pick.
  Readers r;
  while (keys_.size() > n) {
    TrackingTold t;
    keys_.take_any(&t.key, &r);
    ids_of(r, &t.clients);
    evicted->push_back(std::move(t));
    ++evicted_;
  }
}

size_t TrackingTable::max_keys() const {
  std::lock_guard lock(mu_);
  return max_keys_;
}

void TrackingTable::enable(uint64_t client, bool bcast, const std::vector<std::string>& prefixes,
                           uint64_t redirect, bool noloop,
                           std::shared_ptr<std::atomic<uint32_t>> pending) {
  std::lock_guard lock(mu_);
  tracking_.insert_or_assign(client,
                             TrackingMode{true, bcast, noloop, redirect, std::move(pending)});
  set_clients_locked();
  if (!bcast) return;
  for (const std::string& p : prefixes) add_once(&prefixes_[p], client);
  if (prefixes.empty()) add_once(&prefixes_[std::string()], client);
}

void TrackingTable::disable(uint64_t client) {
  std::lock_guard lock(mu_);
  disable_locked(client);
}

int TrackingTable::acquire_bit(uint32_t worker, uint64_t client) {
  std::lock_guard lock(mu_);
  if (workers_.size() <= worker) workers_.resize(worker + 1);
  WorkerBits* w = &workers_[worker];
  if (w->free == 0) {
    if (w->dead == 0) return -1;
    sweep_locked();  // the dead bits of every worker, several closes at a time
  }
  const int bit = std::countr_zero(w->free);
  w->free &= ~(uint64_t{1} << bit);
  w->ids[bit] = client;
  return bit;
}

void TrackingTable::closed(const TrackingReader& who, const TrackedKeys& keys) {
  std::lock_guard lock(mu_);
  disable_locked(who.id);
  if (who.bit >= 0) {
    workers_[who.worker].dead |= uint64_t{1} << who.bit;
    dead_ = true;
    // A small table is walked at once (the client leaves every key now, as a reader by id
    // does); a big one when the bit is wanted again, or the table must make room.
    if (keys_.capacity() <= kSweepAtOnceSlots) sweep_locked();
    return;
  }
  if (keys_.empty()) return;
  keys.for_each([&](std::string_view key) {
    const uint64_t hash = cache::hash_key(key);
    Readers* r = keys_.find(key, hash);
    if (r == nullptr || r->more == nullptr) return;
    std::erase(r->more->ids, who.id);
    if (!has_readers(*r)) keys_.erase(key, hash);
  });
}

void TrackingTable::sweep_locked() {
  ++sweeps_;
  keys_.erase_if([&](std::string_view, Readers* r) {
    for (int i = 0; i < Readers::kInline; ++i) r->bits[i] = live(r->worker[i], r->bits[i]);
    if (r->more != nullptr) {
      std::erase_if(r->more->words, [&](std::pair<uint32_t, uint64_t>& w) {
        w.second = live(w.first, w.second);
        return w.second == 0;
      });
    }
    return !has_readers(*r);
  });
  for (WorkerBits& w : workers_) {
    w.free |= w.dead;
    w.dead = 0;
  }
  dead_ = false;
}

void TrackingTable::ids_of(const Readers& r, std::vector<uint64_t>* ids) const {
  auto word = [&](uint32_t worker, uint64_t bits) {
    for (uint64_t b = live(worker, bits); b != 0; b &= b - 1) {
      ids->push_back(workers_[worker].ids[std::countr_zero(b)]);
    }
  };
  for (int i = 0; i < Readers::kInline; ++i) word(r.worker[i], r.bits[i]);
  if (r.more == nullptr) return;
  for (const auto& [worker, bits] : r.more->words) word(worker, bits);
  ids->insert(ids->end(), r.more->ids.begin(), r.more->ids.end());
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

void TrackingTable::remember(std::string_view key, uint64_t hash, const TrackingReader& who,
                             std::vector<Told>* evicted, bool known_absent) {
  std::lock_guard lock(mu_);
  Readers* r = keys_.find(key, hash);
  if (r == nullptr) {
    // 0: no limit, as in Redis.
    if (max_keys_ > 0 && keys_.size() >= max_keys_) evict_to(max_keys_ - 1, evicted);
    bool added = false;
    r = &keys_.emplace(key, hash, &added);
  }
  if (who.bit < 0) {
    if (r->more == nullptr) r->more = std::make_unique<Readers::More>();
    if (known_absent) {
      r->more->ids.push_back(who.id);
    } else {
      add_once(&r->more->ids, who.id);
    }
    return;
  }
  const uint64_t bit = uint64_t{1} << who.bit;
  int unused = -1;
  for (int i = 0; i < Readers::kInline; ++i) {
    if (r->bits[i] == 0) {
      if (unused < 0) unused = i;
    } else if (r->worker[i] == who.worker) {
      r->bits[i] |= bit;
      return;
    }
  }
  if (r->more != nullptr) {
    for (auto& [worker, bits] : r->more->words) {
      if (worker == who.worker) {
        bits |= bit;
        return;
      }
    }
  }
  if (unused >= 0) {
    r->bits[unused] = bit;
    r->worker[unused] = who.worker;
    return;
  }
  if (r->more == nullptr) r->more = std::make_unique<Readers::More>();
  r->more->words.emplace_back(who.worker, bit);
}

void TrackingTable::changed(std::string_view key, std::vector<uint64_t>* readers,
                            std::vector<PrefixHit>* bcast, std::vector<TrackingMode>* modes) {
  std::lock_guard lock(mu_);
  const size_t first = readers->size();
  if (!keys_.empty()) {
    const uint64_t hash = cache::hash_key(key);
    if (Readers* r = keys_.find(key, hash)) {
      ids_of(*r, readers);
      keys_.erase(key, hash);
    }
  }
  if (modes != nullptr) {
    for (size_t i = first; i < readers->size(); ++i) modes->push_back(mode_locked((*readers)[i]));
  }
  for (const auto& [prefix, ids] : prefixes_) {
    if (!key.starts_with(prefix)) continue;
    PrefixHit& h = bcast->emplace_back(PrefixHit{prefix, ids, {}});
    if (modes == nullptr) continue;
    for (uint64_t id : ids) h.modes.push_back(mode_locked(id));
  }
}

void TrackingTable::modes_of(const std::vector<uint64_t>& ids,
                             std::vector<TrackingMode>* modes) const {
  std::lock_guard lock(mu_);
  for (uint64_t id : ids) modes->push_back(mode_locked(id));
}

void TrackingTable::flushed(std::vector<uint64_t>* clients) {
  std::lock_guard lock(mu_);
  keys_.clear();
  for (WorkerBits& w : workers_) {  // no key holds a dead bit any more
    w.free |= w.dead;
    w.dead = 0;
  }
  dead_ = false;
  for (const auto& [id, mode] : tracking_) clients->push_back(id);
}

TrackingTable::Counts TrackingTable::counts() const {
  std::lock_guard lock(mu_);
  Counts c;
  keys_.for_each([&](std::string_view, const Readers& r) {
    size_t n = 0;
    for (int i = 0; i < Readers::kInline; ++i) n += std::popcount(live(r.worker[i], r.bits[i]));
    if (r.more != nullptr) {
      for (const auto& [worker, bits] : r.more->words) n += std::popcount(live(worker, bits));
      n += r.more->ids.size();
    }
    c.items += n;
    c.keys += n != 0;
  });
  c.sweeps = sweeps_;
  c.clients = tracking_.size();
  c.prefixes = prefixes_.size();
  c.evicted = evicted_;
  return c;
}

}  // namespace strata::proxy
