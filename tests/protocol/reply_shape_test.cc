#include "protocol/reply_shape.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/reply_scanner.h"

namespace strata::protocol {
namespace {

std::string convert(std::string_view resp2, const char* program) {
  std::string out;
  EXPECT_TRUE(resp2_to_resp3(resp2, program, &out)) << program << " on " << resp2;
  return out;
}

const char* shape(std::vector<std::string_view> args) { return reply_shape(args); }

TEST(ReplyShape, TableIsSortedAndEveryProgramParses) {
  std::span<const ReplyShapeRow> rows = reply_shape_rows();
  ASSERT_FALSE(rows.empty());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) {
      EXPECT_LE(rows[i - 1].command, rows[i].command) << rows[i].command;
    }
    std::string out;
    // Every program converts a null (all of them start with an op that accepts any type).
    EXPECT_TRUE(resp2_to_resp3("$-1\r\n", rows[i].program, &out)) << rows[i].program;
    EXPECT_EQ(out, "_\r\n");
  }
}

TEST(ReplyShape, LookupByCommandSubcommandTokenAndArgc) {
  EXPECT_STREQ(shape({"HGETALL", "h"}), "M..");
  EXPECT_STREQ(shape({"hgetall", "h"}), "M..");
  EXPECT_STREQ(shape({"GET", "k"}), ".");
  EXPECT_STREQ(shape({"NOSUCHCOMMAND"}), ".");
  EXPECT_STREQ(shape({"ZRANGE", "z", "0", "-1"}), ".");
  EXPECT_STREQ(shape({"ZRANGE", "z", "0", "-1", "withscores"}), "P.d");
  // The key is never taken for the option.
  EXPECT_STREQ(shape({"ZRANGE", "WITHSCORES", "0", "-1"}), ".");
  EXPECT_STREQ(shape({"ZPOPMIN", "z"}), "(.d).");
  EXPECT_STREQ(shape({"ZPOPMIN", "z", "2"}), "P.d");
  EXPECT_STREQ(shape({"CONFIG", "GET", "*"}), "M..");
  EXPECT_STREQ(shape({"config", "set", "a", "b"}), ".");
  EXPECT_STREQ(shape({"CONFIG"}), ".");
  EXPECT_STREQ(shape({}), ".");
}

struct Case {
  const char* why;
  std::string_view resp2;
  const char* program;
  std::string_view resp3;
};

