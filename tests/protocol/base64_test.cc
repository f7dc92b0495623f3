// Base64 in both spellings: RFC 4648's test vectors, every rule strict decoding refuses, and
// round trips of random bytes checked against a reference encoder written here bit by bit (the
// code under test is OpenSSL's, so checking it against OpenSSL would prove nothing).
#include "protocol/base64.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace strata::protocol {
namespace {

// RFC 4648's table, built the way section 4 describes it: A-Z, a-z, 0-9, then the two
// characters that differ between the alphabets.
std::string alphabet_with(char value62, char value63) {
  std::string alphabet;
  for (char c = 'A'; c <= 'Z'; ++c) alphabet.push_back(c);
  for (char c = 'a'; c <= 'z'; ++c) alphabet.push_back(c);
  for (char c = '0'; c <= '9'; ++c) alphabet.push_back(c);
  return alphabet + value62 + value63;
}

const std::string kStandardAlphabet = alphabet_with('+', '/');
const std::string kUrlAlphabet = alphabet_with('-', '_');

struct Vector {
  std::string_view bytes;
  std::string_view standard;
  std::string_view url;
};

// RFC 4648 section 10, and section 9's example, whose bytes use both alphabets' last two
// characters.
const Vector kVectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    {"\x14\xfb\x9c\x03\xd9\x7e", "FPucA9l+", "FPucA9l-"},
    {"\x14\xfb\x9c\x03\xd9", "FPucA9k=", "FPucA9k"},
    {"\x14\xfb\x9c\x03", "FPucAw==", "FPucAw"},
    {"\xfb\xff", "+/8=", "-_8"},
};

// RFC 4648 section 4 read literally: the bytes' bits, 6 at a time, zero bits to fill the last
// character, then (padded) '=' up to a multiple of 4 characters.
std::string reference_encode(std::string_view bytes, const std::string& alphabet, bool pad) {
  std::string out;
  uint32_t bits = 0;  // only the low `count` bits are pending
  int count = 0;
  for (const char b : bytes) {
    bits = bits << 8 | static_cast<uint8_t>(b);
    count += 8;
    for (; count >= 6; count -= 6) out.push_back(alphabet[(bits >> (count - 6)) & 63]);
  }
  if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 63]);
  while (pad && out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string random_bytes(std::mt19937* rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>((*rng)() & 0xff);
  return s;
}

TEST(Base64, RfcVectors) {
  for (const Vector& v : kVectors) {
    EXPECT_EQ(base64_encode(v.bytes), v.standard);
    EXPECT_EQ(base64url_encode(v.bytes), v.url);
    EXPECT_EQ(base64_decode(v.standard), std::string(v.bytes)) << v.standard;
    EXPECT_EQ(base64url_decode(v.url), std::string(v.bytes)) << v.url;
  }
}

TEST(Base64, AppendKeepsWhatIsThere) {
  std::string out = "\"v64\":\"";
  append_base64(&out, "fooba");
  EXPECT_EQ(out, "\"v64\":\"Zm9vYmE=");
  append_base64(&out, "");
  EXPECT_EQ(out, "\"v64\":\"Zm9vYmE=");
}

// Every 6-bit value, in both alphabets: three bytes 0x00 0x10 0x83 make "ABCD", and so on.
TEST(Base64, EveryCharacter) {
  std::string bytes;
  for (size_t i = 0; i < 64; i += 4) {
    const uint32_t bits = static_cast<uint32_t>(i << 18 | (i + 1) << 12 | (i + 2) << 6 | (i + 3));
    bytes.push_back(static_cast<char>(bits >> 16));
    bytes.push_back(static_cast<char>(bits >> 8));
    bytes.push_back(static_cast<char>(bits));
  }
  EXPECT_EQ(base64_encode(bytes), kStandardAlphabet);
  EXPECT_EQ(base64url_encode(bytes), kUrlAlphabet);
  EXPECT_EQ(base64_decode(kStandardAlphabet), bytes);
  EXPECT_EQ(base64url_decode(kUrlAlphabet), bytes);
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(is_base64_char(static_cast<char>(c)),
              kStandardAlphabet.find(static_cast<char>(c)) != std::string::npos)
        << c;
  }
}

