// Every rule the sync decoder enforces, each with its own error code, and the limits at and
// just past their boundary. Inputs are written raw: the encoder refuses to make them.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "protocol/sync_event.h"
#include "tests/protocol/sync_test_util.h"

namespace strata::protocol {
namespace {

using testing::decode_all_ways;
using testing::expect_error;
using testing::expect_ok;
using testing::le;
using testing::raw_header;
using testing::raw_record;
using E = SyncErrorCode;

constexpr size_t kH = kSyncHeaderBytes;
using enum SyncKind;
using enum SyncOp;
constexpr uint8_t kHasValue = 1;
constexpr uint8_t kHasExpire = 2;

std::string one_record(std::string record) { return raw_header(kChanges, 0, 1, 1) + record; }

std::string heartbeat(uint32_t count, uint16_t partition = 0, uint64_t seq = 0) {
  std::string out = raw_header(kHeartbeat, partition, seq, count);
  for (uint32_t i = 0; i < count; ++i) out += le(i, 8);
  return out;
}

TEST(SyncDecoderErrors, BadMagicFailsOnItsFirstByte) {
  expect_error("X", E::kBadMagic);
  expect_error("SX", E::kBadMagic);
  expect_error("sy\x01\x01", E::kBadMagic);
  expect_error("*1\r\n$4\r\nPING\r\n", E::kBadMagic);
}

TEST(SyncDecoderErrors, UnknownFormatSaysWhich) {
  const auto message = [](std::string input) { return decode_all_ways(input).back().message; };
  EXPECT_EQ(message("SY\x04"), "sync: unknown format version 4 (this build reads 1 to 3)");
  EXPECT_EQ(message(std::string("SY\0", 3)),
            "sync: unknown format version 0 (this build reads 1 to 3)");
  EXPECT_EQ(message("SY\xff"), "sync: unknown format version 255 (this build reads 1 to 3)");
  EXPECT_EQ(message("SY\x2a"), "sync: unknown format version 42 (this build reads 1 to 3)");
  expect_error(raw_header(kChanges, 0, 1, 0, 7), E::kUnknownFormat);
}

// A newer format's message is refused, never misparsed, but the prefix every format keeps
// still names its sender and partition, so a receiver can drop that partition.
TEST(SyncDecoderErrors, UnknownFormatStillNamesItsPartition) {
  const std::string newer = raw_header(kChanges, 9, 4, 1, 4) + "anything a format 4 may add";
  expect_error(newer, E::kUnknownFormat);
  const std::optional<SyncEnvelopeId> id = sync_peek_id(newer);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->format, 4);
  EXPECT_EQ(id->kind, static_cast<uint8_t>(kChanges));
  EXPECT_EQ(id->origin, 0x1111u);
  EXPECT_EQ(id->epoch, 0x2222u);
  EXPECT_EQ(id->sender, 3);
  EXPECT_EQ(id->partition, 9);
  EXPECT_FALSE(sync_peek_id(newer.substr(0, kSyncIdBytes - 1)).has_value());
  EXPECT_FALSE(sync_peek_id("XY" + newer.substr(2)).has_value());
}

// Format 1 (an older build's) still decodes: a 36-byte header without a send time.
TEST(SyncDecoderErrors, FormatOneStillDecodes) {
  const std::string v1 = raw_header(kChanges, 2, 1, 1, 1) + raw_record(SyncOp::kDelete, 0, "k");
  const std::vector<testing::Decoded> got = decode_all_ways(v1);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].consumed, kSyncHeaderBytesV1);
  EXPECT_EQ(got[0].header.format, 1);
  EXPECT_EQ(got[0].header.sent_at_us, 0u);
  EXPECT_EQ(got.back().status, SyncStatus::kDone);
}

TEST(SyncDecoderErrors, UnknownKind) {
  expect_error(std::string("SY\x01\0", 4), E::kUnknownKind);
  expect_error("SY\x01\x03", E::kUnknownKind);
  expect_error(raw_header(static_cast<SyncKind>(255), 0, 1, 0), E::kUnknownKind);
}

TEST(SyncDecoderErrors, HeartbeatFieldsMustBeZero) {
  expect_ok(heartbeat(2));
  expect_error(heartbeat(2, 1, 0), E::kHeartbeatFields);
  expect_error(heartbeat(2, 0, 1), E::kHeartbeatFields);
}

