// The keys one tracking client has in the TrackingTable (it read them and no change of them was
// told to it since), so that its next read of one skips the table and its lock: a KeyTable
// (open addressing, short keys in the slot), bounded. Exact: a key is present only if it was
// inserted. (An L1-hit GET of a client with a TrackingTable bit does not get here: TrackingSeen,
// per worker, answers first, else the table, whose slot for the key holds the client's bit.)
// One thread (the client's worker); no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/resp/key_table.h"

namespace strata::proxy {

class TrackedKeys {
 public:
  // Past max_keys, insert refuses new keys (the client's reads then go to the table each time).
  explicit TrackedKeys(size_t max_keys) : max_keys_(max_keys) {}

  enum class Insert : uint8_t { kPresent, kAdded, kFull };
  // `hash` is cache::hash_key(key) (the caller may have it already).
  Insert insert(std::string_view key, uint64_t hash) {
    if (keys_.size() >= max_keys_) {
      if (keys_.contains(key, hash)) return Insert::kPresent;
      overflowed_ = true;
      return Insert::kFull;
    }
    bool added = false;
    keys_.emplace(key, hash, &added);  // one probe: found, or placed where it looked
    return added ? Insert::kAdded : Insert::kPresent;
  }
  bool contains(std::string_view key, uint64_t hash) const { return keys_.contains(key, hash); }
  void erase(std::string_view key, uint64_t hash) { keys_.erase(key, hash); }
  // Forgets every key and gives the memory back.
  void clear() {
    keys_.clear();
    overflowed_ = false;
  }

  size_t size() const { return keys_.size(); }
  // Some key was refused (kFull) since the last clear: the set does not list all of the
  // client's keys in the table.
  bool overflowed() const { return overflowed_; }
  size_t max_keys() const { return max_keys_; }

  // Calls f(key) for every key, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    keys_.for_each([&](std::string_view key, NoValue) { f(key); });
  }

 private:
  KeyTable<NoValue> keys_;
  size_t max_keys_;
  bool overflowed_ = false;
};

}  // namespace strata::proxy
