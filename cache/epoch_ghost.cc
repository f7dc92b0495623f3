#include "cache/epoch_ghost.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace strata::cache {

EpochGhost::EpochGhost(uint64_t budget)
    : budget_(budget), epoch_target_(std::max<uint64_t>(1, budget / kEpochsPerBudget)) {
  stats_.resize(256);  // grows (by doubling) only while removals keep many thin epochs alive
}

size_t EpochGhost::find(uint32_t fp) const {
  if (slots_.empty()) return kNotFound;
  for (size_t i = home(fp);; i = next(i)) {
    const uint32_t f = fp_of(slots_[i]);
    if (f == 0) return kNotFound;
    if (f == fp && epoch_of(slots_[i].w[2]) != kNoEpoch) return i;
  }
}

// Takes the first empty or dead slot on the probe path: a dead slot is still a member of its
// cluster, so overwriting it keeps every other entry's probe path intact.
void EpochGhost::insert(uint32_t fp) {
  size_t i = home(fp);
  for (;;) {
    const uint32_t f = fp_of(slots_[i]);
    if (f == 0) {
      ++occupied_;
      break;
    }
    if (epoch_of(slots_[i].w[2]) == kNoEpoch) break;
    i = next(i);
  }
  slots_[i] = make_slot(fp, epoch_);
}

// Backward-shift deletion keeps linear probing free of tombstones.
void EpochGhost::erase_slot(size_t i) {
  for (size_t j = next(i);; j = next(j)) {
    const uint32_t f = fp_of(slots_[j]);
    if (f == 0) break;
    const size_t h = home(f);
    // Move j back into the hole at i unless its home lies cyclically in (i, j].
    const bool home_between = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
    if (!home_between) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --occupied_;
}

void EpochGhost::sweep(size_t steps) {
  for (size_t k = 0; k < steps && !slots_.empty(); ++k) {
    if (sweep_cursor_ >= slots_.size()) sweep_cursor_ = 0;
    const Slot& s = slots_[sweep_cursor_];
    if (fp_of(s) != 0 && epoch_of(s.w[2]) == kNoEpoch) {
      erase_slot(sweep_cursor_);  // another entry may shift into it: look at it next time
    } else {
      ++sweep_cursor_;
    }
  }
}

// Re-inserts the live entries into a table of `slots` (dead ones are dropped).
void EpochGhost::rebuild(size_t slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max(slots, kMinSlots), Slot{});
  occupied_ = 0;
  sweep_cursor_ = 0;
  for (const Slot& s : old) {
    const uint32_t f = fp_of(s);
    if (f == 0 || epoch_of(s.w[2]) == kNoEpoch) continue;
    size_t i = home(f);
    while (fp_of(slots_[i]) != 0) i = next(i);
    slots_[i] = s;
    ++occupied_;
  }
}

void EpochGhost::retire_oldest() {
  EpochStat& st = stat(oldest_);
  bytes_ -= st.bytes;
  live_ -= st.count;
  st = EpochStat{};
  ++oldest_;
}

void EpochGhost::open_epoch() {
  if (epoch_ - oldest_ + 1 >= kLiveEpochsMax) retire_oldest();
  if (epoch_ - oldest_ + 1 >= stats_.size()) {  // keep every live epoch's stats apart
    std::vector<EpochStat> grown(stats_.size() * 2);
    for (uint64_t e = oldest_; e <= epoch_; ++e) grown[e & (grown.size() - 1)] = stat(e);
    stats_ = std::move(grown);
  }
  ++epoch_;
  stat(epoch_) = EpochStat{};
  sweep(slots_.size() / kSweepDivisor + 1);
}

// The table is at its load limit: purge dead slots in place when the live entries still need
// about this size (no second table, so no transient doubling of memory), else resize. Growth
// aims at the size the full budget will need (at the mean entry size so far), at most doubling
// per step by kGrowMax (a guard against a mean size that changes later), so a filling ghost is
// rebuilt a few times rather than at every 1.28x (each freed table is memory the allocator may
// keep).
void EpochGhost::make_room() {
  const auto want = static_cast<size_t>(std::ceil(static_cast<double>(live_ + 1) * kSlotsPerEntry));
  const size_t have = slots_.size();
  if (want <= have && want * 2 > have) {
    purge();
    if (static_cast<double>(occupied_ + 1) <= kMaxLoad * static_cast<double>(have)) return;
  }
  size_t target = want;
  if (want > have && bytes_ > 0) {
    const double full = static_cast<double>(budget_) * static_cast<double>(live_) /
                        static_cast<double>(bytes_) * kSlotsPerEntry;
    target =
        std::max(want, std::min(kGrowMax * std::max(have, kMinSlots), static_cast<size_t>(full)));
  }
  rebuild(target);
}

void EpochGhost::purge() {
  sweep_cursor_ = 0;
  while (sweep_cursor_ < slots_.size()) sweep(1);
  sweep_cursor_ = 0;
}

void EpochGhost::push_absent(uint64_t hash, uint64_t size) {
  if (size > budget_) return;  // could never be kept; also covers a zero budget
  if (static_cast<double>(occupied_ + 1) > kMaxLoad * static_cast<double>(slots_.size())) {
    make_room();
  }
  insert(fingerprint(hash));
  EpochStat& st = stat(epoch_);
  st.bytes += size;
  ++st.count;
  bytes_ += size;
  ++live_;
  if (st.bytes >= epoch_target_) open_epoch();
  while (bytes_ > budget_ && oldest_ < epoch_) retire_oldest();
}

bool EpochGhost::remove(uint64_t hash, uint64_t size) {
  const size_t i = find(fingerprint(hash));
  if (i == kNotFound) return false;
  EpochStat& st = stat(epoch_of(slots_[i].w[2]));
  const uint64_t give_back = std::min(size, st.bytes);
  st.bytes -= give_back;
  bytes_ -= give_back;
  --st.count;
  --live_;
  // A tombstone instead of a backward shift (which walks the rest of the cluster): the tag of
  // an epoch already retired makes the slot dead, to be reused by an insert or swept.
  slots_[i].w[2] = static_cast<uint16_t>(oldest_ - 1);
  return true;
}

bool EpochGhost::contains(uint64_t hash) const { return find(fingerprint(hash)) != kNotFound; }

}  // namespace strata::cache
