// The WebSocket handshake parser on real browser and library handshakes, every rule it
// enforces, its limits at and past their boundary, and the responses it composes. Every input
// is fed whole, byte by byte and in random splits: all must agree.
#include "protocol/http_upgrade.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/protocol/http_harness.h"

namespace strata::protocol {
namespace {

using testing::http_parse_stream;
using testing::http_parse_whole;
using testing::HttpParsed;
using testing::LcgChunks;
using E = HttpErrorCode;

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";

HttpParsed parse_all_ways(std::string_view input, HttpLimits limits = {}) {
  const HttpParsed whole = http_parse_whole(input, limits);
  EXPECT_EQ(http_parse_stream(
                input, [] { return size_t{1}; }, limits),
            whole)
      << "bytewise";
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    EXPECT_EQ(http_parse_stream(input, LcgChunks{input.size(), seed}, limits), whole)
        << "seed " << seed;
  }
  return whole;
}

void expect_error(std::string_view input, HttpErrorCode code, uint16_t status,
                  HttpLimits limits = {}) {
  const HttpParsed got = parse_all_ways(input, limits);
  EXPECT_EQ(got.status, HttpStatus::kError) << ::testing::PrintToString(input);
  EXPECT_EQ(got.error, code) << ::testing::PrintToString(input);
  EXPECT_EQ(got.http_status, status) << ::testing::PrintToString(input);
}

HttpUpgradeRequest expect_done(std::string_view input, HttpLimits limits = {}) {
  const HttpParsed got = parse_all_ways(input, limits);
  EXPECT_EQ(got.status, HttpStatus::kDone) << ::testing::PrintToString(input);
  EXPECT_EQ(got.consumed, input.size());
  return got.request;
}

// The five header lines a handshake needs, each without its CRLF.
std::vector<std::string> required_lines() {
  return {"Host: example.com", "Upgrade: websocket", "Connection: Upgrade",
          "Sec-WebSocket-Key: " + std::string(kRfcKey), "Sec-WebSocket-Version: 13"};
}

std::string head(const std::vector<std::string>& lines,
                 std::string_view request_line = "GET /chat HTTP/1.1") {
  std::string out(request_line);
  out += "\r\n";
  for (const std::string& line : lines) out += line + "\r\n";
  return out + "\r\n";
}

std::string with(std::string line) {
  std::vector<std::string> lines = required_lines();
  lines.push_back(std::move(line));
  return head(lines);
}

std::string without(std::string_view name) {
  std::vector<std::string> lines;
  for (const std::string& line : required_lines()) {
    if (line.rfind(std::string(name) + ":", 0) != 0) lines.push_back(line);
  }
  return head(lines);
}

std::string replacing(std::string_view name, std::string line) {
  std::string out = without(name);
  return out.insert(out.size() - 2, line + "\r\n");
}

// Captured from headless Chromium 156, Firefox ESR 153 and node's ws 8 connecting to a
// listener that printed what arrived: new WebSocket(url, ["strata.v1", "json"]) from a page
// that had set a cookie, and new WebSocket(url, ["strata.v1", "json"]) in node.
constexpr std::string_view kChrome =
    "GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:18766\r\nConnection: Upgrade\r\nPragma: "
    "no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\nUpgrade: "
    "websocket\r\nOrigin: http://127.0.0.1:18767\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: "
    "gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: "
    "session=abc123\r\nSec-WebSocket-Key: Bc6g730cUbPzKON80YVx+Q==\r\nSec-WebSocket-Extensions: "
    "permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: strata.v1, "
    "json\r\n\r\n";
constexpr std::string_view kFirefox =
    "GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:18766\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
    "x86_64; rv:153.0) Gecko/20100101 Firefox/153.0\r\nAccept: */*\r\nAccept-Language: "
    "en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nSec-WebSocket-Version: "
    "13\r\nOrigin: http://127.0.0.1:18767\r\nSec-WebSocket-Protocol: strata.v1, "
    "json\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: "
    "OtPmcHvxqQTt6uM2oPAwlg==\r\nConnection: Upgrade\r\nCookie: session=abc123\r\nSec-Fetch-Dest: "
    "empty\r\nSec-Fetch-Mode: websocket\r\nSec-Fetch-Site: same-site\r\nPragma: "
    "no-cache\r\nCache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n";
constexpr std::string_view kNodeWs =
    "GET /chat?room=1 HTTP/1.1\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
    "vv4HT5mpHsDxoK33TZRDEg==\r\nConnection: Upgrade\r\nUpgrade: "
    "websocket\r\nSec-WebSocket-Extensions: permessage-deflate; "
    "client_max_window_bits\r\nSec-WebSocket-Protocol: strata.v1,json\r\nHost: "
    "127.0.0.1:18765\r\n\r\n";

// What each capture must give; the accept values were computed independently (Python's
// hashlib and base64).
struct Capture {
  std::string_view name;
  std::string_view head;
  std::string_view host;
  std::string_view origin;  // non-browser clients send none
  std::string_view cookie;
  std::string_view protocols;
  size_t headers;
  std::string_view accept;
};

TEST(HttpUpgrade, RealHandshakes) {
  const Capture captures[] = {
      {"chrome", kChrome, "127.0.0.1:18766", "http://127.0.0.1:18767", "session=abc123",
       "strata.v1, json", 14, "n2XMwIFLt9GNdLeNDdh8u3KpM1Y="},
      {"firefox", kFirefox, "127.0.0.1:18766", "http://127.0.0.1:18767", "session=abc123",
       "strata.v1, json", 18, "H7gVAIn7mIyjHfoe2cjzm+AF8IA="},
      {"node ws", kNodeWs, "127.0.0.1:18765", "", "", "strata.v1,json", 7,
       "bfgHDsWJLvHIgMVStgnHHHb0lOw="},
  };
  for (const Capture& c : captures) {
    SCOPED_TRACE(c.name);
    const HttpUpgradeRequest r = expect_done(c.head);
    EXPECT_EQ(r.path, "/chat");
    EXPECT_EQ(r.query, "room=1");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.host, c.host);
    EXPECT_EQ(r.origin, c.origin);
    EXPECT_EQ(r.cookie, c.cookie);
    EXPECT_EQ(r.protocols, c.protocols);
    EXPECT_EQ(r.authorization, "");
    EXPECT_EQ(r.headers, c.headers);
    EXPECT_EQ(websocket_accept(r.key), c.accept);
    // The subprotocols, one by one.
    std::string_view list = r.protocols;
    EXPECT_EQ(http_list_next(&list), "strata.v1");
    EXPECT_EQ(http_list_next(&list), "json");
    EXPECT_EQ(http_list_next(&list), "");
  }
}

