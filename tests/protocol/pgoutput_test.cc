// The PostgreSQL logical replication codec: every pgoutput message type and both streaming
// replication messages decode to the fields they were built from and encode back to the same
// bytes; a message cut at any byte is kTruncated; the standby status update's exact bytes; LSN
// text both ways; and the messages a real PostgreSQL 15 sent (pgoutput_capture.inc).
#include "protocol/pgoutput.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/protocol/pgoutput_writer.h"

namespace strata::protocol {
namespace {

using namespace testing;  // the writer: pgoutput_writer.h
using E = PgErrorCode;

constexpr int64_t kTime = 774000000123456;  // 2024-07-11 08:00:00.123456, us since 2000
const std::string kNulText("a\0b", 3);

const std::vector<TestColumn> kRow = {
    {'t', "42"}, {'n', ""}, {'u', ""}, {'b', kNulText}, {'t', ""}};
const std::vector<TestColumn> kKey = {{'t', "42"}, {'n', ""}, {'n', ""}, {'n', ""}, {'n', ""}};
const std::vector<TestRelationColumn> kColumns = {
    {true, "id", 23, -1}, {false, "name", 1043, 68}, {false, "", 25, -1}};

// One valid message of every type and variant.
std::vector<std::pair<std::string, std::string>> samples() {
  return {
      {"begin", pg_begin(0x16B374D848, kTime, 737)},
      {"begin_max", pg_begin(~uint64_t{0}, std::numeric_limits<int64_t>::min(), ~uint32_t{0})},
      {"commit", pg_commit(0, 0x16B374D848, 0x16B374D878, kTime)},
      {"origin", pg_origin(0x1ABCDEF, "upstream")},
      {"origin_empty_name", pg_origin(0, "")},
      {"relation", pg_relation(16384, "public", "item", 'd', kColumns)},
      {"relation_catalog_no_columns", pg_relation(1, "", "t", 'n', {})},
      {"relation_full", pg_relation(7, "s", "w", 'f', {{true, "a", 23, -1}})},
      {"relation_index", pg_relation(8, "s", "x", 'i', {{true, "k", 25, -1}})},
      {"type", pg_type(16404, "public", "mood")},
      {"insert", pg_insert(16384, kRow)},
      {"insert_no_columns", pg_insert(3, {})},
      {"update", pg_update(16384, 0, {}, kRow)},
      {"update_old_key", pg_update(16384, 'K', kKey, kRow)},
      {"update_old_row", pg_update(16384, 'O', kRow, kRow)},
      {"delete_old_key", pg_delete(16384, 'K', kKey)},
      {"delete_old_row", pg_delete(16384, 'O', kRow)},
      {"truncate", pg_truncate(kPgTruncateCascade | kPgTruncateRestartIdentity, {16384, 7, 0})},
      {"truncate_none", pg_truncate(0, {})},
      {"message", pg_message(kPgMessageTransactional, 0x1526498, "strata", kNulText)},
      {"message_empty", pg_message(0, 0, "", "")},
  };
}

PgoutMessage decode_ok(std::string_view bytes) {
  PgoutMessage m;
  const PgError e = decode_pgoutput(bytes, &m);
  EXPECT_TRUE(e.ok()) << e.message << " at " << e.offset;
  return m;
}

TEST(Pgoutput, Begin) {
  const std::string bytes = pg_begin(0x16B374D848, kTime, 737);
  EXPECT_EQ(bytes.size(), 21u);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kBegin);
  EXPECT_EQ(m.begin.final_lsn, 0x16B374D848u);
  EXPECT_EQ(m.begin.commit_time, kTime);
  EXPECT_EQ(m.begin.xid, 737u);
}

TEST(Pgoutput, Commit) {
  const std::string bytes = pg_commit(0, 0x10, 0x20, -5);
  EXPECT_EQ(bytes.size(), 26u);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kCommit);
  EXPECT_EQ(m.commit.flags, 0);
  EXPECT_EQ(m.commit.commit_lsn, 0x10u);
  EXPECT_EQ(m.commit.end_lsn, 0x20u);
  EXPECT_EQ(m.commit.commit_time, -5);
}

TEST(Pgoutput, Origin) {
  const std::string bytes = pg_origin(0x1ABCDEF, "upstream");
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kOrigin);
  EXPECT_EQ(m.origin.commit_lsn, 0x1ABCDEFu);
  EXPECT_EQ(m.origin.name, "upstream");
}

