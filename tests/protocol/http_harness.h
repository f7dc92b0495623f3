// Test helpers for the WebSocket handshake parser, shared by the unit tests and the fuzz
// target: drive an HttpUpgradeParser over bytes arriving in chunks the way a connection does
// (its buffer grows, and moves, between calls) and keep the outcome as an owned value.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/http_upgrade.h"
#include "tests/protocol/chunked_feed.h"

namespace strata::protocol::testing {

struct HttpParsed {
  HttpStatus status = HttpStatus::kNeedMore;
  size_t consumed = 0;  // kDone
  HttpUpgradeRequest request;
  HttpErrorCode error = HttpErrorCode::kNone;
  uint16_t http_status = 0;  // kError
  bool operator==(const HttpParsed&) const = default;
};

template <typename NextChunk>
HttpParsed http_parse_stream(std::string_view input, NextChunk next_chunk, HttpLimits limits = {}) {
  HttpUpgradeParser parser(limits);
  std::string buffer;
  size_t at = 0;
  HttpStatus status = HttpStatus::kNeedMore;
  do {
    const size_t n = std::min(static_cast<size_t>(next_chunk()), input.size() - at);
    // A fresh copy each time: the parser must not keep views into an earlier buffer.
    std::string grown = buffer;
    grown.append(input.substr(at, n));
    buffer.swap(grown);
    at += n;
    status = parser.feed(buffer);
  } while (status == HttpStatus::kNeedMore && at < input.size());
  HttpParsed out;
  out.status = status;
  if (status == HttpStatus::kDone) {
    out.consumed = parser.consumed();
    out.request = parser.request();
  }
  if (status == HttpStatus::kError) {
    out.error = parser.error().code;
    out.http_status = parser.error().status;
  }
  return out;
}

inline HttpParsed http_parse_whole(std::string_view input, HttpLimits limits = {}) {
  return http_parse_stream(input, LcgChunks{input.size(), 0}, limits);
}

}  // namespace strata::protocol::testing
