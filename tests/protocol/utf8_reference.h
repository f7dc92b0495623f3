// A second UTF-8 validator for cross-checks, written the other way round from
// protocol/utf8.cc: it decodes each code point and then judges its value (overlong, surrogate,
// past U+10FFFF), where the codec narrows the second byte's range instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strata::protocol::testing {

inline bool reference_utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<uint8_t>(s[i]);
    size_t length;
    uint32_t cp;
    uint32_t min;
    if (lead < 0x80) {
      length = 1, cp = lead, min = 0;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2, cp = lead & 0x1f, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, cp = lead & 0x0f, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, cp = lead & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

}  // namespace strata::protocol::testing
