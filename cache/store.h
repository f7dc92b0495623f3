// The L1 store: a sharded hash table of string entries, bounded in bytes, with TTLs (lazy expiry
// on access, active expiry by sampling), one eviction policy per shard, and a version per entry.
// No I/O and no threads of its own; workers call it, each shard guarded by its own spinlock.
//
// Partitions: keys under a configured prefix (longest prefix wins) can live in a partition of
// their own, with its own memory budget and eviction policy (e.g. "adaptive", which then picks
// a policy from that prefix's traffic alone). Every other key lives in the default partition,
// sized by maxmemory_bytes. A partition is a set of shards like any other, so Txn locking,
// expiry and scans see one flat array of shards.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/clock.h"
#include "cache/eviction_policy.h"
#include "cache/hash.h"
#include "cache/prefix_table.h"

namespace strata::cache {

struct PartitionConfig {
  std::string prefix;               // non-empty; keys starting with it (longest prefix wins)
  uint64_t maxmemory_bytes = 0;     // this partition's own budget; 0: unbounded
  std::string eviction = "s3fifo";  // a name make_policy() knows
  uint32_t shards = 8;              // power of two
};

// Told of every entry the store drops by itself (TTL expiry, eviction), under the shard's lock:
// it must be quick and must not call back into the Store. Where L1 is the only tier such a drop
// is a change others must hear of (the proxy publishes it).
class RemovalObserver {
 public:
  virtual void on_removed(std::string_view key, bool evicted) noexcept = 0;

 protected:
  ~RemovalObserver() = default;
};

struct StoreConfig {
  uint64_t maxmemory_bytes = 0;     // the default partition's budget; 0: unbounded
  std::string eviction = "s3fifo";  // a name make_policy() knows
  uint32_t shards = 64;             // power of two; 1 makes the store a single policy instance
  uint64_t key_bytes_max = 512ull * 1024 * 1024;
  uint64_t value_bytes_max = 512ull * 1024 * 1024;
  std::vector<PartitionConfig> partitions;
  // Keys under these prefixes stay in the default partition even when a shorter partitioned
  // prefix matches them (a policy table's longest-prefix rule: "user:admin:" may have no
  // partition of its own while "user:" has one).
  std::vector<std::string> default_prefixes;
  RemovalObserver* removal_observer = nullptr;  // null: nobody listens
};

// What a reader sees of an entry; valid only while the Txn that produced it is alive.
struct EntryView {
  std::string_view key;
  std::string_view value;
  int64_t expire_at_ms = 0;  // 0: no TTL
  uint64_t version = 0;
};

struct StoreStats {
  uint64_t keys = 0;
  uint64_t keys_with_ttl = 0;
  uint64_t used_bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t expired = 0;
};

// One partition's figures (index 0 is the default partition, prefix "").
struct PartitionStats {
  std::string prefix;
  std::string eviction;  // configured policy name
  uint64_t capacity_bytes = 0;
  StoreStats stats;
  // Per live policy name, how many of the partition's shards run it (differs from `eviction`
  // only for "adaptive", which switches per shard); and adaptive switches so far.
  std::vector<std::pair<std::string, uint32_t>> live_policies;
  uint64_t switches = 0;
};

class Shard;

// A lock on the shards that hold a set of keys, taken in shard order (no deadlock). All reads
// and writes go through one; multi-key commands (MSET, MSETNX, DEL a b c) are atomic with it.
class Txn {
 public:
  Txn(Txn&&) = delete;
  ~Txn();
  // Every command allocates one; a per-thread spare block saves the malloc/free pair.
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size) noexcept;

  // Lookup for a read command: counts a keyspace hit or miss and tells the eviction policy.
  bool read(std::string_view key, EntryView* out);
  // Lookup for a write command: no hit/miss counted. Expired entries are removed (lazy expiry).
  bool find(std::string_view key, EntryView* out);
  // The same with hash == hash_key(key), computed by a caller that needs it too.
  bool read(std::string_view key, uint64_t hash, EntryView* out);
  bool find(std::string_view key, uint64_t hash, EntryView* out);
  // Inserts or replaces the value. expire_at_ms 0 means no TTL. Returns the new version, or 0
  // when the entry cannot fit (bigger than the shard's memory budget) and was not stored.
  uint64_t set(std::string_view key, std::string_view value, int64_t expire_at_ms);
  // Sets the TTL of an existing entry (0 removes it). False if the key is absent.
  bool set_expire(std::string_view key, int64_t expire_at_ms);
  bool erase(std::string_view key);
  int64_t now_ms() const { return now_ms_; }

 private:
  friend class Store;
  Txn(class Store* store, std::span<Shard* const> shards, int64_t now_ms);
  Shard* shard_for(std::string_view key, uint64_t* hash) const;
  Shard* shard_of(std::string_view key, uint64_t hash) const;

  static constexpr uint32_t kLockedMax = 64;  // more distinct shards: the Txn locks them all

  class Store* store_;
  Shard* locked_[kLockedMax];
  uint32_t locked_count_ = 0;
  bool all_locked_ = false;
  int64_t now_ms_;
};

