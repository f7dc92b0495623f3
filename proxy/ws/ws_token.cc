#include "proxy/ws/ws_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "protocol/base64.h"

namespace strata::proxy {

namespace {

using nlohmann::json;
// Unpadded and strict: a token has one spelling, the one its signature covers.
using protocol::base64url_decode;
using protocol::base64url_encode;

constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";
constexpr size_t kMacBytes = 32;  // SHA-256
using Mac = std::array<unsigned char, kMacBytes>;

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool hmac_sha256(std::string_view secret, std::string_view data, Mac* mac) {
  unsigned int len = 0;
  const char* key = secret.empty() ? "" : secret.data();
  const unsigned char* md = HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), bytes_of(data),
                                 data.size(), mac->data(), &len);
  return md != nullptr && len == kMacBytes;
}

// {"alg":"HS256"} plus an optional "typ":"JWT", nothing else.
std::optional<WsTokenError> check_header(std::string_view text) {
  const json header = json::parse(text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return WsTokenError::kMalformed;
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != "HS256") return WsTokenError::kAlgorithm;
  for (const auto& [name, value] : header.items()) {
    if (name == "alg") continue;
    if (name != "typ" || !value.is_string() || value != "JWT") return WsTokenError::kMalformed;
  }
  return std::nullopt;
}

// Integer seconds (a NumericDate without a fraction): false when `name` is present as
// anything else.
bool read_seconds(const json& claims, const char* name, std::optional<int64_t>* out) {
  const auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (!it->is_number_integer()) return false;
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return false;
  }
  *out = it->get<int64_t>();
  return true;
}

bool read_prefixes(const json& claims, const char* name, std::vector<std::string>* out) {
  const auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (!it->is_array()) return false;
  for (const json& prefix : *it) {
    if (!prefix.is_string()) return false;
    out->push_back(prefix.get<std::string>());
  }
  return true;
}

std::optional<WsTokenError> read_claims(std::string_view text, int64_t now_s, WsClaims* out) {
  const json claims = json::parse(text, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return WsTokenError::kMalformed;
  WsClaims c;
  if (const auto sub = claims.find("sub"); sub != claims.end()) {
    if (!sub->is_string()) return WsTokenError::kClaims;
    c.sub = sub->get<std::string>();
  }
  std::optional<int64_t> exp_s;
  std::optional<int64_t> nbf_s;
  if (!read_seconds(claims, "exp", &exp_s) || !read_seconds(claims, "nbf", &nbf_s) ||
      !read_prefixes(claims, "read", &c.read) || !read_prefixes(claims, "write", &c.write)) {
    return WsTokenError::kClaims;
  }
  if (exp_s && now_s >= *exp_s) return WsTokenError::kExpired;
  if (nbf_s && now_s < *nbf_s) return WsTokenError::kNotYetValid;
  c.exp_s = exp_s.value_or(0);
  *out = std::move(c);
  return std::nullopt;
}

}  // namespace

std::string_view ws_token_error_text(WsTokenError error) {
  switch (error) {
    case WsTokenError::kMalformed:
      return "malformed token";
    case WsTokenError::kAlgorithm:
      return "token algorithm is not HS256";
    case WsTokenError::kSignature:
      return "bad token signature";
    case WsTokenError::kExpired:
      return "token expired";
    case WsTokenError::kNotYetValid:
      return "token not yet valid (nbf)";
    case WsTokenError::kClaims:
      return "token claim of the wrong type";
    case WsTokenError::kTooLong:
      return "token too long";
    case WsTokenError::kNoSecret:
      return "no token secret configured";
  }
  return "unknown token error";
}

std::optional<WsTokenError> verify_ws_token_into(std::string_view token, std::string_view secret,
                                                 int64_t now_s, WsClaims* out) {
  if (secret.empty()) return WsTokenError::kNoSecret;
  if (token.size() > kWsTokenBytesMax) return WsTokenError::kTooLong;
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return WsTokenError::kMalformed;
  }
  const std::optional<std::string> header = base64url_decode(token.substr(0, dot1));
  if (!header) return WsTokenError::kMalformed;
  if (const std::optional<WsTokenError> error = check_header(*header)) return error;

  // The signature is checked before the payload is even decoded: unsigned bytes never reach
  // the JSON parser.
  const std::optional<std::string> signature = base64url_decode(token.substr(dot2 + 1));
  if (!signature) return WsTokenError::kMalformed;
  Mac mac;
  if (signature->size() != kMacBytes || !hmac_sha256(secret, token.substr(0, dot2), &mac) ||
      CRYPTO_memcmp(signature->data(), mac.data(), kMacBytes) != 0) {
    return WsTokenError::kSignature;
  }
  const std::optional<std::string> payload =
      base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return WsTokenError::kMalformed;
  return read_claims(*payload, now_s, out);
}

bool ws_claims_allow(const std::vector<std::string>& prefixes, std::string_view key) {
  for (const std::string& prefix : prefixes) {
    if (key.starts_with(prefix)) return true;
  }
  return false;
}

bool ws_claims_allow_prefix(const std::vector<std::string>& prefixes, std::string_view prefix) {
  // Every key under `prefix` starts with an allowed prefix exactly when `prefix` itself does.
  return ws_claims_allow(prefixes, prefix);
}

std::string sign_ws_token_json(std::string_view header_json, std::string_view payload_json,
                               std::string_view secret) {
  std::string token = base64url_encode(header_json);
  token += '.';
  token += base64url_encode(payload_json);
  Mac mac{};
  hmac_sha256(secret, token, &mac);  // only fails out of memory: the token then fails to verify
  token += '.';
  token +=
      base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return token;
}

std::string sign_ws_token(const WsClaims& claims, std::string_view secret) {
  json payload = json::object();
  if (!claims.sub.empty()) payload["sub"] = claims.sub;
  if (claims.exp_s != 0) payload["exp"] = claims.exp_s;
  payload["read"] = claims.read;
  payload["write"] = claims.write;
  // `replace`: a string that is not UTF-8 must not throw (no exceptions here).
  return sign_ws_token_json(kHeaderJson,
                            payload.dump(-1, ' ', false, json::error_handler_t::replace), secret);
}

}  // namespace strata::proxy
