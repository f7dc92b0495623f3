// KeyTable<V>: a hash map from keys to V for CLIENT TRACKING's per-read bookkeeping (a client's
// TrackedKeys, the TrackingTable's readers of each key), where a lookup must cost one cache
// line, not the bucket, node and key allocation of a node-based map. Open addressing (linear
// probing, at most half full, backward-shift erase: no tombstones); a slot holds the key's hash,
// the key itself up to 16 bytes (a longer key lives in an allocation of its own, compared only
// when the hashes match) and V. The caller passes cache::hash_key(key), which it usually has.
// Exact: a key is found only if it was inserted, never because another key hashes alike.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace strata::proxy {

struct NoValue {};

template <typename V>
class KeyTable {
 public:
  static constexpr size_t kInlineBytes = 16;  // keys up to this long live in the slot
  static constexpr size_t kCapacityMin = 16;

  KeyTable() = default;
  ~KeyTable() { destroy(); }
  KeyTable(KeyTable&& o) noexcept
      : slots_(std::move(o.slots_)),
        capacity_(std::exchange(o.capacity_, 0)),
        size_(std::exchange(o.size_, 0)),
        cursor_(std::exchange(o.cursor_, 0)) {}
  KeyTable& operator=(KeyTable&& o) noexcept {
    if (this != &o) {
      destroy();
      slots_ = std::move(o.slots_);
      capacity_ = std::exchange(o.capacity_, 0);
      size_ = std::exchange(o.size_, 0);
      cursor_ = std::exchange(o.cursor_, 0);
    }
    return *this;
  }
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }  // slots (0 before the first insert)

  V* find(std::string_view key, uint64_t hash) {
    if (capacity_ == 0) return nullptr;
    Slot& s = slots_[probe(key, hash)];
    return s.used ? &s.value : nullptr;
  }
  bool contains(std::string_view key, uint64_t hash) const {
    return capacity_ != 0 && slots_[probe(key, hash)].used;
  }

  // The value of `key`, value-initialized if the key is new (*added says which).
  V& emplace(std::string_view key, uint64_t hash, bool* added) {
    size_t i = 0;
    if (capacity_ != 0) {
      i = probe(key, hash);
      if (slots_[i].used) {
        *added = false;
        return slots_[i].value;
      }
    }
    if ((size_ + 1) * 2 > capacity_) {
      grow();
      i = probe(key, hash);
    }
    Slot& s = slots_[i];
    s.hash = hash;
    s.size = static_cast<uint32_t>(key.size());
    s.used = 1;
    if (key.size() <= kInlineBytes) {
      std::memcpy(s.bytes, key.data(), key.size());
    } else {
      s.heap = new char[key.size()];
      std::memcpy(s.heap, key.data(), key.size());
    }
    s.value = V();
    ++size_;
    *added = true;
    return s.value;
  }

  // False if the key was absent.
  bool erase(std::string_view key, uint64_t hash) {
    if (capacity_ == 0) return false;
    const size_t i = probe(key, hash);
    if (!slots_[i].used) return false;
    remove_at(i);
    return true;
  }

  // Takes out some entry (the next from a rotating cursor): false when empty.
  bool take_any(std::string* key, V* value) {
    if (size_ == 0) return false;
    const size_t mask = capacity_ - 1;
    while (!slots_[cursor_ & mask].used) ++cursor_;
    const size_t i = cursor_ & mask;
    key->assign(key_of(slots_[i]));
    *value = std::move(slots_[i].value);
    remove_at(i);
    return true;
  }

  // Forgets every key and gives the memory back.
  void clear() { destroy(); }

  // f(key, value) for every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].used) f(key_of(slots_[i]), slots_[i].value);
    }
  }

  // f(key, &value) for every entry, which may change the value; the entry goes when f returns
  // true. f may see an entry twice (an erase moves keys back, past the table's end too), so it
  // must give the same answer the second time.
  template <typename F>
  void erase_if(F&& f) {
    for (size_t i = 0; i < capacity_;) {
      Slot& s = slots_[i];
      if (s.used && f(key_of(s), &s.value)) {
        remove_at(i);  // a later key may have moved into slot i: looked at again
        continue;
      }
      ++i;
    }
  }

 private:
  // 32 bytes with no value; with one, 64-byte aligned so that a slot never spans two lines.
  static constexpr size_t kSlotAlign = std::is_empty_v<V> ? 32 : 64;
  struct alignas(kSlotAlign) Slot {
    uint64_t hash = 0;
    uint32_t size = 0;
    uint32_t used = 0;
    union {
      char bytes[kInlineBytes];
      char* heap;  // size > kInlineBytes: owned
    };
    [[no_unique_address]] V value{};
  };

  static std::string_view key_of(const Slot& s) {
    return {s.size <= kInlineBytes ? s.bytes : s.heap, s.size};
  }
  // The slot holding `key`, or the empty slot where it would go.
  size_t probe(std::string_view key, uint64_t hash) const {
    const size_t mask = capacity_ - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used || (s.hash == hash && s.size == key.size() && key_of(s) == key)) return i;
    }
  }
  // Moves slot `from` into the empty slot `to` (the key's allocation goes with it).
  void move_slot(size_t to, size_t from) {
    Slot& f = slots_[from];
    take(&slots_[to], &f);
    f.used = 0;
    f.value = V();
  }
  // Fills the empty slot *t with *f's key (its allocation too) and value.
  static void take(Slot* t, Slot* f) {
    t->hash = f->hash;
    t->size = f->size;
    t->used = 1;
    std::memcpy(t->bytes, f->bytes, kInlineBytes);
    t->value = std::move(f->value);
  }
  void remove_at(size_t i) {
    Slot& s = slots_[i];
    if (s.size > kInlineBytes) delete[] s.heap;
    s.used = 0;
    s.value = V();
    --size_;
    // Backward-shift deletion: the keys after the hole that probed past it move up, so that no
    // probe run is broken.
    const size_t mask = capacity_ - 1;
    for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
      const size_t home = slots_[j].hash & mask;
      // j stays unless its home lies cyclically outside (i, j].
      if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) continue;
      move_slot(i, j);
      i = j;
    }
  }
  void grow() {
    const size_t old_capacity = capacity_;
    std::unique_ptr<Slot[]> old = std::move(slots_);
    capacity_ = old_capacity == 0 ? kCapacityMin : old_capacity * 2;
    slots_ = std::make_unique<Slot[]>(capacity_);
    const size_t mask = capacity_ - 1;
    for (size_t i = 0; i < old_capacity; ++i) {
      Slot& o = old[i];
      if (!o.used) continue;
      size_t j = o.hash & mask;
      while (slots_[j].used) j = (j + 1) & mask;
      take(&slots_[j], &o);
    }
  }
  void destroy() {
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].used && slots_[i].size > kInlineBytes) delete[] slots_[i].heap;
    }
    slots_.reset();
    capacity_ = 0;
    size_ = 0;
  }

  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;  // a power of two, or 0 before the first insert
  size_t size_ = 0;
  size_t cursor_ = 0;  // take_any's
};

}  // namespace strata::proxy
