// Incremental RESP2/RESP3 *reply* scanner, used on upstream (Redis) connections: finds where a
// complete reply ends, and decodes the top level when it is a scalar (for GET fills).
// Pure: no I/O. Nesting depth and sizes are bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::protocol {

struct ReplyLimits {
  size_t bulk_bytes_max = 512ull * 1024 * 1024;
  size_t aggregate_count_max = 1ull << 32;
  size_t depth_max = 64;
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

  // Same contract as RespParser::feed: pass the bytes from the start of the current reply.
  ScanStatus feed(std::string_view input);

  size_t consumed() const { return consumed_; }  // total bytes of the finished reply
  ReplyKind kind() const { return kind_; }       // top-level kind (attributes skipped over)
  // Top-level payload for scalars: bulk/simple/error/verbatim text, number text; else empty.
  std::string_view payload() const { return payload_; }
  int64_t integer() const { return integer_; }  // for kInteger
  bool is_push() const { return kind_ == ReplyKind::kPush; }
  std::string_view error() const { return error_; }
  void reset();

 private:
  ReplyLimits limits_;
  size_t pos_ = 0;
  // Stack of remaining element counts for open aggregates.
  std::vector<uint64_t> pending_;
  size_t consumed_ = 0;
  ReplyKind kind_ = ReplyKind::kNull;
  bool have_top_ = false;
  std::string_view payload_;
  int64_t integer_ = 0;
  std::string_view error_;
};

}  // namespace strata::protocol
