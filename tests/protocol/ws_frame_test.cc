// The WebSocket frame decoder on valid input: RFC 6455's examples, every length form,
// fragmentation with control frames in between, UTF-8 across fragments, close, and the memory
// an idle decoder holds. Every input is fed whole, byte by byte, cut at every point and in
// random splits (decode_all_ways).
#include "protocol/ws_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/protocol/ws_test_util.h"

namespace strata::protocol {
namespace {

using namespace testing;  // the event and frame helpers
using enum WsOpcode;

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

// RFC 6455 section 5.7.
TEST(WsFrameDecoder, RfcExamples) {
  const std::string hello_masked =
      bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  expect_events(hello_masked, {text("Hello")});
  const std::string pong_masked =
      bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  expect_events(pong_masked, {pong("Hello")});
  // The unmasked ones are server frames: a client decodes them.
  const std::string hello_fragmented =
      bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
  expect_events(hello_fragmented, {text("Hello")}, {}, WsRole::kClient);
  expect_events(bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), {ping("Hello")}, {},
                WsRole::kClient);
  const std::string b256(256, '\xab');
  expect_events(bytes({0x82, 0x7e, 0x01, 0x00}) + b256, {binary(b256)}, {}, WsRole::kClient);
  const std::string b64k(65536, '\xcd');
  expect_events(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}) + b64k, {binary(b64k)}, {},
                WsRole::kClient);
}

TEST(WsFrameDecoder, EveryLengthForm) {
  for (size_t n : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
    const std::string payload(n, static_cast<char>('a' + n % 26));
    expect_events(client_frame(kBinary, payload), {binary(payload)});
    expect_events(client_frame(kText, payload), {text(payload)});
  }
}

// The shortest form is not required (RFC 6455 5.2 says "minimal number of bytes" of the
// sender, and receivers in the wild accept longer forms).
TEST(WsFrameDecoder, LongerLengthFormsThanNeeded) {
  expect_events(raw_frame(0x82, 0x80 | 126, be(5, 2), "12345"), {binary("12345")});
  expect_events(raw_frame(0x82, 0x80 | 127, be(5, 8), "12345"), {binary("12345")});
  expect_events(raw_frame(0x82, 0x80 | 127, be(0, 8)), {binary("")});
}

TEST(WsFrameDecoder, SeveralMessagesInOneRead) {
  const std::string input = client_frame(kText, "one") + client_frame(kBinary, "two") +
                            client_frame(kPing, "p") + client_frame(kText, "") +
                            client_frame(kPong, "");
  expect_events(input, {text("one"), binary("two"), ping("p"), text(""), pong("")});
}

TEST(WsFrameDecoder, FragmentsWithControlFramesBetween) {
  const std::string input = client_frame(kText, "Hel", false) + client_frame(kPing, "1") +
                            client_frame(kContinuation, "", false) + client_frame(kPong, "2") +
                            client_frame(kContinuation, "lo", true, 0x01020304) +
                            client_frame(kBinary, "a", false) +
                            client_frame(kContinuation, "b", true);
  expect_events(input, {ping("1"), pong("2"), text("Hello"), binary("ab")});
}

TEST(WsFrameDecoder, CodePointsStraddleFragments) {
  // U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) split at every byte.
  expect_events(client_frame(kText, "\xe2", false) + client_frame(kContinuation, "\x82", false) +
                    client_frame(kContinuation, "\xac!"),
                {text("\xe2\x82\xac!")});
  expect_events(client_frame(kText, "a\xf0\x9f", false) + client_frame(kContinuation, "\x98\x80"),
                {text("a\xf0\x9f\x98\x80")});
  // The edges of each range.
  const std::string edges =
      "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
      "\xf4\x8f\xbf\xbf";
  expect_events(client_frame(kText, edges), {text(edges)});
}

// Binary messages are not UTF-8 checked.
TEST(WsFrameDecoder, BinaryIsAnyBytes) {
  const std::string junk("\xc0\x80\xed\xa0\x80\xff\x00", 7);
  expect_events(client_frame(kBinary, junk), {binary(junk)});
}

TEST(WsFrameDecoder, Close) {
  std::string with_reason;
  append_ws_frame_masked(&with_reason, kClose, be(1000, 2) + "bye \xe2\x82\xac", kMaskKey);
  expect_events(with_reason, {closed(1000, "bye \xe2\x82\xac")});
  expect_events(client_frame(kClose, ""), {closed(kWsCloseNoStatus)});
  expect_events(client_frame(kClose, be(4999, 2)), {closed(4999)});
  // After a close the rest is dropped, and an open message goes with it.
  expect_events(client_frame(kText, "partial", false) + client_frame(kClose, be(1001, 2)) +
                    client_frame(kText, "ignored") + "junk",
                {closed(1001)});
}

