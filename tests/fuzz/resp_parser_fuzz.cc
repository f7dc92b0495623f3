// libFuzzer target for RespParser. Besides crashes and sanitizer reports it checks:
//  - consumed() never exceeds the input and is > 0 for kDone / kEmpty;
//  - args of a multibulk command lie inside the consumed bytes; inline args lie inside them
//    or entirely outside the input (the parser's unquoting storage);
//  - every proper prefix of a finished command is kNeedMore;
//  - feeding the bytes in pseudo-random pieces gives exactly the results of feeding them whole.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp_parser.h"
#include "tests/protocol/chunked_feed.h"

namespace {

using strata::protocol::ParserLimits;
using strata::protocol::ParseStatus;
using strata::protocol::RespParser;
using strata::protocol::testing::feed_in_chunks;
using strata::protocol::testing::kStopFeeding;
using strata::protocol::testing::LcgChunks;

struct Result {
  ParseStatus status;
  std::vector<std::string> args;
  std::string error;
  bool operator==(const Result&) const = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

void check_args(const RespParser& parser, std::string_view input) {
  const char* begin = input.data();
  const char* end = input.data() + parser.consumed();
  const bool multibulk = input[0] == '*';
  for (std::string_view a : parser.args()) {
    const bool inside = a.data() >= begin && a.data() + a.size() <= end;
    const bool outside = a.data() + a.size() <= begin || a.data() >= input.data() + input.size();
    check(inside || (!multibulk && outside) || a.empty());
  }
}

// A finished command's bytes minus the last one must not parse.
void check_prefix(std::string_view command, ParserLimits limits) {
  if (command.size() < 2) return;
  RespParser parser(limits);
  check(parser.feed(command.substr(0, command.size() - 1)) == ParseStatus::kNeedMore);
}

std::vector<Result> run(std::string_view data, ParserLimits limits, uint32_t seed, bool verify) {
  RespParser parser(limits);
  std::vector<Result> out;
  const bool partial =
      feed_in_chunks(data, LcgChunks{data.size(), seed}, [&](std::string_view carry) {
        const ParseStatus s = parser.feed(carry);
        if (s == ParseStatus::kNeedMore) return size_t{0};
        if (s == ParseStatus::kError) {
          check(!parser.error().empty());
          out.push_back({s, {}, std::string(parser.error())});
          return kStopFeeding;
        }
        check(parser.consumed() > 0 && parser.consumed() <= carry.size());
        if (verify) {
          check_args(parser, carry);
          check_prefix(carry.substr(0, parser.consumed()), limits);
        }
        Result r{s, {}, {}};
        for (std::string_view a : parser.args()) r.args.emplace_back(a);
        check(s == ParseStatus::kDone ? !r.args.empty() : r.args.empty());
        out.push_back(std::move(r));
        return parser.consumed();
      });
  if (partial) out.push_back({ParseStatus::kNeedMore, {}, {}});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  ParserLimits tiny;
  tiny.bulk_bytes_max = 16;
  tiny.multibulk_count_max = 8;
  tiny.inline_bytes_max = 32;
  for (const ParserLimits& limits : {ParserLimits{}, tiny}) {
    const std::vector<Result> whole = run(data, limits, 0, true);
    const uint32_t seed = static_cast<uint32_t>(size * 2654435761u) | 1u;
    check(run(data, limits, seed, false) == whole);
  }
  return 0;
}
