// Every rule the WebSocket frame decoder enforces, each with its own error code and close
// code, checked on the byte that breaks it. Malformed frames are written raw: the encoder
// refuses to make them.
#include <gtest/gtest.h>

#include <string>

#include "protocol/ws_frame.h"
#include "tests/protocol/ws_test_util.h"

namespace strata::protocol {
namespace {

using namespace testing;  // the event and frame helpers
using enum WsOpcode;
using E = WsErrorCode;

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kMask = 0x80;

TEST(WsFrameErrors, ReservedBits) {
  for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    expect_error(raw_frame(kFin | rsv | 1, kMask | 1, {}, "a"), E::kReservedBits);
  }
  // Checked on byte 0: nothing after it is needed.
  WsFrameDecoder d;
  EXPECT_EQ(d.feed("\xc1"), WsStatus::kError);
  EXPECT_EQ(d.error().code, E::kReservedBits);
}

TEST(WsFrameErrors, UnknownOpcodes) {
  for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    expect_error(raw_frame(kFin | op, kMask), E::kUnknownOpcode);
    WsFrameDecoder d;
    EXPECT_EQ(d.feed(std::string(1, static_cast<char>(kFin | op))), WsStatus::kError);
  }
}

TEST(WsFrameErrors, ClientFramesMustBeMasked) {
  std::string unmasked;
  append_ws_frame(&unmasked, kText, "Hello");
  expect_error(unmasked, E::kUnmasked);
  expect_error(raw_frame(kFin | 9, 0), E::kUnmasked);
  // And a client refuses masked server frames.
  expect_error(client_frame(kText, "Hello"), E::kMasked, {}, WsRole::kClient);
}

TEST(WsFrameErrors, LengthWithTopBitSet) {
  expect_error(raw_frame(kFin | 2, kMask | 127, "\x80" + std::string(7, '\0')), E::kLengthMsbSet);
  expect_error(raw_frame(kFin | 2, kMask | 127, std::string(8, '\xff')), E::kLengthMsbSet);
  // Checked when the length's eighth byte arrives.
  expect_events("\x82\xff\x80" + std::string(6, '\0'), {partial()});
}

TEST(WsFrameErrors, FrameAndMessageLimits) {
  const WsLimits limits{.frame_bytes_max = 8, .message_bytes_max = 12};
  expect_error(client_frame(kBinary, std::string(9, 'x')), E::kFrameTooBig, limits);
  expect_error(client_frame(kText, "12345678", false) + client_frame(kContinuation, "9abcd"),
               E::kMessageTooBig, limits);
  // Both fail on the length field, before any payload.
  expect_error(raw_frame(kFin | 2, kMask | 9), E::kFrameTooBig, limits);
  expect_error(raw_frame(kFin | 2, kMask | 127, be(uint64_t{1} << 40, 8)), E::kFrameTooBig);
  expect_error(raw_frame(kFin | 2, kMask | 126, be(1001, 2)), E::kFrameTooBig,
               WsLimits{.frame_bytes_max = 1000, .message_bytes_max = 1000});
  expect_error(client_frame(kBinary, std::string(kWsFrameBytesMax + 1, 'x')), E::kFrameTooBig);
  EXPECT_EQ(ws_error(E::kFrameTooBig).close_code, kWsCloseTooBig);
  EXPECT_EQ(ws_error(E::kMessageTooBig).close_code, kWsCloseTooBig);
}

TEST(WsFrameErrors, ControlFrameOver125Bytes) {
  expect_error(raw_frame(kFin | 9, kMask | 126, be(126, 2), std::string(126, 'p')),
               E::kControlTooLong);
  expect_error(raw_frame(kFin | 10, kMask | 127, be(5, 8), "12345"), E::kControlTooLong);
  expect_error(raw_frame(kFin | 8, kMask | 126, be(2, 2), be(1000, 2)), E::kControlTooLong);
  // The encoders refuse to make one.
  std::string out;
  EXPECT_FALSE(append_ws_frame(&out, kPing, std::string(126, 'p')));
  EXPECT_FALSE(append_ws_frame_masked(&out, kPong, std::string(126, 'p'), 1));
  EXPECT_TRUE(out.empty());
}

TEST(WsFrameErrors, FragmentedControlFrame) {
  expect_error(raw_frame(9, kMask | 1, {}, "p"), E::kControlFragmented);
  expect_error(client_frame(kText, "a", false) + raw_frame(8, kMask), E::kControlFragmented);
  std::string out;
  EXPECT_FALSE(append_ws_frame(&out, kClose, "", false));
}

TEST(WsFrameErrors, ContinuationWithoutStart) {
  expect_error(client_frame(kContinuation, "x"), E::kContinuationWithoutStart);
  expect_error(client_frame(kText, "done") + client_frame(kContinuation, "x"),
               E::kContinuationWithoutStart);
  expect_error(client_frame(kContinuation, "x", false), E::kContinuationWithoutStart);
}

TEST(WsFrameErrors, NewDataFrameInsideFragmentedMessage) {
  expect_error(client_frame(kText, "a", false) + client_frame(kText, "b"),
               E::kDataInsideFragmented);
  expect_error(
      client_frame(kBinary, "a", false) + client_frame(kPing, "") + client_frame(kText, "b", false),
      E::kDataInsideFragmented);
}

