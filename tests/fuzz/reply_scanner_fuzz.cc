// libFuzzer target for ReplyScanner. Besides crashes and sanitizer reports it checks:
//  - consumed() never exceeds the input and is > 0 after kDone;
//  - the top-level payload lies inside the consumed bytes;
//  - every proper prefix of a finished reply is kNeedMore;
//  - feeding the bytes in pseudo-random pieces gives exactly the results of feeding them whole;
//  - BulkArrayReader, on every finished reply and on the raw input, yields values inside its
//    input, no more of them than the input has bytes, and then keeps answering false.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_scanner.h"
#include "tests/protocol/chunked_feed.h"

namespace {

using strata::protocol::BulkArrayReader;
using strata::protocol::ReplyKind;
using strata::protocol::ReplyLimits;
using strata::protocol::ReplyScanner;
using strata::protocol::ScanStatus;
using strata::protocol::testing::feed_in_chunks;
using strata::protocol::testing::kStopFeeding;
using strata::protocol::testing::LcgChunks;

struct Result {
  ScanStatus status;
  size_t consumed;
  ReplyKind kind;
  std::string payload;
  bool operator==(const Result&) const = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

void check_bulk_array(std::string_view reply) {
  BulkArrayReader r(reply);
  std::string_view v;
  bool null = false;
  size_t n = 0;
  while (r.next(&v, &null)) {
    check(null ? v.empty()
               : v.data() >= reply.data() && v.data() + v.size() <= reply.data() + reply.size());
    check(++n <= reply.size());
  }
  check(!r.next(&v, &null));
}

void check_prefix(std::string_view reply, ReplyLimits limits) {
  ReplyScanner scanner(limits);
  check(scanner.feed(reply.substr(0, reply.size() - 1)) == ScanStatus::kNeedMore);
}

std::vector<Result> run(std::string_view data, ReplyLimits limits, uint32_t seed, bool verify) {
  ReplyScanner scanner(limits);
  std::vector<Result> out;
  const bool partial =
      feed_in_chunks(data, LcgChunks{data.size(), seed}, [&](std::string_view carry) {
        const ScanStatus s = scanner.feed(carry);
        if (s == ScanStatus::kNeedMore) return size_t{0};
        if (s == ScanStatus::kError) {
          check(!scanner.error().empty());
          out.push_back({s, 0, ReplyKind::kNull, std::string(scanner.error())});
          return kStopFeeding;
        }
        const size_t n = scanner.consumed();
        check(n > 0 && n <= carry.size());
        const std::string_view payload = scanner.payload();
        if (verify) {
          check(payload.empty() || (payload.data() >= carry.data() &&
                                    payload.data() + payload.size() <= carry.data() + n));
          check_prefix(carry.substr(0, n), limits);
          check_bulk_array(carry.substr(0, n));
        }
        out.push_back({s, n, scanner.kind(), std::string(payload)});
        return n;
      });
  if (partial) out.push_back({ScanStatus::kNeedMore, 0, ReplyKind::kNull, {}});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_bulk_array(data);
  ReplyLimits tiny;
  tiny.bulk_bytes_max = 16;
  tiny.aggregate_count_max = 8;
  tiny.depth_max = 4;
  tiny.line_bytes_max = 32;
  for (const ReplyLimits& limits : {ReplyLimits{}, tiny}) {
    const std::vector<Result> whole = run(data, limits, 0, true);
    const uint32_t seed = static_cast<uint32_t>(size * 2654435761u) | 1u;
    check(run(data, limits, seed, false) == whole);
  }
  return 0;
}
