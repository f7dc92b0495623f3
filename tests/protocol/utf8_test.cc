// The incremental UTF-8 validator against an independent one: every string of one to three
// bytes, four-byte strings around every lead byte, and the same strings fed in two pieces.
#include "protocol/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/protocol/utf8_reference.h"

namespace strata::protocol {
namespace {

using testing::reference_utf8_valid;

bool valid_in_two(std::string_view s, size_t cut) {
  Utf8Validator v;
  return v.feed(s.substr(0, cut)) && v.feed(s.substr(cut)) && v.complete();
}

TEST(Utf8, EveryShortString) {
  std::string s;
  for (size_t length = 1; length <= 3; ++length) {
    for (uint32_t n = 0; n < (1u << (8 * length)); ++n) {
      s.clear();
      for (size_t i = 0; i < length; ++i) s.push_back(static_cast<char>(n >> (8 * i)));
      const bool expected = reference_utf8_valid(s);
      if (utf8_valid(s) != expected || (length > 1 && valid_in_two(s, length - 1) != expected)) {
        FAIL() << ::testing::PrintToString(s) << " should be " << (expected ? "valid" : "invalid");
      }
    }
  }
}

TEST(Utf8, FourByteStrings) {
  std::mt19937 rng(11);
  std::string s(4, '\0');
  for (uint32_t lead = 0xe0; lead <= 0xff; ++lead) {
    for (uint32_t second = 0x70; second <= 0xcf; ++second) {
      for (int k = 0; k < 64; ++k) {
        s[0] = static_cast<char>(lead);
        s[1] = static_cast<char>(second);
        s[2] = static_cast<char>(0x70 + rng() % 0x60);
        s[3] = static_cast<char>(0x70 + rng() % 0x60);
        ASSERT_EQ(utf8_valid(s), reference_utf8_valid(s)) << ::testing::PrintToString(s);
        ASSERT_EQ(valid_in_two(s, 1 + k % 3), reference_utf8_valid(s));
      }
    }
  }
}

// The eight-bytes-at-a-time ASCII path hands over to the byte path at every offset.
TEST(Utf8, AsciiRunsAroundMultibyte) {
  for (size_t before = 0; before < 20; ++before) {
    for (size_t after = 0; after < 20; ++after) {
      const std::string ok =
          std::string(before, 'a') + "\xf0\x9f\x98\x80" + std::string(after, 'b');
      EXPECT_TRUE(utf8_valid(ok));
      const std::string bad = std::string(before, 'a') + "\xed\xa0\x80" + std::string(after, 'b');
      EXPECT_FALSE(utf8_valid(bad));
      const std::string cut = std::string(before, 'a') + "\xe2\x82";
      EXPECT_FALSE(utf8_valid(cut));
    }
  }
}

TEST(Utf8, SpentAfterAnError) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed("\xff"));
  EXPECT_FALSE(v.feed("a"));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.feed("a"));
  EXPECT_TRUE(v.complete());
}

}  // namespace
}  // namespace strata::protocol
