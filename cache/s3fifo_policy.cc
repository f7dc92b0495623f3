#include "cache/s3fifo_policy.h"

#include <algorithm>
#include <cmath>

namespace strata::cache {

S3FifoPolicy::S3FifoPolicy(const PolicyParams& params)
    : small_budget_(static_cast<uint64_t>(params.capacity * kSmallRatio)),
      main_budget_(params.capacity - small_budget_),
      ghost_(static_cast<uint64_t>(params.capacity * kGhostRatio)) {}

void S3FifoPolicy::set_slot_info(const SlotInfo* info) {
  STRATA_POLICY_CHECK(small_.empty() && main_.empty());
  info_ = info;
  if (info_ != nullptr) std::vector<Cold>().swap(cold_);
}

void S3FifoPolicy::grow(SlotId id) {
  ensure_slot(state_, id);
  ensure_slot(links_, id);
  if (info_ == nullptr) ensure_slot(cold_, id);
}

void S3FifoPolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  if (id >= state_.size()) grow(id);
  STRATA_POLICY_CHECK(queue_of(state_[id]) == kNone);
  if (info_ == nullptr) cold_[id] = Cold{size, key_hash};
  if (ghost_.remove(key_hash, size) || (!has_evicted_ && small_bytes_ >= small_budget_)) {
    state_[id] = make_state(kMain, 0);
    main_.push_front(links_, id);
    main_bytes_ += size;
  } else if (size >= small_budget_) {
    // Too big for the small queue (libCacheSim refuses these): enter at small's tail, so it is
    // the next small victim -- and lands in the ghost -- unless it is hit meanwhile.
    state_[id] = make_state(kSmall, 0);
    small_.push_back(links_, id);
    small_bytes_ += size;
  } else {
    state_[id] = make_state(kSmall, 0);
    small_.push_front(links_, id);
    small_bytes_ += size;
  }
}

void S3FifoPolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  STRATA_POLICY_CHECK(id < state_.size() && queue_of(state_[id]) != kNone);
  add_bytes(queue_of(state_[id]), static_cast<int64_t>(new_size) - static_cast<int64_t>(old_size));
  if (info_ == nullptr) cold_[id].size = new_size;
}

void S3FifoPolicy::on_erase(SlotId id) {
  STRATA_POLICY_CHECK(id < state_.size() && queue_of(state_[id]) != kNone);
  if (queue_of(state_[id]) == kSmall) {
    small_.remove(links_, id);
    small_bytes_ -= size_of(id);
  } else {
    main_.remove(links_, id);
    main_bytes_ -= size_of(id);
  }
  state_[id] = make_state(kNone, 0);
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
  prefetch(&links_[t]);
  if (info_ == nullptr) {
    prefetch(&cold_[t]);
  } else {
    info_->prefetch_slot(t);
  }
}

// Promotes hit objects to main until one unhit object is found; it goes to the ghost.
SlotId S3FifoPolicy::evict_small() {
  while (!small_.empty()) {
    const SlotId id = small_.tail();
    const uint8_t st = state_[id];
    small_.remove(links_, id);
    prefetch_tail(small_);
    const uint64_t size = size_of(id);
    small_bytes_ -= size;
    if ((st & kFreqMask) >= kMoveToMainThreshold) {
      state_[id] = make_state(kMain, 0);
      main_.push_front(links_, id);
      main_bytes_ += size;
    } else {
      ghost_.push_absent(hash_of(id), size);  // removed from the ghost when inserted
      state_[id] = make_state(kNone, 0);
      return id;
    }
  }
  return kNoSlot;
}

// A 2-bit CLOCK over the main FIFO: accessed objects go back to the head with freq - 1.
SlotId S3FifoPolicy::evict_main() {
  while (!main_.empty()) {
    const SlotId id = main_.tail();
    const uint8_t st = state_[id];
    if ((st & kFreqMask) >= 1) {
      state_[id] = static_cast<uint8_t>(st - 1);
      main_.move_to_front(links_, id);
      prefetch_tail(main_);
    } else {
      main_.remove(links_, id);
      prefetch_tail(main_);
      main_bytes_ -= size_of(id);
      state_[id] = make_state(kNone, 0);
      return id;
    }
  }
  return kNoSlot;
}

size_t S3FifoPolicy::metadata_bytes_per_entry() const {
  // The slot's arrays, plus its share of the ghost at steady state: the ghost's budget is
  // kGhostRatio of the capacity, so it holds about that many entries per resident one, in a
  // table of kSlotsPerEntry slots per entry.
  const double ghost = kGhostRatio * EpochGhost::kSlotsPerEntry * EpochGhost::kSlotBytes;
  return sizeof(uint8_t) + sizeof(Links) + (info_ == nullptr ? sizeof(Cold) : 0) +
         static_cast<size_t>(std::ceil(ghost));
}

}  // namespace strata::cache
