#include "cache/lru_policy.h"

namespace strata::cache {

void LruPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  (void)key_hash;
  (void)size;
  ensure_slot(nodes_, id);
  STRATA_POLICY_CHECK(!nodes_[id].resident);
  nodes_[id].resident = true;
  lru_.push_front(nodes_, id);
}

void LruPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  lru_.move_to_front(nodes_, id);
}

void LruPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  (void)old_size;
  (void)new_size;
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
}

void LruPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  nodes_[id].resident = false;
  lru_.remove(nodes_, id);
}

SlotId LruPolicy::evict() {
  if (lru_.empty()) return kNoSlot;
  SlotId id = lru_.tail();
  nodes_[id].resident = false;
  lru_.remove(nodes_, id);
  return id;
}

}  // namespace strata::cache
