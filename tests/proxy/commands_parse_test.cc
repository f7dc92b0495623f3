// number_parse and glob_match: the strict rules of Redis's util.c.
#include <cmath>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "proxy/commands/glob_match.h"
#include "proxy/commands/number_parse.h"

namespace strata::proxy {
namespace {

TEST(String2ll, AcceptsCanonicalIntegers) {
  int64_t v = 0;
  EXPECT_TRUE(string2ll("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(string2ll("-1", &v));
  EXPECT_EQ(v, -1);
  EXPECT_TRUE(string2ll("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(string2ll("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(string2ll("1234567890", &v));
  EXPECT_EQ(v, 1234567890);
}

TEST(String2ll, RejectsAnythingRedisRejects) {
  int64_t v = 42;
  for (const char* s : {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1.0", "1e3", "0x1",
                        "9223372036854775808", "-9223372036854775809", "99999999999999999999",
                        "123456789012345678901", "--1", "1-", "abc"}) {
    EXPECT_FALSE(string2ll(s, &v)) << s;
  }
  EXPECT_FALSE(string2ll(std::string_view("1\0", 2), &v));
  EXPECT_EQ(v, 42);
}

TEST(String2ld, FollowsStrtoldWithRedisRestrictions) {
  long double v = 0;
  EXPECT_TRUE(string2ld("1.5", &v));
  EXPECT_EQ(v, 1.5L);
  EXPECT_TRUE(string2ld("-3e2", &v));
  EXPECT_EQ(v, -300.0L);
  EXPECT_TRUE(string2ld(".5", &v));
  EXPECT_TRUE(string2ld("5.", &v));
  EXPECT_TRUE(string2ld("0x10", &v));  // strtold reads hex
  EXPECT_EQ(v, 16.0L);
  EXPECT_TRUE(string2ld("inf", &v));  // Redis parses it; INCRBYFLOAT then refuses the result
  for (const char* s : {"", " 1", "1 ", "nan", "abc", "1e99999", "-1e99999", "1e-99999", "1,5"}) {
    EXPECT_FALSE(string2ld(s, &v)) << s;
  }
  EXPECT_FALSE(string2ld(std::string(kLongDoubleCharsMax, '1'), &v));
  EXPECT_FALSE(string2ld(std::string_view("1\0", 2), &v));
}

std::string human(long double v) {
  char buf[kLongDoubleCharsMax];
  const size_t n = ld2string_human(buf, sizeof(buf), v);
  return std::string(buf, n);
}

TEST(Ld2string, HumanFormatTrimsZeroes) {
  EXPECT_EQ(human(0), "0");
  EXPECT_EQ(human(-0.0L), "0");
  EXPECT_EQ(human(10.5L), "10.5");
  EXPECT_EQ(human(3.0L), "3");
  EXPECT_EQ(human(-2.25L), "-2.25");
  EXPECT_EQ(human(0.1L + 0.2L), "0.3");
  EXPECT_EQ(human(0.1L), "0.1");
  EXPECT_EQ(human(1e20L), "100000000000000000000");
  EXPECT_EQ(human(1.0L / 3), "0.33333333333333333");
  EXPECT_EQ(human(HUGE_VALL), "inf");
  EXPECT_EQ(human(-HUGE_VALL), "-inf");
}

TEST(Ll2string, Decimal) {
  char buf[32];
  EXPECT_EQ(std::string(buf, ll2string(buf, INT64_MIN)), "-9223372036854775808");
  EXPECT_EQ(std::string(buf, ll2string(buf, 0)), "0");
}

TEST(GlobMatch, Basics) {
  // Redis only shortcuts a lone "*" before matching; the matcher itself needs a character.
  EXPECT_FALSE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));  // reversed range
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_FALSE(glob_match("a", ""));
}

TEST(GlobMatch, RedisQuirks) {
  // An unterminated class matches against the pattern's end.
  EXPECT_FALSE(glob_match("a[", "a["));
  EXPECT_TRUE(glob_match("a[b", "ab"));
  // A trailing backslash matches itself.
  EXPECT_TRUE(glob_match("a\\", "a\\"));
  EXPECT_FALSE(glob_match("[]]", "]"));  // "[]" is an empty class
  EXPECT_TRUE(glob_match("x[-]y", "x-y"));
  EXPECT_TRUE(glob_match("[\\]]", "]"));
  // Trailing stars match the empty rest.
  EXPECT_TRUE(glob_match("ab***", "ab"));
  EXPECT_TRUE(glob_match("HELLO", "hello", true));
  EXPECT_TRUE(glob_match("[A-Z]ello", "hello", true));
  EXPECT_FALSE(glob_match("HELLO", "hello"));
}

TEST(GlobMatch, AbusivePatternsTerminate) {
  const std::string text(5000, 'a');
  std::string pattern;
  for (int i = 0; i < 2000; ++i) pattern += "*a";
  pattern += "b";
  EXPECT_FALSE(glob_match(pattern, text));
}

TEST(GlobMatch, EmbeddedNulBytes) {
  EXPECT_TRUE(glob_match(std::string_view("a\0*", 3), std::string_view("a\0bc", 4)));
  EXPECT_FALSE(glob_match(std::string_view("a\0", 2), std::string_view("a", 1)));
}

}  // namespace
}  // namespace strata::proxy
