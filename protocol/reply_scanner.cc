#include "protocol/reply_scanner.h"

#include <algorithm>
#include <cstring>

#include "protocol/resp_numbers.h"

namespace strata::protocol {
namespace {

constexpr std::string_view kLineTooLong = "Protocol error: reply line too long";
constexpr std::string_view kBadType = "Protocol error: unknown reply type";
constexpr std::string_view kBadInteger = "Protocol error: invalid integer";
constexpr std::string_view kBadLength = "Protocol error: invalid bulk length";
constexpr std::string_view kBadCount = "Protocol error: invalid aggregate length";
constexpr std::string_view kBadTerminator = "Protocol error: bulk not followed by CRLF";
constexpr std::string_view kBadScalar = "Protocol error: invalid scalar";
constexpr std::string_view kTooDeep = "Protocol error: reply nested too deep";

constexpr size_t kVerbatimPrefixBytes = 4;  // "txt:"

}  // namespace

ReplyScanner::ReplyScanner(ReplyLimits limits) : limits_(limits) {}

void ReplyScanner::reset() {
  failed_ = false;
  error_ = {};
  consumed_ = 0;
  restart();
}

// Forget the reply in progress (and the last finished one).
void ReplyScanner::restart() {
  pos_ = 0;
  scan_ = 0;
  pending_.clear();
  finished_ = false;
  kind_ = ReplyKind::kNull;
  payload_ = {};
  integer_ = 0;
  aggregate_count_ = 0;
}

ScanStatus ReplyScanner::fail(std::string_view message) {
  failed_ = true;
  error_ = message;
  consumed_ = 0;
  return ScanStatus::kError;
}

ScanStatus ReplyScanner::feed(std::string_view input) {
  if (failed_) return ScanStatus::kError;
  // After a finished reply, or if the caller broke the "same prefix" contract, start afresh.
  if (finished_ || pos_ > input.size() || scan_ > input.size()) restart();
  consumed_ = 0;
  while (true) {
    switch (scan_element(input)) {
      case Step::kContinue:
        break;
      case Step::kReplyDone:
        consumed_ = pos_;
        finished_ = true;
        pending_.clear();
        return ScanStatus::kDone;
      case Step::kNeedMore:
        return ScanStatus::kNeedMore;
      case Step::kError:
        return ScanStatus::kError;
    }
  }
}

// Position of the '\r' of the first CRLF after pos_, or npos (need more, or failed_ set).
// The length limit applies to where the terminator is, so read sizes do not change the outcome.
size_t ReplyScanner::find_line_end(std::string_view input) {
  size_t from = std::max(scan_, pos_);
  while (true) {
    const void* hit = std::memchr(input.data() + from, '\r', input.size() - from);
    if (hit == nullptr) {
      scan_ = input.size();
      if (input.size() - pos_ - 1 > limits_.line_bytes_max) fail(kLineTooLong);
      return std::string_view::npos;
    }
    const size_t cr = static_cast<size_t>(static_cast<const char*>(hit) - input.data());
    if (cr - pos_ - 1 > limits_.line_bytes_max) {
      fail(kLineTooLong);
      return std::string_view::npos;
    }
    if (cr + 1 >= input.size()) {
      scan_ = cr;
      return std::string_view::npos;
    }
    if (input[cr + 1] == '\n') {
      scan_ = cr;
      return cr;
    }
    from = cr + 1;  // a lone '\r' inside a line, as hiredis tolerates
  }
}

ReplyScanner::Step ReplyScanner::scan_element(std::string_view input) {
  if (pos_ >= input.size()) return Step::kNeedMore;
  const size_t cr = find_line_end(input);
  if (cr == std::string_view::npos) return failed_ ? Step::kError : Step::kNeedMore;
  const char type = input[pos_];
  const std::string_view text = input.substr(pos_ + 1, cr - pos_ - 1);
  const size_t next = cr + 2;
  switch (type) {
    case '+':
      return finish_scalar(ReplyKind::kSimple, text, next);
    case '-':
      return finish_scalar(ReplyKind::kError, text, next);
    case ':': {
      int64_t v = 0;
      if (!detail::string_to_ll(text, &v)) return error_step(kBadInteger);
      if (pending_.empty()) integer_ = v;
      return finish_scalar(ReplyKind::kInteger, text, next);
    }
    case ',':
      if (text.empty()) return error_step(kBadScalar);
      return finish_scalar(ReplyKind::kDouble, text, next);
    case '(':
      if (text.empty()) return error_step(kBadScalar);
      return finish_scalar(ReplyKind::kBigNumber, text, next);
    case '#':
      if (text != "t" && text != "f") return error_step(kBadScalar);
      return finish_scalar(ReplyKind::kBoolean, text, next);
    case '_':
      if (!text.empty()) return error_step(kBadScalar);
      return finish_scalar(ReplyKind::kNull, {}, next);
    case '$':
    case '=':
    case '!':
      return scan_blob(input, type, text, next);
    case '*':
    case '%':
    case '~':
    case '>':
    case '|':
      return scan_aggregate(type, text, next);
    default:
      return error_step(kBadType);
  }
}

ReplyScanner::Step ReplyScanner::scan_blob(std::string_view input, char type, std::string_view text,
                                           size_t next) {
  int64_t len = 0;
  if (!detail::string_to_ll(text, &len)) return error_step(kBadLength);
  if (type == '$' && len == -1) return finish_scalar(ReplyKind::kNull, {}, next);
  if (len < 0 || static_cast<uint64_t>(len) > limits_.bulk_bytes_max) {
    return error_step(kBadLength);
  }
  const size_t size = static_cast<size_t>(len);
  if (input.size() - next < size + 2) return Step::kNeedMore;
  if (input[next + size] != '\r' || input[next + size + 1] != '\n') {
    return error_step(kBadTerminator);
  }
  std::string_view payload = input.substr(next, size);
  ReplyKind kind = ReplyKind::kBulk;
  if (type == '=') {
    if (size < kVerbatimPrefixBytes || payload[kVerbatimPrefixBytes - 1] != ':') {
      return error_step(kBadScalar);
    }
    payload.remove_prefix(kVerbatimPrefixBytes);
    kind = ReplyKind::kVerbatim;
  } else if (type == '!') {
    kind = ReplyKind::kBlobError;
  }
  return finish_scalar(kind, payload, next + size + 2);
}

ReplyScanner::Step ReplyScanner::scan_aggregate(char type, std::string_view text, size_t next) {
  int64_t count = 0;
  if (!detail::string_to_ll(text, &count)) return error_step(kBadCount);
  if (type == '*' && count == -1) return finish_scalar(ReplyKind::kNull, {}, next);
  if (count < 0 || static_cast<uint64_t>(count) > limits_.aggregate_count_max) {
    return error_step(kBadCount);
  }
  const bool pairs = type == '%' || type == '|';
  const bool attribute = type == '|';
  const uint64_t elements = static_cast<uint64_t>(count) * (pairs ? 2 : 1);
  if (pending_.empty() && !attribute) {
    const ReplyKind kind = type == '*'   ? ReplyKind::kArray
                           : type == '%' ? ReplyKind::kMap
                           : type == '~' ? ReplyKind::kSet
                                         : ReplyKind::kPush;
    record_top(kind, {});
    aggregate_count_ = static_cast<uint64_t>(count);
  }
  pos_ = scan_ = next;
  if (elements == 0) return complete_value(attribute) ? Step::kReplyDone : Step::kContinue;
  if (pending_.size() >= limits_.depth_max) return error_step(kTooDeep);
  pending_.push_back({elements, attribute});
  return Step::kContinue;
}

ReplyScanner::Step ReplyScanner::finish_scalar(ReplyKind kind, std::string_view payload,
                                               size_t next) {
  if (pending_.empty()) record_top(kind, payload);
  pos_ = scan_ = next;
  return complete_value(false) ? Step::kReplyDone : Step::kContinue;
}

ReplyScanner::Step ReplyScanner::error_step(std::string_view message) {
  fail(message);
  return Step::kError;
}

void ReplyScanner::record_top(ReplyKind kind, std::string_view payload) {
  kind_ = kind;
  payload_ = payload;
}

// One value ended: count it against the open aggregates. Returns true when the whole reply
// is complete. A finished attribute annotates the next value, so it counts for nothing.
bool ReplyScanner::complete_value(bool attribute) {
  if (attribute) return false;
  while (!pending_.empty()) {
    Frame& top = pending_.back();
    if (--top.remaining > 0) return false;
    const bool was_attribute = top.attribute;
    pending_.pop_back();
    if (was_attribute) return false;
  }
  return true;
}

BulkArrayReader::BulkArrayReader(std::string_view reply) {
  // The header by hand (a short reply still yields its whole elements); each element is
  // framed by ReplyScanner, the same rules as every reply strata reads.
  const size_t cr = reply.find("\r\n");
  int64_t n;
  if (reply.starts_with('*') && cr != std::string_view::npos &&
      detail::string_to_ll(reply.substr(1, cr - 1), &n) && n > 0) {
    rest_ = reply.substr(cr + 2);
    left_ = n;
  }
}

bool BulkArrayReader::next(std::string_view* value, bool* null) {
  if (left_ <= 0) return false;
  const int64_t left = left_;
  left_ = 0;  // until this element proves to be a bulk string or a nil
  if (element_.feed(rest_) != ScanStatus::kDone) return false;
  const ReplyKind kind = element_.kind();
  if (kind != ReplyKind::kBulk && kind != ReplyKind::kNull) return false;
  *null = kind == ReplyKind::kNull;
  *value = element_.payload();
  rest_.remove_prefix(element_.consumed());
  left_ = left - 1;
  return true;
}

}  // namespace strata::protocol
