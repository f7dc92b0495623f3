// hash_key: a wyhash-style 64-bit hash (multiply-fold of 128-bit products). Keys are short, so the
// <=16-byte path reads at most four overlapping words and does two multiplies. The shard comes
// from the high 32 bits and the bucket from the low bits, so both need a well-mixed output.
#include <cstring>

#include "cache/store.h"

namespace strata::cache {
namespace {

constexpr uint64_t kSecret0 = 0xa0761d6478bd642full;
constexpr uint64_t kSecret1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kSecret2 = 0x8ebc6af09c88c6e3ull;
constexpr uint64_t kSecret3 = 0x589965cc75374cc3ull;
constexpr uint64_t kSeed = 0x2d358dccaa6c78a5ull;

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

}  // namespace

uint64_t hash_key(std::string_view key) {
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  const size_t len = key.size();
  uint64_t seed = kSeed ^ fold_mul(kSeed ^ kSecret0, kSecret1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (len <= 16) {
    if (len >= 4) {
      const size_t mid = (len >> 3) << 2;
      a = (read32(p) << 32) | read32(p + mid);
      b = (read32(p + len - 4) << 32) | read32(p + len - 4 - mid);
    } else if (len > 0) {
      a = read_small(p, len);
    }
  } else {
    size_t i = len;
    if (i > 48) {
      uint64_t lane1 = seed;
      uint64_t lane2 = seed;
      do {
        seed = fold_mul(read64(p) ^ kSecret1, read64(p + 8) ^ seed);
        lane1 = fold_mul(read64(p + 16) ^ kSecret2, read64(p + 24) ^ lane1);
        lane2 = fold_mul(read64(p + 32) ^ kSecret3, read64(p + 40) ^ lane2);
        p += 48;
        i -= 48;
      } while (i > 48);
      seed ^= lane1 ^ lane2;
    }
    while (i > 16) {
      seed = fold_mul(read64(p) ^ kSecret1, read64(p + 8) ^ seed);
      i -= 16;
      p += 16;
    }
    a = read64(p + i - 16);
    b = read64(p + i - 8);
  }
  a ^= kSecret1;
  b ^= seed;
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  a = static_cast<uint64_t>(r);
  b = static_cast<uint64_t>(r >> 64);
  return fold_mul(a ^ kSecret0 ^ len, b ^ kSecret1);
}

}  // namespace strata::cache
