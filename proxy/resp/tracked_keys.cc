#include "proxy/resp/tracked_keys.h"

#include <cstring>
#include <utility>

namespace strata::proxy {

TrackedKeys::TrackedKeys(size_t max_keys) : max_keys_(max_keys) {}

TrackedKeys::~TrackedKeys() { destroy(); }

TrackedKeys::TrackedKeys(TrackedKeys&& other) noexcept
    : slots_(std::move(other.slots_)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)),
      max_keys_(other.max_keys_),
      overflowed_(std::exchange(other.overflowed_, false)) {}

TrackedKeys& TrackedKeys::operator=(TrackedKeys&& other) noexcept {
  if (this == &other) return *this;
  destroy();
  slots_ = std::move(other.slots_);
  capacity_ = std::exchange(other.capacity_, 0);
  size_ = std::exchange(other.size_, 0);
  max_keys_ = other.max_keys_;
  overflowed_ = std::exchange(other.overflowed_, false);
  return *this;
}

void TrackedKeys::release(Slot& s) {
  if (s.used && s.size > kInlineBytes) delete[] s.heap;
  s.used = 0;
}

void TrackedKeys::destroy() {
  for (size_t i = 0; i < capacity_; ++i) release(slots_[i]);
  slots_.reset();
  capacity_ = 0;
  size_ = 0;
}

void TrackedKeys::clear() {
  destroy();
  overflowed_ = false;
}

size_t TrackedKeys::probe(std::string_view key, uint64_t hash) const {
  const size_t mask = capacity_ - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.used || (s.hash == hash && s.size == key.size() && key_of(s) == key)) return i;
  }
}

bool TrackedKeys::contains(std::string_view key, uint64_t hash) const {
  return capacity_ != 0 && slots_[probe(key, hash)].used;
}

TrackedKeys::Insert TrackedKeys::insert(std::string_view key, uint64_t hash) {
  if (capacity_ != 0) {
    const size_t i = probe(key, hash);
    if (slots_[i].used) return Insert::kPresent;
  }
  if (size_ >= max_keys_) {
    overflowed_ = true;
    return Insert::kFull;
  }
  if ((size_ + 1) * 2 > capacity_) grow();  // at most half full: short probe runs
  Slot& s = slots_[probe(key, hash)];
  s.hash = hash;
  s.size = static_cast<uint32_t>(key.size());
  s.used = 1;
  if (key.size() <= kInlineBytes) {
    std::memcpy(s.bytes, key.data(), key.size());
  } else {
    s.heap = new char[key.size()];
    std::memcpy(s.heap, key.data(), key.size());
  }
  ++size_;
  return Insert::kAdded;
}

void TrackedKeys::grow() {
  const size_t old_capacity = capacity_;
  std::unique_ptr<Slot[]> old = std::move(slots_);
  capacity_ = old_capacity == 0 ? kCapacityMin : old_capacity * 2;
  slots_ = std::make_unique<Slot[]>(capacity_);
  const size_t mask = capacity_ - 1;
  for (size_t i = 0; i < old_capacity; ++i) {
    if (!old[i].used) continue;
    size_t j = old[i].hash & mask;
    while (slots_[j].used) j = (j + 1) & mask;
    slots_[j] = old[i];  // the heap pointer moves with it
  }
}

void TrackedKeys::erase(std::string_view key, uint64_t hash) {
  if (capacity_ == 0) return;
  size_t i = probe(key, hash);
  if (!slots_[i].used) return;
  release(slots_[i]);
  --size_;
  // Backward-shift deletion: the keys after the hole that probed past it move up, so that no
  // probe run is broken and no tombstone is left.
  const size_t mask = capacity_ - 1;
  for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
    const size_t home = slots_[j].hash & mask;
    // Move j into the hole at i unless j's home lies cyclically in (i, j].
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    slots_[j].used = 0;
    i = j;
  }
}

}  // namespace strata::proxy
