// One cache entry is one allocation: [header | key bytes | value bytes].
//
//   offset  0  u64 version
//   offset  8  u8 flags: kTtlFlag (the entry has a TTL), kLongFlag (long length fields)
//   short lengths (key <= 255 bytes, value <= 65535 bytes; nearly every entry):
//   offset  9  u8 key length
//   offset 10  u16 value length                         -> 12-byte header
//   long lengths:
//   offset 12  u32 key length
//   offset 16  u32 value length                         -> 20-byte header
//   TTL only, right after the header:
//   +0  u32 position in the shard's TTL set (O(1) removal)
//   +4  i64 expire_at_ms
//
// The bucket chain's `next` lives in the shard's slot array, not here: with a 12-byte header a
// small entry (e.g. an 11-byte key and an 8-byte value) fits mimalloc's 32-byte class instead of
// the 48-byte one. Entries without a TTL do not pay for its 12 bytes; adding or removing a TTL
// therefore reallocates the entry (a copy of key and value). Fields are read with memcpy so no
// object of a larger type is ever assumed to live in the allocation.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cache/alloc_size.h"

namespace strata::cache {

class Entry {
 public:
  static constexpr size_t kShortHeaderBytes = 12;
  static constexpr size_t kLongHeaderBytes = 20;
  static constexpr size_t kTtlBytes = 12;
  static constexpr size_t kShortKeyMax = UINT8_MAX;
  static constexpr size_t kShortValueMax = UINT16_MAX;
  static constexpr uint64_t kKeyBytesLimit = (uint64_t{1} << 31) - 1;
  static constexpr uint64_t kValueBytesLimit = UINT32_MAX;

  static bool short_lengths(size_t key_len, size_t value_len) {
    return key_len <= kShortKeyMax && value_len <= kShortValueMax;
  }
  static size_t alloc_bytes(size_t key_len, size_t value_len, bool with_ttl) {
    return header_bytes(short_lengths(key_len, value_len)) + (with_ttl ? kTtlBytes : 0) + key_len +
           value_len;
  }

  // nullptr when the allocation fails. Lengths must be within the limits above.
  static Entry* create(std::string_view key, std::string_view value, bool with_ttl) {
    void* mem = std::malloc(alloc_bytes(key.size(), value.size(), with_ttl));
    if (mem == nullptr) return nullptr;
    auto* e = static_cast<Entry*>(mem);
    const bool is_short = short_lengths(key.size(), value.size());
    e->store<uint64_t>(kVersionOff, 0);
    e->store<uint8_t>(kFlagsOff,
                      static_cast<uint8_t>((with_ttl ? kTtlFlag : 0) | (is_short ? 0 : kLongFlag)));
    if (is_short) {
      e->store<uint8_t>(kShortKeyLenOff, static_cast<uint8_t>(key.size()));
      e->store<uint16_t>(kShortValueLenOff, static_cast<uint16_t>(value.size()));
    } else {
      e->store<uint32_t>(kLongKeyLenOff, static_cast<uint32_t>(key.size()));
      e->store<uint32_t>(kLongValueLenOff, static_cast<uint32_t>(value.size()));
    }
    if (with_ttl) {
      e->store<uint32_t>(e->ttl_off(), 0);
      e->store<int64_t>(e->ttl_off() + kExpireRel, 0);
    }
    char* data = e->bytes() + e->data_off();
    if (!key.empty()) std::memcpy(data, key.data(), key.size());
    if (!value.empty()) std::memcpy(data + key.size(), value.data(), value.size());
    return e;
  }

  static void destroy(Entry* e) { std::free(e); }

  // Whether a fresh entry with this value would have the same header format (a precondition of
  // overwrite_value(), so an entry's request is always what alloc_bytes() says for it).
  bool same_format(size_t value_len) const {
    return short_lengths(key_len(), value_len) == !is_long();
  }
  // Rewrites the value in place; only when same_format() holds and same_allocation_class() said
  // the block fits it.
  void overwrite_value(std::string_view value) {
    if (is_long()) {
      store<uint32_t>(kLongValueLenOff, static_cast<uint32_t>(value.size()));
    } else {
      store<uint16_t>(kShortValueLenOff, static_cast<uint16_t>(value.size()));
    }
    if (!value.empty()) std::memcpy(bytes() + data_off() + key_len(), value.data(), value.size());
  }
  // The request this block was allocated with (the header format is part of it).
  size_t request_bytes() const { return data_off() + key_len() + value_len(); }

  uint64_t version() const { return load<uint64_t>(kVersionOff); }
  void set_version(uint64_t v) { store<uint64_t>(kVersionOff, v); }
  bool has_ttl() const { return (flags() & kTtlFlag) != 0; }
  size_t key_len() const {
    return is_long() ? load<uint32_t>(kLongKeyLenOff) : load<uint8_t>(kShortKeyLenOff);
  }
  size_t value_len() const {
    return is_long() ? load<uint32_t>(kLongValueLenOff) : load<uint16_t>(kShortValueLenOff);
  }
  uint32_t ttl_pos() const { return load<uint32_t>(ttl_off()); }
  void set_ttl_pos(uint32_t p) { store<uint32_t>(ttl_off(), p); }
  int64_t expire_at_ms() const { return has_ttl() ? load<int64_t>(ttl_off() + kExpireRel) : 0; }
  void set_expire_at_ms(int64_t t) { store<int64_t>(ttl_off() + kExpireRel, t); }

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
  static constexpr uint8_t kTtlFlag = 1;
  static constexpr uint8_t kLongFlag = 2;
  static constexpr size_t kVersionOff = 0;
  static constexpr size_t kFlagsOff = 8;
  static constexpr size_t kShortKeyLenOff = 9;
  static constexpr size_t kShortValueLenOff = 10;
  static constexpr size_t kLongKeyLenOff = 12;
  static constexpr size_t kLongValueLenOff = 16;
  static constexpr size_t kExpireRel = 4;  // expire_at_ms, relative to the TTL fields

  static constexpr size_t header_bytes(bool is_short) {
    return is_short ? kShortHeaderBytes : kLongHeaderBytes;
  }

  Entry() = delete;
  uint8_t flags() const { return load<uint8_t>(kFlagsOff); }
  bool is_long() const { return (flags() & kLongFlag) != 0; }
  size_t ttl_off() const { return header_bytes(!is_long()); }
  size_t data_off() const { return ttl_off() + (has_ttl() ? kTtlBytes : 0); }
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
