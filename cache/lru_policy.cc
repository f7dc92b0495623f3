#include "cache/lru_policy.h"

namespace strata::cache {

void LruPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  (void)key_hash;
  (void)size;
  ensure_slot(nodes_, id);
  STRATA_POLICY_CHECK(!resident(id));
  lru_.push_front(nodes_, id);
}

void LruPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(resident(id));
  lru_.move_to_front(nodes_, id);
}

void LruPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  (void)old_size;
  (void)new_size;
  STRATA_POLICY_CHECK(resident(id));
}

void LruPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(resident(id));
  lru_.remove(nodes_, id);
  nodes_[id].prev = kDetached;
}

SlotId LruPolicy::evict() {
  if (lru_.empty()) return kNoSlot;
  SlotId id = lru_.tail();
  lru_.remove(nodes_, id);
  nodes_[id].prev = kDetached;
  return id;
}

}  // namespace strata::cache
