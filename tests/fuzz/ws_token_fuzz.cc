// libFuzzer target for the WebSocket channel's token verifier (proxy/ws/ws_token.h). The first
// byte picks what the rest is (mod 3):
//  0  a token: bytes 1-8 are the time (little-endian), the rest the token itself;
//  1  a payload: the same time, then the payload's JSON text, signed with the fixed header (or,
//     when it holds a '\n', the header's text before it and the payload's after);
//  2  claims, drawn with FuzzedDataProvider, signed by sign_ws_token.
// Besides crashes and sanitizer reports it checks:
//  - whatever verifies signs back (sign_ws_token) to a token that verifies to the same claims
//    (or is too long), and fails with another secret (kSignature) or none (kNoSecret);
//  - signed claims verify back to exactly themselves when their strings are UTF-8 (otherwise
//    to claims with as many prefixes), unless the token is too long (kTooLong) or expired
//    (kExpired, exactly when now >= exp);
//  - a signed token with any one byte changed is refused;
//  - every prefix of a grant allows itself and anything under it.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/ws/ws_token.h"

namespace {

using strata::proxy::kWsTokenBytesMax;
using strata::proxy::sign_ws_token;
using strata::proxy::sign_ws_token_json;
using strata::proxy::verify_ws_token_into;
using strata::proxy::ws_claims_allow;
using strata::proxy::ws_claims_allow_prefix;
using strata::proxy::ws_token_error_text;
using strata::proxy::WsClaims;
using strata::proxy::WsTokenError;

constexpr std::string_view kSecret = "fuzz-secret";
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
constexpr size_t kStringBytesMax = 64;
constexpr size_t kPrefixesMax = 8;

void check(bool ok) {
  if (!ok) std::abort();
}

std::optional<WsTokenError> verify(std::string_view token, int64_t now_s, WsClaims* out,
                                   std::string_view secret = kSecret) {
  const std::optional<WsTokenError> error = verify_ws_token_into(token, secret, now_s, out);
  if (error) check(!ws_token_error_text(*error).empty());
  return error;
}

// Claims that verified: signed again they verify to themselves (unless signing made the token
// longer than the limit: a shorter header, absent prefix lists), and only under our secret.
void check_verified(std::string_view token, const WsClaims& claims, int64_t now_s) {
  const std::string signed_again = sign_ws_token(claims, kSecret);
  WsClaims again;
  const std::optional<WsTokenError> error = verify(signed_again, now_s, &again);
  if (signed_again.size() > kWsTokenBytesMax) {
    check(error == WsTokenError::kTooLong);
  } else {
    check(!error && again == claims);
  }
  WsClaims unused;
  check(verify(token, now_s, &unused, "another secret") == WsTokenError::kSignature);
  check(verify(token, now_s, &unused, "") == WsTokenError::kNoSecret);
}

int64_t take_time(std::string_view* rest) {
  uint64_t t = 0;
  const size_t n = rest->size() < sizeof t ? rest->size() : sizeof t;
  for (size_t i = 0; i < n; ++i) t |= uint64_t{static_cast<uint8_t>((*rest)[i])} << (8 * i);
  rest->remove_prefix(n);
  return static_cast<int64_t>(t);
}

void fuzz_token(std::string_view rest) {
  const int64_t now_s = take_time(&rest);
  WsClaims claims;
  if (!verify(rest, now_s, &claims)) check_verified(rest, claims, now_s);
}

void fuzz_payload(std::string_view rest) {
  const int64_t now_s = take_time(&rest);
  std::string_view header = kHeader;
  if (const size_t nl = rest.find('\n'); nl != std::string_view::npos) {
    header = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  const std::string token = sign_ws_token_json(header, rest, kSecret);
  WsClaims claims;
  const std::optional<WsTokenError> error = verify(token, now_s, &claims);
  if (token.size() > kWsTokenBytesMax) check(error == WsTokenError::kTooLong);
  if (!error) check_verified(token, claims, now_s);
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Raw bytes, or UTF-8 made of code points (no surrogates), mostly ASCII.
std::string take_string(FuzzedDataProvider* in, bool raw) {
  if (raw) return in->ConsumeRandomLengthString(kStringBytesMax);
  std::string s;
  const size_t n = in->ConsumeIntegralInRange<size_t>(0, kStringBytesMax / 4);
  for (size_t i = 0; i < n; ++i) {
    uint32_t cp = in->ConsumeBool() ? in->ConsumeIntegralInRange<uint32_t>(0, 0x7F)
                                    : in->ConsumeIntegralInRange<uint32_t>(0, 0x10FFFF);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
    append_utf8(cp, &s);
  }
  return s;
}

std::vector<std::string> take_prefixes(FuzzedDataProvider* in, bool raw) {
  std::vector<std::string> prefixes(in->ConsumeIntegralInRange<size_t>(0, kPrefixesMax));
  for (std::string& p : prefixes) p = take_string(in, raw);
  return prefixes;
}

void check_grant(const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    check(ws_claims_allow(prefixes, p) && ws_claims_allow(prefixes, p + "x"));
    check(ws_claims_allow_prefix(prefixes, p) && ws_claims_allow_prefix(prefixes, p + ":"));
  }
}

void fuzz_claims(std::string_view rest) {
  FuzzedDataProvider in(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  const bool raw = in.ConsumeBool();
  WsClaims claims;
  claims.sub = take_string(&in, raw);
  claims.exp_s = in.ConsumeBool() ? 0 : in.ConsumeIntegral<int64_t>();
  claims.read = take_prefixes(&in, raw);
  claims.write = take_prefixes(&in, raw);
  const int64_t now_s = in.ConsumeIntegral<int64_t>();
  check_grant(claims.read);
  check_grant(claims.write);

  std::string token = sign_ws_token(claims, kSecret);
  WsClaims back;
  const std::optional<WsTokenError> error = verify(token, now_s, &back);
  if (token.size() > kWsTokenBytesMax) {
    check(error == WsTokenError::kTooLong);
  } else if (claims.exp_s != 0 && now_s >= claims.exp_s) {
    check(error == WsTokenError::kExpired);
  } else {
    check(!error);
    if (!raw) check(back == claims);
    check(back.read.size() == claims.read.size() && back.write.size() == claims.write.size());
  }
  if (token.empty()) return;
  const size_t at = in.ConsumeIntegralInRange<size_t>(0, token.size() - 1);
  token[at] = static_cast<char>(token[at] + in.ConsumeIntegralInRange<int>(1, 255));
  check(verify(token, now_s, &back).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_token(rest);
      break;
    case 1:
      fuzz_payload(rest);
      break;
    default:
      fuzz_claims(rest);
      break;
  }
  return 0;
}