TEST(Pgoutput, Relation) {
  const std::string bytes = pg_relation(16384, "public", "item", 'd', kColumns);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kRelation);
  EXPECT_EQ(m.relation.relid, 16384u);
  EXPECT_EQ(m.relation.namespace_name, "public");
  EXPECT_EQ(m.relation.name, "item");
  EXPECT_EQ(m.relation.replica_identity, PgReplicaIdentity::kDefault);
  EXPECT_EQ(m.relation.columns.size(), 3u);
  EXPECT_EQ(columns_of(m.relation.columns), kColumns);
}

TEST(Pgoutput, RelationIdentities) {
  for (const auto& [wire, identity] :
       {std::pair{'d', PgReplicaIdentity::kDefault}, std::pair{'n', PgReplicaIdentity::kNothing},
        std::pair{'f', PgReplicaIdentity::kFull}, std::pair{'i', PgReplicaIdentity::kIndex}}) {
    const std::string bytes = pg_relation(1, "", "t", wire, {});
    const PgoutMessage m = decode_ok(bytes);
    EXPECT_EQ(m.relation.replica_identity, identity) << wire;
    EXPECT_EQ(m.relation.namespace_name, "");  // pg_catalog
    EXPECT_TRUE(m.relation.columns.empty());
  }
}

TEST(Pgoutput, Type) {
  const std::string bytes = pg_type(16404, "public", "mood");
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kType);
  EXPECT_EQ(m.type.oid, 16404u);
  EXPECT_EQ(m.type.namespace_name, "public");
  EXPECT_EQ(m.type.name, "mood");
}

TEST(Pgoutput, InsertEveryColumnKind) {
  const std::string bytes = pg_insert(16384, kRow);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kInsert);
  EXPECT_EQ(m.insert.relid, 16384u);
  ASSERT_EQ(m.insert.new_tuple.size(), 5u);
  std::vector<PgColumnValue> got(m.insert.new_tuple.begin(), m.insert.new_tuple.end());
  EXPECT_EQ(got[0].kind, PgColumnKind::kText);
  EXPECT_EQ(got[0].bytes, "42");
  EXPECT_EQ(got[1].kind, PgColumnKind::kNull);
  EXPECT_EQ(got[2].kind, PgColumnKind::kUnchanged);
  EXPECT_EQ(got[3].kind, PgColumnKind::kBinary);
  EXPECT_EQ(got[3].bytes, kNulText);
  EXPECT_EQ(got[4].kind, PgColumnKind::kText);
  EXPECT_EQ(got[4].bytes, "");
  for (const PgColumnValue& v : got) {
    if (!v.bytes.empty()) {
      EXPECT_GE(v.bytes.data(), bytes.data());  // a view into the message
      EXPECT_LE(v.bytes.data() + v.bytes.size(), bytes.data() + bytes.size());
    }
  }
}

TEST(Pgoutput, UpdateWithoutOldTuple) {
  const std::string bytes = pg_update(9, 0, {}, kRow);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kUpdate);
  EXPECT_EQ(m.update.relid, 9u);
  EXPECT_EQ(m.update.old_kind, PgOldTuple::kNone);
  EXPECT_TRUE(m.update.old_tuple.empty());
  EXPECT_EQ(columns_of(m.update.new_tuple), kRow);
}

TEST(Pgoutput, UpdateWithOldKeyOrRow) {
  for (const auto& [marker, kind] :
       {std::pair{'K', PgOldTuple::kKey}, std::pair{'O', PgOldTuple::kRow}}) {
    const std::string bytes = pg_update(9, marker, kKey, kRow);
    const PgoutMessage m = decode_ok(bytes);
    EXPECT_EQ(m.update.old_kind, kind);
    EXPECT_EQ(columns_of(m.update.old_tuple), kKey);
    EXPECT_EQ(columns_of(m.update.new_tuple), kRow);
  }
}

TEST(Pgoutput, Delete) {
  for (const auto& [marker, kind] :
       {std::pair{'K', PgOldTuple::kKey}, std::pair{'O', PgOldTuple::kRow}}) {
    const std::string bytes = pg_delete(11, marker, kKey);
    const PgoutMessage m = decode_ok(bytes);
    EXPECT_EQ(m.tag, PgoutTag::kDelete);
    EXPECT_EQ(m.del.relid, 11u);
    EXPECT_EQ(m.del.old_kind, kind);
    EXPECT_EQ(columns_of(m.del.old_tuple), kKey);
  }
}

