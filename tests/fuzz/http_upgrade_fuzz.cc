// libFuzzer target for the WebSocket handshake parser, with small limits and with the
// defaults. Besides crashes and sanitizer reports it checks:
//  - feeding the bytes cut in two at a point derived from the input, and in pseudo-random
//    pieces (into a buffer that moves between calls), gives exactly the result of feeding
//    them whole;
//  - the result does not depend on what follows: a done head parses the same on its own (the
//    pipelined bytes stay the caller's), an error is the same with more bytes behind it;
//  - a done head is within the limits, ends in CRLF CRLF, has a valid key, and the request
//    written back as a plain head parses to the same request; the 101 answer carries the
//    accept value;
//  - an error has a status the module answers with, a message, and a well-formed answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/http_upgrade.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/protocol/http_harness.h"

namespace {

using strata::protocol::compose_http_error;
using strata::protocol::compose_upgrade_response;
using strata::protocol::http_error;
using strata::protocol::HttpErrorCode;
using strata::protocol::HttpLimits;
using strata::protocol::HttpStatus;
using strata::protocol::HttpUpgradeRequest;
using strata::protocol::websocket_accept;
using strata::protocol::testing::http_parse_stream;
using strata::protocol::testing::http_parse_whole;
using strata::protocol::testing::HttpParsed;
using strata::protocol::testing::LcgChunks;
using strata::protocol::testing::seed_of;

// The request as one plain head: each kept header once, list values already combined.
std::string write_back(const HttpUpgradeRequest& r) {
  std::string out = "GET " + r.path + (r.query.empty() ? "" : "?" + r.query) + " HTTP/1." +
                    std::to_string(r.version_minor) + "\r\n";
  const auto line = [&](std::string_view name, const std::string& value, bool always) {
    if (always || !value.empty()) out.append(name).append(": ").append(value).append("\r\n");
  };
  line("Host", r.host, true);
  line("Upgrade", r.upgrade, true);
  line("Connection", r.connection, true);
  line("Sec-WebSocket-Key", r.key, true);
  line("Sec-WebSocket-Version", r.websocket_version, true);
  line("Sec-WebSocket-Protocol", r.protocols, false);
  line("Origin", r.origin, false);
  line("Authorization", r.authorization, false);
  line("Cookie", r.cookie, false);
  return out + "\r\n";
}

void check_done(std::string_view data, const HttpParsed& got, const HttpLimits& limits) {
  const HttpUpgradeRequest& r = got.request;
  FUZZ_CHECK(got.consumed <= data.size() && got.consumed <= limits.head_bytes_max);
  FUZZ_CHECK(data.substr(0, got.consumed).ends_with("\r\n\r\n"));
  FUZZ_CHECK(r.headers <= limits.headers_max);
  FUZZ_CHECK(!r.path.empty() && r.path[0] == '/');
  FUZZ_CHECK(r.path.size() + r.query.size() < limits.target_bytes_max + 1);
  FUZZ_CHECK(r.key.size() == 24 && r.websocket_version == "13");
  FUZZ_CHECK(http_parse_whole(data.substr(0, got.consumed), limits) == got);
  // Written back it can be a little longer ("Name:value" gains a space), so the head limit
  // is relaxed to fit it.
  const std::string back = write_back(r);
  HttpLimits relaxed = limits;
  relaxed.head_bytes_max = std::max(limits.head_bytes_max, back.size());
  HttpParsed again = http_parse_whole(back, relaxed);
  FUZZ_CHECK(again.status == HttpStatus::kDone);
  again.request.headers = r.headers;  // the plain head has fewer lines
  FUZZ_CHECK(again.request == r);
  const std::string accept = websocket_accept(r.key);
  FUZZ_CHECK(accept.size() == 28);
  std::string answer;
  compose_upgrade_response(&answer, r.key, "chosen");
  FUZZ_CHECK(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  FUZZ_CHECK(answer.find("\r\nSec-WebSocket-Accept: " + accept + "\r\n") != std::string::npos);
  FUZZ_CHECK(answer.ends_with("\r\n\r\n"));
}

void check_error(std::string_view data, const HttpParsed& got, const HttpLimits& limits) {
  FUZZ_CHECK(got.error != HttpErrorCode::kNone && got.error != HttpErrorCode::kCallerMisuse);
  const auto error = http_error(got.error);
  FUZZ_CHECK(got.http_status == error.status && !error.message.empty());
  const uint16_t s = error.status;
  FUZZ_CHECK(s == 400 || s == 405 || s == 414 || s == 426 || s == 431 || s == 505);
  FUZZ_CHECK(http_parse_whole(std::string(data) + "GET / HTTP/1.1\r\n\r\n", limits) == got);
  std::string answer;
  compose_http_error(&answer, error);
  FUZZ_CHECK(answer.starts_with("HTTP/1.1 " + std::to_string(s) + " "));
  FUZZ_CHECK(answer.ends_with(std::string(error.message) + "\n"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const uint32_t seed = seed_of(data);
  const HttpLimits tiny{.head_bytes_max = 256, .headers_max = 8, .target_bytes_max = 24};
  for (const HttpLimits& limits : {tiny, HttpLimits{}}) {
    const HttpParsed whole = http_parse_whole(data, limits);
    size_t calls = 0;
    const size_t cut = seed % (size + 1);
    const auto two_reads = [&]() -> size_t { return calls++ == 0 ? cut : size; };
    FUZZ_CHECK(http_parse_stream(data, two_reads, limits) == whole);
    FUZZ_CHECK(http_parse_stream(data, LcgChunks{size, seed}, limits) == whole);
    if (whole.status == HttpStatus::kDone) check_done(data, whole, limits);
    if (whole.status == HttpStatus::kError) check_error(data, whole, limits);
    if (whole.status == HttpStatus::kNeedMore) FUZZ_CHECK(size <= limits.head_bytes_max);
  }
  return 0;
}
