// GoogleTest helpers for the WebSocket frame codec tests: client frames built with the masking
// encoder or byte by byte (for what the encoder refuses to make), expected events, and
// decode_all_ways(), which checks an input fed whole, byte by byte, cut in two at every point
// (short inputs) and in random splits.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ws_frame.h"
#include "tests/protocol/ws_harness.h"

namespace strata::protocol::testing {

inline void PrintTo(const WsDecoded& d, std::ostream* os) {
  *os << "{status " << static_cast<int>(d.status) << ", opcode " << static_cast<int>(d.opcode);
  if (!d.payload.empty()) *os << ", payload " << d.payload.size() << " bytes";
  if (d.status == WsStatus::kClose) {
    *os << ", close " << d.close_code << " " << ::testing::PrintToString(d.close_reason);
  }
  if (d.status == WsStatus::kError) *os << ", error " << ws_error(d.error).message;
  *os << "}";
}

inline constexpr uint32_t kMaskKey = 0x37fa213d;  // RFC 6455 5.7's

// A client frame as a browser sends it.
inline std::string client_frame(WsOpcode opcode, std::string_view payload, bool fin = true,
                                uint32_t mask_key = kMaskKey) {
  std::string out;
  EXPECT_TRUE(append_ws_frame_masked(&out, opcode, payload, mask_key, fin));
  return out;
}

// A frame from raw parts, whatever they say: byte 0, byte 1 (with the MASK bit and 7-bit
// length as given), then `extended` (length bytes, big-endian, as given), a zero mask key when
// byte 1 has MASK (so the payload goes out as it is), the payload.
inline std::string raw_frame(uint8_t byte0, uint8_t byte1, std::string_view extended = {},
                             std::string_view payload = {}) {
  std::string out;
  out.push_back(static_cast<char>(byte0));
  out.push_back(static_cast<char>(byte1));
  out.append(extended);
  if (byte1 & 0x80) out.append(4, '\0');
  return out.append(payload);
}

inline std::string be(uint64_t v, size_t bytes) {
  std::string out;
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * (bytes - 1 - i))));
  return out;
}

inline WsDecoded message(WsOpcode opcode, std::string payload) {
  return {WsStatus::kMessage, opcode, std::move(payload), 0, {}, WsErrorCode::kNone};
}
inline WsDecoded text(std::string payload) { return message(WsOpcode::kText, std::move(payload)); }
inline WsDecoded binary(std::string payload) {
  return message(WsOpcode::kBinary, std::move(payload));
}
inline WsDecoded ping(std::string payload) {
  return {WsStatus::kPing, WsOpcode::kPing, std::move(payload), 0, {}, WsErrorCode::kNone};
}
inline WsDecoded pong(std::string payload) {
  return {WsStatus::kPong, WsOpcode::kPong, std::move(payload), 0, {}, WsErrorCode::kNone};
}
inline WsDecoded closed(uint16_t code, std::string reason = {}) {
  return {WsStatus::kClose, WsOpcode::kClose, {}, code, std::move(reason), WsErrorCode::kNone};
}
inline WsDecoded failed(WsErrorCode code) {
  WsDecoded d;
  d.status = WsStatus::kError;
  d.error = code;
  return d;
}
inline WsDecoded partial() { return {}; }

// Decodes `input` whole, byte by byte, cut in two at every point (inputs up to 600 bytes) and
// in random splits; expects the same events from all, and the decoder's contract kept.
inline std::vector<WsDecoded> decode_all_ways(std::string_view input, WsLimits limits = {},
                                              WsRole role = WsRole::kServer) {
  const WsRun whole = ws_decode_whole(input, limits, role);
  EXPECT_TRUE(whole.contract_kept) << "whole";
  const WsRun bytewise = ws_decode_stream(
      input, [] { return size_t{1}; }, limits, role);
  EXPECT_EQ(bytewise.events, whole.events) << "byte by byte";
  EXPECT_TRUE(bytewise.contract_kept) << "byte by byte";
  if (input.size() <= 600) {
    for (size_t cut = 1; cut < input.size(); ++cut) {
      const WsRun split = ws_decode_cut(input, cut, limits, role);
      EXPECT_EQ(split.events, whole.events) << "cut at " << cut;
      EXPECT_TRUE(split.contract_kept) << "cut at " << cut;
    }
  }
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const WsRun random = ws_decode_stream(input, LcgChunks{input.size(), seed}, limits, role);
    EXPECT_EQ(random.events, whole.events) << "seed " << seed;
    EXPECT_TRUE(random.contract_kept) << "seed " << seed;
  }
  return whole.events;
}

inline void expect_events(std::string_view input, const std::vector<WsDecoded>& expected,
                          WsLimits limits = {}, WsRole role = WsRole::kServer) {
  EXPECT_EQ(decode_all_ways(input, limits, role), expected);
}

// The input's events end in `code`.
inline void expect_error(std::string_view input, WsErrorCode code, WsLimits limits = {},
                         WsRole role = WsRole::kServer) {
  const std::vector<WsDecoded> got = decode_all_ways(input, limits, role);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), failed(code)) << ::testing::PrintToString(input);
}

}  // namespace strata::protocol::testing
