// The keys one tracking client has in the TrackingTable (it read them and no change of them was
// told to it since), so that its next read of one skips the table and its lock. Read on every
// read command of the client: an open-addressing set (linear probing, at most half full) of
// 32-byte slots holding the key's hash and, up to 16 bytes, the key itself, so that a repeated
// read of a short key costs one hash, one slot and one compare -- one cache line; a longer
// key's bytes live in an allocation of their own, compared only when the hashes match.
// Exact: a key is present only if it was inserted, never because another key hashes alike.
// (An L1 hit usually does not get here: TrackingSeen, per worker, answers it first.)
// One thread (the client's worker); no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace strata::proxy {

class TrackedKeys {
 public:
  // Past max_keys, insert refuses new keys (the client's reads then go to the table each time).
  explicit TrackedKeys(size_t max_keys);
  ~TrackedKeys();
  TrackedKeys(TrackedKeys&& other) noexcept;
  TrackedKeys& operator=(TrackedKeys&& other) noexcept;
  TrackedKeys(const TrackedKeys&) = delete;
  TrackedKeys& operator=(const TrackedKeys&) = delete;

  enum class Insert : uint8_t { kPresent, kAdded, kFull };
  // `hash` is cache::hash_key(key) (the caller may have it already).
  Insert insert(std::string_view key, uint64_t hash);
  bool contains(std::string_view key, uint64_t hash) const;
  void erase(std::string_view key, uint64_t hash);
  // Forgets every key and gives the memory back.
  void clear();

  size_t size() const { return size_; }
  // Some key was refused (kFull) since the last clear: the set does not list all of the
  // client's keys in the table.
  bool overflowed() const { return overflowed_; }
  size_t max_keys() const { return max_keys_; }

  // Calls f(key) for every key, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].used) f(key_of(slots_[i]));
    }
  }

  static constexpr size_t kInlineBytes = 16;  // keys up to this long live in the slot
  static constexpr size_t kCapacityMin = 16;

 private:
  struct alignas(32) Slot {
    uint64_t hash = 0;
    uint32_t size = 0;
    uint32_t used = 0;
    union {
      char bytes[kInlineBytes];
      char* heap;  // size > kInlineBytes: owned
    };
  };
  static_assert(sizeof(Slot) == 32);

  static std::string_view key_of(const Slot& s) {
    return {s.size <= kInlineBytes ? s.bytes : s.heap, s.size};
  }
  static bool matches(const Slot& s, std::string_view key, uint64_t hash) {
    return s.used && s.hash == hash && s.size == key.size() && key_of(s) == key;
  }
  static void release(Slot& s);
  // The slot holding `key`, or the empty slot where it would go.
  size_t probe(std::string_view key, uint64_t hash) const;
  void grow();
  void destroy();

  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;  // a power of two, or 0 before the first insert
  size_t size_ = 0;
  size_t max_keys_;
  bool overflowed_ = false;
};

}  // namespace strata::proxy