class Store {
 public:
  Store(const StoreConfig& config, const Clock* clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Locks the shards of `keys` (any number; duplicates fine) for the Txn's lifetime.
  std::unique_ptr<Txn> lock(std::span<const std::string_view> keys);
  std::unique_ptr<Txn> lock(std::string_view key);
  // hash == hash_key(key) (Txn::read and find take it too: a GET hashes its key once).
  std::unique_ptr<Txn> lock(std::string_view key, uint64_t hash);

  // Prefetching for the lookups of a pipeline's next commands, while the current one runs:
  // hint() names where a key's lookup goes; prefetch() fetches toward the CPU cache what those
  // lookups will read, in stages over all of them, so that their memory latencies overlap
  // instead of adding up. A hint: no contents, counters or eviction state change.
  struct LookupHint {
    uint32_t shard = 0;
    uint64_t hash = 0;
  };
  static constexpr size_t kPrefetchMax = 16;  // hints one prefetch() takes; more are ignored
  LookupHint hint(std::string_view key) const {
    const uint64_t h = hash_key(key);
    return LookupHint{shard_index(key, h), h};
  }
  void prefetch(std::span<const LookupHint> hints);

  // A fill lease (as memcache's leases): taken before an upstream read, honoured only if no
  // write or invalidation touched the key since. Tokens are never 0.
  uint64_t begin_fill(std::string_view key);
  // Installs the value if the lease is still valid; returns true if installed.
  bool complete_fill(std::string_view key, uint64_t token, std::string_view value,
                     int64_t expire_at_ms);
  // Drops the key and any outstanding lease on it (a write passed through to the upstream).
  void invalidate(std::string_view key);

  void flush_all();
  // Active expiry: samples keys with a TTL and removes expired ones, up to `budget` checks.
  // Returns how many were removed.
  size_t active_expire(size_t budget);
  // SCAN-style iteration over live keys: appends about `count` keys from `cursor` to `out` and
  // returns the next cursor (0 when done). Keys present for the whole scan are seen at least once.
  uint64_t scan_keys(uint64_t cursor, size_t count, std::vector<std::string>* out);

  StoreStats stats() const;
  // Per partition, default first (walks every shard under its lock).
  std::vector<PartitionStats> partition_stats() const;
  const StoreConfig& config() const { return config_; }
  // 0 for the default partition, i + 1 for config().partitions[i].
  uint32_t partition_of(std::string_view key) const { return routes_.match(key); }
  // The memory budget of the partition that holds `key` (0: unbounded).
  uint64_t capacity_for(std::string_view key) const {
    return parts_[partition_of(key)].capacity_bytes;
  }
  uint64_t now_ms() const { return clock_->now_ms(); }
  // Bytes charged to `key` holding a value of this length (allocation + fixed per-entry
  // overhead of its partition's shards, which depends on the eviction policy).
  uint64_t charged_bytes(std::string_view key, size_t value_len) const;
  // The same in the default partition, by lengths only.
  uint64_t charged_bytes(size_t key_len, size_t value_len) const;
  // The largest charge a single entry of the default partition may have: its shard budget
  // (maxmemory_bytes / shards); 0 when unbounded. A set whose charge exceeds its shard's budget
  // returns 0.
  uint64_t entry_bytes_max() const { return parts_[0].entry_bytes_max; }
  // The same for an entry with a TTL (12 bytes more header, one TTL-set element).
  uint64_t charged_bytes(size_t key_len, size_t value_len, bool with_ttl) const;
  // Walks every shard and recomputes counts, bytes and links; slow, for tests.
  bool check_invariants() const;

 private:
  friend class Txn;
  struct Partition {
    uint32_t base = 0;  // index of its first shard in shards_
    uint32_t mask = 0;  // its shard count - 1
    uint64_t capacity_bytes = 0;
    uint64_t entry_bytes_max = 0;
  };
  // Global shard index: partitions' shards are laid out one after another, so ascending global
  // indexes are the one lock order for every Txn.
  uint32_t shard_index(std::string_view key, uint64_t hash) const {
    const Partition& p = parts_[partition_of(key)];
    return p.base + (static_cast<uint32_t>(hash >> 32) & p.mask);
  }
  uint64_t charge_in(uint32_t partition, size_t key_len, size_t value_len, bool with_ttl) const;
  void add_partition(uint64_t capacity_bytes, const std::string& eviction, uint32_t shards,
                     uint32_t index_bits);

  static constexpr uint32_t kShardsMax = 1u << 16;
  static constexpr size_t kPartitionsMax = 256;
  // Lengths must also fit the entry header (31-bit key, 32-bit value lengths).
  bool lengths_ok(size_t key_len, size_t value_len) const {
    return key_len <= config_.key_bytes_max && value_len <= config_.value_bytes_max;
  }

  StoreConfig config_;
  const Clock* clock_;
  std::vector<Partition> parts_;     // [0]: the default partition
  PrefixTable<uint32_t> routes_{0};  // prefix -> partition; empty without partitions
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint32_t> expire_cursor_{0};  // round-robin start of active expiry
};

}  // namespace strata::cache