TEST(SyncDecoderErrors, ChangesSeqZero) {
  expect_error(raw_header(kChanges, 0, 0, 0), E::kSeqZero);
  expect_ok(raw_header(kChanges, 0, 1, 0));
}

TEST(SyncDecoderErrors, PartitionAtAndPastMax) {
  SyncLimits limits;
  limits.partitions_max = 4;
  expect_ok(raw_header(kChanges, 3, 1, 0), limits);
  expect_error(raw_header(kChanges, 4, 1, 0), E::kPartitionPastMax, limits);
  expect_error(raw_header(kChanges, 65535, 1, 0), E::kPartitionPastMax, limits);
}

TEST(SyncDecoderErrors, RecordCountAtAndPastMax) {
  SyncLimits limits;
  limits.records_max = 2;
  const std::string r = raw_record(kDelete, 0, "k");
  expect_ok(raw_header(kChanges, 0, 1, 2) + r + r, limits);
  expect_error(raw_header(kChanges, 0, 1, 3) + r + r + r, E::kRecordsPastMax, limits);
  // Refused from the header alone: no need to wait for 4 billion records.
  expect_error(raw_header(kChanges, 0, 1, 0xffffffff), E::kRecordsPastMax);
}

TEST(SyncDecoderErrors, HeartbeatCountAtAndPastMax) {
  SyncLimits limits;
  limits.partitions_max = 4;
  expect_ok(heartbeat(4), limits);
  expect_error(heartbeat(5), E::kPartitionsPastMax, limits);
  expect_error(raw_header(kHeartbeat, 0, 0, 0xffffffff), E::kPartitionsPastMax);
}

TEST(SyncDecoderErrors, UnknownOp) {
  for (uint8_t op : {0, 5, 255}) {
    expect_error(one_record(raw_record(static_cast<SyncOp>(op), 0, "k")), E::kUnknownOp);
  }
  // Known as soon as the op and flags bytes arrive.
  expect_error(raw_header(kChanges, 0, 1, 1) + std::string("\x09\x00", 2), E::kUnknownOp);
}

TEST(SyncDecoderErrors, ReservedFlagBits) {
  for (int bit = 2; bit < 8; ++bit) {
    const auto flags = static_cast<uint8_t>(1u << bit);
    expect_error(one_record(raw_record(kSet, flags, "k")), E::kReservedFlags);
  }
  expect_ok(one_record(raw_record(kSet, kHasValue | kHasExpire, "k", "v")));
}

TEST(SyncDecoderErrors, ValueOnlyOnSet) {
  for (SyncOp op : {kDelete, kInvalidate, kFlushAll}) {
    expect_error(one_record(raw_record(op, kHasValue, op == kFlushAll ? "" : "k", "v")),
                 E::kValueOnNonSet);
  }
}

TEST(SyncDecoderErrors, KeyEmptyOnlyOnFlushAll) {
  for (SyncOp op : {kSet, kDelete, kInvalidate}) {
    expect_error(one_record(raw_record(op, 0, "")), E::kKeyEmpty);
    expect_error(one_record(raw_record(op, kHasExpire, "")), E::kKeyEmpty);
  }
  expect_error(one_record(raw_record(kFlushAll, 0, "k")), E::kKeyOnFlushAll);
  expect_ok(one_record(raw_record(kFlushAll, kHasExpire, "")));
}

TEST(SyncDecoderErrors, KeyAtAndPastMax) {
  SyncLimits limits;
  limits.key_bytes_max = 4;
  expect_ok(one_record(raw_record(kInvalidate, 0, "abcd")), limits);
  expect_error(one_record(raw_record(kInvalidate, 0, "abcde")), E::kKeyPastMax, limits);
  // Refused on the length field, before any key byte arrives.
  const std::string prefix = raw_header(kChanges, 0, 1, 1) + raw_record(kSet, 0, "").substr(0, 10);
  expect_error(prefix + le(0xffffffff, 4), E::kKeyPastMax);
}

TEST(SyncDecoderErrors, ValueAtAndPastMax) {
  SyncLimits limits;
  limits.value_bytes_max = 4;
  expect_ok(one_record(raw_record(kSet, kHasValue, "k", "1234")), limits);
  expect_ok(one_record(raw_record(kSet, kHasValue, "k", "")), limits);
  expect_error(one_record(raw_record(kSet, kHasValue, "k", "12345")), E::kValuePastMax, limits);
  const std::string prefix = one_record(raw_record(kSet, 0, "k"));
  std::string open = prefix;
  open[kSyncHeaderBytes + 1] = kHasValue;
  expect_error(open + le(0xffffffff, 4), E::kValuePastMax);
}