TEST(Pgoutput, Truncate) {
  const std::string bytes = pg_truncate(kPgTruncateRestartIdentity, {16384, 0xFFFFFFFF, 0});
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kTruncate);
  EXPECT_EQ(m.truncate.options, kPgTruncateRestartIdentity);
  ASSERT_EQ(m.truncate.relids.size(), 3u);
  EXPECT_EQ(m.truncate.relids[0], 16384u);
  EXPECT_EQ(m.truncate.relids[1], 0xFFFFFFFFu);
  EXPECT_EQ(m.truncate.relids[2], 0u);
  const std::string none = pg_truncate(kPgTruncateCascade, {});
  EXPECT_EQ(decode_ok(none).truncate.relids.size(), 0u);
}

TEST(Pgoutput, LogicalMessage) {
  const std::string bytes = pg_message(kPgMessageTransactional, 0x1526498, "strata", kNulText);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.tag, PgoutTag::kMessage);
  EXPECT_EQ(m.message.flags, kPgMessageTransactional);
  EXPECT_EQ(m.message.lsn, 0x1526498u);
  EXPECT_EQ(m.message.prefix, "strata");
  EXPECT_EQ(m.message.content, kNulText);
  const std::string empty = pg_message(0, 1, "", "");
  const PgoutMessage e = decode_ok(empty);
  EXPECT_EQ(e.message.flags, 0);
  EXPECT_EQ(e.message.prefix, "");
  EXPECT_EQ(e.message.content, "");
}

// Only the tag's member is filled in.
TEST(Pgoutput, OtherMembersStayDefault) {
  const std::string bytes = pg_insert(5, kRow);
  const PgoutMessage m = decode_ok(bytes);
  EXPECT_EQ(m.begin.final_lsn, 0u);
  EXPECT_TRUE(m.update.new_tuple.empty());
  EXPECT_TRUE(m.relation.columns.empty());
  EXPECT_EQ(m.truncate.relids.size(), 0u);
}

TEST(Pgoutput, ListIterators) {
  const std::string bytes = pg_insert(5, kRow);
  const PgTuple tuple = decode_ok(bytes).insert.new_tuple;
  EXPECT_EQ(std::distance(tuple.begin(), tuple.end()), 5);
  auto it = tuple.begin();
  const auto first = it++;
  EXPECT_EQ(first->bytes, "42");
  EXPECT_EQ(it->kind, PgColumnKind::kNull);
  EXPECT_EQ((++it)->kind, PgColumnKind::kUnchanged);
  EXPECT_NE(it, tuple.end());
  // Walking again decodes the same columns: nothing is consumed.
  EXPECT_EQ(columns_of(tuple), kRow);
  EXPECT_EQ(columns_of(tuple), kRow);
  // The wire bytes are the columns after the count.
  EXPECT_EQ(tuple.wire_bytes(), testing::tuple_data(kRow).substr(2));
  const PgTuple empty;
  EXPECT_EQ(empty.begin(), empty.end());
  EXPECT_EQ(empty.size(), 0u);
}

TEST(Pgoutput, EverySampleRoundTrips) {
  for (const auto& [name, bytes] : samples()) {
    PgoutMessage m;
    const PgError e = decode_pgoutput(bytes, &m);
    ASSERT_TRUE(e.ok()) << name << ": " << e.message << " at " << e.offset;
    EXPECT_EQ(encode_pgoutput(m), bytes) << name;
  }
}

// Whatever byte a message is cut after, it is kTruncated, at the field that did not fit.
TEST(Pgoutput, EveryCutIsTruncated) {
  for (const auto& [name, bytes] : samples()) {
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      PgoutMessage m;
      const PgError e = decode_pgoutput(std::string_view(bytes).substr(0, cut), &m);
      EXPECT_EQ(e.code, E::kTruncated) << name << " cut at " << cut << ": " << e.message;
      EXPECT_LE(e.offset, cut) << name;
      EXPECT_EQ(e.message, "pgoutput: message ends early");
    }
  }
}

