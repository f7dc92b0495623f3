#include "protocol/reply_scanner.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/protocol/chunked_feed.h"

namespace strata::protocol {
namespace {

struct Scanned {
  ScanStatus status;
  size_t consumed;
  ReplyKind kind;
  std::string payload;
  bool operator==(const Scanned&) const = default;
};

// Scans a stream of replies delivered in chunks of the sizes `next_chunk` picks.
template <typename NextChunk>
std::vector<Scanned> scan_stream(std::string_view input, NextChunk next_chunk,
                                 ReplyLimits limits = {}) {
  ReplyScanner scanner(limits);
  std::vector<Scanned> out;
  const bool partial = testing::feed_in_chunks(input, next_chunk, [&](std::string_view carry) {
    const ScanStatus s = scanner.feed(carry);
    if (s == ScanStatus::kNeedMore) return size_t{0};
    if (s == ScanStatus::kError) {
      out.push_back({s, 0, ReplyKind::kNull, std::string(scanner.error())});
      return testing::kStopFeeding;
    }
    out.push_back({s, scanner.consumed(), scanner.kind(), std::string(scanner.payload())});
    return scanner.consumed();
  });
  if (partial) out.push_back({ScanStatus::kNeedMore, 0, ReplyKind::kNull, {}});
  return out;
}

void expect_scan(std::string_view input, const std::vector<Scanned>& expected,
                 ReplyLimits limits = {}) {
  EXPECT_EQ(scan_stream(
                input, [n = input.size()] { return n; }, limits),
            expected)
      << ::testing::PrintToString(input);
  EXPECT_EQ(scan_stream(
                input, [] { return size_t{1}; }, limits),
            expected)
      << "bytewise";
  std::mt19937 rng(7);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(scan_stream(
                  input, [&] { return size_t{1} + rng() % 16; }, limits),
              expected);
  }
}

Scanned done(std::string_view reply, ReplyKind kind, std::string payload = {}) {
  return {ScanStatus::kDone, reply.size(), kind, std::move(payload)};
}

Scanned failed(std::string message) {
  return {ScanStatus::kError, 0, ReplyKind::kNull, std::move(message)};
}

TEST(ReplyScanner, Scalars) {
  expect_scan("+OK\r\n", {done("+OK\r\n", ReplyKind::kSimple, "OK")});
  expect_scan("-ERR no\r\n", {done("-ERR no\r\n", ReplyKind::kError, "ERR no")});
  expect_scan(":-42\r\n", {done(":-42\r\n", ReplyKind::kInteger, "-42")});
  expect_scan("$5\r\nhe\r\no\r\n", {done("$5\r\nhe\r\no\r\n", ReplyKind::kBulk, "he\r\no")});
  expect_scan("$0\r\n\r\n", {done("$0\r\n\r\n", ReplyKind::kBulk)});
  expect_scan("$-1\r\n", {done("$-1\r\n", ReplyKind::kNull)});
  expect_scan("*-1\r\n", {done("*-1\r\n", ReplyKind::kNull)});
  expect_scan("_\r\n", {done("_\r\n", ReplyKind::kNull)});
  expect_scan(",3.5\r\n", {done(",3.5\r\n", ReplyKind::kDouble, "3.5")});
  expect_scan("#t\r\n", {done("#t\r\n", ReplyKind::kBoolean, "t")});
  expect_scan("(123\r\n", {done("(123\r\n", ReplyKind::kBigNumber, "123")});
  expect_scan("=8\r\ntxt:abcd\r\n", {done("=8\r\ntxt:abcd\r\n", ReplyKind::kVerbatim, "abcd")});
  expect_scan("!3\r\nERR\r\n", {done("!3\r\nERR\r\n", ReplyKind::kBlobError, "ERR")});
}

TEST(ReplyScanner, IntegerValue) {
  ReplyScanner s;
  ASSERT_EQ(s.feed(":9223372036854775807\r\n"), ScanStatus::kDone);
  EXPECT_EQ(s.integer(), INT64_MAX);
  ASSERT_EQ(s.feed(":-7\r\n+x\r\n"), ScanStatus::kDone);
  EXPECT_EQ(s.integer(), -7);
  EXPECT_EQ(s.consumed(), 5u);
}

TEST(ReplyScanner, Aggregates) {
  const std::string nested = "*3\r\n*1\r\n:1\r\n%1\r\n+a\r\n~2\r\n$1\r\nx\r\n_\r\n*0\r\n";
  expect_scan(nested, {done(nested, ReplyKind::kArray)});
  expect_scan("%0\r\n", {done("%0\r\n", ReplyKind::kMap)});
  const std::string map = "%2\r\n+a\r\n:1\r\n+b\r\n*2\r\n:1\r\n:2\r\n";
  expect_scan(map, {done(map, ReplyKind::kMap)});
  const std::string push = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
  expect_scan(push, {done(push, ReplyKind::kPush)});
  ReplyScanner s;
  ASSERT_EQ(s.feed(map), ScanStatus::kDone);
  EXPECT_EQ(s.aggregate_count(), 2u);
  ASSERT_EQ(s.feed(push), ScanStatus::kDone);
  EXPECT_TRUE(s.is_push());
  EXPECT_EQ(s.payload(), "");
}

TEST(ReplyScanner, AttributesAreSkipped) {
  const std::string spec =  // the example from the RESP3 specification
      "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
      "*2\r\n:2039123\r\n:9543892\r\n";
  expect_scan(spec, {done(spec, ReplyKind::kArray)});
  const std::string inner = "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n";
  expect_scan(inner, {done(inner, ReplyKind::kArray)});
  const std::string empty_attr = "|0\r\n$2\r\nhi\r\n";
  expect_scan(empty_attr, {done(empty_attr, ReplyKind::kBulk, "hi")});
  const std::string twice = "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:5\r\n";
  expect_scan(twice, {done(twice, ReplyKind::kInteger, "5")});
}

TEST(ReplyScanner, StreamOfReplies) {
  const std::string stream = "+OK\r\n*2\r\n$1\r\na\r\n$-1\r\n:3\r\n$3\r\nabc\r\n";
  expect_scan(stream, {done("+OK\r\n", ReplyKind::kSimple, "OK"),
                       done("*2\r\n$1\r\na\r\n$-1\r\n", ReplyKind::kArray),
                       done(":3\r\n", ReplyKind::kInteger, "3"),
                       done("$3\r\nabc\r\n", ReplyKind::kBulk, "abc")});
  expect_scan("*2\r\n:1\r\n", {{ScanStatus::kNeedMore, 0, ReplyKind::kNull, {}}});
}

TEST(ReplyScanner, LoneCarriageReturnInsideALine) {
  expect_scan("+a\rb\r\n", {done("+a\rb\r\n", ReplyKind::kSimple, "a\rb")});
}

TEST(ReplyScanner, Errors) {
  expect_scan("x\r\n", {failed("Protocol error: unknown reply type")});
  expect_scan(":1a\r\n", {failed("Protocol error: invalid integer")});
  expect_scan("$3\r\nabcd\r\n", {failed("Protocol error: bulk not followed by CRLF")});
  expect_scan("$-2\r\n", {failed("Protocol error: invalid bulk length")});
  expect_scan("$?\r\n", {failed("Protocol error: invalid bulk length")});
  expect_scan("*?\r\n", {failed("Protocol error: invalid aggregate length")});
  expect_scan("%-1\r\n", {failed("Protocol error: invalid aggregate length")});
  expect_scan("#x\r\n", {failed("Protocol error: invalid scalar")});
  expect_scan("_x\r\n", {failed("Protocol error: invalid scalar")});
  expect_scan("=3\r\ntxt\r\n", {failed("Protocol error: invalid scalar")});
}

TEST(ReplyScanner, Limits) {
  ReplyLimits limits;
  limits.depth_max = 3;
  limits.bulk_bytes_max = 4;
  limits.aggregate_count_max = 2;
  limits.line_bytes_max = 8;
  expect_scan("*1\r\n*1\r\n*1\r\n:1\r\n", {done("*1\r\n*1\r\n*1\r\n:1\r\n", ReplyKind::kArray)},
              limits);
  expect_scan("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", {failed("Protocol error: reply nested too deep")},
              limits);
  expect_scan("$5\r\nabcde\r\n", {failed("Protocol error: invalid bulk length")}, limits);
  expect_scan("*3\r\n", {failed("Protocol error: invalid aggregate length")}, limits);
  expect_scan("+12345678\r\n", {done("+12345678\r\n", ReplyKind::kSimple, "12345678")}, limits);
  expect_scan("+123456789\r\n", {failed("Protocol error: reply line too long")}, limits);
  expect_scan("+123456789", {failed("Protocol error: reply line too long")}, limits);
}

// Redis's reply to a script returning a self-referencing table (unit/scripting.tcl "Script
// return recursive object"): ~8000 nested arrays ending in an error.
TEST(ReplyScanner, DefaultDepthTakesRedisDeepestLuaReply) {
  std::string reply;
  for (int i = 0; i < 7995; ++i) reply += "*1\r\n";
  reply += "-ERR reached lua stack limit\r\n";
  expect_scan(reply, {done(reply, ReplyKind::kArray)});
}

TEST(ReplyScanner, ErrorIsStickyUntilReset) {
  ReplyScanner s;
  EXPECT_EQ(s.feed("?\r\n"), ScanStatus::kError);
  EXPECT_EQ(s.feed("+OK\r\n"), ScanStatus::kError);
  s.reset();
  EXPECT_EQ(s.feed("+OK\r\n"), ScanStatus::kDone);
}

TEST(ReplyScanner, BytewiseLargeArrayIsLinear) {
  std::string reply = "*100000\r\n";
  for (int i = 0; i < 100000; ++i) reply += "$3\r\nabc\r\n";
  reply += "$" + std::to_string(1 << 20) + "\r\n" + std::string(1 << 20, 'x') + "\r\n";
  const auto got = scan_stream(reply, [] { return size_t{1}; });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].consumed, reply.size() - (1 << 20) - 12);
  EXPECT_EQ(got[1].payload.size(), size_t{1} << 20);
}

