// Incremental RESP2/RESP3 *reply* scanner, used on upstream (Redis) connections: finds where a
// complete reply ends, and decodes the top level when it is a scalar (for GET fills).
// Pure: no I/O. Nesting depth and sizes are bounded. Streamed RESP3 types ("$?", "*?", ";")
// are not supported (Redis 7.0 never sends them) and are reported as errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::protocol {

struct ReplyLimits {
  size_t bulk_bytes_max = 512ull * 1024 * 1024;
  size_t aggregate_count_max = 1ull << 32;
  // Redis nests a Lua script's reply as deep as the script's tables go, up to its Lua stack
  // limit (about 8000 levels, then "-ERR reached lua stack limit"): a reply any shallower
  // limit refuses would cost the whole upstream connection.
  size_t depth_max = 16384;
  // Longest simple string / error / number line accepted (Redis's are short; MONITOR lines
  // are the longest it sends).
  size_t line_bytes_max = 512ull * 1024 * 1024;
};

enum class ReplyKind : uint8_t {
  kSimple,
  kError,
  kInteger,
  kBulk,
  kNull,
  kArray,
  kMap,
  kSet,
  kPush,
  kAttribute,
  kDouble,
  kBoolean,
  kBigNumber,
  kVerbatim,
  kBlobError,
};

enum class ScanStatus : uint8_t { kDone, kNeedMore, kError };

class ReplyScanner {
 public:
  explicit ReplyScanner(ReplyLimits limits = {});

  // Same contract as RespParser::feed: pass the bytes from the start of the current reply
  // (possibly followed by more replies). After kDone the next feed() starts the next reply;
  // after kError every feed() returns kError until reset().
  ScanStatus feed(std::string_view input);

  size_t consumed() const { return consumed_; }  // total bytes of the finished reply
  // Top-level kind (attributes skipped over). "$-1" and "*-1" are kNull.
  ReplyKind kind() const { return kind_; }
  // Top-level payload for scalars, a view into the last input: bulk/simple/error/blob-error
  // text, verbatim text without its "fmt:" prefix, the number text of an integer, double or
  // big number, "t"/"f" for booleans; empty for aggregates and nulls.
  std::string_view payload() const { return payload_; }
  int64_t integer() const { return integer_; }  // for kInteger
  // Element count of a top-level aggregate (pairs for a map), else 0.
  uint64_t aggregate_count() const { return aggregate_count_; }
  bool is_push() const { return kind_ == ReplyKind::kPush; }
  std::string_view error() const { return error_; }
  void reset();

 private:
  struct Frame {
    uint64_t remaining;  // elements still to come in this aggregate
    bool attribute;      // an attribute does not count as an element of its parent
  };
  enum class Step : uint8_t { kContinue, kReplyDone, kNeedMore, kError };

  Step scan_element(std::string_view input);
  Step scan_blob(std::string_view input, char type, std::string_view text, size_t next);
  Step scan_aggregate(char type, std::string_view text, size_t next);
  Step finish_scalar(ReplyKind kind, std::string_view payload, size_t next);
  Step error_step(std::string_view message);
  size_t find_line_end(std::string_view input);
  bool complete_value(bool attribute);
  void record_top(ReplyKind kind, std::string_view payload);
  void restart();
  ScanStatus fail(std::string_view message);

  ReplyLimits limits_;
  size_t pos_ = 0;   // start of the next element, from the start of the reply
  size_t scan_ = 0;  // CRLF search resumes here
  // Open aggregates, innermost last.
  std::vector<Frame> pending_;
  bool finished_ = false;
  bool failed_ = false;
  size_t consumed_ = 0;
  ReplyKind kind_ = ReplyKind::kNull;
  std::string_view payload_;
  int64_t integer_ = 0;
  uint64_t aggregate_count_ = 0;
  std::string_view error_;
};

// Reads the elements of a RESP2 array of bulk strings and nulls (an MGET reply), one at a
// time, each framed by a ReplyScanner. Anything else (another type, a nested aggregate, a
// short or malformed reply) ends the walk: next() returns false from there on.
class BulkArrayReader {
 public:
  explicit BulkArrayReader(std::string_view reply);
  // The next element: its bytes, or *null = true for a nil. False past the last or on anything
  // that is not a bulk string or nil.
  bool next(std::string_view* value, bool* null);

 private:
  ReplyScanner element_;
  std::string_view rest_;  // from the next element on
  int64_t left_ = 0;       // elements still to read
};

}  // namespace strata::protocol