// The same through the CopyData framing: a cut inside the XLogData header fails there, a cut
// after it leaves a cut pgoutput message.
TEST(Pgoutput, EveryCutOfXLogDataIsTruncated) {
  for (const auto& [name, bytes] : samples()) {
    const std::string payload = xlog_data(1, 2, 3, bytes);
    for (size_t cut = 0; cut < payload.size(); ++cut) {
      const std::string_view piece = std::string_view(payload).substr(0, cut);
      ReplMessage r;
      PgError e = decode_repl_message(piece, &r);
      if (cut >= kPgXLogDataHeaderBytes) {
        ASSERT_TRUE(e.ok()) << name << " cut at " << cut;
        PgoutMessage m;
        e = decode_pgoutput(r.data, &m);
      }
      EXPECT_EQ(e.code, E::kTruncated) << name << " cut at " << cut;
    }
  }
}

TEST(Pgoutput, TrailingByteAfterEverySample) {
  for (const auto& [name, bytes] : samples()) {
    PgoutMessage m;
    const PgError e = decode_pgoutput(bytes + "x", &m);
    EXPECT_EQ(e.code, E::kTrailingBytes) << name;
    EXPECT_EQ(e.offset, bytes.size()) << name;
  }
}

TEST(Pgoutput, FailureLeavesOutputAlone) {
  const std::string bytes = pg_begin(5, 6, 7);
  PgoutMessage m = decode_ok(bytes);
  EXPECT_FALSE(decode_pgoutput(pg_commit(1, 2, 3, 4), &m).ok());
  EXPECT_EQ(m.tag, PgoutTag::kBegin);
  EXPECT_EQ(m.begin.xid, 7u);
  ReplMessage r;
  r.wal_end = 99;
  EXPECT_FALSE(decode_repl_message(keepalive(1, 2, 3), &r).ok());
  EXPECT_EQ(r.wal_end, 99u);
}

// ---------------------------------------------------------------- streaming replication

TEST(PgReplication, XLogData) {
  const std::string inner = pg_begin(0x30, kTime, 1);
  const std::string payload = xlog_data(0x16B374D848, 0x16B374D900, kTime, inner);
  ASSERT_EQ(payload.size(), kPgXLogDataHeaderBytes + inner.size());
  ReplMessage r;
  ASSERT_TRUE(decode_repl_message(payload, &r).ok());
  EXPECT_EQ(r.kind, ReplKind::kXLogData);
  EXPECT_EQ(r.wal_start, 0x16B374D848u);
  EXPECT_EQ(r.wal_end, 0x16B374D900u);
  EXPECT_EQ(r.send_time, kTime);
  EXPECT_FALSE(r.reply_requested);
  EXPECT_EQ(r.data, inner);
  EXPECT_EQ(r.data.data(), payload.data() + kPgXLogDataHeaderBytes);
  EXPECT_EQ(encode_repl(r), payload);
  EXPECT_EQ(decode_ok(r.data).begin.final_lsn, 0x30u);
}

// The framing carries any bytes, none too: what they are is decode_pgoutput's business.
TEST(PgReplication, XLogDataWithoutData) {
  const std::string payload = xlog_data(1, 2, 3, "");
  ReplMessage r;
  ASSERT_TRUE(decode_repl_message(payload, &r).ok());
  EXPECT_TRUE(r.data.empty());
}

TEST(PgReplication, Keepalive) {
  for (uint8_t reply : {0, 1}) {
    const std::string payload = keepalive(0x16B374D848, -1, reply);
    ASSERT_EQ(payload.size(), kPgKeepaliveBytes);
    ReplMessage r;
    ASSERT_TRUE(decode_repl_message(payload, &r).ok());
    EXPECT_EQ(r.kind, ReplKind::kKeepalive);
    EXPECT_EQ(r.wal_end, 0x16B374D848u);
    EXPECT_EQ(r.send_time, -1);
    EXPECT_EQ(r.reply_requested, reply == 1);
    EXPECT_TRUE(r.data.empty());
    EXPECT_EQ(encode_repl(r), payload);
  }
}

TEST(PgReplication, EveryCutOfAKeepaliveIsTruncated) {
  const std::string payload = keepalive(1, 2, 1);
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    ReplMessage r;
    const PgError e = decode_repl_message(std::string_view(payload).substr(0, cut), &r);
    EXPECT_EQ(e.code, E::kTruncated) << cut;
  }
}

