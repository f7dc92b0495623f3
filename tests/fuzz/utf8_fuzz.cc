// libFuzzer target for protocol/utf8 (the strict, incremental UTF-8 validator under the
// WebSocket frame decoder and the channel's messages). Besides crashes and sanitizer reports
// it checks:
//  - whole-input validation agrees with an independently written reference validator;
//  - feeding the bytes in pieces (split points taken from the input) gives the same answer,
//    and a validator that refused a byte stays refused;
//  - complete() is true exactly when the accepted bytes end on a code point boundary.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "protocol/utf8.h"
#include "tests/protocol/utf8_reference.h"
#include "tests/fuzz/fuzz_util.h"

using strata::protocol::testing::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::protocol;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const bool whole = utf8_valid(in);
  check(whole == testing::reference_utf8_valid(in), "agrees with the reference");
  Utf8Validator v;
  bool ok = true;
  size_t at = 0;
  size_t step = size > 0 ? (data[0] % 7) + 1 : 1;
  while (at < size) {
    const size_t n = std::min(step, size - at);
    const bool fed = v.feed(in.substr(at, n));
    check(ok || !fed, "a refusal sticks");
    ok = ok && fed;
    at += n;
    step = (data[at % size] % 13) + 1;
  }
  check((ok && v.complete()) == whole, "pieces agree with the whole");
  // A prefix that is valid so far and ends mid code point: complete() says so.
  if (whole && size > 0) {
    Utf8Validator p;
    check(p.feed(in.substr(0, size - 1)), "a prefix of valid text is accepted so far");
    check(p.complete() == testing::reference_utf8_valid(in.substr(0, size - 1)),
          "complete() marks code point boundaries");
  }
  return 0;
}
