// Test helpers for the WebSocket frame codec, shared by the unit tests and the fuzz target:
// drive a WsFrameDecoder over a byte stream delivered in chunks (each chunk a fresh copy that
// dies after its feed() calls, as a connection's receive buffer goes back to its ring), and
// keep what it reported as owned values.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ws_frame.h"
#include "tests/protocol/chunked_feed.h"

namespace strata::protocol::testing {

// One status the decoder returned other than kNeedMore, with what came with it; a final
// {kNeedMore} entry means the input ended inside a frame or inside a fragmented message.
struct WsDecoded {
  WsStatus status = WsStatus::kNeedMore;
  WsOpcode opcode = WsOpcode::kContinuation;
  std::string payload;  // kMessage, kPing, kPong
  uint16_t close_code = 0;
  std::string close_reason;
  WsErrorCode error = WsErrorCode::kNone;
  bool operator==(const WsDecoded&) const = default;
};

inline WsDecoded ws_decoded_from(const WsFrameDecoder& d, WsStatus s) {
  const WsEvent e = d.event();
  WsDecoded out;
  out.status = s;
  if (s == WsStatus::kError) {
    out.error = d.error().code;
    return out;
  }
  out.opcode = e.opcode;
  out.payload = std::string(e.payload);
  out.close_code = e.close_code;
  out.close_reason = std::string(e.close_reason);
  return out;
}

// What a stream decodes to, and whether the decoder kept its promises on the way: every
// kNeedMore consumed all it was given, no status consumed past its input, and no heap memory
// was held at a kNeedMore with no partial message.
struct WsRun {
  std::vector<WsDecoded> events;
  bool contract_kept = true;
  size_t heap_bytes_max = 0;  // the most heap memory the decoder held at any kNeedMore
};

template <typename NextChunk>
WsRun ws_decode_stream(std::string_view input, NextChunk next_chunk, WsLimits limits = {},
                       WsRole role = WsRole::kServer) {
  WsFrameDecoder decoder(limits, role);
  WsRun run;
  size_t at = 0;
  while (at < input.size()) {
    const size_t n = std::min(static_cast<size_t>(next_chunk()), input.size() - at);
    const std::string chunk(input.substr(at, n));
    at += n;
    std::string_view rest = chunk;
    while (true) {
      const WsStatus s = decoder.feed(rest);
      if (decoder.consumed() > rest.size()) run.contract_kept = false;
      if (s == WsStatus::kNeedMore) {
        if (decoder.consumed() != rest.size()) run.contract_kept = false;
        if (!decoder.message_open() && decoder.heap_bytes() != 0) run.contract_kept = false;
        run.heap_bytes_max = std::max(run.heap_bytes_max, decoder.heap_bytes());
        break;
      }
      run.events.push_back(ws_decoded_from(decoder, s));
      if (s == WsStatus::kError) return run;
      rest.remove_prefix(decoder.consumed());
    }
  }
  if (!decoder.idle() && !decoder.closed()) run.events.push_back({});
  return run;
}

inline WsRun ws_decode_whole(std::string_view input, WsLimits limits = {},
                             WsRole role = WsRole::kServer) {
  return ws_decode_stream(input, LcgChunks{input.size(), 0}, limits, role);
}

// Splits a stream in two at `cut` (clamped), as two reads.
inline WsRun ws_decode_cut(std::string_view input, size_t cut, WsLimits limits = {},
                           WsRole role = WsRole::kServer) {
  size_t calls = 0;
  const size_t first = std::min(cut, input.size());
  return ws_decode_stream(
      input, [&]() -> size_t { return calls++ == 0 ? first : input.size(); }, limits, role);
}

}  // namespace strata::protocol::testing
