#include "protocol/resp_parser.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "protocol/resp_numbers.h"

namespace strata::protocol {
namespace {

constexpr std::string_view kInvalidMultibulk = "Protocol error: invalid multibulk length";
constexpr std::string_view kInvalidBulk = "Protocol error: invalid bulk length";
constexpr std::string_view kTooBigMbulk = "Protocol error: too big mbulk count string";
constexpr std::string_view kTooBigBulk = "Protocol error: too big bulk count string";
constexpr std::string_view kTooBigInline = "Protocol error: too big inline request";
constexpr std::string_view kUnbalancedQuotes = "Protocol error: unbalanced quotes in request";
constexpr std::string_view kExpectedPrefix = "Protocol error: expected '$', got '";

// Redis reserves min(argc, 1024) argv slots up front and grows as arguments arrive, so a huge
// declared count costs nothing until the bytes are really sent.
constexpr size_t kArgvReserveMax = 1024;
// Terminator searches look at this many bytes one by one before switching to memchr().
constexpr size_t kShortScanBytes = 24;

// "expected '$', got 'X'" for every byte X, in static storage so error() views never dangle.
// Redis's addReplyErrorFormat turns '\r' and '\n' into spaces; we do the same.
std::string_view expected_dollar_message(unsigned char got) {
  constexpr size_t kLength = kExpectedPrefix.size() + 2;
  static const auto table = [] {
    std::array<std::array<char, kLength>, 256> t{};
    for (size_t b = 0; b < 256; ++b) {
      std::memcpy(t[b].data(), kExpectedPrefix.data(), kExpectedPrefix.size());
      const char c = static_cast<char>(b);
      t[b][kExpectedPrefix.size()] = (c == '\r' || c == '\n') ? ' ' : c;
      t[b][kExpectedPrefix.size() + 1] = '\'';
    }
    return t;
  }();
  return {table[got].data(), kLength};
}

// C-locale isspace(): what sdssplitargs skips between arguments.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// What ends an unquoted argument in sdssplitargs (note: not '\v' or '\f').
bool is_token_end(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// "<digits>\r?" as the fast path takes it: "0" or 1-18 digits without a leading zero, then
// '\r' and one more byte (Redis never looks at it). Returns the byte after, or nullptr when
// the general path must decide (short input, sign, leading zero, long or odd number, NUL).
const char* fast_number(const char* p, const char* end, uint64_t* value) {
  constexpr ptrdiff_t kDigitsMax = 18;  // always fits in int64_t
  const char* start = p;
  uint64_t n = 0;
  if (p < end && *p == '0') {
    ++p;
  } else {
    while (p < end && *p >= '0' && *p <= '9' && p - start < kDigitsMax) n = n * 10 + (*p++ - '0');
  }
  if (p == start || end - p < 2 || *p != '\r') return nullptr;
  *value = n;
  return p + 2;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

RespParser::RespParser(ParserLimits limits) : limits_(limits) {}

void RespParser::reset() {
  failed_ = false;
  error_ = {};
  args_.clear();
  finish(ParseStatus::kNeedMore, 0);
}

ParseStatus RespParser::finish(ParseStatus status, size_t consumed) {
  consumed_ = consumed;
  mode_ = Mode::kUnknown;
  pos_ = 0;
  scan_ = 0;
  scan_blocked_ = false;
  argc_expected_ = -1;
  bulk_len_ = -1;
  need_hint_ = 0;
  return status;
}

ParseStatus RespParser::fail(std::string_view message) {
  failed_ = true;
  error_ = message;
  consumed_ = 0;
  return ParseStatus::kError;
}

ParseStatus RespParser::feed(std::string_view input) {
  args_.clear();
  consumed_ = 0;
  if (failed_) return ParseStatus::kError;
  // A shorter input than last time breaks the contract; start the command over rather than
  // read out of bounds.
  if (scan_ > input.size() || pos_ > input.size()) finish(ParseStatus::kNeedMore, 0);
  if (input.empty()) {
    need_hint_ = 1;
    return ParseStatus::kNeedMore;
  }
  if (mode_ == Mode::kUnknown) mode_ = input[0] == '*' ? Mode::kMultibulk : Mode::kInline;
  return mode_ == Mode::kMultibulk ? parse_multibulk(input) : parse_inline(input);
}

// Looks for `wanted` from scan_ the way strchr() on Redis's NUL-terminated query buffer does:
// a NUL byte before it hides it for good (Redis then waits until the size limit trips).
RespParser::LineScan RespParser::find_byte(std::string_view input, char wanted, size_t* at) {
  if (scan_blocked_) return LineScan::kBlocked;
  // Count lines are a few bytes long: a plain loop beats two memchr() calls there.
  const size_t short_end = std::min(input.size(), scan_ + kShortScanBytes);
  for (size_t i = scan_; i < short_end; ++i) {
    if (input[i] == wanted) {
      scan_ = i;
      *at = i;
      return LineScan::kFound;
    }
    if (input[i] == '\0') {
      scan_blocked_ = true;
      return LineScan::kBlocked;
    }
  }
  scan_ = short_end;
  const char* begin = input.data() + scan_;
  const size_t left = input.size() - scan_;
  const void* hit = std::memchr(begin, wanted, left);
  const size_t span = hit ? static_cast<size_t>(static_cast<const char*>(hit) - begin) : left;
  if (std::memchr(begin, '\0', span) != nullptr) {
    scan_blocked_ = true;
    return LineScan::kBlocked;
  }
  scan_ += span;
  if (!hit) return LineScan::kMissing;
  *at = scan_;
  return LineScan::kFound;
}

// Finds the '\r' that ends the count line starting at pos_ ("*N" or "$N"). Redis only needs
// one more byte after it (it never checks that byte is '\n'). Returns kDone with *cr set.
// The size limit is applied to the terminator's offset rather than to whatever happens to be
// buffered, so the outcome does not depend on how the bytes were split into reads.
ParseStatus RespParser::find_count_line(std::string_view input, std::string_view too_big,
                                        size_t* cr) {
  if (find_byte(input, '\r', cr) != LineScan::kFound) {
    if (input.size() - pos_ > limits_.inline_bytes_max) return fail(too_big);
    need_hint_ = input.size() + 1;
    return ParseStatus::kNeedMore;
  }
  if (*cr - pos_ > limits_.inline_bytes_max) return fail(too_big);
  if (*cr + 1 >= input.size()) {
    need_hint_ = *cr + 2;
    return ParseStatus::kNeedMore;
  }
  return ParseStatus::kDone;
}

// The common case, a whole well-formed command already buffered, in one pass with locals and
// no resume bookkeeping. Only accepts what the general path would accept with the same result;
// on anything else it returns false having changed nothing but args_.
bool RespParser::parse_whole_multibulk(std::string_view input) {
  const char* const end = input.data() + input.size();
  uint64_t argc = 0;
  const char* p = fast_number(input.data() + 1, end, &argc);
  if (p == nullptr || argc == 0 || argc > limits_.multibulk_count_max) return false;
  for (uint64_t i = 0; i < argc; ++i) {
    uint64_t len = 0;
    if (p == end || *p != '$' || (p = fast_number(p + 1, end, &len)) == nullptr ||
        len > limits_.bulk_bytes_max || static_cast<uint64_t>(end - p) < len + 2) {
      args_.clear();
      return false;
    }
    args_.emplace_back(p, len);
    p += len + 2;
  }
  consumed_ = static_cast<size_t>(p - input.data());
  return true;
}

ParseStatus RespParser::parse_multibulk(std::string_view input) {
  if (argc_expected_ < 0 && scan_ == 0 && parse_whole_multibulk(input)) {
    return finish(ParseStatus::kDone, consumed_);
  }
  if (argc_expected_ < 0) {
    size_t cr = 0;
    const ParseStatus line = find_count_line(input, kTooBigMbulk, &cr);
    if (line != ParseStatus::kDone) return line;
    int64_t count = 0;
    if (!detail::string_to_ll(input.substr(pos_ + 1, cr - pos_ - 1), &count) ||
        (count > 0 && static_cast<uint64_t>(count) > limits_.multibulk_count_max)) {
      return fail(kInvalidMultibulk);
    }
    pos_ = scan_ = cr + 2;
    if (count <= 0) return finish(ParseStatus::kEmpty, pos_);  // "*0", "*-1": nothing to run
    argc_expected_ = count;
    offsets_.clear();
    offsets_.reserve(std::min<size_t>(static_cast<size_t>(count), kArgvReserveMax));
  }
  while (offsets_.size() < static_cast<size_t>(argc_expected_)) {
    if (bulk_len_ < 0) {
      size_t cr = 0;
      const ParseStatus line = find_count_line(input, kTooBigBulk, &cr);
      if (line != ParseStatus::kDone) return line;
      if (input[pos_] != '$') {
        return fail(expected_dollar_message(static_cast<unsigned char>(input[pos_])));
      }
      int64_t len = 0;
      if (!detail::string_to_ll(input.substr(pos_ + 1, cr - pos_ - 1), &len) || len < 0 ||
          static_cast<uint64_t>(len) > limits_.bulk_bytes_max) {
        return fail(kInvalidBulk);
      }
      bulk_len_ = len;
      pos_ = scan_ = cr + 2;
    }
    // Redis skips the two bytes after the payload without checking they are "\r\n".
    const size_t end = pos_ + static_cast<size_t>(bulk_len_) + 2;
    if (input.size() < end) {
      need_hint_ = end;
      return ParseStatus::kNeedMore;
    }
    offsets_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
    bulk_len_ = -1;
    pos_ = scan_ = end;
  }
  args_.reserve(offsets_.size());
  for (const auto& [begin, length] : offsets_) args_.emplace_back(input.data() + begin, length);
  return finish(ParseStatus::kDone, pos_);
}

ParseStatus RespParser::parse_inline(std::string_view input) {
  size_t newline = 0;
  if (find_byte(input, '\n', &newline) != LineScan::kFound) {
    if (input.size() > limits_.inline_bytes_max) return fail(kTooBigInline);
    need_hint_ = input.size() + 1;
    return ParseStatus::kNeedMore;
  }
  if (newline > limits_.inline_bytes_max) return fail(kTooBigInline);
  size_t length = newline;
  if (length > 0 && input[length - 1] == '\r') --length;
  if (!split_inline(input, length)) return fail(kUnbalancedQuotes);
  return finish(args_.empty() ? ParseStatus::kEmpty : ParseStatus::kDone, newline + 1);
}

// sdssplitargs(): arguments split on blanks; plain ones are views of the input, ones with
// quotes are unescaped into inline_storage_. The line holds no NUL (find_byte saw to that).
bool RespParser::split_inline(std::string_view input, size_t line_length) {
  const std::string_view line = input.substr(0, line_length);
  inline_pieces_.clear();
  inline_storage_.clear();
  size_t p = 0;
  while (true) {
    while (p < line.size() && is_space(line[p])) ++p;
    if (p >= line.size()) break;
    const size_t start = p;
    while (p < line.size() && !is_token_end(line[p]) && line[p] != '"' && line[p] != '\'') ++p;
    if (p >= line.size() || is_token_end(line[p])) {
      inline_pieces_.push_back({false, start, p - start});
      continue;
    }
    const size_t begin = inline_storage_.size();
    inline_storage_.append(line.data() + start, p - start);
    p = split_quoted(line, p);
    if (p == std::string_view::npos) return false;
    inline_pieces_.push_back({true, begin, inline_storage_.size() - begin});
  }
  args_.reserve(inline_pieces_.size());
  for (const InlinePiece& piece : inline_pieces_) {
    const char* base = piece.owned ? inline_storage_.data() : input.data();
    args_.emplace_back(base + piece.begin, piece.length);
  }
  return true;
}

// The rest of one argument from `p` (a quote), byte for byte as sdssplitargs reads it.
// Returns the position after the argument, or npos on unbalanced quotes.
size_t RespParser::split_quoted(std::string_view line, size_t p) {
  const auto at = [&line](size_t i) { return i < line.size() ? line[i] : '\0'; };
  char quote = '\0';  // the quote we are inside of, if any
  bool done = false;
  while (!done) {
    const char c = at(p);
    if (quote == '"' && c == '\\' && at(p + 1) == 'x' && is_hex(at(p + 2)) && is_hex(at(p + 3))) {
      inline_storage_.push_back(
          static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
      p += 3;
    } else if (quote == '"' && c == '\\' && at(p + 1) != '\0') {
      const char e = at(++p);
      const char out = e == 'n'   ? '\n'
                       : e == 'r' ? '\r'
                       : e == 't' ? '\t'
                       : e == 'b' ? '\b'
                       : e == 'a' ? '\a'
                                  : e;
      inline_storage_.push_back(out);
    } else if (quote == '\'' && c == '\\' && at(p + 1) == '\'') {
      inline_storage_.push_back(at(++p));
    } else if (quote != '\0' && c == quote) {
      // The closing quote must be followed by a blank or the end of the line.
      if (at(p + 1) != '\0' && !is_space(at(p + 1))) return std::string_view::npos;
      done = true;
    } else if (quote != '\0' && c == '\0') {
      return std::string_view::npos;
    } else if (quote != '\0') {
      inline_storage_.push_back(c);
    } else if (c == '\0' || is_token_end(c)) {
      done = true;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else {
      inline_storage_.push_back(c);
    }
    if (p < line.size()) ++p;
  }
  return p;
}

}  // namespace strata::protocol
