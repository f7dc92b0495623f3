// ARC (Megiddo & Modha, FAST'03), following libCacheSim's ARC.c: T1 (seen once recently) and T2
// (seen at least twice) hold resident objects, ghosts B1 and B2 hold the hashes of what each
// evicted, and the target size p of T1 adapts: a B1 hit grows it, a B2 hit shrinks it.
//
// Size-aware: |T1|, |T2|, |B1|, |B2|, c and p are in the owner's unit and a ghost hit moves p by
// max(|B_other| / |B_hit|, 1) times the object's size (exactly ARC's step for unit sizes).
// ARC decides before it inserts; the owner inserts first, so the newest object waits outside
// T1/T2 (pending_) while the owner evicts for it, and is only a victim when nothing else is.
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/ghost_queue.h"
#include "cache/slot_list.h"

namespace strata::cache {

class ArcPolicy final : public EvictionPolicy {
 public:
  explicit ArcPolicy(const PolicyParams& params);

  std::string_view name() const override { return "arc"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override;

  uint64_t target_t1() const { return p_; }  // for tests

 private:
  enum class List : uint8_t { kNone, kT1, kT2 };
  struct Node {
    uint32_t prev = kNil;
    uint32_t next = kNil;
    uint64_t size = 0;
    uint64_t hash = 0;
    List list = List::kNone;  // where it lives, or will once linked if pending
  };

  void link_pending();
  SlotId replace();
  SlotId evict_for_new();
  SlotId take(SlotId id, bool to_ghost);

  uint64_t capacity_;
  uint64_t p_ = 0;
  uint64_t t1_bytes_ = 0;
  uint64_t t2_bytes_ = 0;
  std::vector<Node> nodes_;
  SlotList t1_;
  SlotList t2_;
  GhostQueue b1_;
  GhostQueue b2_;
  uint32_t pending_ = kNil;         // inserted last; resident but not yet in t1_/t2_
  bool pending_from_b2_ = false;    // REPLACE's tie rule favours evicting T1 then
  bool ghost_replace_due_ = false;  // a ghost hit owes one plain REPLACE
};

}  // namespace strata::cache
