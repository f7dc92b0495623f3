// Base64 in both spellings: RFC 4648's test vectors, every rule strict decoding refuses, and
// round trips of random bytes checked against OpenSSL's encoder (an independent one).
#include "protocol/base64.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

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

// OpenSSL's encoding of the same bytes, to check ours against.
std::string openssl_base64(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
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

// Whether `text` is what an encoder gives for some bytes. OpenSSL's lenient decoder accepts
// every encoding (and much more), so it finds the one candidate; encoding the candidate must
// give `text` back.
bool is_encoding(std::string_view text, bool url) {
  std::string standard(text);
  if (url) {
    if (text.size() % 4 == 1) return false;  // no number of bytes takes 4n + 1 characters
    for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
    standard.append((4 - standard.size() % 4) % 4, '=');
  }
  if (standard.size() % 4 != 0) return false;
  std::string bytes(standard.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  const size_t pad = standard.ends_with("==") ? 2 : standard.ends_with('=') ? 1 : 0;
  if (n < static_cast<int>(pad)) return false;
  bytes.resize(static_cast<size_t>(n) - pad);
  return (url ? base64url_encode(bytes) : base64_encode(bytes)) == text;
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

TEST(Base64, RoundTripsEveryLength) {
  std::mt19937 rng(4648);
  for (size_t n = 0; n <= 300; ++n) {
    for (int round = 0; round < 4; ++round) {
      const std::string bytes = random_bytes(&rng, n);
      const std::string standard = base64_encode(bytes);
      EXPECT_EQ(standard, openssl_base64(bytes)) << n;
      EXPECT_EQ(base64_decode(standard), bytes) << n;

      const std::string url = base64url_encode(bytes);
      EXPECT_EQ(url.size(), (n * 4 + 2) / 3) << n;
      std::string translated = standard.substr(0, standard.find('='));
      for (char& c : translated) c = c == '+' ? '-' : c == '/' ? '_' : c;
      EXPECT_EQ(url, translated) << n;
      EXPECT_EQ(base64url_decode(url), bytes) << n;
    }
  }
}

}  // namespace
}  // namespace strata::protocol
