#include "protocol/utf8.h"

#include <cstring>

namespace strata::protocol {
namespace {

constexpr uint8_t kContinuationLow = 0x80;
constexpr uint8_t kContinuationHigh = 0xbf;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

}  // namespace

// The second byte's range rules out what the lead byte alone cannot (RFC 3629 section 4):
// E0 A0..BF (no overlong 3-byte), ED 80..9F (no surrogates), F0 90..BF (no overlong 4-byte),
// F4 80..8F (nothing past U+10FFFF). C0, C1 and F5..FF never start a code point.
bool Utf8Validator::feed_byte(uint8_t b) {
  if (need_ > 0) {
    if (b < low_ || b > high_) return false;
    --need_;
    low_ = kContinuationLow;
    high_ = kContinuationHigh;
    return true;
  }
  if (b < 0x80) return true;
  low_ = kContinuationLow;
  high_ = kContinuationHigh;
  if (b >= 0xc2 && b <= 0xdf) {
    need_ = 1;
  } else if (b >= 0xe0 && b <= 0xef) {
    need_ = 2;
    if (b == 0xe0) low_ = 0xa0;
    if (b == 0xed) high_ = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need_ = 3;
    if (b == 0xf0) low_ = 0x90;
    if (b == 0xf4) high_ = 0x8f;
  } else {
    return false;
  }
  return true;
}

bool Utf8Validator::feed(std::string_view bytes) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (need_ == 0 && end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if ((word & kHighBits) == 0) {
        p += 8;
        continue;
      }
    }
    if (!feed_byte(static_cast<uint8_t>(*p++))) {
      // Spent: no byte continues it and complete() stays false.
      need_ = 1;
      low_ = 1;
      high_ = 0;
      return false;
    }
  }
  return true;
}

}  // namespace strata::protocol
