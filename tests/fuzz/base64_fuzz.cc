// libFuzzer target for protocol/base64 (strict decoding over libcrypto: values on the
// WebSocket channel, tokens, the handshake). Besides crashes and sanitizer reports it checks:
//  - whatever a decoder accepts encodes back to exactly the input (one spelling per bytes);
//  - any bytes encode to text both decoders give back unchanged, and that text's characters
//    are all in the alphabet;
//  - the two alphabets agree: the url text is the standard one translated and unpadded.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/base64.h"
#include "tests/fuzz/fuzz_util.h"

using strata::protocol::testing::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::protocol;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto bytes = base64_decode(in)) check(base64_encode(*bytes) == in, "standard: one spelling");
  if (auto bytes = base64url_decode(in)) check(base64url_encode(*bytes) == in, "url: one spelling");
  const std::string text = base64_encode(in), url = base64url_encode(in);
  auto back = base64_decode(text);
  check(back && *back == in, "standard: round trip");
  auto url_back = base64url_decode(url);
  check(url_back && *url_back == in, "url: round trip");
  for (char c : text) check(c == '=' || is_base64_char(c), "standard: alphabet");
  std::string translated = text;
  while (!translated.empty() && translated.back() == '=') translated.pop_back();
  for (char& c : translated) c = c == '+' ? '-' : c == '/' ? '_' : c;
  check(translated == url, "the alphabets agree");
  return 0;
}
