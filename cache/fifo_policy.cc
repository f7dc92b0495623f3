#include "cache/fifo_policy.h"

namespace strata::cache {

void FifoPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  (void)key_hash;
  (void)size;
  ensure_slot(nodes_, id);
  STRATA_POLICY_CHECK(!nodes_[id].resident);
  nodes_[id].resident = true;
  queue_.push_front(nodes_, id);
}

void FifoPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  (void)id;  // FIFO ignores hits
}

void FifoPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  (void)old_size;
  (void)new_size;
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
}

void FifoPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].resident);
  nodes_[id].resident = false;
  queue_.remove(nodes_, id);
}

SlotId FifoPolicy::evict() {
  if (queue_.empty()) return kNoSlot;
  SlotId id = queue_.tail();
  nodes_[id].resident = false;
  queue_.remove(nodes_, id);
  return id;
}

}  // namespace strata::cache
