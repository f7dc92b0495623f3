#include "proxy/tiers/tier_shared.h"

#include <chrono>

namespace strata::proxy {

// ---- WriteBehindShared ----

WriteBehindShared::WriteBehindShared(JournalLedger* ledger, size_t dead_letter_max)
    : ledger_(ledger), dead_(dead_letter_max) {}

namespace {
policies::WriteBehindQueue::Limits limits_of(const policies::Policy& p) {
  return {.flush_interval_ms = p.flush_interval_ms,
          .max_batch = p.max_batch,
          .max_queue_depth = p.max_queue_depth};
}
}  // namespace

WriteBehindShared::Queue& WriteBehindShared::queue_for(const PolicyEntry& e) {
  auto it = queues_.find(e.policy.prefix);
  if (it == queues_.end()) {
    it = queues_.emplace(e.policy.prefix, std::make_unique<Queue>(limits_of(e.policy))).first;
    it->second->sql = e.sql;
  }
  return *it->second;
}

void WriteBehindShared::release(const std::vector<uint64_t>& segs) {
  if (ledger_ != nullptr && !segs.empty()) ledger_->release(segs);
}

void WriteBehindShared::apply(const PolicySnapshot& snap) {
  std::lock_guard lock(mu_);
  for (auto& [prefix, q] : queues_) {
    const PolicyEntry& e = snap.table.match(prefix);
    // A prefix whose policy changed keeps flushing its pending writes where they were headed.
    if (e.policy.prefix == prefix && e.policy.strategy == policies::Strategy::kWriteBehind) {
      q->q.set_limits(limits_of(e.policy));
      q->sql = e.sql;
    }
  }
}

bool WriteBehindShared::has_room(const PolicyEntry& e) {
  std::lock_guard lock(mu_);
  if (!queue_for(e).q.has_room()) return false;
  uint64_t bytes = 0;
  for (auto& [p, q] : queues_) bytes += q->q.bytes();
  return bytes < kBytesMax;
}

void WriteBehindShared::push(const PolicyEntry& e, const policies::WriteView& w) {
  std::lock_guard lock(mu_);
  released_.clear();
  queue_for(e).q.push(w, &released_);
  release(released_);
}

void WriteBehindShared::collect(std::string_view prefix, std::string_view key_prefix,
                                std::vector<policies::PendingWrite>* out) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(prefix);
  if (it != queues_.end()) it->second->q.collect(key_prefix, out);
}

bool WriteBehindShared::find(std::string_view prefix, std::string_view key,
                             policies::PendingWrite* out) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(prefix);
  if (it == queues_.end()) return false;
  const std::optional<policies::WriteView> w = it->second->q.find(key);
  if (!w) return false;
  out->key.assign(w->key);
  out->value.assign(w->value);
  out->version = w->version;
  out->is_delete = w->is_delete;
  out->segment = w->segment;
  out->enqueued_ms = w->enqueued_ms;
  return true;
}

void WriteBehindShared::take(int64_t now_ms, bool force, size_t max_batches,
                             std::vector<FlushBatch>* out) {
  std::lock_guard lock(mu_);
  for (auto& [prefix, q] : queues_) {
    while (out->size() < max_batches && q->q.due(now_ms, force)) {
      FlushBatch b;
      b.prefix = prefix;
      b.sql = q->sql;
      if (q->q.take_batch(now_ms, force, &b) == 0) break;
      out->push_back(std::move(b));
    }
  }
}

void WriteBehindShared::settle(const std::string& prefix, std::span<const policies::WriteView> rows,
                               bool ok) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(prefix);
  if (it == queues_.end()) return;
  released_.clear();
  for (const policies::WriteView& w : rows) {
    if (ok) {
      it->second->q.committed(w.key, w.version, &released_);
    } else {
      it->second->q.failed(w.key, w.version, &released_);
    }
  }
  release(released_);
}

void WriteBehindShared::rejected(const std::string& prefix, std::string_view key, uint64_t version,
                                 std::string error, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(prefix);
  if (it == queues_.end()) return;
  std::optional<policies::PendingWrite> w = it->second->q.rejected(key, version);
  if (!w) return;
  released_.clear();
  dead_.add({std::move(*w), std::move(error), now_ms}, &released_);
  release(released_);
}

WriteBehindShared::QueueInfo WriteBehindShared::info(std::string_view prefix) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(prefix);
  if (it == queues_.end()) return {};
  return {it->second->q.depth(), it->second->q.oldest_enqueued_ms()};
}

size_t WriteBehindShared::depth() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& [p, q] : queues_) n += q->q.depth();
  return n;
}

bool WriteBehindShared::any_due(int64_t now_ms) {
  std::lock_guard lock(mu_);
  for (auto& [p, q] : queues_) {
    if (q->q.due(now_ms, false)) return true;
  }
  return false;
}

std::vector<policies::DeadLetterList::Item> WriteBehindShared::dead_letters() {
  std::lock_guard lock(mu_);
  return {dead_.items().begin(), dead_.items().end()};
}

size_t WriteBehindShared::dead_letter_count() {
  std::lock_guard lock(mu_);
  return dead_.size();
}

size_t WriteBehindShared::retry(std::string_view key, const PolicySnapshot& snap) {
  std::lock_guard lock(mu_);
  std::vector<policies::DeadLetterList::Item> items = dead_.take(key);
  for (auto& item : items) {
    const PolicyEntry& e = snap.table.match(item.write.key);
    Queue& q = queue_for(e);
    released_.clear();
    q.q.push(std::move(item.write), &released_);
    release(released_);
  }
  return items.size();
}

size_t WriteBehindShared::drop(std::string_view key) {
  std::lock_guard lock(mu_);
  std::vector<policies::DeadLetterList::Item> items = dead_.take(key);
  released_.clear();
  for (const auto& item : items) released_.push_back(item.write.segment);
  release(released_);
  return items.size();
}

// ---- RefreshSet ----

bool RefreshSet::try_begin(std::string_view key) {
  std::lock_guard lock(mu_);
  if (keys_.size() >= kMax) return false;
  return keys_.emplace(key).second;
}

void RefreshSet::end(std::string_view key) {
  std::lock_guard lock(mu_);
  keys_.erase(std::string(key));
}

// ---- NegativeCache ----

bool NegativeCache::hit(std::string_view key, int64_t now_ms) {
  if (size_.load() == 0) return false;
  std::lock_guard lock(mu_);
  if (until_.empty()) return false;
  auto it = until_.find(std::string(key));
  if (it == until_.end()) return false;
  if (now_ms > it->second) {
    until_.erase(it);
    size_.store(until_.size());
    return false;
  }
  return true;
}

void NegativeCache::put(std::string_view key, int64_t expire_at_ms) {
  std::lock_guard lock(mu_);
  if (until_.size() >= kMax) until_.clear();
  until_[std::string(key)] = expire_at_ms;
  size_.store(until_.size());
}

void NegativeCache::erase(std::string_view key) {
  if (size_.load() == 0) return;  // every write asks; most find the cache empty
  std::lock_guard lock(mu_);
  if (!until_.empty()) until_.erase(std::string(key));
  size_.store(until_.size());
}

}  // namespace strata::proxy
