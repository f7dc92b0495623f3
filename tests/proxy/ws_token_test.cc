#include "proxy/ws/ws_token.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace strata::proxy {
namespace {

constexpr int64_t kNowS = 1'767'000'000;  // December 2025
constexpr std::string_view kSecret = "change-me";
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

std::string token_with(std::string_view payload_json) {
  return sign_ws_token_json(kHeader, payload_json, kSecret);
}

std::optional<WsTokenError> error_of(std::string_view token, int64_t now_s = kNowS) {
  const auto claims = verify_ws_token(token, kSecret, now_s);
  if (claims) return std::nullopt;
  return claims.error();
}

// The token's three parts.
std::vector<std::string> parts_of(const std::string& token) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  return {token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1)};
}

std::string join(const std::string& header, const std::string& payload,
                 const std::string& signature) {
  return header + "." + payload + "." + signature;
}

WsClaims alice() {
  return {.sub = "alice",
          .exp_s = 1'767'225'600,
          .read = {"chat:", "profile:alice"},
          .write = {"chat:"}};
}

// The jwt.io example token, as every JWT library signs it.
TEST(WsToken, KnownVectorJwtIo) {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const auto claims = verify_ws_token(token, "your-256-bit-secret", kNowS);
  ASSERT_TRUE(claims) << ws_token_error_text(claims.error());
  EXPECT_EQ(claims->sub, "1234567890");
  EXPECT_EQ(claims->exp_s, 0);  // none: "name" and "iat" are not ours and are ignored
  EXPECT_TRUE(claims->read.empty());
  EXPECT_TRUE(claims->write.empty());
  EXPECT_EQ(verify_ws_token(token, "my-256-bit-secret", kNowS).error(), WsTokenError::kSignature);
}

// docs/websocket.md's example claims, signed by Python's hmac module (compact JSON, sorted
// keys): the signer makes the same bytes.
TEST(WsToken, KnownVectorMatchesSigner) {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJleHAiOjE3NjcyMjU2MDAsInJlYWQiOlsiY2hhdDoiLCJwcm9maWxlOmFsaWNlIl0sInN1YiI6ImFsaWNlIiwid3"
      "JpdGUiOlsiY2hhdDoiXX0."
      "v6qUKj4dXzH6E8Ke6rwXTdUa_60-9Lai3yMwFLGYb3Y";
  const auto claims = verify_ws_token(token, kSecret, kNowS);
  ASSERT_TRUE(claims) << ws_token_error_text(claims.error());
  EXPECT_EQ(*claims, alice());
  EXPECT_EQ(sign_ws_token(alice(), kSecret), token);
}

TEST(WsToken, RoundTrip) {
  const std::vector<WsClaims> cases = {
      alice(),
      {},
      {.sub = "bob \"quoted\" \\ \n é 🎉", .exp_s = kNowS + 1, .read = {""}, .write = {}},
      {.sub = "", .exp_s = -5, .read = {"a", "b", "c"}, .write = {"x:"}},
  };
  for (const WsClaims& c : cases) {
    const int64_t now_s = c.exp_s < 0 ? -10 : kNowS;
    const auto back = verify_ws_token(sign_ws_token(c, kSecret), kSecret, now_s);
    ASSERT_TRUE(back) << ws_token_error_text(back.error());
    EXPECT_EQ(*back, c);
  }
}

TEST(WsToken, TamperedPayload) {
  const std::vector<std::string> a = parts_of(sign_ws_token(alice(), kSecret));
  WsClaims wider = alice();
  wider.write = {""};
  const std::vector<std::string> b = parts_of(sign_ws_token(wider, kSecret));
  EXPECT_EQ(error_of(join(a[0], b[1], a[2])), WsTokenError::kSignature);
  std::string flipped = a[1];
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(error_of(join(a[0], flipped, a[2])), WsTokenError::kSignature);
}

