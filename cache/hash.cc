#include "cache/hash.h"

namespace strata::cache::hash_detail {

uint64_t hash_long(const unsigned char* p, size_t len) {
  uint64_t seed = initial_seed();
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
  return finish(read64(p + i - 16), read64(p + i - 8), seed, len);
}

}  // namespace strata::cache::hash_detail