TEST(SyncDecoderErrors, MessageAtAndPastMax) {
  SyncLimits limits;
  const std::string del = raw_record(kDelete, 0, "k");  // 15 bytes
  limits.message_bytes_max = kH + 15;
  expect_ok(one_record(del), limits);
  limits.message_bytes_max = kH + 14;  // the header allows a record of 14; this one has 15
  expect_error(one_record(del), E::kMessagePastMax, limits);
  limits.message_bytes_max = kH + 13;  // refused from the header: no record of 14 fits
  const std::vector<testing::Decoded> got = decode_all_ways(one_record(del), limits);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(got.back().error, E::kMessagePastMax);

  const std::string with_value = raw_record(kSet, kHasValue, "k", "vv");  // 21 bytes
  limits.message_bytes_max = kH + 21;
  expect_ok(one_record(with_value), limits);
  limits.message_bytes_max = kH + 20;
  expect_error(one_record(with_value), E::kMessagePastMax, limits);

  // Header + 29 + 15 bytes. A first record that leaves no room for the smallest possible second
  // one (14 bytes) fails at once; one that does fails at the second.
  const std::string two =
      raw_header(kChanges, 0, 1, 2) + raw_record(kSet, kHasValue, "k", "0123456789") + del;
  limits.message_bytes_max = kH + 44;
  expect_ok(two, limits);
  for (size_t max : {kH + 43, kH + 42}) {
    limits.message_bytes_max = max;
    expect_error(two, E::kMessagePastMax, limits);
    EXPECT_EQ(decode_all_ways(two, limits).size(), max == kH + 43 ? 3u : 2u);
  }

  limits.message_bytes_max = kH + 8 * 3;
  expect_ok(heartbeat(3), limits);
  expect_error(heartbeat(4), E::kMessagePastMax, limits);
}

TEST(SyncDecoderErrors, ErrorsAreStickyUntilReset) {
  SyncDecoder d;
  EXPECT_EQ(d.feed("X"), SyncStatus::kError);
  EXPECT_EQ(d.error().code, E::kBadMagic);
  const std::string good = raw_header(kChanges, 0, 1, 0);
  EXPECT_EQ(d.feed(good), SyncStatus::kError);
  d.reset();
  EXPECT_TRUE(d.error().ok());
  EXPECT_EQ(d.feed(good), SyncStatus::kHeader);
  EXPECT_EQ(d.feed({}), SyncStatus::kDone);
}

TEST(SyncDecoderErrors, LimitsAreChecked) {
  EXPECT_EQ(sync_limits_problem({}), "");
  const auto problem = [](auto change) {
    SyncLimits limits;
    change(limits);
    return sync_limits_problem(limits);
  };
  EXPECT_NE(problem([](SyncLimits& l) { l.message_bytes_max = kH + 14; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.message_bytes_max = kH + kSyncSectionBytes + 14; }),
            "");
  EXPECT_NE(problem([](SyncLimits& l) { l.sections_max = 0; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.records_max = 0; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.partitions_max = 0; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.partitions_max = 65537; }), "");
  EXPECT_EQ(problem([](SyncLimits& l) { l.partitions_max = 65536; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.key_bytes_max = 0; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.key_bytes_max = 1ull << 32; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.value_bytes_max = 1ull << 32; }), "");
  EXPECT_NE(problem([](SyncLimits& l) { l.message_bytes_max = kH + 8 * 4096 - 1; }), "");
  EXPECT_EQ(problem([](SyncLimits& l) { l.message_bytes_max = kH + 8 * 4096; }), "");
}

// ---- format 3: a batch of sections ----

// A format 3 changes message: its header names the first section (sender 3, as raw_header
// writes it, and `partition`), seq 0, `sections` sections.
std::string batch_header(uint32_t sections, uint16_t partition = 0, uint64_t seq = 0) {
  return raw_header(kChanges, partition, seq, sections, 3);
}
using testing::raw_section;

