#include "protocol/resp_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/protocol/parser_harness.h"

namespace strata::protocol {
namespace {

using testing::multibulk;
using testing::parse_bytewise;
using testing::parse_random;
using testing::parse_whole;
using testing::Parsed;
using Args = std::vector<std::string>;

Parsed done(Args args) { return {ParseStatus::kDone, std::move(args), {}}; }
Parsed empty() { return {ParseStatus::kEmpty, {}, {}}; }
Parsed need_more() { return {ParseStatus::kNeedMore, {}, {}}; }
Parsed error(std::string text) { return {ParseStatus::kError, {}, std::move(text)}; }

// Every input is checked fed whole, byte by byte and in random splits: all must agree.
void expect_parse(std::string_view input, const std::vector<Parsed>& expected,
                  ParserLimits limits = {}) {
  EXPECT_EQ(parse_whole(input, limits), expected) << "whole: " << ::testing::PrintToString(input);
  EXPECT_EQ(parse_bytewise(input, limits), expected) << "bytewise";
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    EXPECT_EQ(parse_random(input, seed, limits), expected) << "seed " << seed;
  }
}

TEST(RespParser, MultibulkCommand) {
  expect_parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", {done({"SET", "k", "hello"})});
}

TEST(RespParser, BinarySafeBulks) {
  const std::string value("a\r\n\0b$*\n", 8);
  expect_parse(multibulk({"SET", "k", value}), {done({"SET", "k", value})});
  expect_parse(multibulk({"SET", "", ""}), {done({"SET", "", ""})});
}

TEST(RespParser, EmptyMultibulkIsSkipped) {
  expect_parse("*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n",
               {empty(), empty(), empty(), done({"PING"})});
}

TEST(RespParser, PartialCommandNeedsMore) {
  expect_parse("*2\r\n$3\r\nGET\r\n$3\r\nke", {need_more()});
  RespParser p;
  EXPECT_EQ(p.feed("*2\r\n$3\r\nGET\r\n$300\r\nk"), ParseStatus::kNeedMore);
  EXPECT_EQ(p.bytes_needed_hint(), 13u + 6u + 302u);
  EXPECT_EQ(p.consumed(), 0u);
}

TEST(RespParser, ArgsAreViewsIntoTheInput) {
  const std::string in = multibulk({"GET", "some:key"}) + "PING x\r\n";
  RespParser p;
  ASSERT_EQ(p.feed(in), ParseStatus::kDone);
  for (std::string_view a : p.args()) {
    EXPECT_GE(a.data(), in.data());
    EXPECT_LE(a.data() + a.size(), in.data() + p.consumed());
  }
  const std::string_view rest = std::string_view(in).substr(p.consumed());
  ASSERT_EQ(p.feed(rest), ParseStatus::kDone);
  ASSERT_EQ(p.args().size(), 2u);
  EXPECT_EQ(p.args()[1].data(), rest.data() + 5);  // plain inline args are not copied
}

// Redis skips the two bytes after a count line's '\r' and after a payload without looking.
TEST(RespParser, RedisLooseTerminators) {
  expect_parse("*1\rX$4\r\nPING\r\n", {done({"PING"})});
  expect_parse("*1\r\n$4\rxPING\r\n", {done({"PING"})});
  expect_parse("*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", {done({"PING"}), done({"PING"})});
}

TEST(RespParser, MultibulkErrors) {
  expect_parse("*3000000000\r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*-0\r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*01\r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*\r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*+1\r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*1 \r\n", {error("Protocol error: invalid multibulk length")});
  expect_parse("*123456789012345678901\r\n", {error("Protocol error: invalid multibulk length")});
  // Redis 7.0 accepts counts up to INT_MAX and waits for the arguments.
  expect_parse("*2000000\r\n", {need_more()});
  expect_parse("*2147483647\r\n", {need_more()});
  expect_parse("*2147483648\r\n", {error("Protocol error: invalid multibulk length")});
}

TEST(RespParser, BulkErrors) {
  expect_parse("*1\r\n$-1\r\n", {error("Protocol error: invalid bulk length")});
  expect_parse("*1\r\n$ 3\r\n", {error("Protocol error: invalid bulk length")});
  expect_parse("*1\r\n$03\r\nabc\r\n", {error("Protocol error: invalid bulk length")});
  expect_parse("*1\r\n$\r\n", {error("Protocol error: invalid bulk length")});
  expect_parse("*1\r\n$536870913\r\n", {error("Protocol error: invalid bulk length")});
  expect_parse("*1\r\n$536870912\r\n", {need_more()});
}

TEST(RespParser, ExpectedDollar) {
  expect_parse("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
               {error("Protocol error: expected '$', got 'f'")});
  // Redis turns CR / LF in error texts into spaces.
  expect_parse("*1\r\n\r\n", {error("Protocol error: expected '$', got ' '")});
  expect_parse("*1\r\n\n\r\n", {error("Protocol error: expected '$', got ' '")});
  expect_parse("*1\r\n\xff\r\n", {error("Protocol error: expected '$', got '\xff'")});
}

TEST(RespParser, TooBigCountStrings) {
  expect_parse("*1" + std::string(70000, '1'),
               {error("Protocol error: too big mbulk count string")});
  expect_parse("*1\r\n$1" + std::string(70000, '1'),
               {error("Protocol error: too big bulk count string")});
  // Terminator found but beyond the limit: same outcome whatever the read sizes were.
  expect_parse("*1" + std::string(70000, '1') + "\r\n",
               {error("Protocol error: too big mbulk count string")});
  // Just under the limit is an ordinary (invalid) number.
  expect_parse("*" + std::string(65535, '1') + "\r\n",
               {error("Protocol error: invalid multibulk length")});
}

TEST(RespParser, NulHidesTheTerminatorLikeStrchr) {
  // Redis's strchr() stops at NUL, so these lines never end; it waits until the size limit.
  expect_parse(std::string("*1\0\r\n", 5), {need_more()});
  expect_parse(std::string("PI\0NG\r\nPING\r\n", 13), {need_more()});
  std::string big("PI\0NG\r\n", 7);
  big += std::string(70000, 'x');
  expect_parse(big, {error("Protocol error: too big inline request")});
}

TEST(RespParser, Inline) {
  expect_parse("PING\r\n", {done({"PING"})});
  expect_parse("SET  k   v\n", {done({"SET", "k", "v"})});
  expect_parse("\r\n", {empty()});
  expect_parse("\n", {empty()});
  expect_parse("   \t \r\nPING\n", {empty(), done({"PING"})});
  expect_parse("\nPING\r\n", {empty(), done({"PING"})});
  expect_parse("PING", {need_more()});
}

TEST(RespParser, InlineQuotesAndEscapes) {
  expect_parse("ECHO \"\\x41\\x4g\\n\"\r\n", {done({"ECHO", "Ax4g\n"})});
  expect_parse("ECHO \"a\\tb\\r\\b\\a\\\\\\\"\"\r\n", {done({"ECHO", "a\tb\r\b\a\\\""})});
  expect_parse("ECHO 'a\\'b'\r\n", {done({"ECHO", "a'b"})});
  expect_parse("ECHO 'a\\nb'\r\n", {done({"ECHO", "a\\nb"})});
  expect_parse("ECHO a\"b c\"\r\n", {done({"ECHO", "ab c"})});
  expect_parse("ECHO \"\" ''\r\n", {done({"ECHO", "", ""})});
  expect_parse("ECHO \"\\xZZ\"\r\n", {done({"ECHO", "xZZ"})});
  expect_parse("ECHO \"\\x4\"\r\n", {done({"ECHO", "x4"})});
  expect_parse("ECHO \"x\"\tnext\r\n", {done({"ECHO", "x", "next"})});
}

TEST(RespParser, InlineBlanksLikeSdssplitargs) {
  // \v and \f are skipped between arguments but do not end an unquoted one.
  expect_parse("ECHO a\vb\r\n", {done({"ECHO", "a\vb"})});
  expect_parse("\vECHO x\r\n", {done({"ECHO", "x"})});
  // A lone '\r' ends an argument; only one '\r' before '\n' is stripped.
  expect_parse("ECHO a\rb\r\r\n", {done({"ECHO", "a", "b"})});
  expect_parse("a\\x41\r\n", {done({"a\\x41"})});  // backslashes are literal outside quotes
}

TEST(RespParser, InlineUnbalancedQuotes) {
  const std::string kUnbalanced = "Protocol error: unbalanced quotes in request";
  expect_parse("\"unb\r\n", {error(kUnbalanced)});
  expect_parse("ECHO \"a\"\"b\"\r\n", {error(kUnbalanced)});
  expect_parse("\"a\"b\r\n", {error(kUnbalanced)});
  expect_parse("ECHO \"\\\"\r\n", {error(kUnbalanced)});
  expect_parse("ECHO 'abc\r\n", {error(kUnbalanced)});
  expect_parse("ECHO 'a'b\r\n", {error(kUnbalanced)});
  expect_parse("ECHO \"a\r\"\r\n", {done({"ECHO", "a\r"})});
}

TEST(RespParser, InlineTooBig) {
  const std::string kTooBig = "Protocol error: too big inline request";
  expect_parse(std::string(70000, 'x'), {error(kTooBig)});
  expect_parse("ECHO " + std::string(70000, 'x') + "\r\n", {error(kTooBig)});
  const std::string at_limit = "ECHO " + std::string(64 * 1024 - 5, 'x');
  expect_parse(at_limit + "\n", {done({"ECHO", std::string(64 * 1024 - 5, 'x')})});
  expect_parse(at_limit + "x\n", {error(kTooBig)});
}

TEST(RespParser, CustomLimits) {
  ParserLimits limits;
  limits.bulk_bytes_max = 4;
  limits.multibulk_count_max = 2;
  limits.inline_bytes_max = 16;
  expect_parse(multibulk({"GET", "abcd"}), {done({"GET", "abcd"})}, limits);
  expect_parse(multibulk({"GET", "abcde"}), {error("Protocol error: invalid bulk length")}, limits);
  expect_parse(multibulk({"A", "B", "C"}), {error("Protocol error: invalid multibulk length")},
               limits);
  expect_parse("PING 0123456789a\r\n", {error("Protocol error: too big inline request")}, limits);
  expect_parse("*1\r\n$" + std::string(20, '1'),
               {error("Protocol error: too big bulk count string")}, limits);
}

TEST(RespParser, ErrorIsStickyUntilReset) {
  RespParser p;
  EXPECT_EQ(p.feed("*x\r\n"), ParseStatus::kError);
  EXPECT_EQ(p.feed("*1\r\n$4\r\nPING\r\n"), ParseStatus::kError);
  p.reset();
  EXPECT_EQ(p.feed("*1\r\n$4\r\nPING\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.error(), "");
}

// A long argument delivered one byte at a time must not be rescanned on every call.
TEST(RespParser, BytewiseIsLinear) {
  const std::string big(1 << 20, 'v');
  const std::string in = multibulk({"SET", "k", big}) + "PING " + std::string(60000, 'a') + "\n";
  const auto got = parse_bytewise(in);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].args[2], big);
  EXPECT_EQ(got[1].args.size(), 2u);
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  static const char kAlphabet[] = "ab\r\n\0$*\"' \\x9";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
  return s;
}

// A pipeline of many mixed commands parses identically whatever the read sizes.
TEST(RespParser, PipelinesInRandomSplits) {
  std::mt19937 rng(42);
  std::string stream;
  std::vector<Parsed> expected;
  for (int i = 0; i < 2000; ++i) {
    switch (rng() % 4) {
      case 0:
      case 1: {
        Args args;
        const size_t argc = 1 + rng() % 5;
        for (size_t a = 0; a < argc; ++a) args.push_back(random_bytes(rng, rng() % 40));
        stream += multibulk(args);
        expected.push_back(done(args));
        break;
      }
      case 2: {
        stream += "GET key:" + std::to_string(i) + "\r\n";
        expected.push_back(done({"GET", "key:" + std::to_string(i)}));
        break;
      }
      default:
        stream += "SET \"k\\x41 " + std::to_string(i) + "\" 'v\\'' \n";
        expected.push_back(done({"SET", "kA " + std::to_string(i), "v'"}));
    }
  }
  EXPECT_EQ(parse_whole(stream), expected);
  EXPECT_EQ(parse_bytewise(stream), expected);
  for (uint32_t seed = 1; seed <= 20; ++seed) EXPECT_EQ(parse_random(stream, seed), expected);
}

}  // namespace
}  // namespace strata::protocol
