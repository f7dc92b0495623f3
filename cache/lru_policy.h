// LRU: one recency list; a hit moves the object to the head, eviction takes the tail. Sizes do
// not change the order, so it is size-aware as is (the owner evicts until its bytes fit).
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/slot_list.h"

namespace strata::cache {

class LruPolicy final : public EvictionPolicy {
 public:
  explicit LruPolicy(const PolicyParams& params) { (void)params; }

  std::string_view name() const override { return "lru"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override { return sizeof(Node); }

 private:
  // 8 bytes: residency is a sentinel in `prev` rather than a flag that would pad the node to 12.
  // Owners' SlotIds stay below kNoSlot - 1 (a shard holds fewer entries), so none equals it.
  static constexpr uint32_t kDetached = kNoSlot - 1;
  struct Node {
    uint32_t prev = kDetached;
    uint32_t next = kNil;
  };
  bool resident(SlotId id) const { return id < nodes_.size() && nodes_[id].prev != kDetached; }

  std::vector<Node> nodes_;
  SlotList lru_;
};

}  // namespace strata::cache
