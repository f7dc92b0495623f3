// Every rule the PostgreSQL replication decoder enforces, each with its own error code and the
// offset of the field that broke it, and the limits at and just past their boundary. Inputs are
// written byte by byte (pgoutput_writer.h), most of them ones PostgreSQL never sends.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pgoutput.h"
#include "tests/protocol/pgoutput_writer.h"

namespace strata::protocol {
namespace {

using namespace testing;  // the writer: pgoutput_writer.h
using E = PgErrorCode;

enum class Layer { kPgoutput, kRepl };

struct Case {
  std::string name;
  std::string input;
  PgErrorCode code;
  size_t offset;
  Layer layer = Layer::kPgoutput;
  PgoutLimits limits = {};
};

PgError decode(const Case& c) {
  if (c.layer == Layer::kRepl) {
    ReplMessage r;
    return decode_repl_message(c.input, &r, c.limits);
  }
  PgoutMessage m;
  return decode_pgoutput(c.input, &m, c.limits);
}

const std::vector<TestColumn> kOne = {{'t', "v"}};

// A tuple whose only column is `kind`, with a length field where the kind has one.
std::string one_column(char kind, int32_t length, std::string_view bytes = "") {
  return u16(1) + kind + i32(length) + std::string(bytes);
}

std::string relation_with_column_flags(uint8_t flags) {
  return "R" + u32(1) + cstring("s") + cstring("t") + "d" + u16(1) + u8(flags) + cstring("a") +
         u32(23) + i32(-1);
}

std::vector<Case> cases() {
  const PgoutLimits small{.message_bytes_max = 64,
                          .columns_max = 2,
                          .cstring_bytes_max = 4,
                          .value_bytes_max = 3,
                          .truncate_relations_max = 2};
  const std::string begin = pg_begin(1, 2, 3);
  return {
      {"empty message", "", E::kTruncated, 0},
      {"begin cut in its xid", begin.substr(0, 19), E::kTruncated, 17},
      {"bytes after a commit", pg_commit(0, 1, 2, 3) + "C", E::kTrailingBytes, 26},
      {"message past max",
       begin,
       E::kMessagePastMax,
       0,
       Layer::kPgoutput,
       {.message_bytes_max = 20}},
      {"unknown type", "Z" + begin.substr(1), E::kUnknownMessage, 0},
      {"NUL type", std::string(1, '\0'), E::kUnknownMessage, 0},
      {"replication tag as pgoutput", xlog_data(1, 2, 3, begin), E::kUnknownMessage, 0},
      {"stream start", "S" + u32(7) + u8(1), E::kStreamMessage, 0},
      {"stream stop", "E", E::kStreamMessage, 0},
      {"stream commit", "c" + u32(7), E::kStreamMessage, 0},
      {"stream abort", "A" + u32(7) + u32(7), E::kStreamMessage, 0},
      {"begin prepare", "b", E::kTwoPhaseMessage, 0},
      {"prepare", "P", E::kTwoPhaseMessage, 0},
      {"commit prepared", "K", E::kTwoPhaseMessage, 0},
      {"rollback prepared", "r", E::kTwoPhaseMessage, 0},
      {"stream prepare", "p", E::kTwoPhaseMessage, 0},
      {"begin without final_lsn", pg_begin(0, 2, 3), E::kBeginLsnZero, 1},
      {"commit flags", pg_commit(1, 1, 2, 3), E::kCommitFlags, 1},
      {"replica identity", pg_relation(1, "ns", "tbl", 'x', {}), E::kBadReplicaIdentity, 12},
      {"replica identity upper case", pg_relation(1, "", "t", 'D', {}), E::kBadReplicaIdentity, 8},
      {"column flags", relation_with_column_flags(2), E::kColumnFlags, 12},
      {"column flags all", relation_with_column_flags(0xff), E::kColumnFlags, 12},
      {"tuple columns past max", "I" + u32(1) + "N" + u16(1665), E::kColumnsPastMax, 6},
      {"relation columns past max", "R" + u32(1) + cstring("") + cstring("t") + "d" + u16(1665),
       E::kColumnsPastMax, 9},
      {"origin name past max", pg_origin(1, std::string(1025, 'o')), E::kCstringPastMax, 9},
      {"origin name without NUL past max", "O" + u64(1) + std::string(1025, 'o'),
       E::kCstringPastMax, 9},
      {"insert marker", "I" + u32(1) + "K" + tuple_data(kOne), E::kInsertMarker, 5},
      {"update first marker", "U" + u32(1) + "X" + tuple_data(kOne), E::kUpdateMarker, 5},
      {"update marker after old", "U" + u32(1) + "K" + tuple_data(kOne) + "O" + tuple_data(kOne),
       E::kUpdateMarker, 14},
      {"delete marker", pg_delete(1, 'N', kOne), E::kDeleteMarker, 5},
      {"column kind", "I" + u32(1) + "N" + u16(2) + "n" + "x", E::kBadColumnKind, 9},
      {"column kind upper case", "I" + u32(1) + "N" + u16(1) + "T" + i32(0), E::kBadColumnKind, 8},
      {"negative text length", "I" + u32(1) + "N" + one_column('t', -1), E::kNegativeLength, 9},
      {"negative binary length", "I" + u32(1) + "N" + one_column('b', INT32_MIN),
       E::kNegativeLength, 9},
      {"negative content length", "M" + u8(0) + u64(1) + cstring("p") + i32(-2), E::kNegativeLength,
       12},
      // The length is judged before its bytes are looked for: a huge one is not "truncated".
      {"value past max", "I" + u32(1) + "N" + one_column('t', (1 << 30) + 1), E::kValuePastMax, 9},
      {"content past max", "M" + u8(0) + u64(1) + cstring("p") + i32(INT32_MAX), E::kValuePastMax,
       12},
      {"truncate options", pg_truncate(4, {1}), E::kTruncateOptions, 5},
      {"truncate relations past max", "T" + u32(65537) + u8(0), E::kTruncateRelationsPastMax, 1},
      {"message flags", pg_message(2, 1, "p", "c"), E::kMessageFlags, 1},
      // Small limits, just past each.
      {"small: columns", pg_insert(1, {{}, {}, {}}), E::kColumnsPastMax, 6, Layer::kPgoutput,
       small},
      {"small: cstring", pg_origin(1, "abcde"), E::kCstringPastMax, 9, Layer::kPgoutput, small},
      {"small: cstring cut past max", "O" + u64(1) + "abcde", E::kCstringPastMax, 9,
       Layer::kPgoutput, small},
      {"small: value", pg_insert(1, {{'b', "abcd"}}), E::kValuePastMax, 9, Layer::kPgoutput, small},
      {"small: content", pg_message(0, 1, "p", "abcd"), E::kValuePastMax, 12, Layer::kPgoutput,
       small},
      {"small: truncate", pg_truncate(0, {1, 2, 3}), E::kTruncateRelationsPastMax, 1,
       Layer::kPgoutput, small},
      {"small: message", pg_message(0, 1, "p", std::string(50, 'c')), E::kMessagePastMax, 0,
       Layer::kPgoutput, small},
      // Streaming replication.
      {"empty payload", "", E::kTruncated, 0, Layer::kRepl},
      {"XLogData header cut", "w" + u64(1) + u64(2), E::kTruncated, 17, Layer::kRepl},
      {"keepalive cut", keepalive(1, 2, 0).substr(0, 17), E::kTruncated, 17, Layer::kRepl},
      {"keepalive trailing", keepalive(1, 2, 0) + "k", E::kTrailingBytes, 18, Layer::kRepl},
      {"keepalive reply 2", keepalive(1, 2, 2), E::kBadReplyRequested, 17, Layer::kRepl},
      {"keepalive reply 255", keepalive(1, 2, 255), E::kBadReplyRequested, 17, Layer::kRepl},
      {"standby status is ours", "r" + std::string(33, '\0'), E::kUnknownReplMessage, 0,
       Layer::kRepl},
      {"pgoutput without framing", begin, E::kUnknownReplMessage, 0, Layer::kRepl},
      {"payload past max", xlog_data(1, 2, 3, std::string(40, 'x')), E::kMessagePastMax, 0,
       Layer::kRepl, small},
  };
}

TEST(PgoutputErrors, EachRuleHasItsCodeAndOffset) {
  for (const Case& c : cases()) {
    const PgError e = decode(c);
    EXPECT_EQ(e.code, c.code) << c.name << ": " << e.message;
    EXPECT_EQ(e.offset, c.offset) << c.name;
    EXPECT_EQ(e.message, pg_error(c.code).message) << c.name;
  }
}

TEST(PgoutputErrors, EveryCodeIsHit) {
  std::set<PgErrorCode> hit;
  for (const Case& c : cases()) hit.insert(c.code);
  for (int code = static_cast<int>(E::kTruncated); code <= static_cast<int>(E::kMessageFlags);
       ++code) {
    EXPECT_TRUE(hit.count(static_cast<PgErrorCode>(code))) << "no case for code " << code;
  }
}

TEST(PgoutputErrors, EveryCodeHasItsOwnMessage) {
  std::set<std::string_view> texts;
  EXPECT_EQ(pg_error(E::kNone).message, "");
  EXPECT_TRUE(pg_error(E::kNone).ok());
  for (int code = static_cast<int>(E::kTruncated); code <= static_cast<int>(E::kMessageFlags);
       ++code) {
    const PgError e = pg_error(static_cast<PgErrorCode>(code), 7);
    EXPECT_FALSE(e.ok());
    EXPECT_EQ(e.offset, 7u);
    EXPECT_TRUE(e.message.starts_with("pgoutput: ")) << e.message;
    EXPECT_TRUE(texts.insert(e.message).second) << e.message;
  }
}

// Each limit holds at its value and fails one past it.
TEST(PgoutputErrors, LimitsAtTheirBoundary) {
  const auto ok = [](const std::string& input, const PgoutLimits& limits) {
    PgoutMessage m;
    const PgError e = decode_pgoutput(input, &m, limits);
    EXPECT_TRUE(e.ok()) << e.message << " at " << e.offset;
  };
  const PgoutLimits small{.message_bytes_max = 64,
                          .columns_max = 2,
                          .cstring_bytes_max = 4,
                          .value_bytes_max = 3,
                          .truncate_relations_max = 2};
  ok(pg_insert(1, {{}, {}}), small);
  ok(pg_origin(1, "abcd"), small);
  ok(pg_insert(1, {{'t', "abc"}}), small);
  ok(pg_message(0, 1, "abcd", "abc"), small);
  ok(pg_truncate(0, {1, 2}), small);
  ok(pg_message(0, 1, "p", std::string(5, 'c')), {.message_bytes_max = 21});
  // The defaults: PostgreSQL's own maxima.
  ok(pg_insert(1, std::vector<TestColumn>(kPgColumnsMax)), {});
  ok(pg_origin(1, std::string(kPgCstringBytesMax, 'o')), {});
  ok(pg_truncate(0, std::vector<uint32_t>(kPgTruncateRelationsMax, 9)), {});
  ok(pg_relation(1, "", "t", 'd', std::vector<testing::TestRelationColumn>(kPgColumnsMax)), {});
}

TEST(PgoutputErrors, LimitsProblem) {
  EXPECT_EQ(pgout_limits_problem({}), "");
  EXPECT_NE(pgout_limits_problem({.message_bytes_max = kPgKeepaliveBytes - 1}), "");
  EXPECT_EQ(pgout_limits_problem({.message_bytes_max = kPgKeepaliveBytes}), "");
  EXPECT_NE(pgout_limits_problem({.cstring_bytes_max = 62}), "");
  EXPECT_EQ(pgout_limits_problem({.cstring_bytes_max = 63}), "");
  EXPECT_NE(pgout_limits_problem({.columns_max = 0}), "");
}

}  // namespace
}  // namespace strata::protocol
