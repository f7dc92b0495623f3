#include "cache/store.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "cache/adaptive_policy.h"
#include "cache/alloc_size.h"
#include "cache/entry.h"
#include "cache/shard.h"

namespace strata::cache {

// ---- Txn -------------------------------------------------------------------------------------

namespace {
struct TxnSpare {
  void* block = nullptr;
  ~TxnSpare() { ::operator delete(block); }
};
thread_local TxnSpare t_txn_spare;
}  // namespace

void* Txn::operator new(size_t size) {
  if (void* p = std::exchange(t_txn_spare.block, nullptr)) return p;
  return ::operator new(size);
}

void Txn::operator delete(void* p, size_t) noexcept {
  if (t_txn_spare.block == nullptr) {
    t_txn_spare.block = p;
    return;
  }
  ::operator delete(p);
}

Txn::Txn(Store* store, std::span<Shard* const> shards, int64_t now_ms)
    : store_(store), now_ms_(now_ms) {
  if (shards.size() > kLockedMax) {
    all_locked_ = true;
    for (auto& s : store_->shards_) s->lock();
    return;
  }
  for (Shard* s : shards) {  // already sorted by shard index: a global lock order
    s->lock();
    locked_[locked_count_++] = s;
  }
}

Txn::~Txn() {
  if (all_locked_) {
    for (auto it = store_->shards_.rbegin(); it != store_->shards_.rend(); ++it) (*it)->unlock();
    return;
  }
  while (locked_count_ > 0) locked_[--locked_count_]->unlock();
}

Shard* Txn::shard_for(std::string_view key, uint64_t* hash) const {
  *hash = hash_key(key);
  return shard_of(key, *hash);
}

Shard* Txn::shard_of(std::string_view key, uint64_t hash) const {
  Shard* s = store_->shards_[store_->shard_index(key, hash)].get();
  if (!all_locked_ && std::find(locked_, locked_ + locked_count_, s) == locked_ + locked_count_) {
    std::abort();  // programmer error: the key was not passed to Store::lock
  }
  return s;
}

bool Txn::read(std::string_view key, EntryView* out) { return read(key, hash_key(key), out); }

bool Txn::find(std::string_view key, EntryView* out) { return find(key, hash_key(key), out); }

bool Txn::read(std::string_view key, uint64_t hash, EntryView* out) {
  return shard_of(key, hash)->get(key, hash, now_ms_, true, out);
}

bool Txn::find(std::string_view key, uint64_t hash, EntryView* out) {
  return shard_of(key, hash)->get(key, hash, now_ms_, false, out);
}

uint64_t Txn::set(std::string_view key, std::string_view value, int64_t expire_at_ms) {
  uint64_t h;
  Shard* s = shard_for(key, &h);
  if (!store_->lengths_ok(key.size(), value.size())) {
    s->erase(key, h, now_ms_);  // not stored: the old value must not outlive the write
    return 0;
  }
  return s->set(key, h, value, expire_at_ms);
}

bool Txn::set_expire(std::string_view key, int64_t expire_at_ms) {
  uint64_t h;
  return shard_for(key, &h)->set_expire(key, h, expire_at_ms, now_ms_);
}

bool Txn::erase(std::string_view key) {
  uint64_t h;
  return shard_for(key, &h)->erase(key, h, now_ms_);
}

// ---- Store -----------------------------------------------------------------------------------

Store::Store(const StoreConfig& config, const Clock* clock) : config_(config), clock_(clock) {
  if (config_.key_bytes_max > Entry::kKeyBytesLimit ||
      config_.value_bytes_max > Entry::kValueBytesLimit) {
    throw std::invalid_argument("store: key_bytes_max < 2^31 and value_bytes_max < 2^32 required");
  }
  if (config_.partitions.size() >= kPartitionsMax) {
    throw std::invalid_argument("store: at most " + std::to_string(kPartitionsMax - 1) +
                                " partitions");
  }
  uint64_t total_shards = config_.shards;
  for (const PartitionConfig& p : config_.partitions) {
    if (p.prefix.empty()) throw std::invalid_argument("store: a partition needs a prefix");
    total_shards += p.shards;
  }
  if (total_shards > kShardsMax) {
    throw std::invalid_argument("store: at most " + std::to_string(kShardsMax) + " shards in all");
  }
  // Versions carry the global shard index in their low bits, so they stay unique store-wide.
  const auto index_bits = static_cast<uint32_t>(std::bit_width(total_shards - 1));
  shards_.reserve(total_shards);
  add_partition(config_.maxmemory_bytes, config_.eviction, config_.shards, index_bits);
  for (uint32_t i = 0; i < config_.partitions.size(); ++i) {
    const PartitionConfig& p = config_.partitions[i];
    add_partition(p.maxmemory_bytes, p.eviction, p.shards, index_bits);
    routes_.set(p.prefix, i + 1);
  }
  // Default-partition routes matter only under a partitioned prefix; without partitions the
  // table stays empty and routing costs nothing.
  if (config_.partitions.empty()) return;
  for (const std::string& prefix : config_.default_prefixes) routes_.set(prefix, 0);
}

void Store::add_partition(uint64_t capacity_bytes, const std::string& eviction, uint32_t shards,
                          uint32_t index_bits) {
  if (shards == 0 || !std::has_single_bit(shards)) {
    throw std::invalid_argument("store: shards must be a power of two");
  }
  Partition part;
  part.base = static_cast<uint32_t>(shards_.size());
  part.mask = shards - 1;
  part.capacity_bytes = capacity_bytes;
  const uint64_t per_shard =
      capacity_bytes == 0 ? 0 : std::max<uint64_t>(1, capacity_bytes / shards);
  part.entry_bytes_max = per_shard;
  for (uint32_t i = 0; i < shards; ++i) {
    // Unbounded partitions never evict, so they carry no policy (and no policy metadata).
    std::unique_ptr<EvictionPolicy> policy;
    if (per_shard != 0) {
      policy = make_policy(eviction, PolicyParams{per_shard});
      if (!policy) throw std::invalid_argument("store: unknown eviction policy " + eviction);
    }
    shards_.push_back(std::make_unique<Shard>(static_cast<uint32_t>(shards_.size()), index_bits,
                                              per_shard, std::move(policy),
                                              config_.removal_observer));
  }
  parts_.push_back(part);
}

Store::~Store() = default;

std::unique_ptr<Txn> Store::lock(std::string_view key) { return lock(key, hash_key(key)); }

std::unique_ptr<Txn> Store::lock(std::string_view key, uint64_t hash) {
  Shard* s = shards_[shard_index(key, hash)].get();
  return std::unique_ptr<Txn>(new Txn(this, std::span<Shard* const>(&s, 1), clock_->now_ms()));
}

std::unique_ptr<Txn> Store::lock(std::span<const std::string_view> keys) {
  if (keys.size() == 1) return lock(keys[0]);
  std::vector<uint32_t> idx;
  idx.reserve(keys.size());
  for (std::string_view k : keys) idx.push_back(shard_index(k, hash_key(k)));
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  std::vector<Shard*> picked;
  picked.reserve(idx.size());
  for (uint32_t i : idx) picked.push_back(shards_[i].get());
  return std::unique_ptr<Txn>(new Txn(this, picked, clock_->now_ms()));
}

void Store::prefetch(std::span<const LookupHint> hints) {
  const size_t n = std::min(hints.size(), kPrefetchMax);
  for (int stage = 0; stage < 3; ++stage) {
    for (size_t i = 0; i < n; ++i) {
      Shard& s = *shards_[hints[i].shard];
      s.lock();
      s.prefetch_lookup(hints[i].hash, stage);
      s.unlock();
    }
  }
}

uint64_t Store::begin_fill(std::string_view key) {
  auto txn = lock(key);
  uint64_t h;
  Shard* s = txn->shard_for(key, &h);
  return s->begin_fill(key);
}

bool Store::complete_fill(std::string_view key, uint64_t token, std::string_view value,
                          int64_t expire_at_ms) {
  auto txn = lock(key);
  uint64_t h;
  Shard* s = txn->shard_for(key, &h);
  if (!s->take_lease(key, token)) return false;
  if (!lengths_ok(key.size(), value.size())) return false;
  return s->set(key, h, value, expire_at_ms) != 0;
}

void Store::invalidate(std::string_view key) {
  auto txn = lock(key);
  uint64_t h;
  Shard* s = txn->shard_for(key, &h);
  s->drop_lease(key);
  s->erase(key, h, txn->now_ms());
}

void Store::flush_all() {
  for (auto& s : shards_) s->lock();  // ascending: same order as every Txn
  for (auto& s : shards_) s->clear();
  for (auto it = shards_.rbegin(); it != shards_.rend(); ++it) (*it)->unlock();
}

size_t Store::active_expire(size_t budget) {
  const int64_t now = clock_->now_ms();
  size_t removed = 0;
  const auto n = static_cast<uint32_t>(shards_.size());
  for (uint32_t visited = 0; visited < n && budget > 0; ++visited) {
    const uint32_t i = expire_cursor_.fetch_add(1, std::memory_order_relaxed) % n;
    Shard* s = shards_[i].get();
    s->lock();
    removed += s->expire_sample(now, &budget);
    s->unlock();
  }
  return removed;
}

// Cursor = shard << 32 | reverse-binary bucket cursor within the shard. Tables only grow, and the
// reverse-binary order guarantees that growth between calls never skips a bucket's keys.
uint64_t Store::scan_keys(uint64_t cursor, size_t count, std::vector<std::string>* out) {
  uint64_t shard = cursor >> 32;
  uint32_t bucket_cursor = static_cast<uint32_t>(cursor);
  const int64_t now = clock_->now_ms();
  size_t added = 0;
  count = std::max<size_t>(count, 1);
  while (shard < shards_.size()) {
    Shard* s = shards_[shard].get();
    s->lock();
    bucket_cursor = s->scan(bucket_cursor, count, now, out, &added);
    s->unlock();
    if (bucket_cursor == 0) ++shard;
    if (added >= count) break;
  }
  if (shard >= shards_.size()) return 0;
  return (shard << 32) | bucket_cursor;
}

StoreStats Store::stats() const {
  StoreStats total;
  for (const auto& s : shards_) {
    s->lock();
    s->add_stats(&total);
    s->unlock();
  }
  return total;
}

std::vector<PartitionStats> Store::partition_stats() const {
  std::vector<PartitionStats> out;
  for (size_t i = 0; i < parts_.size(); ++i) {
    const Partition& part = parts_[i];
    PartitionStats ps;
    ps.prefix = i == 0 ? "" : config_.partitions[i - 1].prefix;
    ps.eviction = i == 0 ? config_.eviction : config_.partitions[i - 1].eviction;
    ps.capacity_bytes = part.capacity_bytes;
    for (uint32_t j = 0; j <= part.mask; ++j) {
      Shard& s = *shards_[part.base + j];
      s.lock();
      s.add_stats(&ps.stats);
      std::string live;
      if (const EvictionPolicy* policy = s.policy()) {
        const auto* adaptive = dynamic_cast<const AdaptivePolicy*>(policy);
        live = adaptive != nullptr ? std::string(adaptive->live_policy())
                                   : std::string(policy->name());
        if (adaptive != nullptr) ps.switches += adaptive->switches();
      }
      s.unlock();
      if (live.empty()) continue;
      auto it = std::find_if(ps.live_policies.begin(), ps.live_policies.end(),
                             [&](const auto& p) { return p.first == live; });
      if (it == ps.live_policies.end()) {
        ps.live_policies.emplace_back(std::move(live), 1);
      } else {
        ++it->second;
      }
    }
    out.push_back(std::move(ps));
  }
  return out;
}

uint64_t Store::charge_in(uint32_t partition, size_t key_len, size_t value_len,
                          bool with_ttl) const {
  return allocation_bytes_for(Entry::alloc_bytes(key_len, value_len, with_ttl)) +
         shards_[parts_[partition].base]->fixed_bytes(with_ttl);
}

uint64_t Store::charged_bytes(std::string_view key, size_t value_len) const {
  return charge_in(partition_of(key), key.size(), value_len, false);
}

uint64_t Store::charged_bytes(size_t key_len, size_t value_len) const {
  return charge_in(0, key_len, value_len, false);
}

uint64_t Store::charged_bytes(size_t key_len, size_t value_len, bool with_ttl) const {
  return charge_in(0, key_len, value_len, with_ttl);
}

bool Store::check_invariants() const {
  bool ok = true;
  for (const auto& s : shards_) {
    s->lock();
    ok = ok && s->check_invariants();
    s->unlock();
  }
  return ok;
}

}  // namespace strata::cache
