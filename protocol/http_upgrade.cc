#include "protocol/http_upgrade.h"

#include <openssl/evp.h>

#include <array>
#include <charconv>

#include "protocol/base64.h"

namespace strata::protocol {
namespace {

using E = HttpErrorCode;

constexpr std::string_view kMethod = "GET";
constexpr std::string_view kVersionPrefix = "HTTP/";
constexpr size_t kVersionBytes = 8;  // "HTTP/1.1"
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kKeyBytes = 24;  // base64 of 16 bytes
constexpr size_t kSha1Bytes = 20;
constexpr std::string_view kAllowGet = "Allow: GET\r\n";
constexpr std::string_view kVersion13 = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";

}  // namespace

// A switch rather than a table indexed by the code: -Wswitch catches a code without a text.
HttpError http_error(HttpErrorCode code) {
  switch (code) {
    case E::kNone:
      return {};
    case E::kBadMethod:
      return {code, 400, "http: the request line does not start with a method token", {}};
    case E::kMethodNotAllowed:
      return {code, 405, "http: a WebSocket handshake is a GET request", kAllowGet};
    case E::kBadTarget:
      return {code,
              400,
              "http: the request target must be a path (origin-form) of 0x21-0x7E bytes",
              {}};
    case E::kTargetTooLong:
      return {code, 414, "http: request target past target_bytes_max", {}};
    case E::kBadVersion:
      return {code, 400, "http: malformed HTTP version in the request line", {}};
    case E::kVersionNotSupported:
      return {code, 505, "http: a WebSocket handshake needs HTTP/1.1", {}};
    case E::kBareLf:
      return {code, 400, "http: a line ends in LF without CR", {}};
    case E::kBareCr:
      return {code, 400, "http: CR not followed by LF", {}};
    case E::kObsFold:
      return {code, 400, "http: folded header line (obs-fold)", {}};
    case E::kBadHeaderName:
      return {code, 400, "http: header line without a token name and a colon", {}};
    case E::kSpaceBeforeColon:
      return {code, 400, "http: whitespace between a header name and its colon", {}};
    case E::kBadHeaderValue:
      return {code, 400, "http: control byte in a header value", {}};
    case E::kHeadTooLarge:
      return {code, 431, "http: request head past head_bytes_max", {}};
    case E::kTooManyHeaders:
      return {code, 431, "http: header lines past headers_max", {}};
    case E::kDuplicateHeader:
      return {code, 400, "http: a header that may appear once appears twice", {}};
    case E::kMissingHost:
      return {code, 400, "http: no Host header", {}};
    case E::kBodyNotAllowed:
      return {code, 400, "http: a WebSocket handshake has no body", {}};
    case E::kNotWebSocket:
      return {code, 400, "websocket: Upgrade header missing or without websocket", {}};
    case E::kConnectionNotUpgrade:
      return {code, 400, "websocket: Connection header missing or without upgrade", {}};
    case E::kMissingVersion:
      return {code, 426, "websocket: no Sec-WebSocket-Version (this server speaks 13)", kVersion13};
    case E::kUnsupportedVersion:
      return {code, 426, "websocket: unsupported Sec-WebSocket-Version (this server speaks 13)",
              kVersion13};
    case E::kMissingKey:
      return {code, 400, "websocket: no Sec-WebSocket-Key", {}};
    case E::kBadKey:
      return {code, 400, "websocket: Sec-WebSocket-Key is not the base64 of 16 bytes", {}};
    case E::kCallerMisuse:
      return {code, 500, "http: parser fed fewer bytes than before", {}};
  }
  return {code, 500, "http: unknown error", {}};
}

namespace {

// RFC 7230 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Sec-WebSocket-Key: 16 bytes in base64 are 22 characters and "==". Like the ws library, the
// unused low bits of the 22nd character are not checked.
bool valid_key(std::string_view key) {
  if (key.size() != kKeyBytes || key.substr(kKeyBytes - 2) != "==") return false;
  for (char c : key.substr(0, kKeyBytes - 2)) {
    if (!is_base64_char(c)) return false;
  }
  return true;
}

// The headers the parser keeps, and how a repeat is treated.
enum class Repeat : uint8_t {
  kRefused,    // may appear once: a second one is kDuplicateHeader
  kComma,      // a list: combined with ", "
  kSemicolon,  // Cookie: combined with "; "
  kNoBody,     // Content-Length (must be 0) and Transfer-Encoding (refused): not kept
};

struct KeptHeader {
  std::string_view name;
  std::string HttpUpgradeRequest::*field;
  Repeat repeat;
  std::string_view duplicate_message;
};

// Bit i of HttpUpgradeParser::seen_ is kKept[i].
const std::array<KeptHeader, 11> kKept = {{
    {"Host", &HttpUpgradeRequest::host, Repeat::kRefused, "http: duplicate Host header"},
    {"Upgrade", &HttpUpgradeRequest::upgrade, Repeat::kComma, {}},
    {"Connection", &HttpUpgradeRequest::connection, Repeat::kComma, {}},
    {"Sec-WebSocket-Key", &HttpUpgradeRequest::key, Repeat::kRefused,
     "websocket: duplicate Sec-WebSocket-Key header"},
    {"Sec-WebSocket-Version", &HttpUpgradeRequest::websocket_version, Repeat::kRefused,
     "websocket: duplicate Sec-WebSocket-Version header"},
    {"Sec-WebSocket-Protocol", &HttpUpgradeRequest::protocols, Repeat::kComma, {}},
    {"Origin", &HttpUpgradeRequest::origin, Repeat::kRefused, "http: duplicate Origin header"},
    {"Authorization", &HttpUpgradeRequest::authorization, Repeat::kRefused,
     "http: duplicate Authorization header"},
    {"Cookie", &HttpUpgradeRequest::cookie, Repeat::kSemicolon, {}},
    {"Content-Length", nullptr, Repeat::kNoBody, {}},
    {"Transfer-Encoding", nullptr, Repeat::kNoBody, {}},
}};
constexpr size_t kHostBit = 0;
constexpr size_t kKeyBit = 3;
constexpr size_t kVersionBit = 4;
static_assert(kHostBit == 0 && kKeyBit == 3 && kVersionBit == 4, "bits follow kKept's order");

}  // namespace

std::string_view http_limits_problem(const HttpLimits& limits) {
  if (limits.head_bytes_max < kHttpHeadBytesMin) {
    return "http limits: head_bytes_max below 256 leaves no room for a handshake";
  }
  if (limits.headers_max < kHttpHeadersMin) {
    return "http limits: headers_max below 5 refuses every handshake";
  }
  if (limits.target_bytes_max < 1 || limits.target_bytes_max >= limits.head_bytes_max) {
    return "http limits: target_bytes_max must be 1..head_bytes_max-1";
  }
  return {};
}

HttpUpgradeParser::HttpUpgradeParser(HttpLimits limits) : limits_(limits) {}

void HttpUpgradeParser::reset() { *this = HttpUpgradeParser(limits_); }

bool HttpUpgradeParser::fail(const HttpError& error) {
  state_ = State::kFailed;
  error_ = error;
  return false;
}

bool HttpUpgradeParser::fail(HttpErrorCode code) { return fail(http_error(code)); }

HttpStatus HttpUpgradeParser::feed(std::string_view buffered) {
  if (state_ == State::kFailed) return HttpStatus::kError;
  if (state_ == State::kDone) return HttpStatus::kDone;
  if (buffered.size() < pos_) {
    fail(E::kCallerMisuse);
    return HttpStatus::kError;
  }
  return step(buffered);
}

HttpStatus HttpUpgradeParser::step(std::string_view in) {
  for (; pos_ < in.size(); ++pos_) {
    if (pos_ >= limits_.head_bytes_max) {
      fail(E::kHeadTooLarge);
      return HttpStatus::kError;
    }
    const char c = in[pos_];
    bool ok = true;
    switch (state_) {
      case State::kMethod:
        ok = on_method_byte(c);
        break;
      case State::kTarget:
        ok = on_target_byte(in, c);
        break;
      case State::kVersion:
        ok = on_version_byte(in, c);
        break;
      case State::kLineLf:
        ok = c == '\n' ? end_line(in) : fail(E::kBareCr);
        break;
      case State::kLineStart:
        ok = on_line_start(c);
        break;
      case State::kName:
        ok = on_name_byte(c);
        break;
      case State::kValue:
        ok = on_value_byte(c);
        break;
      case State::kFinalLf:
        ok = c == '\n' ? finish_head() : fail(E::kBareCr);
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
    if (!ok) return HttpStatus::kError;
    if (state_ == State::kDone) {
      consumed_ = ++pos_;
      return HttpStatus::kDone;
    }
  }
  return HttpStatus::kNeedMore;
}

// The method fails on its first byte that is not "GET ": a token is another method (405),
// anything else junk (400), so a TLS hello or a RESP command on the port fails at once.
bool HttpUpgradeParser::on_method_byte(char c) {
  const size_t at = pos_ - token_start_;
  if (at < kMethod.size() && c == kMethod[at]) return true;
  if (at == kMethod.size() && c == ' ') {
    state_ = State::kTarget;
    token_start_ = pos_ + 1;
    return true;
  }
  if (c == ' ') return fail(at == 0 ? E::kBadMethod : E::kMethodNotAllowed);
  return fail(is_tchar(c) ? E::kMethodNotAllowed : E::kBadMethod);
}

bool HttpUpgradeParser::on_target_byte(std::string_view in, char c) {
  const size_t at = pos_ - token_start_;
  if (c == ' ' && at > 0) {
    const std::string_view target = in.substr(token_start_, at);
    const size_t question = target.find('?');
    request_.path.assign(target.substr(0, question));
    if (question != std::string_view::npos) request_.query.assign(target.substr(question + 1));
    state_ = State::kVersion;
    token_start_ = pos_ + 1;
    return true;
  }
  if ((at == 0 && c != '/') || c < 0x21 || c > 0x7e || c == '#') return fail(E::kBadTarget);
  if (at + 1 > limits_.target_bytes_max) return fail(E::kTargetTooLong);
  return true;
}

bool HttpUpgradeParser::on_version_byte(std::string_view in, char c) {
  const size_t at = pos_ - token_start_;
  if (at < kVersionPrefix.size()) return c == kVersionPrefix[at] || fail(E::kBadVersion);
  if (at == kVersionPrefix.size() || at == kVersionPrefix.size() + 2) {
    return is_digit(c) || fail(E::kBadVersion);
  }
  if (at == kVersionPrefix.size() + 1) return c == '.' || fail(E::kBadVersion);
  if (c == '\n') return fail(E::kBareLf);
  if (c != '\r') return fail(E::kBadVersion);
  const char major = in[token_start_ + kVersionPrefix.size()];
  const char minor = in[token_start_ + kVersionBytes - 1];
  if (major != '1' || minor == '0') return fail(E::kVersionNotSupported);
  request_.version_minor = static_cast<uint8_t>(minor - '0');
  state_ = State::kLineLf;
  line_is_header_ = false;
  return true;
}

bool HttpUpgradeParser::on_line_start(char c) {
  if (c == '\r') {
    state_ = State::kFinalLf;
    return true;
  }
  if (c == '\n') return fail(E::kBareLf);
  if (c == ' ' || c == '\t') return fail(E::kObsFold);
  if (!is_tchar(c)) return fail(E::kBadHeaderName);
  if (++request_.headers > limits_.headers_max) return fail(E::kTooManyHeaders);
  state_ = State::kName;
  token_start_ = pos_;
  return true;
}

bool HttpUpgradeParser::on_name_byte(char c) {
  if (c == ':') {
    name_end_ = pos_;
    state_ = State::kValue;
    return true;
  }
  if (c == ' ' || c == '\t') return fail(E::kSpaceBeforeColon);
  return is_tchar(c) || fail(E::kBadHeaderName);
}

bool HttpUpgradeParser::on_value_byte(char c) {
  if (c == '\r') {
    state_ = State::kLineLf;
    line_is_header_ = true;
    return true;
  }
  if (c == '\n') return fail(E::kBareLf);
  const auto byte = static_cast<unsigned char>(c);
  if ((byte < 0x20 && c != '\t') || byte == 0x7f) return fail(E::kBadHeaderValue);
  return true;
}

// At the LF of a CRLF: a header line's value runs from past its colon to the CR.
bool HttpUpgradeParser::end_line(std::string_view in) {
  state_ = State::kLineStart;
  if (!line_is_header_) return true;
  const std::string_view name = in.substr(token_start_, name_end_ - token_start_);
  const size_t value_start = name_end_ + 1;
  return take_header(name, trim_ows(in.substr(value_start, pos_ - 1 - value_start)));
}

bool HttpUpgradeParser::take_header(std::string_view name, std::string_view value) {
  for (size_t i = 0; i < kKept.size(); ++i) {
    const KeptHeader& kept = kKept[i];
    if (!equal_ignore_case(name, kept.name)) continue;
    const uint32_t bit = uint32_t{1} << i;
    const bool again = (seen_ & bit) != 0;
    seen_ |= bit;
    switch (kept.repeat) {
      case Repeat::kNoBody:
        return (kept.name == "Content-Length" && value == "0") || fail(E::kBodyNotAllowed);
      case Repeat::kRefused:
        if (again) return fail(HttpError{E::kDuplicateHeader, 400, kept.duplicate_message, {}});
        break;
      case Repeat::kComma:
      case Repeat::kSemicolon:
        // Empty list elements are ignored (RFC 7230 section 7): no separator for them.
        if (!value.empty() && !(request_.*kept.field).empty()) {
          (request_.*kept.field).append(kept.repeat == Repeat::kComma ? ", " : "; ");
        }
        break;
    }
    (request_.*kept.field).append(value);
    return true;
  }
  return true;
}

// The WebSocket rules, once the head is complete (RFC 6455 4.2.1); the version before the key,
// so a client speaking another version learns which one this server speaks.
bool HttpUpgradeParser::finish_head() {
  if ((seen_ & (1u << kHostBit)) == 0) return fail(E::kMissingHost);
  if (!http_list_contains(request_.upgrade, "websocket")) return fail(E::kNotWebSocket);
  if (!http_list_contains(request_.connection, "upgrade")) return fail(E::kConnectionNotUpgrade);
  if ((seen_ & (1u << kVersionBit)) == 0) return fail(E::kMissingVersion);
  if (request_.websocket_version != "13") return fail(E::kUnsupportedVersion);
  if ((seen_ & (1u << kKeyBit)) == 0) return fail(E::kMissingKey);
  if (!valid_key(request_.key)) return fail(E::kBadKey);
  state_ = State::kDone;
  return true;
}

std::string_view http_list_next(std::string_view* list) {
  while (!list->empty()) {
    const size_t comma = list->find(',');
    const std::string_view element = trim_ows(list->substr(0, comma));
    list->remove_prefix(comma == std::string_view::npos ? list->size() : comma + 1);
    if (!element.empty()) return element;
  }
  return {};
}

bool http_list_contains(std::string_view list, std::string_view token) {
  for (std::string_view e = http_list_next(&list); !e.empty(); e = http_list_next(&list)) {
    if (equal_ignore_case(e, token)) return true;
  }
  return false;
}

std::string websocket_accept(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kWebSocketGuid.size());
  input.append(key).append(kWebSocketGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_bytes, EVP_sha1(), nullptr) != 1 ||
      digest_bytes != kSha1Bytes) {
    return {};  // libcrypto without SHA-1 (a FIPS provider that refuses it): no handshake
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), kSha1Bytes));
}

void compose_upgrade_response(std::string* out, std::string_view key, std::string_view protocol,
                              std::string_view extra_headers) {
  out->append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out->append(websocket_accept(key)).append("\r\n");
  if (!protocol.empty()) out->append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  out->append(extra_headers).append("\r\n");
}

std::string_view http_reason_phrase(uint16_t status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 414:
      return "URI Too Long";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

void compose_http_error(std::string* out, uint16_t status, std::string_view message,
                        std::string_view extra_headers) {
  char digits[24];
  const auto status_end = std::to_chars(digits, digits + sizeof(digits), status).ptr;
  out->append("HTTP/1.1 ").append(digits, status_end).append(" ");
  out->append(http_reason_phrase(status)).append("\r\n");
  out->append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  const auto length_end = std::to_chars(digits, digits + sizeof(digits), message.size() + 1).ptr;
  out->append(digits, length_end).append("\r\nConnection: close\r\n");
  out->append(extra_headers).append("\r\n");
  out->append(message).append("\n");
}

void compose_http_error(std::string* out, const HttpError& error) {
  compose_http_error(out, error.status, error.message, error.headers);
}

}  // namespace strata::protocol