TEST(SyncDecoderErrors, BatchHeaderFields) {
  const std::string body = raw_section(3, 0, 1, 1) + raw_record(kDelete, 0, "k");
  expect_ok(batch_header(1) + body);
  expect_error(batch_header(1, 0, 1) + body, E::kBatchFields);  // seq set
  expect_error(batch_header(0), E::kBatchFields);                // no section
  SyncLimits limits;
  limits.sections_max = 2;
  const std::string empty2 = raw_section(3, 0, 1, 0) + raw_section(4, 1, 1, 0);
  expect_ok(batch_header(2) + empty2, limits);  // sections may hold no record
  expect_error(batch_header(3) + empty2 + raw_section(5, 1, 1, 0), E::kSectionsPastMax, limits);
  limits.partitions_max = 4;
  expect_error(batch_header(1, 4) + raw_section(3, 4, 1, 0), E::kPartitionPastMax, limits);
}

// The first section is the one the header names: what an older build reads in the prefix.
TEST(SyncDecoderErrors, FirstSectionIsTheHeaders) {
  expect_error(batch_header(1, 2) + raw_section(3, 1, 1, 0), E::kSectionId);
  expect_error(batch_header(1, 2) + raw_section(4, 2, 1, 0), E::kSectionId);
  expect_ok(batch_header(2, 2) + raw_section(3, 2, 1, 0) + raw_section(4, 1, 9, 0));
}

TEST(SyncDecoderErrors, SectionRules) {
  SyncLimits limits;
  limits.partitions_max = 8;
  limits.records_max = 2;
  const std::string first = raw_section(3, 0, 1, 0);
  expect_error(batch_header(2) + first + raw_section(1, 8, 1, 0), E::kPartitionPastMax, limits);
  expect_error(batch_header(2) + first + raw_section(1, 7, 0, 0), E::kSeqZero, limits);
  const std::string del = raw_record(kDelete, 0, "k");
  // records_max counts per section.
  expect_ok(batch_header(2) + raw_section(3, 0, 1, 2) + del + del + raw_section(1, 7, 1, 2) +
                del + del,
            limits);
  expect_error(batch_header(2) + first + raw_section(1, 7, 1, 3), E::kRecordsPastMax, limits);
  // Records are checked in sections as in a format 2 message.
  expect_error(batch_header(1) + raw_section(3, 0, 1, 1) + raw_record(kDelete, kHasValue, "k"),
               E::kValueOnNonSet);
  // A section ends where its count says: what follows the last one is trailing.
  struct Ignore : SyncHandler {
    void on_header(const SyncHeader&) override {}
    void on_section(const SyncSection&) override {}
    void on_record(const SyncRecord&) override {}
    void on_heartbeat(SyncSeqView) override {}
  } ignored;
  EXPECT_EQ(decode_message(batch_header(1) + first + del, {}, ignored).code, E::kTrailingBytes);
}

TEST(SyncDecoderErrors, BatchAtAndPastMax) {
  SyncLimits limits;
  constexpr size_t kS = kSyncSectionBytes;
  const std::string del = raw_record(kDelete, 0, "k");  // 15 bytes
  const std::string two =
      batch_header(2) + raw_section(3, 0, 1, 1) + del + raw_section(4, 0, 1, 1) + del;
  limits.message_bytes_max = kH + 2 * kS + 30;
  expect_ok(two, limits);
  // One byte short: the second record fails (the first section and its record leave room for
  // the second section and the smallest record).
  limits.message_bytes_max = kH + 2 * kS + 29;
  expect_error(two, E::kMessagePastMax, limits);
  EXPECT_EQ(decode_all_ways(two, limits).size(), 5u);
  // The header alone: two sections do not fit.
  limits.message_bytes_max = kH + 2 * kS - 1;
  EXPECT_EQ(decode_all_ways(two, limits).size(), 1u);
  // The first section's count: its smallest records and the next section do not fit.
  limits.message_bytes_max = kH + 2 * kS + 13;
  EXPECT_EQ(decode_all_ways(two, limits).size(), 2u);
  expect_error(two, E::kMessagePastMax, limits);
}

TEST(SyncDecoderErrors, Format3HeartbeatIsFormat2s) {
  std::string hb = raw_header(kHeartbeat, 0, 0, 2, 3) + le(1, 8) + le(2, 8);
  expect_ok(hb);
  expect_error(raw_header(kHeartbeat, 0, 1, 0, 3), E::kHeartbeatFields);
}

}  // namespace
}  // namespace strata::protocol
