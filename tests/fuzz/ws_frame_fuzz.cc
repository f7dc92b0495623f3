// libFuzzer target for the WebSocket frame decoder. The input is decoded as a stream of client
// frames (server role) and of server frames (client role), with small limits and with the
// defaults. Besides crashes and sanitizer reports it checks:
//  - feeding the bytes cut in two at a point derived from the input, and in pseudo-random
//    pieces, gives exactly the events of feeding them whole;
//  - the decoder's contract: kNeedMore consumed everything, no status consumed past its input,
//    no heap memory held at a kNeedMore between messages;
//  - what it reports is within the rules: messages within message_bytes_max, control payloads
//    within 125 bytes, text messages and close reasons valid UTF-8 (by an independent
//    validator), close codes valid or 1005, errors with a message and close code 1002, 1007 or
//    1009;
//  - every event encodes back (masked and fragmented for the server role, unmasked for the
//    client role) to bytes that decode to exactly that event.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ws_frame.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/protocol/utf8_reference.h"
#include "tests/protocol/ws_harness.h"

namespace {

using strata::protocol::append_ws_close;
using strata::protocol::append_ws_frame;
using strata::protocol::append_ws_frame_masked;
using strata::protocol::kWsCloseInvalidPayload;
using strata::protocol::kWsCloseNoStatus;
using strata::protocol::kWsCloseProtocolError;
using strata::protocol::kWsCloseReasonBytesMax;
using strata::protocol::kWsCloseTooBig;
using strata::protocol::kWsControlBytesMax;
using strata::protocol::ws_close_code_valid;
using strata::protocol::ws_error;
using strata::protocol::WsLimits;
using strata::protocol::WsOpcode;
using strata::protocol::WsRole;
using strata::protocol::WsStatus;
using strata::protocol::testing::LcgChunks;
using strata::protocol::testing::reference_utf8_valid;
using strata::protocol::testing::seed_of;
using strata::protocol::testing::ws_decode_cut;
using strata::protocol::testing::ws_decode_stream;
using strata::protocol::testing::ws_decode_whole;
using strata::protocol::testing::WsDecoded;
using strata::protocol::testing::WsRun;

void check_event(const WsDecoded& e, const WsLimits& limits) {
  switch (e.status) {
    case WsStatus::kMessage:
      FUZZ_CHECK(e.payload.size() <= limits.message_bytes_max);
      FUZZ_CHECK(e.opcode == WsOpcode::kText || e.opcode == WsOpcode::kBinary);
      FUZZ_CHECK(e.opcode != WsOpcode::kText || reference_utf8_valid(e.payload));
      break;
    case WsStatus::kPing:
    case WsStatus::kPong:
      FUZZ_CHECK(e.payload.size() <= kWsControlBytesMax);
      break;
    case WsStatus::kClose:
      FUZZ_CHECK(e.close_code == kWsCloseNoStatus || ws_close_code_valid(e.close_code));
      FUZZ_CHECK(e.close_reason.size() <= kWsCloseReasonBytesMax);
      FUZZ_CHECK(reference_utf8_valid(e.close_reason));
      FUZZ_CHECK(e.close_code != kWsCloseNoStatus || e.close_reason.empty());
      break;
    case WsStatus::kError: {
      const auto error = ws_error(e.error);
      FUZZ_CHECK(!error.message.empty());
      FUZZ_CHECK(error.close_code == kWsCloseProtocolError ||
                 error.close_code == kWsCloseInvalidPayload || error.close_code == kWsCloseTooBig);
      break;
    }
    case WsStatus::kNeedMore:
      break;
  }
}

// The event as the peer of `role` would send it: masked client frames or unmasked server
// frames; a message in fragments within frame_bytes_max, the first cut where `seed` says,
// with a ping after the first when `seed` has bit 1 (*pinged says whether one went in).
std::string encode_event(const WsDecoded& e, const WsLimits& limits, WsRole role, uint32_t seed,
                         bool* pinged) {
  std::string out;
  const auto frame = [&](WsOpcode op, std::string_view payload, bool fin) {
    if (role == WsRole::kServer) {
      FUZZ_CHECK(append_ws_frame_masked(&out, op, payload, seed, fin));
    } else {
      FUZZ_CHECK(append_ws_frame(&out, op, payload, fin));
    }
  };
  *pinged = false;
  switch (e.status) {
    case WsStatus::kMessage: {
      std::string_view rest = e.payload;
      WsOpcode op = e.opcode;
      size_t n = std::min<size_t>(seed % (rest.size() + 1), limits.frame_bytes_max);
      do {
        const std::string_view piece = rest.substr(0, n);
        rest.remove_prefix(n);
        frame(op, piece, rest.empty());
        if (op != WsOpcode::kContinuation && !rest.empty() && (seed & 2)) {
          frame(WsOpcode::kPing, "in between", true);
          *pinged = true;
        }
        op = WsOpcode::kContinuation;
        n = std::min(rest.size(), limits.frame_bytes_max);
      } while (!rest.empty());
      break;
    }
    case WsStatus::kPing:
      frame(WsOpcode::kPing, e.payload, true);
      break;
    case WsStatus::kPong:
      frame(WsOpcode::kPong, e.payload, true);
      break;
    case WsStatus::kClose:
      if (role == WsRole::kClient) {
        append_ws_close(&out, e.close_code, e.close_reason);
      } else {
        std::string payload;
        if (e.close_code != kWsCloseNoStatus) {
          payload.push_back(static_cast<char>(e.close_code >> 8));
          payload.push_back(static_cast<char>(e.close_code & 0xff));
          payload += e.close_reason;
        }
        frame(WsOpcode::kClose, payload, true);
      }
      break;
    case WsStatus::kError:
    case WsStatus::kNeedMore:
      break;
  }
  return out;
}

void round_trip(const WsDecoded& e, const WsLimits& limits, WsRole role, uint32_t seed) {
  if (e.status == WsStatus::kError || e.status == WsStatus::kNeedMore) return;
  bool pinged = false;
  const WsRun again = ws_decode_whole(encode_event(e, limits, role, seed, &pinged), limits, role);
  FUZZ_CHECK(again.contract_kept);
  FUZZ_CHECK(again.events.size() == (pinged ? 2u : 1u) && again.events.back() == e);
  FUZZ_CHECK(!pinged || again.events[0].status == WsStatus::kPing);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const uint32_t seed = seed_of(data);
  const WsLimits tiny{.frame_bytes_max = 64, .message_bytes_max = 160};
  for (const WsLimits& limits : {tiny, WsLimits{}}) {
    for (WsRole role : {WsRole::kServer, WsRole::kClient}) {
      const WsRun whole = ws_decode_whole(data, limits, role);
      FUZZ_CHECK(whole.contract_kept);
      const WsRun cut = ws_decode_cut(data, seed % (size + 1), limits, role);
      FUZZ_CHECK(cut.contract_kept && cut.events == whole.events);
      const WsRun pieces = ws_decode_stream(data, LcgChunks{size, seed}, limits, role);
      FUZZ_CHECK(pieces.contract_kept && pieces.events == whole.events);
      for (size_t i = 0; i < whole.events.size(); ++i) {
        check_event(whole.events[i], limits);
        FUZZ_CHECK(whole.events[i].status != WsStatus::kError || i + 1 == whole.events.size());
        round_trip(whole.events[i], limits, role, seed + static_cast<uint32_t>(i));
      }
    }
  }
  return 0;
}