constexpr Case kCases[] = {
    {"null bulk", "$-1\r\n", ".", "_\r\n"},
    {"null array", "*-1\r\n", ".", "_\r\n"},
    {"nulls inside", "*3\r\n$1\r\na\r\n$-1\r\n*-1\r\n", ".", "*3\r\n$1\r\na\r\n_\r\n_\r\n"},
    {"nested null", "*1\r\n*2\r\n$-1\r\n:5\r\n", ".", "*1\r\n*2\r\n_\r\n:5\r\n"},
    {"null among doubles", "*2\r\n$1\r\n1\r\n$-1\r\n", "Ad", "*2\r\n,1\r\n_\r\n"},
    {"double", "$3\r\n1.5\r\n", "d", ",1.5\r\n"},
    {"infinity", "$3\r\ninf\r\n", "d", ",inf\r\n"},
    {"true", ":1\r\n", "b", "#t\r\n"},
    {"false", ":0\r\n", "b", "#f\r\n"},
    {"not a boolean: kept", ":7\r\n", "b", ":7\r\n"},
    {"verbatim", "$5\r\nhello\r\n", "v", "=9\r\ntxt:hello\r\n"},
    {"big number", "$3\r\n123\r\n", "n", "(123\r\n"},
    // Type-directed: an operation for another type leaves the node as it is.
    {"double op on an integer", ":3\r\n", "d", ":3\r\n"},
    {"pairs op on a bulk", "$1\r\nx\r\n", "P.d", "$1\r\nx\r\n"},
    {"map op on a status", "+OK\r\n", "M..", "+OK\r\n"},
    {"error", "-ERR x\r\n", "d", "-ERR x\r\n"},
    {"map", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", "M..",
     "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"},
    {"empty map", "*0\r\n", "M..", "%0\r\n"},
    {"set", "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "S.", "~2\r\n$1\r\na\r\n$1\r\nb\r\n"},
    {"pairs", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n", "P.d",
     "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"},
    {"tuple", "*2\r\n$1\r\na\r\n$1\r\n1\r\n", "(.d).", "*2\r\n$1\r\na\r\n,1\r\n"},
    {"tuple and rest", "*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nz\r\n", "(.d).",
     "*3\r\n$1\r\na\r\n,1\r\n$1\r\nz\r\n"},
    {"pairs to map", "*1\r\n*2\r\n$1\r\nx\r\n*0\r\n", "K..", "%1\r\n$1\r\nx\r\n*0\r\n"},
    {"per-key values", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", "{'a'd*.}",
     "%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n$1\r\n2\r\n"},
    {"union by type", "*2\r\n$1\r\n1\r\n*1\r\n$1\r\n2\r\n", "AU2dAd",
     "*2\r\n,1\r\n*1\r\n,2\r\n"},
};

TEST(ReplyShape, Conversions) {
  for (const Case& c : kCases) EXPECT_EQ(convert(c.resp2, c.program), c.resp3) << c.why;
}

TEST(ReplyShape, ResultsMatchWhatRedisSends) {
  // Redis 7.0.15 in HELLO 2 and HELLO 3 (redis-cli --no-raw -3 shows the same).
  EXPECT_EQ(convert("*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n", shape({"ZRANGE", "z", "0", "-1",
                                                              "WITHSCORES"})),
            "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n");
  EXPECT_EQ(convert("*2\r\n$3\r\n1.5\r\n$-1\r\n", shape({"ZMSCORE", "z", "m", "x"})),
            "*2\r\n,1.5\r\n_\r\n");
  EXPECT_EQ(convert("*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
                    shape({"XREAD", "STREAMS", "x", "0"})),
            "%1\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
}

TEST(ReplyShape, SameTestSkipsTheConverterForPlainReplies) {
  const std::pair<std::string_view, bool> plain[] = {
      {"+OK\r\n", true}, {":1\r\n", true}, {"$1\r\nx\r\n", true}, {"$-1\r\n", false},
      {"*0\r\n", false}};
  for (const auto& [reply, same] : plain) EXPECT_EQ(resp3_same(reply, "."), same) << reply;
  EXPECT_FALSE(resp3_same("$1\r\n1\r\n", "d"));
}

TEST(ReplyShape, MalformedInputOrProgramIsRefused) {
  const std::pair<std::string_view, const char*> bad[] = {
      {"*2\r\n$1\r\na\r\n", "."},          // short
      {"$5\r\nab\r\n", "."},                 // short bulk
      {"$1\r\nab\r\n", "."},                 // no CRLF after
      {"*3\r\n:1\r\n:2\r\n:3\r\n", "M.."},  // odd map
      {"?x\r\n", "."},                        // unknown type
      {"*1\r\n:1\r\n", "A"},                 // program cut
      {"*1\r\n:1\r\n", "Q"},                 // unknown op
      {"*1\r\n:1\r\n", "{'a"},               // unterminated key
      {":1\r\n:2\r\n", "."},                  // two replies
      {"*1\r\n:1\r\n", "K.."},               // not pairs
  };
  for (const auto& [in, program] : bad) {
    std::string out;
    EXPECT_FALSE(resp2_to_resp3(in, program, &out)) << program << " on " << in;
  }
}

TEST(ReplyShape, DeepKeptRepliesNeedNoRecursion) {
  // A script's self-referencing table: Redis nests ~8000 arrays.
  constexpr int kDepth = 100000;
  std::string in;
  for (int i = 0; i < kDepth; ++i) in += "*1\r\n";
  in += "$-1\r\n";
  std::string want = in.substr(0, in.size() - 5) + "_\r\n";
  EXPECT_EQ(convert(in, "."), want);
  // A shape deeper than the limit is refused, not followed.
  std::string program(kReplyShapeDepthMax + 2, 'A');
  program += '.';
  std::string deep;
  for (size_t i = 0; i < kReplyShapeDepthMax + 2; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  std::string out;
  EXPECT_FALSE(resp2_to_resp3(deep, program.c_str(), &out));
}

TEST(ReplyShape, ConvertedRepliesScanAsOneReply) {
  // Every program over a flat array of four strings (some refuse it: K wants pairs): what
  // comes out is one whole reply, so the client's reader stays in step.
  int converted = 0;
  for (const ReplyShapeRow& r : reply_shape_rows()) {
    std::string out;
    if (!resp2_to_resp3("*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", r.program,
                        &out)) {
      continue;
    }
    ++converted;
    ReplyScanner sc;
    EXPECT_EQ(sc.feed(out), ScanStatus::kDone) << r.command << " " << r.program << ": " << out;
    EXPECT_EQ(sc.consumed(), out.size());
  }
  EXPECT_GT(converted, 10);
}

}  // namespace
}  // namespace strata::protocol
