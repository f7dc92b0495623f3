// hash_key: a wyhash-style 64-bit hash (multiply-fold of 128-bit products). Keys are short, so the
// <=16-byte path reads at most four overlapping words and does two multiplies; it is inline
// because every keyed command hashes its key (the Store, the hit-rate monitor's sample test) and
// the call cost as much as the hash. Longer keys take the out-of-line loop. The shard comes from
// the high 32 bits and the bucket from the low bits, so both need a well-mixed output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace strata::cache {

namespace hash_detail {

inline constexpr uint64_t kSecret0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kSecret1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t kSecret2 = 0x8ebc6af09c88c6e3ull;
inline constexpr uint64_t kSecret3 = 0x589965cc75374cc3ull;
inline constexpr uint64_t kSeed = 0x2d358dccaa6c78a5ull;

inline uint64_t fold_mul(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t read64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline uint64_t read32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// 1..3 bytes: first, middle and last byte (overlapping for short inputs).
inline uint64_t read_small(const unsigned char* p, size_t n) {
  return (static_cast<uint64_t>(p[0]) << 16) | (static_cast<uint64_t>(p[n >> 1]) << 8) | p[n - 1];
}

// The seed both paths start from (a constant the compiler folds).
inline uint64_t initial_seed() { return kSeed ^ fold_mul(kSeed ^ kSecret0, kSecret1); }

inline uint64_t finish(uint64_t a, uint64_t b, uint64_t seed, size_t len) {
  a ^= kSecret1;
  b ^= seed;
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  a = static_cast<uint64_t>(r);
  b = static_cast<uint64_t>(r >> 64);
  return fold_mul(a ^ kSecret0 ^ len, b ^ kSecret1);
}

// Keys longer than 16 bytes.
uint64_t hash_long(const unsigned char* p, size_t len);

}  // namespace hash_detail

inline uint64_t hash_key(std::string_view key) {
  using namespace hash_detail;
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  const size_t len = key.size();
  if (len > 16) [[unlikely]]
    return hash_long(p, len);
  uint64_t a = 0;
  uint64_t b = 0;
  if (len >= 4) {
    const size_t mid = (len >> 3) << 2;
    a = (read32(p) << 32) | read32(p + mid);
    b = (read32(p + len - 4) << 32) | read32(p + len - 4 - mid);
  } else if (len > 0) {
    a = read_small(p, len);
  }
  return finish(a, b, initial_seed(), len);
}

}  // namespace strata::cache