TEST(HttpUpgrade, RfcSampleAccept) {
  EXPECT_EQ(websocket_accept(kRfcKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  std::string out = "kept";
  compose_upgrade_response(&out, kRfcKey, "chat");
  EXPECT_EQ(out,
            "keptHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
            "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n\r\n");
  out.clear();
  compose_upgrade_response(&out, kRfcKey, {}, "X-Strata: 1\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
            "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Strata: 1\r\n\r\n");
}

TEST(HttpUpgrade, PipelinedFrameStaysWithTheCaller) {
  const std::string first_frame("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  const std::string input = std::string(kNodeWs) + first_frame;
  const HttpParsed got = parse_all_ways(input);
  ASSERT_EQ(got.status, HttpStatus::kDone);
  EXPECT_EQ(got.consumed, kNodeWs.size());
  EXPECT_EQ(input.substr(got.consumed), first_frame);
}

TEST(HttpUpgrade, HeaderNamesAnyCase) {
  const HttpUpgradeRequest r = expect_done(head(
      {"hOsT: a", "UPGRADE: WebSocket", "connection: UPGRADE",
       "sec-websocket-key: " + std::string(kRfcKey), "SEC-WEBSOCKET-VERSION: 13", "oRiGiN: o"}));
  EXPECT_EQ(r.host, "a");
  EXPECT_EQ(r.upgrade, "WebSocket");
  EXPECT_EQ(r.origin, "o");
}

TEST(HttpUpgrade, ListHeadersCombine) {
  EXPECT_EQ(expect_done(replacing("Connection", "Connection: keep-alive, Upgrade")).connection,
            "keep-alive, Upgrade");
  const HttpUpgradeRequest r = expect_done(
      head({"Host: h", "Connection: keep-alive", "Upgrade: h2c", "Connection: Upgrade",
            "Upgrade: websocket", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: " + std::string(kRfcKey), "Sec-WebSocket-Protocol: a, b",
            "Sec-WebSocket-Protocol: c", "Cookie: x=1", "Cookie: y=2"}));
  EXPECT_EQ(r.connection, "keep-alive, Upgrade");
  EXPECT_EQ(r.upgrade, "h2c, websocket");
  EXPECT_EQ(r.protocols, "a, b, c");
  EXPECT_EQ(r.cookie, "x=1; y=2");
  EXPECT_TRUE(http_list_contains(r.protocols, "c"));
  // Empty values add no empty elements.
  EXPECT_EQ(expect_done(with("Connection:")).connection, "Upgrade");
  EXPECT_EQ(expect_done(with("Cookie:\r\nCookie: a=1\r\nCookie: ")).cookie, "a=1");
  EXPECT_FALSE(http_list_contains(r.protocols, "a, b"));
}

TEST(HttpUpgrade, ValuesTrimmedAndKept) {
  // OWS on both sides goes.
  const HttpUpgradeRequest r = expect_done(with("Authorization: \t Bearer abc.def \t"));
  EXPECT_EQ(r.authorization, "Bearer abc.def");
  // obs-text (bytes 0x80-0xff) is kept as it came.
  EXPECT_EQ(expect_done(with("Origin: http://caf\xc3\xa9.example")).origin,
            "http://caf\xc3\xa9.example");
  EXPECT_EQ(expect_done(with("Content-Length: 0")).host, "example.com");
  // No space after the colon, and colons inside the value.
  EXPECT_EQ(expect_done(with("Origin:https://a:8443")).origin, "https://a:8443");
}

TEST(HttpUpgrade, TargetSplitsIntoPathAndQuery) {
  const auto target = [](std::string_view t) {
    return expect_done(head(required_lines(), "GET " + std::string(t) + " HTTP/1.1"));
  };
  EXPECT_EQ(target("/").path, "/");
  EXPECT_EQ(target("/a/b?x=1&y=%20?z").path, "/a/b");
  EXPECT_EQ(target("/a/b?x=1&y=%20?z").query, "x=1&y=%20?z");
  EXPECT_EQ(target("/?").query, "");
}

TEST(HttpUpgrade, VersionsPastOneOneAreOneOne) {
  EXPECT_EQ(expect_done(head(required_lines(), "GET / HTTP/1.2")).version_minor, 2);
  expect_error(head(required_lines(), "GET / HTTP/1.0"), E::kVersionNotSupported, 505);
  expect_error(head(required_lines(), "GET / HTTP/2.0"), E::kVersionNotSupported, 505);
  expect_error(head(required_lines(), "GET / HTTP/0.9"), E::kVersionNotSupported, 505);
  expect_error(head(required_lines(), "GET / HTTP/1.1 "), E::kBadVersion, 400);
  expect_error(head(required_lines(), "GET / HTTP/11"), E::kBadVersion, 400);
  expect_error(head(required_lines(), "GET / http/1.1"), E::kBadVersion, 400);
  expect_error(head(required_lines(), "GET /"), E::kBadTarget, 400);
}

TEST(HttpUpgrade, MethodMustBeGet) {
  expect_error(head(required_lines(), "POST /chat HTTP/1.1"), E::kMethodNotAllowed, 405);
  expect_error(head(required_lines(), "get /chat HTTP/1.1"), E::kMethodNotAllowed, 405);
  expect_error(head(required_lines(), "GETX /chat HTTP/1.1"), E::kMethodNotAllowed, 405);
  expect_error(head(required_lines(), "GE /chat HTTP/1.1"), E::kMethodNotAllowed, 405);
  expect_error(head(required_lines(), " /chat HTTP/1.1"), E::kBadMethod, 400);
  expect_error(head(required_lines(), "GET  /chat HTTP/1.1"), E::kBadTarget, 400);
  const HttpError e = [] {
    HttpUpgradeParser p;
    p.feed("POST");
    return p.error();
  }();
  EXPECT_EQ(e.headers, "Allow: GET\r\n");
}

// Junk fails on its first byte, without waiting for a line: a TLS hello (400); a RESP command
// ("*" is a token character, so it reads as another method: 405).
TEST(HttpUpgrade, JunkFailsOnItsFirstByte) {
  for (std::string_view junk : {std::string_view("\x16\x03\x01", 3), std::string_view("\r\nGET"),
                                std::string_view("\0", 1), std::string_view("*1\r\n")}) {
    HttpUpgradeParser p;
    EXPECT_EQ(p.feed(junk.substr(0, 1)), HttpStatus::kError) << junk;
    EXPECT_EQ(p.error().status, junk[0] == '*' ? 405 : 400);
  }
}

TEST(HttpUpgrade, TargetRules) {
  const auto line = [](std::string_view t) { return "GET " + std::string(t) + " HTTP/1.1"; };
  expect_error(head(required_lines(), line("http://example.com/chat")), E::kBadTarget, 400);
  expect_error(head(required_lines(), line("*")), E::kBadTarget, 400);
  expect_error(head(required_lines(), line("/chat#frag")), E::kBadTarget, 400);
  expect_error(head(required_lines(), line("/caf\xc3\xa9")), E::kBadTarget, 400);
  expect_error(head(required_lines(), line("/a\x01")), E::kBadTarget, 400);
}

TEST(HttpUpgrade, TargetLimit) {
  const HttpLimits limits{.target_bytes_max = 16};
  const auto request = [](size_t n) {
    return head(required_lines(), "GET /" + std::string(n - 1, 'a') + " HTTP/1.1");
  };
  EXPECT_EQ(expect_done(request(16), limits).path.size(), 16u);
  expect_error(request(17), E::kTargetTooLong, 414, limits);
  // Refused as soon as the target passes the limit, before its line ends.
  HttpUpgradeParser p(limits);
  EXPECT_EQ(p.feed("GET /" + std::string(16, 'a')), HttpStatus::kError);
  EXPECT_EQ(p.error().code, E::kTargetTooLong);
  // The default: 2 KiB.
  expect_error(request(kHttpTargetBytesMax + 1), E::kTargetTooLong, 414);
  EXPECT_EQ(expect_done(request(kHttpTargetBytesMax)).path.size(), kHttpTargetBytesMax);
}

TEST(HttpUpgrade, HeadLimit) {
  const std::string base = with("Cookie: ");
  const size_t room = kHttpHeadBytesMax - base.size();
  EXPECT_EQ(expect_done(with("Cookie: " + std::string(room, 'c'))).cookie.size(), room);
  expect_error(with("Cookie: " + std::string(room + 1, 'c')), E::kHeadTooLarge, 431);
  // A head that never ends fails at the limit, not at the end of the input.
  HttpUpgradeParser p;
  const std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(2 * kHttpHeadBytesMax, 'x');
  EXPECT_EQ(p.feed(endless), HttpStatus::kError);
  EXPECT_EQ(p.error().status, 431);
}

TEST(HttpUpgrade, HeaderCountLimit) {
  std::vector<std::string> lines = required_lines();
  while (lines.size() < kHttpHeadersMax)
    lines.push_back("X-Filler: " + std::to_string(lines.size()));
  EXPECT_EQ(expect_done(head(lines)).headers, kHttpHeadersMax);
  lines.push_back("X-One-Too-Many: 1");
  expect_error(head(lines), E::kTooManyHeaders, 431);
  expect_error(head(required_lines()), E::kTooManyHeaders, 431, HttpLimits{.headers_max = 4});
}

TEST(HttpUpgrade, LineEndings) {
  std::string bare_lf = with("X: 1");
  bare_lf.replace(bare_lf.find("\r\nX: 1"), 2, "\n");
  expect_error(bare_lf, E::kBareLf, 400);
  expect_error("GET / HTTP/1.1\nHost: a\r\n\r\n", E::kBareLf, 400);
  std::string final_lf = head(required_lines());
  final_lf.replace(final_lf.size() - 2, 2, "\n");
  expect_error(final_lf, E::kBareLf, 400);
  expect_error("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", E::kBareCr, 400);
  expect_error("GET / HTTP/1.1\rX", E::kBareCr, 400);
  std::string final_cr = head(required_lines());
  final_cr.back() = 'x';
  expect_error(final_cr, E::kBareCr, 400);
}

TEST(HttpUpgrade, HeaderLineRules) {
  expect_error(with(" folded"), E::kObsFold, 400);
  expect_error(with("\tfolded"), E::kObsFold, 400);
  expect_error(with("Host : x"), E::kSpaceBeforeColon, 400);
  expect_error(with("No-Colon"), E::kBadHeaderName, 400);
  expect_error(with(": no name"), E::kBadHeaderName, 400);
  expect_error(with("Bad(Name): x"), E::kBadHeaderName, 400);
  expect_error(with("X: a\x01z"), E::kBadHeaderValue, 400);
  expect_error(with("X: a\x7fz"), E::kBadHeaderValue, 400);
  expect_error(with(std::string("X: a\0z", 6)), E::kBadHeaderValue, 400);
}

TEST(HttpUpgrade, DuplicatesOfSingleHeaders) {
  for (const std::string& line :
       {std::string("Host: other"), "Sec-WebSocket-Key: " + std::string(kRfcKey),
        std::string("Sec-WebSocket-Version: 13")}) {
    expect_error(with(line), E::kDuplicateHeader, 400);
  }
  expect_error(with("Origin: a\r\nOrigin: b"), E::kDuplicateHeader, 400);
  expect_error(with("Authorization: a\r\nauthorization: b"), E::kDuplicateHeader, 400);
  HttpUpgradeParser p;
  p.feed(with("host: x"));
  EXPECT_EQ(p.error().message, "http: duplicate Host header");
}

TEST(HttpUpgrade, NoBody) {
  expect_error(with("Content-Length: 5"), E::kBodyNotAllowed, 400);
  expect_error(with("Transfer-Encoding: chunked"), E::kBodyNotAllowed, 400);
}

TEST(HttpUpgrade, WebSocketRules) {
  expect_error(without("Host"), E::kMissingHost, 400);
  expect_error(without("Upgrade"), E::kNotWebSocket, 400);
  expect_error(replacing("Upgrade", "Upgrade: h2c"), E::kNotWebSocket, 400);
  expect_error(without("Connection"), E::kConnectionNotUpgrade, 400);
  expect_error(replacing("Connection", "Connection: keep-alive"), E::kConnectionNotUpgrade, 400);
  expect_error(replacing("Connection", "Connection: upgraded"), E::kConnectionNotUpgrade, 400);
  expect_error(without("Sec-WebSocket-Key"), E::kMissingKey, 400);
}

TEST(HttpUpgrade, KeyMustBeBase64OfSixteenBytes) {
  for (std::string_view bad :
       {"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZ===", "dGhlIHNhbXBsZSBub25jZ!==", "dGhlIHNhbXBsZSBub25jZXM=",
        "dGhlIHNhbXBsZSBub25jZXMhIQ=="}) {
    expect_error(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: " + std::string(bad)),
                 E::kBadKey, 400);
  }
  expect_done(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="));
  expect_done(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: ++//++//09azAZ++//++/w=="));
}

TEST(HttpUpgrade, WrongVersionIsUpgradeRequired) {
  expect_error(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"),
               E::kUnsupportedVersion, 426);
  expect_error(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"),
               E::kUnsupportedVersion, 426);
  expect_error(without("Sec-WebSocket-Version"), E::kMissingVersion, 426);
  HttpUpgradeParser p;
  p.feed(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"));
  std::string out;
  compose_http_error(&out, p.error());
  EXPECT_NE(out.find("HTTP/1.1 426 Upgrade Required\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << out;
}

// The version is judged before the key, so a client of another version learns which to use.
TEST(HttpUpgrade, VersionBeforeKey) {
  expect_error(head({"Host: h", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Version: 8", "Sec-WebSocket-Key: x"}),
               E::kUnsupportedVersion, 426);
}

TEST(HttpUpgrade, IncompleteNeedsMoreAndErrorsStick) {
  HttpUpgradeParser p;
  const std::string input(kChrome);
  EXPECT_EQ(p.feed(input.substr(0, input.size() - 1)), HttpStatus::kNeedMore);
  EXPECT_EQ(p.feed(input), HttpStatus::kDone);
  EXPECT_EQ(p.feed(input + "more"), HttpStatus::kDone);
  EXPECT_EQ(p.consumed(), input.size());
  p.reset();
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n"), HttpStatus::kNeedMore);
  EXPECT_EQ(p.feed("GET"), HttpStatus::kError);  // fewer bytes than before: the caller's bug
  EXPECT_EQ(p.error().code, E::kCallerMisuse);
  EXPECT_EQ(p.feed(input), HttpStatus::kError);
  p.reset();
  EXPECT_EQ(p.feed(input), HttpStatus::kDone);
}

TEST(HttpUpgrade, ErrorResponses) {
  std::string out;
  compose_http_error(&out, 400, "bad", "X-A: 1\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\nX-A: 1\r\n\r\nbad\n");
  // Every error has a status, a message and a well-formed answer.
  for (int c = 1; c <= static_cast<int>(E::kCallerMisuse); ++c) {
    const HttpError e = http_error(static_cast<E>(c));
    EXPECT_EQ(e.code, static_cast<E>(c));
    EXPECT_FALSE(e.message.empty()) << c;
    EXPECT_NE(http_reason_phrase(e.status), "Error") << c;
    EXPECT_TRUE(e.headers.empty() || e.headers.ends_with("\r\n")) << c;
    std::string answer;
    compose_http_error(&answer, e);
    const std::string body = std::string(e.message) + "\n";
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 " + std::to_string(e.status) + " ")) << answer;
    EXPECT_TRUE(answer.ends_with("\r\n\r\n" + body)) << answer;
    EXPECT_NE(answer.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
              std::string::npos);
  }
  for (uint16_t status : {400, 405, 414, 426, 431, 500, 505}) {
    EXPECT_NE(http_reason_phrase(status), "Error") << status;
  }
  EXPECT_EQ(http_reason_phrase(299), "Error");
}

TEST(HttpUpgrade, Limits) {
  EXPECT_EQ(http_limits_problem({}), "");
  EXPECT_NE(http_limits_problem({.head_bytes_max = 100}), "");
  EXPECT_NE(http_limits_problem({.headers_max = 4}), "");
  EXPECT_NE(http_limits_problem({.target_bytes_max = 0}), "");
  EXPECT_NE(http_limits_problem({.head_bytes_max = 1024, .target_bytes_max = 1024}), "");
}

}  // namespace
}  // namespace strata::protocol
