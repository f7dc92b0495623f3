// SIEVE (Zhang et al., NSDI'24): a FIFO queue with a visited bit and a hand that moves from the
// tail toward the head. New objects enter at the head; a hit only sets the bit. The hand clears
// visited bits as it passes and evicts the first unvisited object, staying in place (objects are
// never moved), and wraps to the tail when it falls off the head. Size-aware as is.
//
// The owner inserts before it evicts, but SIEVE (and libCacheSim) evict before inserting: a hand
// that sweeps up to the head must wrap to the tail, not take the newcomer. So the newest object
// waits outside the queue (pending_) until the next insert, and is a victim only when nothing
// else is resident.
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/slot_list.h"

namespace strata::cache {

class SievePolicy final : public EvictionPolicy {
 public:
  explicit SievePolicy(const PolicyParams& params) { (void)params; }

  std::string_view name() const override { return "sieve"; }
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
    bool visited = false;
    bool resident = false;
  };

  void unlink(SlotId id);
  void link_pending();

  std::vector<Node> nodes_;
  SlotList queue_;
  uint32_t hand_ = kNil;     // next candidate; kNil means start from the tail
  uint32_t pending_ = kNil;  // resident, inserted last, not yet in queue_
};

}  // namespace strata::cache
