#include "cache/s3fifo_policy.h"

#include <algorithm>

namespace strata::cache {

S3FifoPolicy::S3FifoPolicy(const PolicyParams& params)
    : small_budget_(static_cast<uint64_t>(params.capacity * kSmallRatio)),
      main_budget_(params.capacity - small_budget_),
      ghost_(static_cast<uint64_t>(params.capacity * kGhostRatio)) {}

void S3FifoPolicy::grow(SlotId id) {
  ensure_slot(state_, id);
  ensure_slot(links_, id);
  ensure_slot(cold_, id);
}

void S3FifoPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  if (id >= state_.size()) grow(id);
  State& st = state_[id];
  STRATA_POLICY_CHECK(st.queue == Queue::kNone);
  cold_[id] = Cold{size, key_hash};
  st.freq = 0;
  if (ghost_.remove(key_hash) || (!has_evicted_ && small_bytes_ >= small_budget_)) {
    st.queue = Queue::kMain;
    main_.push_front(links_, id);
    main_bytes_ += size;
  } else if (size >= small_budget_) {
    // Too big for the small queue (libCacheSim refuses these): enter at small's tail, so it is
    // the next small victim -- and lands in the ghost -- unless it is hit meanwhile.
    st.queue = Queue::kSmall;
    small_.push_back(links_, id);
    small_bytes_ += size;
  } else {
    st.queue = Queue::kSmall;
    small_.push_front(links_, id);
    small_bytes_ += size;
  }
}

void S3FifoPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < state_.size() && state_[id].queue != Queue::kNone);
  add_bytes(state_[id].queue, static_cast<int64_t>(new_size) - static_cast<int64_t>(old_size));
  cold_[id].size = new_size;
}

void S3FifoPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < state_.size() && state_[id].queue != Queue::kNone);
  State& st = state_[id];
  if (st.queue == Queue::kSmall) {
    small_.remove(links_, id);
    small_bytes_ -= cold_[id].size;
  } else {
    main_.remove(links_, id);
    main_bytes_ -= cold_[id].size;
  }
  st.queue = Queue::kNone;
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

// Eviction walks a queue from its tail over slots scattered through the arrays: start loading
// the next tail's state one step ahead. (Only its own lines: reading its links to reach the one
// after would turn the store removal makes there into a stalling load.)
void S3FifoPolicy::prefetch_tail(const SlotList& queue) const {
  const SlotId t = queue.tail();
  if (t == kNil) return;
  prefetch(&state_[t]);
  prefetch(&cold_[t]);
  prefetch(&links_[t]);
}

// Promotes hit objects to main until one unhit object is found; it goes to the ghost.
SlotId S3FifoPolicy::evict_small() {
  while (!small_.empty()) {
    SlotId id = small_.tail();
    State& st = state_[id];
    const Cold& c = cold_[id];
    small_.remove(links_, id);
    prefetch_tail(small_);
    small_bytes_ -= c.size;
    if (st.freq >= kMoveToMainThreshold) {
      st.freq = 0;
      st.queue = Queue::kMain;
      main_.push_front(links_, id);
      main_bytes_ += c.size;
    } else {
      ghost_.push_absent(c.hash, c.size);  // removed from the ghost when inserted
      st.queue = Queue::kNone;
      return id;
    }
  }
  return kNoSlot;
}

// A 2-bit CLOCK over the main FIFO: accessed objects go back to the head with freq - 1.
SlotId S3FifoPolicy::evict_main() {
  while (!main_.empty()) {
    SlotId id = main_.tail();
    State& st = state_[id];
    if (st.freq >= 1) {
      st.freq = static_cast<uint8_t>(std::min<uint8_t>(st.freq, kFreqMax) - 1);
      main_.move_to_front(links_, id);
      prefetch_tail(main_);
    } else {
      main_.remove(links_, id);
      prefetch_tail(main_);
      main_bytes_ -= cold_[id].size;
      st.queue = Queue::kNone;
      return id;
    }
  }
  return kNoSlot;
}

size_t S3FifoPolicy::metadata_bytes_per_entry() const {
  // The node, plus a ghost entry (ring + half-full index) for roughly every resident one.
  // The slot's arrays, plus a ghost entry (ring + index slots) for roughly every resident one.
  return sizeof(State) + sizeof(Links) + sizeof(Cold) + sizeof(uint64_t) * 2 + sizeof(uint64_t) * 2;
}

}  // namespace strata::cache
