// One interface for every eviction policy. The same objects run inside the proxy's L1 store and
// inside strata-bench's simulator, so what the hit-rate lab predicts is what the proxy does.
//
// Contract (the owner of the entries -- Store or the simulator -- drives it):
//   - A new key: on_insert(id, key_hash, size); then, while the owner's used size exceeds its
//     capacity, it calls evict() and removes the returned slot (which may be the one just
//     inserted, e.g. when W-TinyLFU rejects a candidate or an object is bigger than the cache).
//   - A hit: on_hit(id). A value changing size in place: on_resize(id, old, new).
//   - A key removed for any reason other than evict() (DEL, expiry, overwrite-as-delete):
//     on_erase(id). The policy forgets the id; ghost entries keyed by hash may stay.
// SlotIds are small dense integers chosen by the owner and reused after removal.
// Sizes are in the owner's unit: bytes, or 1 per object when capacity counts objects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace strata::cache {

using SlotId = uint32_t;
inline constexpr SlotId kNoSlot = UINT32_MAX;

// What an owner can tell a policy about one of its resident slots, so a policy need not keep its
// own copy: the size last passed for it (on_insert / on_resize) and the key hash given to
// on_insert. Called only from inside the policy's own calls, for slots the owner still holds
// (during on_erase and evict() the entry is still there).
class SlotInfo {
 public:
  virtual uint64_t slot_size(SlotId id) const = 0;
  virtual uint64_t slot_hash(SlotId id) const = 0;
  // A hint: the policy will soon ask about this slot (start loading what answering reads).
  virtual void prefetch_slot(SlotId id) const { (void)id; }

 protected:
  ~SlotInfo() = default;
};

struct PolicyParams {
  uint64_t capacity = 0;  // in the same unit as the sizes passed to on_insert
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  virtual void on_insert(SlotId id, uint64_t key_hash, uint64_t size) = 0;
  virtual void on_hit(SlotId id) = 0;
  virtual void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) = 0;
  virtual void on_erase(SlotId id) = 0;
  // Picks a victim among the resident ids and forgets it; kNoSlot when nothing is resident.
  virtual SlotId evict() = 0;
  // Bytes of policy metadata per resident entry (for honest memory accounting), including its
  // share of structures that scale with the entries (ghosts), at their steady-state size.
  virtual size_t metadata_bytes_per_entry() const = 0;
  // An owner that answers SlotInfo calls may register itself before the first on_insert (and
  // must outlive the policy's use); a policy that uses it drops its own copies of sizes and
  // hashes, and metadata_bytes_per_entry() shrinks accordingly. Ignored by most policies.
  virtual void set_slot_info(const SlotInfo* info) { (void)info; }

  // Hints for an owner that knows its next requests (the simulator); they never change a
  // decision. A key with this hash may be inserted soon: start loading what on_insert reads.
  virtual void prefetch_insert(uint64_t key_hash) const { (void)key_hash; }
  // The slot evict() would most likely return next, or kNoSlot: lets the owner prefetch its own
  // per-slot data for it.
  virtual SlotId victim_hint() const { return kNoSlot; }
};

// Known names: "s3fifo", "lru", and the others registered in policy_factory.cc.
// Returns nullptr for an unknown name.
std::unique_ptr<EvictionPolicy> make_policy(std::string_view name, const PolicyParams& params);
std::span<const std::string_view> policy_names();

}  // namespace strata::cache
