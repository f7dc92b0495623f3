// The WebSocket frame encoder: exact bytes for each length form, close frames, the masking
// helper against RFC 6455's example, round trips through the decoder in both roles, and
// framing a payload once for many connections.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "protocol/ws_frame.h"
#include "tests/protocol/ws_test_util.h"

namespace strata::protocol {
namespace {

using namespace testing;  // the event and frame helpers
using enum WsOpcode;
using namespace std::string_literals;

TEST(WsEncoder, LengthForms) {
  EXPECT_EQ(ws_frame_header_bytes(0), 2u);
  EXPECT_EQ(ws_frame_header_bytes(125), 2u);
  EXPECT_EQ(ws_frame_header_bytes(126), 4u);
  EXPECT_EQ(ws_frame_header_bytes(65535), 4u);
  EXPECT_EQ(ws_frame_header_bytes(65536), 10u);
  EXPECT_EQ(ws_frame_header(kText, 5).view(), "\x81\x05");
  EXPECT_EQ(ws_frame_header(kBinary, 256).view(), "\x82\x7e\x01\x00"s);
  EXPECT_EQ(ws_frame_header(kBinary, 65536).view(), std::string("\x82\x7f\0\0\0\0\0\x01\0\0", 10));
  EXPECT_EQ(ws_frame_header(kText, 125, false).view(), "\x01\x7d");
  EXPECT_EQ(ws_frame_header(kContinuation, 65535).view(), "\x80\x7e\xff\xff");
  for (uint64_t n : {0ull, 1ull, 125ull, 126ull, 65535ull, 65536ull, 1ull << 40}) {
    EXPECT_EQ(ws_frame_header(kBinary, n).size, ws_frame_header_bytes(n)) << n;
  }
}

TEST(WsEncoder, AppendsWithoutClearing) {
  std::string out = "x";
  EXPECT_TRUE(append_ws_frame(&out, kText, "Hello"));
  EXPECT_EQ(out, "x\x81\x05Hello");
  EXPECT_TRUE(append_ws_frame(&out, kPing, ""));
  EXPECT_EQ(out, "x\x81\x05Hello\x89\x00"s);
}

TEST(WsEncoder, MaskedMatchesRfcExample) {
  std::string out;
  EXPECT_TRUE(append_ws_frame_masked(&out, kText, "Hello", kMaskKey));
  EXPECT_EQ(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
}

TEST(WsEncoder, Close) {
  std::string out;
  append_ws_close(&out, kWsCloseNormal);
  EXPECT_EQ(out, "\x88\x02\x03\xe8");
  out.clear();
  append_ws_close(&out, kWsCloseTooBig, "too big");
  EXPECT_EQ(out, "\x88\x09\x03\xf1too big");
  out.clear();
  append_ws_close(&out, kWsCloseNoStatus, "ignored");
  EXPECT_EQ(out, "\x88\x00"s);
  out.clear();
  append_ws_close(&out, 1006);  // never on the wire: an empty close instead
  EXPECT_EQ(out, "\x88\x00"s);
}

// A reason past 123 bytes is cut between code points, so the close stays valid.
TEST(WsEncoder, CloseReasonCutOnACodePoint) {
  const std::string reason = std::string(121, 'r') + "\xe2\x82\xac" + "tail";  // 128 bytes
  std::string out;
  append_ws_close(&out, kWsClosePolicyViolation, reason);
  ASSERT_EQ(out.size(), 2u + 2u + 121u);
  expect_events(out, {closed(kWsClosePolicyViolation, std::string(121, 'r'))}, {}, WsRole::kClient);
  out.clear();
  append_ws_close(&out, kWsCloseNormal, std::string(200, 'a'));
  EXPECT_EQ(out.size(), 2u + 2u + kWsCloseReasonBytesMax);
}

TEST(WsEncoder, RoundTripsBothRoles) {
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100003}) {
    std::string payload(n, '\0');
    for (char& c : payload) c = static_cast<char>(rng());
    std::string server;
    append_ws_frame(&server, kBinary, payload);
    EXPECT_EQ(ws_decode_whole(server, {}, WsRole::kClient).events,
              std::vector<WsDecoded>{binary(payload)})
        << n;
    const std::string client = client_frame(kBinary, payload, true, static_cast<uint32_t>(rng()));
    EXPECT_EQ(ws_decode_whole(client).events, std::vector<WsDecoded>{binary(payload)}) << n;
  }
}

// One payload, framed once, sent on many connections: the bytes do not depend on the
// connection. The header can also go in front of a payload serialized in place.
TEST(WsEncoder, EncodeOnceShareTheBytes) {
  const std::string payload = R"({"key":"user:1","version":42,"value":"alice"})";
  std::string shared;
  append_ws_frame(&shared, kText, payload);
  EXPECT_EQ(shared, std::string(ws_frame_header(kText, payload.size()).view()) + payload);

  std::string buffer(kWsServerHeaderBytesMax, '\0');
  buffer += payload;  // serialized after the room left for the header
  const WsFrameHeader header = ws_frame_header(kText, buffer.size() - kWsServerHeaderBytesMax);
  const size_t start = kWsServerHeaderBytesMax - header.size;
  buffer.replace(start, header.size, header.view());
  EXPECT_EQ(std::string_view(buffer).substr(start), shared);

  for (int subscriber = 0; subscriber < 3; ++subscriber) {
    EXPECT_EQ(ws_decode_whole(shared, {}, WsRole::kClient).events,
              std::vector<WsDecoded>{text(payload)});
  }
}

TEST(WsEncoder, Limits) {
  EXPECT_EQ(ws_limits_problem({}), "");
  EXPECT_NE(ws_limits_problem({.frame_bytes_max = 0}), "");
  EXPECT_NE(ws_limits_problem({.frame_bytes_max = 10, .message_bytes_max = 9}), "");
  EXPECT_NE(ws_limits_problem({.frame_bytes_max = 1, .message_bytes_max = 0}), "");
}

}  // namespace
}  // namespace strata::protocol
