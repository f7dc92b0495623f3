// CLOCK with a 1-bit reference, as libCacheSim's Clock: new objects enter at the head unmarked;
// a hit sets the bit; the hand sweeps from the tail, clearing set bits (moving those objects to
// the head is the same as the hand passing them) until it finds an unmarked victim. Size-aware
// as is: the owner evicts until its bytes fit.
//
// libCacheSim evicts before inserting; the owner inserts first. So the newest object waits
// outside the ring (pending_) until the next insert: a sweep that clears every bit takes the
// oldest object, not the newcomer, which is a victim only when nothing else is resident.
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/slot_list.h"

namespace strata::cache {

class ClockPolicy final : public EvictionPolicy {
 public:
  explicit ClockPolicy(const PolicyParams& params) { (void)params; }

  std::string_view name() const override { return "clock"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override { return sizeof(Node); }

 private:
  struct Node {
    uint32_t prev = kNil;
    uint32_t next = kNil;
    bool referenced = false;
    bool resident = false;
  };

  void link_pending();

  std::vector<Node> nodes_;
  SlotList ring_;
  uint32_t pending_ = kNil;  // resident, inserted last, not yet in ring_
};

}  // namespace strata::cache