TEST(PgReplication, StandbyStatusBytes) {
  std::string out = "prefix";
  append_standby_status(&out, {.write_lsn = 0x0102030405060708,
                               .flush_lsn = 0x16B374D848,
                               .apply_lsn = 0,
                               .send_time = kTime,
                               .reply_requested = true});
  const std::string expected =
      std::string("prefix") + "r" + std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8) +
      std::string("\x00\x00\x00\x16\xB3\x74\xD8\x48", 8) + std::string(8, '\0') +
      std::string("\x00\x02\xBF\xF2\xEB\x10\x42\x40", 8) + "\x01";
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.size() - 6, kPgStandbyStatusBytes);
  std::string negative;
  append_standby_status(&negative, {.send_time = -2});
  EXPECT_EQ(negative,
            "r" + std::string(24, '\0') + std::string(7, '\xff') + "\xfe" + std::string(1, '\0'));
}

TEST(PgReplication, EpochConversions) {
  EXPECT_EQ(pg_epoch_us_from_unix_us(946684800000000), 0);
  EXPECT_EQ(unix_us_from_pg_epoch_us(0), 946684800000000);
  EXPECT_EQ(pg_epoch_us_from_unix_us(0), -946684800000000);
  EXPECT_EQ(unix_us_from_pg_epoch_us(kTime), kTime + 946684800000000);
  EXPECT_EQ(pg_epoch_us_from_unix_us(unix_us_from_pg_epoch_us(kTime)), kTime);
  // PostgreSQL's infinities stay put; the rest saturates instead of overflowing.
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(pg_epoch_us_from_unix_us(kMax), kMax);
  EXPECT_EQ(pg_epoch_us_from_unix_us(kMin), kMin);
  EXPECT_EQ(pg_epoch_us_from_unix_us(kMin + 5), kMin);
  EXPECT_EQ(unix_us_from_pg_epoch_us(kMin), kMin);
  EXPECT_EQ(unix_us_from_pg_epoch_us(kMax), kMax);
  EXPECT_EQ(unix_us_from_pg_epoch_us(kMax - 5), kMax);
}

TEST(PgLsn, Format) {
  EXPECT_EQ(format_lsn(0).view(), "0/0");
  EXPECT_EQ(format_lsn(0x16B374D848).view(), "16/B374D848");
  EXPECT_EQ(format_lsn(0x16B3748).view(), "0/16B3748");
  EXPECT_EQ(format_lsn(0x100000000).view(), "1/0");
  EXPECT_EQ(format_lsn(~uint64_t{0}).view(), "FFFFFFFF/FFFFFFFF");
}

TEST(PgLsn, Parse) {
  uint64_t lsn = 0;
  EXPECT_TRUE(parse_lsn("0/16B3748", &lsn));
  EXPECT_EQ(lsn, 0x16B3748u);
  EXPECT_TRUE(parse_lsn("16/b374d848", &lsn));
  EXPECT_EQ(lsn, 0x16B374D848u);
  EXPECT_TRUE(parse_lsn("FFFFFFFF/FFFFFFFF", &lsn));
  EXPECT_EQ(lsn, ~uint64_t{0});
  EXPECT_TRUE(parse_lsn("00000000/00000001", &lsn));
  EXPECT_EQ(lsn, 1u);
  lsn = 77;
  for (std::string_view bad : {"", "/", "0/", "/0", "0", "123456789/0", "0/123456789", " 0/0",
                               "0/0 ", "0 /0", "g/0", "0/x", "0/0/0", "+1/0", "-1/0", "0x1/0"}) {
    EXPECT_FALSE(parse_lsn(bad, &lsn)) << bad;
  }
  EXPECT_EQ(lsn, 77u);  // untouched
}

TEST(PgLsn, FormatThenParse) {
  uint64_t v = 0x9E3779B97F4A7C15;
  for (int i = 0; i < 1000; ++i) {
    v = v * 6364136223846793005u + 1442695040888963407u;
    const uint64_t lsn = v >> (i % 64);
    uint64_t back = 0;
    ASSERT_TRUE(parse_lsn(format_lsn(lsn).view(), &back)) << lsn;
    EXPECT_EQ(back, lsn);
  }
}

// ---------------------------------------------------------------- PostgreSQL 15's own bytes

struct Captured {
  std::string_view step;
  std::string_view bytes;
};

constexpr Captured kCaptured[] = {
#include "tests/protocol/pgoutput_capture.inc"
};

// The decoded messages of one step of pgoutput_capture.py.
std::vector<PgoutMessage> step(std::string_view name) {
  std::vector<PgoutMessage> out;
  for (const Captured& c : kCaptured) {
    if (c.step == name) out.push_back(decode_ok(c.bytes));
  }
  return out;
}

