// The WebSocket opening handshake, server side (RFC 6455 section 4.2): an incremental parser of
// one HTTP/1.1 request head, and the responses a server sends back.
// Pure: no I/O, clocks, threads or globals. SHA-1 comes from OpenSSL's libcrypto.
//
// What the parser accepts, strictly (RFC 7230 / RFC 6455):
//   request line   GET SP origin-form-target SP HTTP/1.x CRLF   (x = 1..9 is treated as 1.1)
//   header lines   token ":" OWS value OWS CRLF
//   end            CRLF
// Lines end in CRLF only: a bare LF or a CR without LF is refused (400), as is obs-fold (a line
// starting with SP or HTAB), whitespace before a header's colon, control bytes in a value, a
// request-target that is not a path (absolute-form, "*", a fragment, bytes outside 0x21-0x7E),
// and a body (Content-Length other than 0, any Transfer-Encoding): bytes after the head belong
// to the WebSocket, never to the request. HTTP/1.0 and 2.x are answered 505: the upgrade needs
// HTTP/1.1's Upgrade mechanism.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::protocol {

// Chrome and Firefox send 500-1500 byte heads (cookies dominate); 8 KiB is nginx's default
// large_client_header_buffers line size and what most servers take.
inline constexpr size_t kHttpHeadBytesMax = 8 * 1024;
inline constexpr size_t kHttpHeadersMax = 64;
inline constexpr size_t kHttpTargetBytesMax = 2048;
// A handshake needs Host, Upgrade, Connection, Sec-WebSocket-Key and -Version.
inline constexpr size_t kHttpHeadersMin = 5;
inline constexpr size_t kHttpHeadBytesMin = 256;

struct HttpLimits {
  size_t head_bytes_max = kHttpHeadBytesMax;      // request line, headers and the final CRLF
  size_t headers_max = kHttpHeadersMax;           // header lines, whatever their names
  size_t target_bytes_max = kHttpTargetBytesMax;  // the request-target, path and query
};

// Why a set of limits cannot work (for start-up checks), or empty when it can.
std::string_view http_limits_problem(const HttpLimits& limits);

enum class HttpErrorCode : uint8_t {
  kNone,
  kBadMethod,             // 400: not a token
  kMethodNotAllowed,      // 405 (with Allow: GET): a method other than GET
  kBadTarget,             // 400: not origin-form, or a byte outside 0x21-0x7E, or a fragment
  kTargetTooLong,         // 414: past target_bytes_max
  kBadVersion,            // 400: not "HTTP/" DIGIT "." DIGIT
  kVersionNotSupported,   // 505: HTTP/1.0, 0.x, 2.x and up
  kBareLf,                // 400: a line ended in LF without CR
  kBareCr,                // 400: a CR not followed by LF
  kObsFold,               // 400: a header line starting with SP or HTAB
  kBadHeaderName,         // 400: empty, or a byte that is not a token character
  kSpaceBeforeColon,      // 400: "Name :" (RFC 7230 3.2.4)
  kBadHeaderValue,        // 400: a control byte other than HTAB
  kHeadTooLarge,          // 431: past head_bytes_max
  kTooManyHeaders,        // 431: past headers_max
  kDuplicateHeader,       // 400: a second Host, Origin, Authorization, Sec-WebSocket-Key/-Version
  kMissingHost,           // 400
  kBodyNotAllowed,        // 400: Content-Length other than 0, or Transfer-Encoding
  kNotWebSocket,          // 400: Upgrade missing or without "websocket"
  kConnectionNotUpgrade,  // 400: Connection missing or without "upgrade"
  kMissingVersion,        // 426 (with Sec-WebSocket-Version: 13)
  kUnsupportedVersion,    // 426 (with Sec-WebSocket-Version: 13): not "13"
  kMissingKey,            // 400
  kBadKey,                // 400: not the base64 of 16 bytes (22 base64 characters then "==")
  kCallerMisuse,          // 500: feed() given fewer bytes than the last call (a bug of ours)
};

// A code, the status to answer with, a static message and the static header lines that answer
// needs (each ending in CRLF; may be empty): copying one never allocates, nothing dangles.
struct HttpError {
  HttpErrorCode code = HttpErrorCode::kNone;
  uint16_t status = 0;
  std::string_view message;
  std::string_view headers;
  bool ok() const { return code == HttpErrorCode::kNone; }
};
HttpError http_error(HttpErrorCode code);

