// One cache entry is one allocation: [header | key bytes | value bytes].
//
//   offset  0  u64 version
//   offset  8  u32 key length, top bit set when the entry has a TTL
//   offset 12  u32 value length
//   offset 16  u32 next SlotId in the bucket chain (the index stores only 4-byte heads)
//   TTL only:
//   offset 20  u32 position in the shard's TTL set (O(1) removal)
//   offset 24  i64 expire_at_ms
//
// Key bytes start at 20, or at 32 with a TTL: entries without a TTL do not pay for its 12 bytes.
// Adding or removing a TTL therefore reallocates the entry (a copy of key and value). Fields are
// read with memcpy so no object of a larger type is ever assumed to live in the allocation.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cache/alloc_size.h"
#include "cache/eviction_policy.h"

namespace strata::cache {

class Entry {
 public:
  static constexpr size_t kPlainHeaderBytes = 20;
  static constexpr size_t kTtlHeaderBytes = 32;
  static constexpr uint32_t kTtlBit = 1u << 31;
  static constexpr uint64_t kKeyBytesLimit = kTtlBit - 1;
  static constexpr uint64_t kValueBytesLimit = UINT32_MAX;

  static size_t alloc_bytes(size_t key_len, size_t value_len, bool with_ttl) {
    return (with_ttl ? kTtlHeaderBytes : kPlainHeaderBytes) + key_len + value_len;
  }

  // nullptr when the allocation fails. Lengths must be within the limits above.
  static Entry* create(std::string_view key, std::string_view value, bool with_ttl) {
    void* mem = std::malloc(alloc_bytes(key.size(), value.size(), with_ttl));
    if (mem == nullptr) return nullptr;
    auto* e = static_cast<Entry*>(mem);
    e->store<uint64_t>(kVersionOff, 0);
    e->store<uint32_t>(kKeyLenOff, static_cast<uint32_t>(key.size()) | (with_ttl ? kTtlBit : 0u));
    e->store<uint32_t>(kValueLenOff, static_cast<uint32_t>(value.size()));
    e->store<uint32_t>(kNextOff, kNoSlot);
    if (with_ttl) {
      e->store<uint32_t>(kTtlPosOff, 0);
      e->store<int64_t>(kExpireOff, 0);
    }
    if (!key.empty()) std::memcpy(e->bytes() + e->data_off(), key.data(), key.size());
    if (!value.empty()) {
      std::memcpy(e->bytes() + e->data_off() + key.size(), value.data(), value.size());
    }
    return e;
  }

  static void destroy(Entry* e) { std::free(e); }

  // Rewrites the value in place; only when same_allocation_class() said the block fits it.
  void overwrite_value(std::string_view value) {
    store<uint32_t>(kValueLenOff, static_cast<uint32_t>(value.size()));
    if (!value.empty()) std::memcpy(bytes() + data_off() + key_len(), value.data(), value.size());
  }
  size_t request_bytes() const { return alloc_bytes(key_len(), value_len(), has_ttl()); }

  uint64_t version() const { return load<uint64_t>(kVersionOff); }
  void set_version(uint64_t v) { store<uint64_t>(kVersionOff, v); }
  bool has_ttl() const { return (load<uint32_t>(kKeyLenOff) & kTtlBit) != 0; }
  size_t key_len() const { return load<uint32_t>(kKeyLenOff) & ~kTtlBit; }
  size_t value_len() const { return load<uint32_t>(kValueLenOff); }
  SlotId next() const { return load<uint32_t>(kNextOff); }
  void set_next(SlotId s) { store<uint32_t>(kNextOff, s); }
  uint32_t ttl_pos() const { return load<uint32_t>(kTtlPosOff); }
  void set_ttl_pos(uint32_t p) { store<uint32_t>(kTtlPosOff, p); }
  int64_t expire_at_ms() const { return has_ttl() ? load<int64_t>(kExpireOff) : 0; }
  void set_expire_at_ms(int64_t t) { store<int64_t>(kExpireOff, t); }

  std::string_view key() const { return {cbytes() + data_off(), key_len()}; }
  std::string_view value() const { return {cbytes() + data_off() + key_len(), value_len()}; }
  bool key_equals(std::string_view k) const {
    return key_len() == k.size() && std::memcmp(cbytes() + data_off(), k.data(), k.size()) == 0;
  }
  // Redis semantics: an entry is still alive at exactly its expiry millisecond.
  bool expired(int64_t now_ms) const {
    const int64_t t = expire_at_ms();
    return t != 0 && now_ms > t;
  }
  // What the allocator charges for this block (see alloc_size.h).
  size_t allocation_bytes() const { return allocation_bytes_of(this, request_bytes()); }

 private:
  static constexpr size_t kVersionOff = 0;
  static constexpr size_t kKeyLenOff = 8;
  static constexpr size_t kValueLenOff = 12;
  static constexpr size_t kNextOff = 16;
  static constexpr size_t kTtlPosOff = 20;
  static constexpr size_t kExpireOff = 24;

  Entry() = delete;
  size_t data_off() const { return has_ttl() ? kTtlHeaderBytes : kPlainHeaderBytes; }
  char* bytes() { return reinterpret_cast<char*>(this); }
  const char* cbytes() const { return reinterpret_cast<const char*>(this); }
  template <class T>
  T load(size_t off) const {
    T v;
    std::memcpy(&v, cbytes() + off, sizeof v);
    return v;
  }
  template <class T>
  void store(size_t off, T v) {
    std::memcpy(bytes() + off, &v, sizeof v);
  }
};

}  // namespace strata::cache