TEST(WsFrameDecoder, PartialInputNeedsMore) {
  const std::string frame = client_frame(kText, "Hello");
  for (size_t n = 1; n < frame.size(); ++n) {
    expect_events(frame.substr(0, n), {partial()});
  }
  expect_events(client_frame(kText, "He", false), {partial()});
}

TEST(WsFrameDecoder, ControlFramesReportedWithinOneRead) {
  WsFrameDecoder d;
  const std::string input = client_frame(kPing, "abc") + client_frame(kText, "x");
  ASSERT_EQ(d.feed(input), WsStatus::kPing);
  EXPECT_EQ(d.event().payload, "abc");
  EXPECT_EQ(d.consumed(), 9u);
  ASSERT_EQ(d.feed(std::string_view(input).substr(9)), WsStatus::kMessage);
  EXPECT_EQ(d.event().payload, "x");
  EXPECT_EQ(d.event().opcode, kText);
  EXPECT_EQ(d.feed({}), WsStatus::kNeedMore);
  EXPECT_TRUE(d.idle());
}

TEST(WsFrameDecoder, MessageLimitsAtTheBoundary) {
  const WsLimits limits{.frame_bytes_max = 8, .message_bytes_max = 12};
  expect_events(client_frame(kBinary, std::string(8, 'x')), {binary(std::string(8, 'x'))}, limits);
  expect_events(client_frame(kBinary, "12345678", false) + client_frame(kContinuation, "9abc"),
                {binary("123456789abc")}, limits);
  // Control frames are bounded by 125, not by frame_bytes_max.
  expect_events(client_frame(kPing, std::string(125, 'p')), {ping(std::string(125, 'p'))}, limits);
}

TEST(WsFrameDecoder, DefaultLimitsTakeOneMebibyte) {
  const std::string big(kWsMessageBytesMax, 'z');
  const WsRun run = ws_decode_stream(client_frame(kBinary, big), [] { return size_t{1}; });
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].payload.size(), kWsMessageBytesMax);
}

// The decoder holds no heap memory between messages and never more than what arrived allows.
TEST(WsFrameDecoder, IdleDecoderHoldsNoHeap) {
  ::testing::Test::RecordProperty("sizeof_WsFrameDecoder",
                                  static_cast<int>(sizeof(WsFrameDecoder)));
  EXPECT_LE(sizeof(WsFrameDecoder), 256u);
  WsFrameDecoder d;
  EXPECT_EQ(d.heap_bytes(), 0u);
  const std::string input = client_frame(kText, std::string(4000, 'a'), false) +
                            client_frame(kContinuation, std::string(4000, 'b'));
  std::string_view rest = input;
  ASSERT_EQ(d.feed(rest), WsStatus::kMessage);
  EXPECT_GE(d.heap_bytes(), 8000u);  // the message's buffer, while it is reported
  rest.remove_prefix(d.consumed());
  EXPECT_EQ(d.feed(rest), WsStatus::kNeedMore);
  EXPECT_EQ(d.heap_bytes(), 0u);
  EXPECT_TRUE(d.idle());
  // A frame that declares 1 MiB and sends 10 bytes costs about 10 bytes, not 1 MiB.
  const std::string big = client_frame(kBinary, std::string(kWsMessageBytesMax, 'q'));
  EXPECT_EQ(d.feed(std::string_view(big).substr(0, 14 + 10)), WsStatus::kNeedMore);
  EXPECT_LE(d.heap_bytes(), 64u);
  EXPECT_EQ(d.buffered_bytes(), 10u);
  EXPECT_FALSE(d.idle());
  // Growth stays within twice what arrived.
  EXPECT_EQ(d.feed(std::string_view(big).substr(24, 100000)), WsStatus::kNeedMore);
  EXPECT_LE(d.heap_bytes(), 2 * 100010u);
}

TEST(WsFrameDecoder, ClientRoleReadsServerFrames) {
  std::string input;
  append_ws_frame(&input, kText, "from server");
  append_ws_frame(&input, kBinary, std::string(300, 'b'));
  append_ws_close(&input, kWsCloseGoingAway, "restart");
  expect_events(
      input,
      {text("from server"), binary(std::string(300, 'b')), closed(kWsCloseGoingAway, "restart")},
      {}, WsRole::kClient);
}

TEST(WsFrameDecoder, ResetStartsOver) {
  WsFrameDecoder d;
  EXPECT_EQ(d.feed(client_frame(kText, "abc", false)), WsStatus::kNeedMore);
  EXPECT_TRUE(d.message_open());
  d.reset();
  EXPECT_FALSE(d.message_open());
  EXPECT_EQ(d.heap_bytes(), 0u);
  EXPECT_EQ(d.feed(client_frame(kText, "new")), WsStatus::kMessage);
  EXPECT_EQ(d.event().payload, "new");
}

}  // namespace
}  // namespace strata::protocol