// What a server needs from a valid handshake. The strings are copies (the input buffer may be
// gone by the time they are read); a header that was absent is empty. List-valued headers that
// came several times are combined in order as RFC 7230 3.2.2 says: with ", " (Upgrade,
// Connection, Sec-WebSocket-Protocol), Cookie with "; " (RFC 6265 5.4).
struct HttpUpgradeRequest {
  std::string path;   // the request-target up to '?', as sent (percent-encoding kept)
  std::string query;  // after the '?', without it; empty when there was none
  uint8_t version_minor = 1;
  std::string host;
  std::string upgrade;
  std::string connection;
  std::string key;                // Sec-WebSocket-Key, 24 characters
  std::string websocket_version;  // Sec-WebSocket-Version: "13"
  std::string protocols;          // Sec-WebSocket-Protocol: the subprotocols the client offers
  std::string origin;
  std::string authorization;
  std::string cookie;
  size_t headers = 0;  // header lines in the head
  bool operator==(const HttpUpgradeRequest&) const = default;
};

enum class HttpStatus : uint8_t {
  kDone,      // request() is valid; consumed() bytes were the head (through its empty line)
  kNeedMore,  // the head is incomplete; call again with the same bytes and more
  kError,     // error() says what to answer; every feed() returns kError until reset()
};

// Usage: the caller keeps every byte it received since the request's first one in one buffer
// (it may move between calls) and passes all of it each time; the parser resumes where it
// stopped, so byte-at-a-time input costs O(n). At kDone the bytes past consumed() are the
// caller's: a client may send its first WebSocket frame right behind the head. Each rule is
// checked on the byte that breaks it (a junk first byte, a target past its limit, a bad header
// line as its line ends), the WebSocket rules once the head is complete, in an order that
// depends only on the bytes: any split of the input gives the same result.
// Memory: a few small strings per handshake (copied as each header line ends), none per byte.
class HttpUpgradeParser {
 public:
  explicit HttpUpgradeParser(HttpLimits limits = {});

  HttpStatus feed(std::string_view buffered);

  size_t consumed() const { return consumed_; }
  const HttpUpgradeRequest& request() const { return request_; }
  HttpUpgradeRequest& request() { return request_; }  // to move the strings out
  const HttpError& error() const { return error_; }
  void reset();

 private:
  enum class State : uint8_t {
    kMethod,     // reading the method token
    kTarget,     // reading the request-target
    kVersion,    // reading "HTTP/x.y"
    kLineLf,     // after a CR that ends the request line or a header line: LF must follow
    kLineStart,  // at the start of a header line or of the final empty line
    kName,       // reading a header name
    kValue,      // reading a header value, up to its CR
    kFinalLf,    // after the final empty line's CR
    kDone,
    kFailed,
  };

  HttpStatus step(std::string_view in);
  bool on_method_byte(char c);
  bool on_target_byte(std::string_view in, char c);
  bool on_version_byte(std::string_view in, char c);
  bool on_line_start(char c);
  bool on_name_byte(char c);
  bool on_value_byte(char c);
  bool end_line(std::string_view in);
  bool take_header(std::string_view name, std::string_view value);
  bool finish_head();
  bool fail(HttpErrorCode code);
  bool fail(const HttpError& error);

  HttpLimits limits_;
  State state_ = State::kMethod;
  bool line_is_header_ = false;  // kLineLf: the line that ends is a header line
  size_t pos_ = 0;               // bytes of the head scanned so far
  size_t token_start_ = 0;       // the method, target, version or header name being read
  size_t name_end_ = 0;          // header line: end of its name; its value starts past the colon
  uint32_t seen_ = 0;            // which of the headers the parser keeps have been seen
  size_t consumed_ = 0;
  HttpUpgradeRequest request_;
  HttpError error_;
};

// True when the comma-separated list (an Upgrade, Connection or Sec-WebSocket-Protocol value)
// has `token` as an element, compared ASCII case-insensitively.
bool http_list_contains(std::string_view list, std::string_view token);
// The next element of a comma-separated list, trimmed; *list advances past it. Empty elements
// are skipped; returns empty when the list is used up.
std::string_view http_list_next(std::string_view* list);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string websocket_accept(std::string_view key);

// Appends the 101 Switching Protocols answer to a valid handshake. `protocol` is the subprotocol
// the server chose from request.protocols (empty: none, and no Sec-WebSocket-Protocol line);
// `extra_headers` are complete header lines, each ending in CRLF.
void compose_upgrade_response(std::string* out, std::string_view key,
                              std::string_view protocol = {}, std::string_view extra_headers = {});

// Appends a short complete HTTP/1.1 response: the status line, Content-Type text/plain,
// Content-Length, Connection: close, `extra_headers` (complete lines, each ending in CRLF), and
// `message` plus a newline as the body. The connection is to be closed once it is sent.
void compose_http_error(std::string* out, uint16_t status, std::string_view message,
                        std::string_view extra_headers = {});
// The answer to a refused handshake: the error's status, message and header lines.
void compose_http_error(std::string* out, const HttpError& error);

// The reason phrase of a status this module answers with ("Bad Request"), or "Error".
std::string_view http_reason_phrase(uint16_t status);

}  // namespace strata::protocol
