// Base64 (RFC 4648) in the two spellings strata speaks: the standard alphabet with padding
// (binary values in WebSocket messages, Sec-WebSocket-Accept) and the URL alphabet without
// padding (JWTs, RFC 7515 section 2).
//
// Decoding is strict: every string of bytes has exactly one encoding it accepts. Refused are
// characters outside the alphabet (whitespace and line breaks included), a length no encoding
// has, padding that is missing, misplaced or (for base64url) present at all, and a last
// character whose unused low bits are not zero. A lenient decoder would let one token or value
// be written several ways, which matters wherever bytes are compared or signed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace strata::protocol {

// Standard alphabet ('+' and '/'), padded with '=' to a multiple of 4 characters.
std::string base64_encode(std::string_view bytes);
// The same, appended to *out (a large value goes straight into the message being composed).
void append_base64(std::string* out, std::string_view bytes);
// The bytes of a padded standard-alphabet encoding, or nullopt.
std::optional<std::string> base64_decode(std::string_view text);

// URL alphabet ('-' and '_'), no padding.
std::string base64url_encode(std::string_view bytes);
// The bytes of an unpadded URL-alphabet encoding, or nullopt.
std::optional<std::string> base64url_decode(std::string_view text);

// True for the 64 characters of the standard alphabet ('=' is not one of them).
bool is_base64_char(char c);

}  // namespace strata::protocol
