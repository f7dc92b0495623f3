// Shared by the fuzz targets: an invariant check that names what broke, and a seed derived
// from the input (so a reproducer replays the same splits).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// Aborts, naming the invariant and its line, so a crash's log says which one broke.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace strata::protocol::testing {

// The same as a function, naming the invariant in words.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}

// FNV-1a of the input, never 0 (LcgChunks takes 0 as "the whole input at once").
inline uint32_t seed_of(std::string_view data) {
  uint32_t h = 2166136261u;
  for (char c : data) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h | 1u;
}

}  // namespace strata::protocol::testing
