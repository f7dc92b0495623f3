// Test helpers: drive a RespParser over a byte stream delivered in chunks, the way a connection
// does (carry buffer, erase consumed bytes, feed again).
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp_parser.h"
#include "tests/protocol/chunked_feed.h"

namespace strata::protocol::testing {

struct Parsed {
  ParseStatus status;
  std::vector<std::string> args;
  std::string error;
  bool operator==(const Parsed&) const = default;
};

// Splits `input` into chunk sizes chosen by `next_chunk` and parses everything it can.
// Records every kDone / kEmpty / kError (stops after an error); a trailing partial command
// shows up as a final kNeedMore entry.
template <typename NextChunk>
std::vector<Parsed> parse_stream(std::string_view input, NextChunk next_chunk,
                                 ParserLimits limits = {}) {
  RespParser parser(limits);
  std::vector<Parsed> out;
  const bool partial = feed_in_chunks(input, next_chunk, [&](std::string_view carry) {
    const ParseStatus s = parser.feed(carry);
    if (s == ParseStatus::kNeedMore) return size_t{0};
    Parsed p{s, {}, {}};
    if (s == ParseStatus::kError) {
      p.error = std::string(parser.error());
      out.push_back(std::move(p));
      return kStopFeeding;
    }
    for (std::string_view a : parser.args()) p.args.emplace_back(a);
    out.push_back(std::move(p));
    return parser.consumed();
  });
  if (partial) out.push_back({ParseStatus::kNeedMore, {}, {}});
  return out;
}

inline std::vector<Parsed> parse_whole(std::string_view input, ParserLimits limits = {}) {
  const size_t n = input.size() ? input.size() : 1;
  return parse_stream(
      input, [n] { return n; }, limits);
}

inline std::vector<Parsed> parse_bytewise(std::string_view input, ParserLimits limits = {}) {
  return parse_stream(
      input, [] { return size_t{1}; }, limits);
}

inline std::vector<Parsed> parse_random(std::string_view input, uint32_t seed,
                                        ParserLimits limits = {}) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> size(1, 64);
  return parse_stream(
      input, [&] { return size(rng); }, limits);
}

inline std::string multibulk(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

}  // namespace strata::protocol::testing