TEST(WsFrameErrors, InvalidUtf8) {
  const char* const bad[] = {
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong 2-byte
      "\xe0\x80\x80",      // overlong 3-byte
      "\xe0\x9f\xbf",      // overlong 3-byte, top of the range
      "\xf0\x80\x80\x80",  // overlong 4-byte
      "\xf0\x8f\xbf\xbf",  // overlong 4-byte, top of the range
      "\xed\xa0\x80",      // U+D800, a surrogate
      "\xed\xbf\xbf",      // U+DFFF
      "\xf4\x90\x80\x80",  // U+110000
      "\xf5\x80\x80\x80",  // past any code point
      "\xff",              // never in UTF-8
      "\x80",              // a lone continuation byte
      "a\xe2\x82z",        // a code point cut short by ASCII
  };
  for (const char* b : bad) {
    expect_error(client_frame(kText, b), E::kInvalidUtf8);
    expect_error(client_frame(kText, "ok", false) + client_frame(kContinuation, b),
                 E::kInvalidUtf8);
  }
}

TEST(WsFrameErrors, TextEndingInsideACodePoint) {
  expect_error(client_frame(kText, "\xe2\x82"), E::kTextEndsMidCodePoint);
  expect_error(client_frame(kText, "ok \xf0\x9f\x98", false) + client_frame(kContinuation, ""),
               E::kTextEndsMidCodePoint);
  EXPECT_EQ(ws_error(E::kTextEndsMidCodePoint).close_code, kWsCloseInvalidPayload);
}

TEST(WsFrameErrors, Utf8StraddlingFragmentsInvalid) {
  // E2 needs two continuation bytes; the next fragment starts with ASCII.
  expect_error(client_frame(kText, "\xe2", false) + client_frame(kContinuation, "(\xa1"),
               E::kInvalidUtf8);
  // ED A0 split across fragments is still a surrogate.
  expect_error(client_frame(kText, "\xed", false) + client_frame(kContinuation, "\xa0\x80"),
               E::kInvalidUtf8);
}

// A bad byte fails the message at once, not when its frame or message ends.
TEST(WsFrameErrors, InvalidUtf8FailsFast) {
  const std::string frame = client_frame(kText, "abc\xff" + std::string(100000, 'x'));
  WsFrameDecoder d;
  EXPECT_EQ(d.feed(std::string_view(frame).substr(0, 14 + 4)), WsStatus::kError);
  EXPECT_EQ(d.error().code, E::kInvalidUtf8);
  EXPECT_EQ(d.heap_bytes(), 0u);
}

TEST(WsFrameErrors, CloseCodes) {
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    expect_error(client_frame(kClose, be(code, 2)), E::kBadCloseCode);
    EXPECT_FALSE(ws_close_code_valid(code)) << code;
  }
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4999}) {
    expect_events(client_frame(kClose, be(code, 2) + "r"), {closed(code, "r")});
  }
}

TEST(WsFrameErrors, CloseWithOneByte) {
  expect_error(client_frame(kClose, "\x03"), E::kCloseOneByte);
  WsFrameDecoder d;  // on byte 1, before the mask key
  EXPECT_EQ(d.feed(std::string("\x88\x81", 2)), WsStatus::kError);
  EXPECT_EQ(d.error().code, E::kCloseOneByte);
}

TEST(WsFrameErrors, CloseReasonMustBeUtf8) {
  expect_error(client_frame(kClose, be(1000, 2) + "\xc0\x80"), E::kInvalidCloseReason);
  expect_error(client_frame(kClose, be(1000, 2) + "\xe2\x82"), E::kInvalidCloseReason);
}

TEST(WsFrameErrors, ErrorsStickUntilReset) {
  WsFrameDecoder d;
  EXPECT_EQ(d.feed(client_frame(kContinuation, "x")), WsStatus::kError);
  EXPECT_EQ(d.feed(client_frame(kText, "x")), WsStatus::kError);
  EXPECT_EQ(d.error().code, E::kContinuationWithoutStart);
  d.reset();
  EXPECT_EQ(d.feed(client_frame(kText, "x")), WsStatus::kMessage);
}

// Each error names the close code to send (RFC 6455 7.4.1) and has a message.
TEST(WsFrameErrors, CloseCodeOfEachError) {
  for (int c = 1; c <= static_cast<int>(E::kInvalidCloseReason); ++c) {
    const WsError e = ws_error(static_cast<E>(c));
    EXPECT_FALSE(e.message.empty()) << c;
    EXPECT_TRUE(ws_close_code_valid(e.close_code)) << c;
    const bool utf8 = e.code == E::kInvalidUtf8 || e.code == E::kTextEndsMidCodePoint ||
                      e.code == E::kInvalidCloseReason;
    const bool size = e.code == E::kFrameTooBig || e.code == E::kMessageTooBig;
    EXPECT_EQ(e.close_code, utf8   ? kWsCloseInvalidPayload
                            : size ? kWsCloseTooBig
                                   : kWsCloseProtocolError)
        << c;
  }
}

}  // namespace
}  // namespace strata::protocol
