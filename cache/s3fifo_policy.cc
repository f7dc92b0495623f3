#include "cache/s3fifo_policy.h"

#include <algorithm>

namespace strata::cache {

S3FifoPolicy::S3FifoPolicy(const PolicyParams& params)
    : small_budget_(static_cast<uint64_t>(params.capacity * kSmallRatio)),
      main_budget_(params.capacity - small_budget_),
      ghost_(static_cast<uint64_t>(params.capacity * kGhostRatio)) {}

void S3FifoPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  ensure_slot(nodes_, id);
  Node& n = nodes_[id];
  STRATA_POLICY_CHECK(n.queue == Queue::kNone);
  n.size = size;
  n.hash = key_hash;
  n.freq = 0;
  if (ghost_.remove(key_hash) || (!has_evicted_ && small_bytes_ >= small_budget_)) {
    n.queue = Queue::kMain;
    main_.push_front(nodes_, id);
    main_bytes_ += size;
  } else if (size >= small_budget_) {
    // Too big for the small queue (libCacheSim refuses these): enter at small's tail, so it is
    // the next small victim -- and lands in the ghost -- unless it is hit meanwhile.
    n.queue = Queue::kSmall;
    small_.push_back(nodes_, id);
    small_bytes_ += size;
  } else {
    n.queue = Queue::kSmall;
    small_.push_front(nodes_, id);
    small_bytes_ += size;
  }
}

void S3FifoPolicy::on_hit(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].queue != Queue::kNone);
  Node& n = nodes_[id];
  if (n.freq < kFreqMax) ++n.freq;
}

void S3FifoPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].queue != Queue::kNone);
  Node& n = nodes_[id];
  add_bytes(n.queue, static_cast<int64_t>(new_size) - static_cast<int64_t>(old_size));
  n.size = new_size;
}

void S3FifoPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < nodes_.size() && nodes_[id].queue != Queue::kNone);
  Node& n = nodes_[id];
  if (n.queue == Queue::kSmall) {
    small_.remove(nodes_, id);
    small_bytes_ -= n.size;
  } else {
    main_.remove(nodes_, id);
    main_bytes_ -= n.size;
  }
  n.queue = Queue::kNone;
}

SlotId S3FifoPolicy::evict() {
  has_evicted_ = true;
  if (main_bytes_ <= main_budget_ && !small_.empty()) {
    SlotId victim = evict_small();
    if (victim != kNoSlot) return victim;
    // Every small object earned promotion; main is now over budget.
  }
  return evict_main();
}

// Promotes hit objects to main until one unhit object is found; it goes to the ghost.
SlotId S3FifoPolicy::evict_small() {
  while (!small_.empty()) {
    SlotId id = small_.tail();
    Node& n = nodes_[id];
    small_.remove(nodes_, id);
    small_bytes_ -= n.size;
    if (n.freq >= kMoveToMainThreshold) {
      n.freq = 0;
      n.queue = Queue::kMain;
      main_.push_front(nodes_, id);
      main_bytes_ += n.size;
    } else {
      ghost_.push(n.hash, n.size);
      n.queue = Queue::kNone;
      return id;
    }
  }
  return kNoSlot;
}

// A 2-bit CLOCK over the main FIFO: accessed objects go back to the head with freq - 1.
SlotId S3FifoPolicy::evict_main() {
  while (!main_.empty()) {
    SlotId id = main_.tail();
    Node& n = nodes_[id];
    if (n.freq >= 1) {
      n.freq = static_cast<uint8_t>(std::min<uint8_t>(n.freq, kFreqMax) - 1);
      main_.move_to_front(nodes_, id);
    } else {
      main_.remove(nodes_, id);
      main_bytes_ -= n.size;
      n.queue = Queue::kNone;
      return id;
    }
  }
  return kNoSlot;
}

size_t S3FifoPolicy::metadata_bytes_per_entry() const {
  // The node, plus a ghost entry (ring + half-full index) for roughly every resident one.
  return sizeof(Node) + sizeof(uint64_t) * 2 + sizeof(uint64_t) * 4;
}

}  // namespace strata::cache
