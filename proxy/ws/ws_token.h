// The WebSocket channel's tokens: JWTs (compact serialization) signed with HS256 under the
// `[websocket] secret` (docs/websocket.md, "Auth"). Pure: no I/O, no clock (the time is an
// argument), no exceptions. Verifying is strict: the header is {"alg":"HS256"} with an optional
// "typ":"JWT" and nothing else, base64url is unpadded and canonical, the signature is compared
// in constant time before the claims are parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <version>
#if defined(__cpp_lib_expected)
#include <expected>
#endif

namespace strata::proxy {

// A token longer than this is refused before any decoding (it arrives in a URL or a message).
constexpr size_t kWsTokenBytesMax = 8 * 1024;

// What a verified token grants. `read`/`write` are key prefixes (absent in the token: empty).
struct WsClaims {
  std::string sub;    // the subject; absent in the token: ""
  int64_t exp_s = 0;  // expiry, seconds since the epoch; 0: none
  std::vector<std::string> read;
  std::vector<std::string> write;

  bool operator==(const WsClaims&) const = default;
};

enum class WsTokenError : uint8_t {
  kMalformed,    // not three base64url parts of JSON objects, or a header member we do not know
  kAlgorithm,    // alg is not HS256 (none, RS256...)
  kSignature,    // the HMAC does not match
  kExpired,      // now >= exp
  kNotYetValid,  // now < nbf
  kClaims,       // a claim of the wrong type (sub not a string, exp not an integer...)
  kTooLong,      // more than kWsTokenBytesMax bytes
  kNoSecret,     // no secret configured: no token is accepted
};

// A static text for logs and the `error` message's text.
std::string_view ws_token_error_text(WsTokenError error);

// The whole verifier with its result in `out` (filled only when it returns nothing): the fuzz
// build's clang-14 has no std::expected. Everything else calls verify_ws_token.
std::optional<WsTokenError> verify_ws_token_into(std::string_view token, std::string_view secret,
                                                 int64_t now_s, WsClaims* out);

#if defined(__cpp_lib_expected)
// Verifies an HS256 JWT with `secret` at time `now_s`: its claims, or why not.
inline std::expected<WsClaims, WsTokenError> verify_ws_token(std::string_view token,
                                                             std::string_view secret,
                                                             int64_t now_s) {
  WsClaims claims;
  if (const std::optional<WsTokenError> error =
          verify_ws_token_into(token, secret, now_s, &claims)) {
    return std::unexpected(*error);
  }
  return claims;
}
#endif

// True when `key` starts with one of `prefixes`.
bool ws_claims_allow(const std::vector<std::string>& prefixes, std::string_view key);
// True when a subscription to `prefix` stays inside the grant: `prefix` starts with one of
// `prefixes` (a grant of "chat:" allows "chat:room1:", not "cha").
bool ws_claims_allow_prefix(const std::vector<std::string>& prefixes, std::string_view prefix);

// For tests, the demo and benchmarks: `claims` signed with `secret` (HS256). `exp` is left out
// when 0, `sub` when empty. Strings that are not UTF-8 are signed with U+FFFD in their place.
std::string sign_ws_token(const WsClaims& claims, std::string_view secret);
// The same for any header and payload text, as they are (tests of what verification refuses).
std::string sign_ws_token_json(std::string_view header_json, std::string_view payload_json,
                               std::string_view secret);

}  // namespace strata::proxy