// Walks a reply with BulkArrayReader: each element as its bytes or "(nil)"; "!" where it stopped
// short of the count.
std::vector<std::string> bulk_elements(std::string_view reply) {
  BulkArrayReader r(reply);
  std::vector<std::string> out;
  std::string_view v;
  bool null = false;
  while (r.next(&v, &null)) out.push_back(null ? "(nil)" : std::string(v));
  return out;
}

TEST(BulkArrayReader, ReadsAnMgetReply) {
  EXPECT_EQ(bulk_elements("*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n"),
            (std::vector<std::string>{"a", "(nil)", ""}));
  // Bytes inside a value are the value's, CRLF included.
  EXPECT_EQ(bulk_elements("*1\r\n$4\r\n\r\n\r\n\r\n"), (std::vector<std::string>{"\r\n\r\n"}));
}

TEST(BulkArrayReader, StopsAtWhatIsNotBulks) {
  EXPECT_TRUE(bulk_elements("$1\r\na\r\n").empty());          // not an array
  EXPECT_TRUE(bulk_elements("*-1\r\n").empty());                // null array
  EXPECT_TRUE(bulk_elements("*0\r\n").empty());
  EXPECT_TRUE(bulk_elements("-ERR wrong\r\n").empty());
  EXPECT_EQ(bulk_elements("*2\r\n$1\r\na\r\n:1\r\n"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(bulk_elements("*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"), (std::vector<std::string>{"a"}));
  // Short: the count promises more than there is, a length runs past the end, no CRLF after
  // the bytes, a bad length.
  EXPECT_EQ(bulk_elements("*2\r\n$1\r\na\r\n"), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(bulk_elements("*1\r\n$5\r\nab\r\n").empty());
  EXPECT_TRUE(bulk_elements("*1\r\n$2\r\nabcd\r\n").empty());
  EXPECT_TRUE(bulk_elements("*1\r\n$-2\r\n").empty());
  EXPECT_TRUE(bulk_elements("*1\r\n$01\r\na\r\n").empty());
  EXPECT_TRUE(bulk_elements("*x\r\n").empty());
  EXPECT_TRUE(bulk_elements("").empty());
  // Never reads past the count, whatever follows.
  EXPECT_EQ(bulk_elements("*1\r\n$1\r\na\r\n$1\r\nb\r\n"), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace strata::protocol
