// LIRS (Jiang & Zhang, SIGMETRICS'02) with libCacheSim's parameters: resident HIR blocks get 1%
// of capacity (queue Q), LIR blocks the rest; stack S orders blocks by recency and is pruned so
// its bottom is always LIR. A resident HIR block evicted while still in S stays there as a
// non-resident entry (found again by key hash); if its key returns before it leaves S, its
// reuse distance is short and it comes back as LIR. Non-resident entries are dropped oldest
// first once S holds more than 2x capacity (libCacheSim's bound).
//
// Size-aware: the LIR and HIR budgets, and S's bound, are in the owner's unit; promoting a block
// to LIR demotes bottom LIR blocks until it fits. Entries live in their own pool, since a
// non-resident entry has no slot.
#pragma once

#include <vector>

#include "cache/eviction_policy.h"
#include "cache/hash_index.h"
#include "cache/slot_list.h"

namespace strata::cache {

class LirsPolicy final : public EvictionPolicy {
 public:
  static constexpr double kHirRatio = 0.01;
  static constexpr uint64_t kStackBoundRatio = 2;  // S holds at most this times capacity

  explicit LirsPolicy(const PolicyParams& params);

  std::string_view name() const override { return "lirs"; }
  void on_insert(SlotId id, uint64_t key_hash, uint64_t size) override;
  void on_hit(SlotId id) override;
  void on_resize(SlotId id, uint64_t old_size, uint64_t new_size) override;
  void on_erase(SlotId id) override;
  SlotId evict() override;
  size_t metadata_bytes_per_entry() const override;

  size_t non_resident_count() const { return nonresident_.size(); }  // for tests

 private:
  struct Links {
    uint32_t prev = kNil;
    uint32_t next = kNil;
  };
  struct Entry {
    uint64_t hash = 0;
    uint64_t size = 0;
    SlotId slot = kNoSlot;  // kNoSlot: non-resident
    bool lir = false;
    bool in_s = false;
    bool in_q = false;  // resident HIR in Q, or (non-resident) in the NH list
  };

  uint32_t alloc_entry();
  void free_entry(uint32_t e);
  void push_s_top(uint32_t e);
  void remove_from_s(uint32_t e);
  void push_q_end(uint32_t e);
  void remove_from_q(uint32_t e);
  void make_lir(uint32_t e);
  void demote_bottom_lir();
  void prune();
  void bound_stack();

  uint64_t capacity_;
  uint64_t hir_budget_;
  uint64_t lir_budget_;
  uint64_t lir_bytes_ = 0;
  uint64_t hir_bytes_ = 0;
  uint64_t s_bytes_ = 0;  // sizes of everything in S, resident or not
  std::vector<Entry> entries_;
  std::vector<Links> s_links_;
  std::vector<Links> q_links_;  // Q for resident HIR entries, NH for non-resident ones
  std::vector<uint32_t> free_entries_;
  std::vector<uint32_t> entry_of_slot_;
  SlotList s_;   // head = top (most recent)
  SlotList q_;   // head = end (most recent); tail = front, the next victim
  SlotList nh_;  // non-resident entries in S, head = newest
  HashIndex nonresident_;
};

}  // namespace strata::cache
