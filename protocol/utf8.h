// Strict, incremental UTF-8 validation (RFC 3629): no overlong forms, no surrogates
// (U+D800-U+DFFF), nothing past U+10FFFF. A code point may be split across feed() calls.
#pragma once

#include <cstdint>
#include <string_view>

namespace strata::protocol {

class Utf8Validator {
 public:
  // False at the first byte that no valid UTF-8 continues with; the validator is then spent
  // until reset(). Runs of ASCII are checked eight bytes at a time.
  bool feed(std::string_view bytes);
  // True when the bytes so far end on a code point boundary.
  bool complete() const { return need_ == 0; }
  void reset() { *this = Utf8Validator(); }

 private:
  bool feed_byte(uint8_t byte);

  uint8_t need_ = 0;  // continuation bytes still to come in this code point
  uint8_t low_ = 0;   // the range the next continuation byte must be in
  uint8_t high_ = 0;
};

// A whole string (a close reason, say) as one piece.
inline bool utf8_valid(std::string_view bytes) {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace strata::protocol
