// Minimal, resumable RESP2/RESP3 reply-boundary scanner for the load generator: it only finds
// where each top-level reply ends and classifies it (value / null / error), skipping bulk
// payloads without copying. State survives across recv buffers; no allocation.
// (protocol/reply_scanner.h does full decoding for the proxy; this one trades that for speed.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strata::bench {

enum class ReplyClass : uint8_t { kValue, kNull, kError };

class ReplyCounter {
 public:
  // Aggregates nested deeper than this are a protocol error for the load generator's purposes.
  static constexpr int kDepthMax = 32;
  // A header line ("$123\r\n", "+OK\r\n") longer than this without a digit-only body is fine for
  // simple strings (skipped), but numbers beyond 18 digits are rejected.
  static constexpr int kNumberDigitsMax = 18;

  // Scans `input`; calls on_reply(ReplyClass) for every completed top-level reply.
  // Returns false on malformed input (the connection should be dropped).
  template <class OnReply>
  bool feed(std::string_view input, OnReply&& on_reply);

  bool idle() const { return phase_ == Phase::kType && depth_ == 0; }

 private:
  enum class Phase : uint8_t {
    kType,      // expecting the type byte of the next element
    kNumber,    // reading a length/count header up to '\n'
    kLine,      // skipping a simple line up to '\n'
    kBulkData,  // skipping bulk_left_ payload bytes (including the trailing CRLF)
  };
  struct Frame {
    int64_t left;    // elements still expected in this aggregate
    bool attribute;  // RESP3 '|': metadata before the real element, not an element itself
  };

  // Called when one element finished; returns true when that completed a top-level reply.
  bool element_done();
  ReplyClass top_class() const {
    return top_error_ ? ReplyClass::kError : top_null_ ? ReplyClass::kNull : ReplyClass::kValue;
  }

  Phase phase_ = Phase::kType;
  char type_ = 0;
  bool top_error_ = false;
  bool top_null_ = false;
  bool negative_ = false;
  int digits_ = 0;
  int64_t number_ = 0;
  int64_t bulk_left_ = 0;
  int depth_ = 0;
  Frame stack_[kDepthMax];
};

inline bool ReplyCounter::element_done() {
  while (depth_ > 0) {
    Frame& top = stack_[depth_ - 1];
    if (--top.left > 0) return false;
    const bool was_attribute = top.attribute;
    --depth_;
    if (was_attribute) return false;  // the attributed element itself is still to come
  }
  return true;
}

template <class OnReply>
bool ReplyCounter::feed(std::string_view input, OnReply&& on_reply) {
  const char* p = input.data();
  const char* const end = p + input.size();
  while (p < end) {
    switch (phase_) {
      case Phase::kType: {
        type_ = *p++;
        if (depth_ == 0) {
          top_error_ = type_ == '-' || type_ == '!';
          top_null_ = type_ == '_';
        }
        switch (type_) {
          case '+':
          case '-':
          case ':':
          case ',':
          case '#':
          case '_':
          case '(':
            phase_ = Phase::kLine;
            break;
          case '$':
          case '!':
          case '=':
          case '*':
          case '%':
          case '~':
          case '>':
          case '|':
            phase_ = Phase::kNumber;
            negative_ = false;
            digits_ = 0;
            number_ = 0;
            break;
          default:
            return false;
        }
        break;
      }
      case Phase::kLine: {
        const void* nl = __builtin_memchr(p, '\n', static_cast<size_t>(end - p));
        if (nl == nullptr) return true;  // the line continues in the next buffer
        p = static_cast<const char*>(nl) + 1;
        phase_ = Phase::kType;
        if (element_done()) on_reply(top_class());
        break;
      }
      case Phase::kNumber: {
        const char c = *p++;
        if (c >= '0' && c <= '9') {
          if (++digits_ > kNumberDigitsMax) return false;
          number_ = number_ * 10 + (c - '0');
        } else if (c == '-' && digits_ == 0) {
          negative_ = true;
        } else if (c == '\n') {
          const bool is_bulk = type_ == '$' || type_ == '!' || type_ == '=';
          if (negative_) {  // null bulk / null aggregate: a complete element
            if (depth_ == 0) top_null_ = true;
            phase_ = Phase::kType;
            if (element_done()) on_reply(top_class());
          } else if (is_bulk) {
            bulk_left_ = number_ + 2;
            phase_ = Phase::kBulkData;
          } else {
            const bool pairs = type_ == '%' || type_ == '|';
            const int64_t count = pairs ? number_ * 2 : number_;
            phase_ = Phase::kType;
            if (count == 0) {
              if (type_ != '|' && element_done()) on_reply(top_class());
            } else {
              if (depth_ == kDepthMax) return false;
              stack_[depth_++] = Frame{count, type_ == '|'};
            }
          }
        } else if (c != '\r') {
          return false;
        }
        break;
      }
      case Phase::kBulkData: {
        const int64_t avail = end - p;
        if (avail < bulk_left_) {
          bulk_left_ -= avail;
          return true;
        }
        p += bulk_left_;
        bulk_left_ = 0;
        phase_ = Phase::kType;
        if (element_done()) on_reply(top_class());
        break;
      }
    }
  }
  return true;
}

}  // namespace strata::bench
