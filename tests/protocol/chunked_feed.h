// Delivers a byte stream to a codec the way a connection does, for tests and fuzz targets:
// bytes arrive in chunks into a carry buffer, the codec is fed the carry until it needs more,
// and what it finished is erased from the front.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::protocol::testing {

inline constexpr size_t kStopFeeding = static_cast<size_t>(-1);

// next_chunk() says how many bytes arrive next. step(carry) returns the bytes it finished
// (0: needs more; kStopFeeding: give up, e.g. after an error). Returns true when bytes were
// left over at the end (a partial message).
template <typename NextChunk, typename Step>
bool feed_in_chunks(std::string_view input, NextChunk&& next_chunk, Step&& step) {
  std::string carry;
  size_t at = 0;
  while (at < input.size()) {
    const size_t n = std::min(static_cast<size_t>(next_chunk()), input.size() - at);
    carry.append(input.substr(at, n));
    at += n;
    while (!carry.empty()) {
      const size_t used = step(std::string_view(carry));
      if (used == kStopFeeding) return false;
      if (used == 0) break;
      carry.erase(0, used);
    }
  }
  return !carry.empty();
}

// Chunk sizes of 1..17 bytes from a seeded LCG (deterministic, no <random> needed in fuzz
// targets), or the whole input at once when the seed is 0.
struct LcgChunks {
  size_t whole;
  uint32_t state;
  size_t operator()() {
    if (state == 0) return whole;
    state = state * 1664525u + 1013904223u;
    return 1 + (state >> 16) % 17;
  }
};

}  // namespace strata::protocol::testing