// Any byte outside the alphabet, anywhere: the other alphabet's two characters, '=' before the
// end, whitespace, NUL, bytes past ASCII.
TEST(Base64, RefusesCharactersOutsideTheAlphabet) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    for (size_t at = 0; at < 4; ++at) {
      std::string standard = "Zm9vYmFy";
      standard[at] = ch;
      const bool in_standard = kStandardAlphabet.find(ch) != std::string::npos;
      EXPECT_EQ(base64_decode(standard).has_value(), in_standard) << c << " at " << at;
      std::string url = "Zm9vYmFy";
      url[at] = ch;
      const bool in_url = kUrlAlphabet.find(ch) != std::string::npos;
      EXPECT_EQ(base64url_decode(url).has_value(), in_url) << c << " at " << at;
    }
  }
}

TEST(Base64, RefusesWhitespace) {
  for (std::string_view text : {" Zm9v", "Zm9v ", "Zm9v\n", "Zm9v\r\n", "\tZm9v", "Zm 9v",
                                "Zm9v\nYmFy", "Zg==\n", "Zg== ", "    "}) {
    EXPECT_FALSE(base64_decode(text)) << text;
    EXPECT_FALSE(base64url_decode(text)) << text;
  }
  // A MIME-style encoding, broken into lines of 76 characters.
  std::string wrapped = base64_encode(std::string(60, 'x'));
  wrapped.insert(76, "\r\n");
  EXPECT_FALSE(base64_decode(wrapped));
}

TEST(Base64, StandardPaddingIsRequiredAndExact) {
  for (std::string_view text : {
           "Zg",       "Zm8",      "Zm9vYg", "Zm9vYmE",              // missing
           "Zg=",      "Zg===",    "Zm8==",  "Zm9v=",   "Zm9v====",  // wrong amount
           "=",        "==",       "===",    "====",    "A===",
           "Z===",                                              // padding only, or a lone character
           "Zg==Zm8=", "Zg==Zm9v", "Zm=v",   "Z=9v",    "=m9v"  // '=' before the end
       }) {
    EXPECT_FALSE(base64_decode(text)) << text;
  }
}

TEST(Base64, UrlRefusesPaddingAndImpossibleLengths) {
  for (std::string_view text : {"Zg==", "Zg=", "Zm8=", "Zm9vYg==", "=", "Zm9v="}) {
    EXPECT_FALSE(base64url_decode(text)) << text;
  }
  // 4n + 1 characters leave 6 bits: less than a byte.
  for (std::string_view text : {"Z", "Zm9vY", "Zm9vYmFyZ"}) EXPECT_FALSE(base64url_decode(text));
}

// The last character of a group of 2 carries 4 bits past the byte, of a group of 3 two: only
// the spelling with those bits zero is accepted, in both alphabets.
TEST(Base64, RefusesNonCanonicalTrailingBits) {
  for (size_t value = 0; value < 64; ++value) {
    const bool zero4 = (value & 15) == 0;
    const bool zero2 = (value & 3) == 0;
    const char standard = kStandardAlphabet[value];
    const char url = kUrlAlphabet[value];
    EXPECT_EQ(base64_decode(std::string("Z") + standard + "==").has_value(), zero4) << value;
    EXPECT_EQ(base64url_decode(std::string("Z") + url).has_value(), zero4) << value;
    EXPECT_EQ(base64_decode(std::string("Zm") + standard + "=").has_value(), zero2) << value;
    EXPECT_EQ(base64url_decode(std::string("Zm") + url).has_value(), zero2) << value;
  }
  EXPECT_FALSE(base64_decode("Zh=="));  // "f" is "Zg=="
  EXPECT_FALSE(base64_decode("Zm9="));  // "fo" is "Zm8="
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_FALSE(base64url_decode("Zm9"));
}

// Whether `text` is what an encoder gives for some bytes. Its characters' bits, 8 at a time and
// '=' skipped, are the one candidate; encoding the candidate must give `text` back.
bool is_encoding(std::string_view text, bool url) {
  const std::string& alphabet = url ? kUrlAlphabet : kStandardAlphabet;
  std::string candidate;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') continue;
    const size_t value = alphabet.find(c);
    if (value == std::string::npos) return false;
    bits = bits << 6 | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      candidate.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return reference_encode(candidate, alphabet, !url) == text;
}