TEST(WsToken, TamperedSignatureOneByte) {
  const std::vector<std::string> p = parts_of(sign_ws_token(alice(), kSecret));
  for (size_t i : {size_t{0}, size_t{20}, p[2].size() - 2}) {
    std::string sig = p[2];
    sig[i] = sig[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(error_of(join(p[0], p[1], sig)), WsTokenError::kSignature) << i;
  }
  // Well-formed base64url of the wrong length: 0, 3 and 64 bytes.
  for (const std::string& sig : {std::string(), std::string("AAAA"), std::string(86, 'A')}) {
    EXPECT_EQ(error_of(join(p[0], p[1], sig)), WsTokenError::kSignature) << sig;
  }
}

TEST(WsToken, WrongSecret) {
  const std::string token = sign_ws_token(alice(), "another secret");
  EXPECT_EQ(error_of(token), WsTokenError::kSignature);
  EXPECT_EQ(verify_ws_token(token, "", kNowS).error(), WsTokenError::kNoSecret);
}

TEST(WsToken, NoSecretRefusesEverything) {
  EXPECT_EQ(verify_ws_token(sign_ws_token(alice(), ""), "", kNowS).error(),
            WsTokenError::kNoSecret);
}

TEST(WsToken, AlgorithmMustBeHs256) {
  const std::string payload = R"({"sub":"alice"})";
  for (std::string_view header :
       {R"({"alg":"none","typ":"JWT"})", R"({"alg":"none"})", R"({"alg":"RS256","typ":"JWT"})",
        R"({"alg":"HS512","typ":"JWT"})", R"({"alg":"hs256","typ":"JWT"})", R"({"typ":"JWT"})",
        R"({"alg":null})", R"({"alg":["HS256"]})"}) {
    const std::string token = sign_ws_token_json(header, payload, kSecret);
    EXPECT_EQ(error_of(token), WsTokenError::kAlgorithm) << header;
    // The classic "alg":"none" token has an empty signature.
    EXPECT_EQ(error_of(token.substr(0, token.rfind('.') + 1)), WsTokenError::kAlgorithm);
  }
}

TEST(WsToken, HeaderHoldsNothingElse) {
  const std::string payload = R"({"sub":"alice"})";
  EXPECT_FALSE(error_of(sign_ws_token_json(R"({"alg":"HS256"})", payload, kSecret)));
  for (std::string_view header :
       {R"({"alg":"HS256","typ":"JWS"})", R"({"alg":"HS256","typ":1})",
        R"({"alg":"HS256","kid":"k1"})", R"({"alg":"HS256","crit":["exp"]})", R"(["HS256"])",
        R"({"alg":"HS256")", ""}) {
    EXPECT_EQ(error_of(sign_ws_token_json(header, payload, kSecret)), WsTokenError::kMalformed)
        << header;
  }
}

TEST(WsToken, PartsAndPadding) {
  const std::string token = sign_ws_token(alice(), kSecret);
  const std::vector<std::string> p = parts_of(token);
  EXPECT_EQ(p[2].size(), 43u);  // 32 bytes, unpadded
  EXPECT_EQ(error_of(token + "="), WsTokenError::kMalformed);
  EXPECT_EQ(error_of(token + "=="), WsTokenError::kMalformed);
  const std::vector<std::string> h =
      parts_of(sign_ws_token_json(R"({"alg": "HS256"})", "{}", kSecret));
  ASSERT_EQ(h[0].size() % 4, 2u);  // 16 bytes
  EXPECT_FALSE(error_of(join(h[0], h[1], h[2])));
  EXPECT_EQ(error_of(join(h[0] + "==", h[1], h[2])), WsTokenError::kMalformed);
  for (std::string_view bad : {"", ".", "..", "a.b", "a.b.c.d", ".x.y", "x..y"}) {
    EXPECT_EQ(error_of(bad), WsTokenError::kMalformed) << bad;
  }
  EXPECT_EQ(error_of(token + "." + p[2]), WsTokenError::kMalformed);
}

TEST(WsToken, BadBase64Characters) {
  const std::vector<std::string> p = parts_of(sign_ws_token(alice(), kSecret));
  for (char c : {'+', '/', '*', ' ', '\0', '\n', '='}) {
    std::string sig = p[2];
    sig[10] = c;
    EXPECT_EQ(error_of(join(p[0], p[1], sig)), WsTokenError::kMalformed) << int{c};
    std::string header = p[0];
    header[3] = c;
    EXPECT_EQ(error_of(join(header, p[1], p[2])), WsTokenError::kMalformed) << int{c};
    // The payload is decoded only once the signature over its text matched.
    std::string payload = p[1];
    payload[3] = c;
    EXPECT_EQ(error_of(join(p[0], payload, p[2])), WsTokenError::kSignature) << int{c};
  }
  EXPECT_EQ(error_of(join(" " + p[0], p[1], p[2])), WsTokenError::kMalformed);
  EXPECT_EQ(error_of(join(p[0], p[1], p[2] + " ")), WsTokenError::kMalformed);
  // A length no base64 has (4n + 1).
  EXPECT_EQ(error_of(join(p[0], p[1], p[2] + "AA")), WsTokenError::kMalformed);
}

// 43 characters carry 258 bits for 256: a last character that differs only in the 2 unused bits
// decodes to the same signature, and is refused.
TEST(WsToken, NonCanonicalBase64) {
  const std::vector<std::string> p = parts_of(sign_ws_token(alice(), kSecret));
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string sig = p[2];
  const size_t value = kAlphabet.find(sig.back());
  ASSERT_EQ(value & 3, 0u);
  sig.back() = kAlphabet[value | 1];
  EXPECT_EQ(error_of(join(p[0], p[1], sig)), WsTokenError::kMalformed);
}

TEST(WsToken, Expiry) {
  WsClaims c = alice();
  c.exp_s = kNowS + 1;
  EXPECT_FALSE(error_of(sign_ws_token(c, kSecret)));
  c.exp_s = kNowS;
  EXPECT_EQ(error_of(sign_ws_token(c, kSecret)), WsTokenError::kExpired);
  EXPECT_EQ(error_of(sign_ws_token(c, kSecret), kNowS - 1), std::nullopt);
  c.exp_s = 0;  // none
  EXPECT_FALSE(error_of(sign_ws_token(c, kSecret), INT64_MAX));
  EXPECT_EQ(error_of(token_with(R"({"exp":0})")), WsTokenError::kExpired);
}

TEST(WsToken, NotBefore) {
  const std::string later = token_with(R"({"nbf":)" + std::to_string(kNowS + 10) + "}");
  EXPECT_EQ(error_of(later), WsTokenError::kNotYetValid);
  EXPECT_FALSE(error_of(later, kNowS + 10));
  EXPECT_FALSE(error_of(token_with(R"({"nbf":)" + std::to_string(kNowS) + "}")));
  EXPECT_EQ(error_of(token_with(R"({"nbf":"soon"})")), WsTokenError::kClaims);
}

TEST(WsToken, ClaimsOfTheWrongType) {
  for (std::string_view payload : {
           R"({"read":"chat:"})",
           R"({"read":[1]})",
           R"({"read":["chat:",null]})",
           R"({"write":{"chat:":true}})",
           R"({"write":[["chat:"]]})",
           R"({"sub":42})",
           R"({"sub":null})",
           R"({"exp":"1767225600"})",
           R"({"exp":1767225600.5})",
           R"({"exp":true})",
           R"({"exp":18446744073709551615})",
       }) {
    EXPECT_EQ(error_of(token_with(payload)), WsTokenError::kClaims) << payload;
  }
  for (std::string_view payload : {R"(["sub"])", "42", "not json", R"({"sub":"a")", ""}) {
    EXPECT_EQ(error_of(token_with(payload)), WsTokenError::kMalformed) << payload;
  }
}

TEST(WsToken, AbsentClaimsAreEmpty) {
  const auto claims = verify_ws_token(token_with(R"({"exp":1767225600})"), kSecret, kNowS);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->sub, "");
  EXPECT_EQ(claims->exp_s, 1'767'225'600);
  EXPECT_TRUE(claims->read.empty());
  EXPECT_TRUE(claims->write.empty());
}

TEST(WsToken, LengthLimit) {
  bool saw_max = false;
  bool saw_over = false;
  for (size_t n = kWsTokenBytesMax * 3 / 4 - 200; !saw_over || !saw_max; ++n) {
    ASSERT_LT(n, kWsTokenBytesMax);
    WsClaims c = alice();
    c.sub.assign(n, 's');
    const std::string token = sign_ws_token(c, kSecret);
    if (token.size() <= kWsTokenBytesMax) {
      EXPECT_FALSE(error_of(token)) << token.size();
      saw_max = saw_max || token.size() == kWsTokenBytesMax;
    } else {
      EXPECT_EQ(error_of(token), WsTokenError::kTooLong) << token.size();
      saw_over = true;
    }
  }
  EXPECT_EQ(error_of(std::string(kWsTokenBytesMax + 1, '.')), WsTokenError::kTooLong);
}

TEST(WsToken, ErrorTexts) {
  std::set<std::string_view> texts;
  for (WsTokenError e :
       {WsTokenError::kMalformed, WsTokenError::kAlgorithm, WsTokenError::kSignature,
        WsTokenError::kExpired, WsTokenError::kNotYetValid, WsTokenError::kClaims,
        WsTokenError::kTooLong, WsTokenError::kNoSecret}) {
    EXPECT_FALSE(ws_token_error_text(e).empty());
    texts.insert(ws_token_error_text(e));
  }
  EXPECT_EQ(texts.size(), 8u);
}

TEST(WsClaimsAllow, KeysStartWithAGrant) {
  const std::vector<std::string> grant = {"chat:", "profile:alice"};
  EXPECT_TRUE(ws_claims_allow(grant, "chat:1"));
  EXPECT_TRUE(ws_claims_allow(grant, "chat:"));
  EXPECT_TRUE(ws_claims_allow(grant, "profile:alice"));
  EXPECT_TRUE(ws_claims_allow(grant, "profile:alice:avatar"));
  EXPECT_FALSE(ws_claims_allow(grant, "chatx"));
  EXPECT_FALSE(ws_claims_allow(grant, "chat"));
  EXPECT_FALSE(ws_claims_allow(grant, "profile:bob"));
  EXPECT_FALSE(ws_claims_allow(grant, ""));
  EXPECT_FALSE(ws_claims_allow({}, "chat:1"));
  EXPECT_TRUE(ws_claims_allow({""}, "anything"));
}

TEST(WsClaimsAllow, PrefixesStayInsideAGrant) {
  const std::vector<std::string> grant = {"chat:"};
  EXPECT_TRUE(ws_claims_allow_prefix(grant, "chat:"));
  EXPECT_TRUE(ws_claims_allow_prefix(grant, "chat:room1:"));
  EXPECT_FALSE(ws_claims_allow_prefix(grant, "cha"));  // would reach "chatx"
  EXPECT_FALSE(ws_claims_allow_prefix(grant, "chat"));
  EXPECT_FALSE(ws_claims_allow_prefix(grant, ""));
  EXPECT_FALSE(ws_claims_allow_prefix(grant, "chatx:"));
  EXPECT_FALSE(ws_claims_allow_prefix({}, "chat:"));
  EXPECT_TRUE(ws_claims_allow_prefix({""}, ""));
}

}  // namespace
}  // namespace strata::proxy