std::string tags(const std::vector<PgoutMessage>& messages) {
  std::string out;
  for (const PgoutMessage& m : messages) out += static_cast<char>(m.tag);
  return out;
}

std::vector<TestColumn> text(std::vector<std::string> values) {
  std::vector<TestColumn> out;
  for (std::string& v : values) out.push_back(v == "NULL" ? TestColumn{} : TestColumn{'t', v});
  return out;
}

TEST(PgoutputCapture, EveryMessageDecodesAndRoundTrips) {
  ASSERT_GT(std::size(kCaptured), 40u);
  for (const Captured& c : kCaptured) {
    const PgoutMessage m = decode_ok(c.bytes);
    EXPECT_EQ(encode_pgoutput(m), c.bytes) << c.step;
  }
}

// Each transaction's begin and commit agree on the commit's LSN and time.
TEST(PgoutputCapture, BeginsMatchCommits) {
  const PgBegin* open = nullptr;
  std::vector<PgoutMessage> all;
  for (const Captured& c : kCaptured) all.push_back(decode_ok(c.bytes));
  size_t transactions = 0;
  for (const PgoutMessage& m : all) {
    if (m.tag == PgoutTag::kBegin) {
      EXPECT_EQ(open, nullptr);
      open = &m.begin;
    } else if (m.tag == PgoutTag::kCommit) {
      ASSERT_NE(open, nullptr);
      EXPECT_EQ(m.commit.commit_lsn, open->final_lsn);
      EXPECT_EQ(m.commit.commit_time, open->commit_time);
      EXPECT_GT(m.commit.end_lsn, m.commit.commit_lsn);
      open = nullptr;
      ++transactions;
    }
  }
  EXPECT_EQ(transactions, 11u);
}

TEST(PgoutputCapture, Insert) {
  const std::vector<PgoutMessage> m = step("insert");
  ASSERT_EQ(tags(m), "BRIIC");
  const PgRelation& rel = m[1].relation;
  EXPECT_EQ(rel.namespace_name, "public");
  EXPECT_EQ(rel.name, "item");
  EXPECT_EQ(rel.replica_identity, PgReplicaIdentity::kDefault);
  const std::vector<TestRelationColumn> columns = {{true, "id", 23, -1},
                                                   {false, "name", 25, -1},
                                                   {false, "qty", 23, -1},
                                                   {false, "note", 25, -1}};
  EXPECT_EQ(columns_of(rel.columns), columns);
  EXPECT_EQ(m[2].insert.relid, rel.relid);
  EXPECT_EQ(columns_of(m[2].insert.new_tuple), text({"1", "apple", "3", "NULL"}));
  EXPECT_EQ(columns_of(m[3].insert.new_tuple), text({"2", "tab\there", "-7", "x"}));
}

TEST(PgoutputCapture, Updates) {
  const std::vector<PgoutMessage> same = step("update_key_same");
  ASSERT_EQ(tags(same), "BRUC");
  EXPECT_EQ(same[2].update.old_kind, PgOldTuple::kNone);
  EXPECT_EQ(columns_of(same[2].update.new_tuple), text({"1", "apple", "4", "NULL"}));
  const std::vector<PgoutMessage> changed = step("update_key_changed");
  ASSERT_EQ(tags(changed), "BRUC");
  EXPECT_EQ(changed[2].update.old_kind, PgOldTuple::kKey);
  EXPECT_EQ(columns_of(changed[2].update.old_tuple), text({"2", "NULL", "NULL", "NULL"}));
  EXPECT_EQ(columns_of(changed[2].update.new_tuple), text({"10", "tab\there", "-7", "x"}));
}

TEST(PgoutputCapture, DeleteByKey) {
  const std::vector<PgoutMessage> m = step("delete_key");
  ASSERT_EQ(tags(m), "BRDC");
  EXPECT_EQ(m[2].del.old_kind, PgOldTuple::kKey);
  EXPECT_EQ(columns_of(m[2].del.old_tuple), text({"10", "NULL", "NULL", "NULL"}));
}