// Strictness as one property: a text decodes exactly when it is an encoding, and to the bytes
// it encodes. Checked on every string of up to 4 characters drawn from characters on the
// rules' edges: values with and without low bits set, both alphabets' extra characters, '=',
// whitespace, NUL and a byte past ASCII.
TEST(Base64, AcceptsExactlyTheEncodings) {
  constexpr std::string_view kChars("ABEQgwZ9+/-_= \0\xff", 16);
  std::string text(4, '\0');
  for (size_t n = 0; n < 16 * 16 * 16 * 16; ++n) {
    for (size_t i = 0, rest = n; i < 4; ++i, rest /= 16) text[i] = kChars[rest % 16];
    for (size_t length = 0; length <= 4; ++length) {
      const std::string_view t = std::string_view(text).substr(0, length);
      const std::optional<std::string> standard = base64_decode(t);
      ASSERT_EQ(standard.has_value(), is_encoding(t, false)) << ::testing::PrintToString(t);
      if (standard) {
        ASSERT_EQ(base64_encode(*standard), t);
      }
      const std::optional<std::string> url = base64url_decode(t);
      ASSERT_EQ(url.has_value(), is_encoding(t, true)) << ::testing::PrintToString(t);
      if (url) {
        ASSERT_EQ(base64url_encode(*url), t);
      }
    }
  }
}

// Both spellings of `bytes` are the reference's and decode back to `bytes`.
void expect_round_trip(const std::string& bytes) {
  const size_t n = bytes.size();
  const std::string standard = base64_encode(bytes);
  EXPECT_EQ(standard, reference_encode(bytes, kStandardAlphabet, true)) << n;
  EXPECT_EQ(base64_decode(standard), bytes) << n;
  const std::string url = base64url_encode(bytes);
  EXPECT_EQ(url, reference_encode(bytes, kUrlAlphabet, false)) << n;
  EXPECT_EQ(base64url_decode(url), bytes) << n;
}

TEST(Base64, RoundTripsEveryLength) {
  std::mt19937 rng(4648);
  for (size_t n = 0; n <= 300; ++n) {
    for (int round = 0; round < 4; ++round) expect_round_trip(random_bytes(&rng, n));
  }
}

// Texts longer than the pieces a decoder may hand to a library (a few KiB): lengths on either
// side of multiples of 3 KiB, and beyond.
TEST(Base64, RoundTripsLongTexts) {
  std::mt19937 rng(2045);
  for (size_t n : {3071u, 3072u, 3073u, 6143u, 6144u, 6145u, 100001u, 1u << 20}) {
    expect_round_trip(random_bytes(&rng, n));
  }
}

// In a long text the rules hold at every group boundary, not only at the text's ends: padding
// ending a group, whitespace starting or ending one, and a line break between two are refused
// wherever they are.
TEST(Base64, LongTextsAreStrictThroughout) {
  std::mt19937 rng(1421);
  const std::string bytes = random_bytes(&rng, 3 * 1200);
  const std::string standard = base64_encode(bytes);
  const std::string url = base64url_encode(bytes);
  ASSERT_EQ(standard.size(), 4800u);
  ASSERT_EQ(base64_decode(standard), bytes);
  ASSERT_EQ(base64url_decode(url), bytes);
  for (size_t at = 4; at < standard.size(); at += 4) {
    const auto refused = [&](const std::string& text, bool is_url, std::string_view what) {
      const bool accepted =
          is_url ? base64url_decode(text).has_value() : base64_decode(text).has_value();
      EXPECT_FALSE(accepted) << what << " at " << at << (is_url ? " (url)" : "");
    };
    for (bool is_url : {false, true}) {
      const std::string& valid = is_url ? url : standard;
      std::string t = valid;
      t.replace(at - 2, 2, "==");
      refused(t, is_url, "\"==\" ending a group");
      t = valid;
      t[at - 1] = '=';
      refused(t, is_url, "'=' ending a group");
      t = valid;
      t[at - 1] = ' ';
      refused(t, is_url, "' ' ending a group");
      t = valid;
      t[at] = '\n';
      refused(t, is_url, "'\\n' starting a group");
      t = valid;
      t.insert(at, "\r\n\r\n");  // keeps the length a multiple of 4
      refused(t, is_url, "a line break between groups");
    }
  }
}

}  // namespace
}  // namespace strata::protocol
