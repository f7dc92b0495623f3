// One shard of the L1 store: a chained hash index of 4-byte SlotIds, a slot array SlotId ->
// (Entry*, next SlotId in the bucket chain), the TTL set, fill leases and one eviction policy. Not
// thread-safe by itself: every method except lock()/unlock() must be called with the shard's lock
// held (Txn and Store do).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/entry.h"
#include "cache/eviction_policy.h"
#include "cache/prefetch.h"
#include "cache/spin_lock.h"
#include "cache/store.h"

namespace strata::cache {

// The shard answers its policy's SlotInfo calls (a slot's charge and key hash), so policies
// that use them need not keep copies.
class alignas(64) Shard final : private SlotInfo {
 public:
  // Fixed per-entry costs outside the entry allocation, charged to every entry.
  // A slot: the entry's address in 6 bytes (user-space addresses are below 2^48 on the 64-bit
  // targets we build for; a block above that is refused like a failed allocation) and the next
  // SlotId of its bucket chain. 10 bytes, where a pointer plus a `next` in the entry were 12.
  struct SlotRec {
    uint16_t w[5];
  };
  static constexpr uint64_t kSlotBytes = sizeof(SlotRec);
  static constexpr uint64_t kBucketBytes = sizeof(SlotId);  // index head at load factor 1
  static constexpr uint64_t kTtlSetBytes = sizeof(SlotId);  // TTL set element (TTL only)
  // Leases are rarely many; past this the map is cleared (refusing fills is always safe).
  static constexpr size_t kLeasesMax = 64 * 1024;
  // Redis's active-expiry cycle: sample this many, go on while more than 1/4 were expired.
  static constexpr size_t kExpireSample = 20;

  // `capacity_bytes` 0 means unbounded (then `policy` may be null and nothing is evicted).
  Shard(uint32_t index, uint32_t index_bits, uint64_t capacity_bytes,
        std::unique_ptr<EvictionPolicy> policy, class RemovalObserver* observer = nullptr);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void lock() { lock_.lock(); }
  void unlock() { lock_.unlock(); }

  // A lookup of `hash` to come (a pipeline's next command): stage 0 prefetches its bucket,
  // stage 1 the chain's first slot, stage 2 that slot's entry; each stage reads what the one
  // before fetched. A hint: contents, counters and the policy's state stay as they are. Under
  // the shard's lock.
  void prefetch_lookup(uint64_t hash, int stage) const;

  bool get(std::string_view key, uint64_t hash, int64_t now_ms, bool count_hit, EntryView* out);
  uint64_t set(std::string_view key, uint64_t hash, std::string_view value, int64_t expire_at_ms);
  bool set_expire(std::string_view key, uint64_t hash, int64_t expire_at_ms, int64_t now_ms);
  bool erase(std::string_view key, uint64_t hash, int64_t now_ms);

  uint64_t begin_fill(std::string_view key);
  // Consumes the lease when `token` matches it; false (and nothing changes) otherwise.
  bool take_lease(std::string_view key, uint64_t token);
  void drop_lease(std::string_view key);

  void clear();
  // Removes expired TTL entries by random sampling; `checks` is decremented per entry looked at.
  size_t expire_sample(int64_t now_ms, size_t* checks);
  // One step of a reverse-binary cursor over the buckets; returns the next one (0: wrapped).
  uint32_t scan(uint32_t cursor, size_t count, int64_t now_ms, std::vector<std::string>* out,
                size_t* added);
  void add_stats(StoreStats* s) const;
  const EvictionPolicy* policy() const { return policy_.get(); }  // null when unbounded
  uint64_t fixed_bytes(bool with_ttl) const { return fixed_bytes_ + (with_ttl ? kTtlSetBytes : 0); }
  // Walks everything and recomputes counts and bytes; for tests.
  bool check_invariants() const;

 private:
  enum class Removal { kErase, kExpire, kEvict };
  struct LeaseHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return hash_key(k); }
  };
  using LeaseMap = std::unordered_map<std::string, uint64_t, LeaseHash, std::equal_to<>>;

  static constexpr size_t kInitialBuckets = 16;
  static constexpr size_t kBucketsMax = size_t{1} << 31;
  static constexpr size_t kSlotsMax = kNoSlot;  // SlotIds are 32-bit; kNoSlot is reserved

  static constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;
  static bool addressable(const Entry* e) {
    return (reinterpret_cast<uintptr_t>(e) & ~kAddressMask) == 0;
  }
  // Reads 8 bytes of the 10-byte record (the address and the low half of `next`) in one load.
  uint64_t address_at(SlotId s) const {
    uint64_t v;
    std::memcpy(&v, slots_[s].w, sizeof v);
    return v & kAddressMask;
  }
  Entry* entry_at(SlotId s) const { return reinterpret_cast<Entry*>(address_at(s)); }
  void set_entry(SlotId s, const Entry* e) {
    const uint64_t v = reinterpret_cast<uintptr_t>(e);
    std::memcpy(slots_[s].w, &v, 6);
  }
  SlotId next_of(SlotId s) const {
    SlotId n;
    std::memcpy(&n, &slots_[s].w[3], sizeof n);
    return n;
  }
  void set_next(SlotId s, SlotId n) { std::memcpy(&slots_[s].w[3], &n, sizeof n); }
  bool live(SlotId s) const { return s < slots_.size() && address_at(s) != 0; }
  uint64_t slot_size(SlotId s) const override { return charge(entry_at(s)); }
  uint64_t slot_hash(SlotId s) const override { return hash_key(entry_at(s)->key()); }
  void prefetch_slot(SlotId s) const override { prefetch(&slots_[s]); }
  // Registers the shard as the policy's SlotInfo; returns the policy's per-entry metadata.
  static uint64_t attach_policy(EvictionPolicy* policy, const SlotInfo* info) {
    if (policy == nullptr) return 0;
    policy->set_slot_info(info);
    return policy->metadata_bytes_per_entry();
  }
  uint64_t charge(const Entry* e) const {
    return e->allocation_bytes() + fixed_bytes(e->has_ttl());
  }
  uint32_t bucket_of(uint64_t hash) const {
    return static_cast<uint32_t>(hash & (buckets_.size() - 1));
  }
  SlotId lookup(std::string_view key, uint64_t hash) const;
  uint64_t next_version() { return (++version_counter_ << index_bits_) | index_; }
  SlotId alloc_slot();
  void free_slot(SlotId s);
  void unlink(SlotId s, uint64_t hash);
  void remove(SlotId s, uint64_t hash, Removal why);
  void replace(SlotId s, Entry* fresh);
  bool overwrite_in_place(SlotId s, std::string_view value, int64_t expire_at_ms);
  void ttl_add(SlotId s, Entry* e);
  void ttl_remove(Entry* e);
  void maybe_grow();
  void evict_over_budget();
  uint64_t next_random();

  SpinLock lock_;
  const uint32_t index_;
  const uint32_t index_bits_;
  const uint64_t capacity_;
  std::unique_ptr<EvictionPolicy> policy_;
  const uint64_t fixed_bytes_;
  std::vector<SlotId> buckets_;
  std::vector<SlotRec> slots_;  // a free slot: address 0, `next` is the next free SlotId
  SlotId free_head_ = kNoSlot;
  std::vector<SlotId> ttl_slots_;
  LeaseMap leases_;
  uint64_t version_counter_ = 0;
  uint64_t lease_counter_ = 0;
  uint64_t rng_;
  uint64_t count_ = 0;
  uint64_t used_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  class RemovalObserver* observer_ = nullptr;
  uint64_t evictions_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace strata::cache