TEST(PgoutputCapture, ReplicaIdentityFull) {
  const std::vector<PgoutMessage> m = step("full_identity");
  ASSERT_EQ(tags(m), "BRIUDC");
  EXPECT_EQ(m[1].relation.replica_identity, PgReplicaIdentity::kFull);
  // numeric(10,2) and varchar(20) carry their typmods: ((10 << 16) | 2) + 4 and 20 + 4.
  const std::vector<TestRelationColumn> columns = {
      {true, "a", 23, -1}, {true, "b", 1700, 655366}, {true, "c", 1043, 24}, {true, "d", 17, -1}};
  EXPECT_EQ(columns_of(m[1].relation.columns), columns);
  const std::vector<TestColumn> before = text({"5", "12.50", "vc", "\\x00ff"});
  const std::vector<TestColumn> after = text({"5", "12.50", "vd", "\\x00ff"});
  EXPECT_EQ(columns_of(m[2].insert.new_tuple), before);
  EXPECT_EQ(m[3].update.old_kind, PgOldTuple::kRow);
  EXPECT_EQ(columns_of(m[3].update.old_tuple), before);
  EXPECT_EQ(columns_of(m[3].update.new_tuple), after);
  EXPECT_EQ(m[4].del.old_kind, PgOldTuple::kRow);
  EXPECT_EQ(columns_of(m[4].del.old_tuple), after);
}

TEST(PgoutputCapture, UnchangedToastedValue) {
  const std::vector<PgoutMessage> m = step("toast_unchanged");
  ASSERT_EQ(tags(m), "BRIUC");
  EXPECT_EQ(columns_of(m[2].insert.new_tuple), text({"1", std::string(5000, 'z'), "1"}));
  const std::vector<TestColumn> after = {{'t', "1"}, {'u', ""}, {'t', "2"}};
  EXPECT_EQ(columns_of(m[3].update.new_tuple), after);
}

TEST(PgoutputCapture, TypeOfAnEnumColumn) {
  const std::vector<PgoutMessage> m = step("enum_type");
  ASSERT_EQ(tags(m), "BYRIC");
  EXPECT_EQ(m[1].type.namespace_name, "public");
  EXPECT_EQ(m[1].type.name, "mood");
  const std::vector<PgRelationColumn> columns(m[2].relation.columns.begin(),
                                              m[2].relation.columns.end());
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(columns[1].type_oid, m[1].type.oid);
  EXPECT_EQ(columns_of(m[3].insert.new_tuple), text({"1", "happy"}));
}

TEST(PgoutputCapture, Truncate) {
  const std::vector<PgoutMessage> m = step("truncate");
  ASSERT_EQ(tags(m), "BRRTC");
  EXPECT_EQ(m[3].truncate.options, kPgTruncateCascade | kPgTruncateRestartIdentity);
  EXPECT_EQ(relids_of(m[3].truncate.relids),
            (std::vector<uint32_t>{m[1].relation.relid, m[2].relation.relid}));
}

TEST(PgoutputCapture, LogicalMessages) {
  const std::vector<PgoutMessage> m = step("message");
  // The non-transactional message is decoded at once, before the transaction it was sent in.
  ASSERT_EQ(tags(m), "MBMC");
  EXPECT_EQ(m[0].message.flags, 0);
  EXPECT_EQ(m[0].message.prefix, "strata");
  EXPECT_EQ(m[0].message.content, "");
  EXPECT_EQ(m[2].message.flags, kPgMessageTransactional);
  EXPECT_EQ(m[2].message.content, "in a transaction");
}

TEST(PgoutputCapture, Origin) {
  const std::vector<PgoutMessage> m = step("origin");
  ASSERT_EQ(tags(m), "BOYRIC");
  EXPECT_EQ(m[1].origin.name, "upstream");
  EXPECT_EQ(format_lsn(m[1].origin.commit_lsn).view(), "1/ABCDEF");  // as the script set it
}

TEST(PgoutputCapture, BinaryValues) {
  const std::vector<PgoutMessage> m = step("binary");
  ASSERT_EQ(tags(m), "BRIC");
  const std::vector<TestColumn> row = columns_of(m[2].insert.new_tuple);
  ASSERT_EQ(row.size(), 4u);
  for (const TestColumn& c : row) EXPECT_EQ(c.kind, 'b');
  EXPECT_EQ(row[0].bytes, std::string("\0\0\0\x07", 4));  // int4_send
  EXPECT_EQ(row[2].bytes, "b");                           // varchar: its text
  EXPECT_EQ(row[3].bytes, "\x01\x02");                    // bytea: its bytes
}

}  // namespace
}  // namespace strata::protocol
