#include "protocol/sync_event.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/protocol/sync_test_util.h"

namespace strata::protocol {
namespace {

using testing::changes_header;
using testing::decode_whole;
using testing::Decoded;
using testing::done_item;
using testing::encode;
using testing::expect_decode;
using testing::expected_changes;
using testing::header_item;
using testing::hex;
using testing::keyed;
using testing::need_more_item;
using testing::OwnedRecord;
using testing::section_item;
using testing::seqs_item;
using testing::set;

// The format is ours and peers of different builds must agree on it: these bytes are written
// out by hand from the format in sync_event.h, not produced by the encoder.
TEST(SyncEvent, GoldenBatchFormat3) {
  const std::string golden =
      hex("53 59 03 01"                    // 'S' 'Y', format 3, kind 1 (changes)
          "08 07 06 05 04 03 02 01"        // origin 0x0102030405060708
          "18 17 16 15 14 13 12 11"        // epoch 0x1112131415161718
          "03 00"                          // sender 3 (the first section's)
          "02 01"                          // partition 258 (the first section's)
          "00 00 00 00 00 00 00 00"        // seq 0 (the sections carry theirs)
          "02 00 00 00"                    // two sections
          "40 42 0f 00 00 00 00 00"        // sent_at_us 1000000
          "03 00 02 01"                    // section: sender 3, partition 258
          "2a 00 00 00 00 00 00 00"        //   seq 42
          "01 00 00 00"                    //   one record
          "02 00"                          //   delete, no flags
          "00 00 00 00 00 00 00 00"        //   version 0 (unknown)
          "01 00 00 00 6b"                 //   key "k"
          "00 00 07 00"                    // section: sender 0, partition 7
          "05 00 00 00 00 00 00 00"        //   seq 5
          "01 00 00 00"                    //   one record
          "03 00"                          //   invalidate, no flags
          "07 00 00 00 00 00 00 00"        //   version 7
          "01 00 00 00 6a");               //   key "j"
  SyncHeader first{SyncKind::kChanges, 0x0102030405060708, 0x1112131415161718, 3, 258, 42, 0, 3};
  first.sent_at_us = 1000000;
  SyncHeader second = first;
  second.sender = 0;
  second.partition = 7;
  second.seq = 5;
  second.sent_at_us = 2000000;  // the batch keeps the first one's
  const OwnedRecord k = keyed(SyncOp::kDelete, "k");
  const OwnedRecord j{SyncOp::kInvalidate, 7, std::nullopt, "j", std::nullopt};
  std::string out;
  SyncBatchEncoder batch(&out);
  EXPECT_EQ(batch.add(encode(first, {k})), SyncAddStatus::kAdded);
  EXPECT_EQ(batch.add(encode(second, {j})), SyncAddStatus::kAdded);
  EXPECT_EQ(batch.sections(), 2u);
  EXPECT_EQ(batch.finish(), golden);
  SyncHeader h = first;
  h.seq = 0;
  h.count = 2;
  expect_decode(golden, {header_item(h), section_item({3, 258, 42, 1}), testing::record_item(k),
                         section_item({0, 7, 5, 1}), testing::record_item(j), done_item()});
  // What a format 2 build reads of it: whose it is, and the first section's partition.
  const std::optional<SyncEnvelopeId> id = sync_peek_id(golden);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->format, 3);
  EXPECT_EQ(id->sender, 3);
  EXPECT_EQ(id->partition, 258);
}

// The joiner: sections in order under the first message's header, up to the limits.
TEST(SyncEvent, BatchEncoderJoinsUpToItsLimits) {
  const OwnedRecord r = keyed(SyncOp::kDelete, "k");  // 15 bytes
  const auto part = [&](uint16_t sender, uint64_t seq) {
    return encode(changes_header(seq, sender, 0, 3), {r});  // 44 + 16 + 15
  };
  SyncLimits limits;
  limits.message_bytes_max = kSyncHeaderBytes + 3 * (kSyncSectionBytes + 15);
  std::string out = "x";
  SyncBatchEncoder batch(&out, limits);
  EXPECT_EQ(batch.finish(), "");  // nothing added: nothing written
  for (uint64_t seq = 1; seq <= 3; ++seq) EXPECT_EQ(batch.add(part(1, seq)), SyncAddStatus::kAdded);
  EXPECT_EQ(batch.add(part(1, 4)), SyncAddStatus::kFull);
  const std::string_view joined = batch.finish();
  EXPECT_EQ(joined.data(), out.data() + 1);
  EXPECT_EQ(joined.size(), limits.message_bytes_max);
  const std::vector<Decoded> got = decode_whole(joined, limits);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0].header.count, 3u);
  EXPECT_EQ(got[5].section, (SyncSection{3, 1, 3, 1}));
  EXPECT_EQ(got.back(), done_item());

  limits.sections_max = 2;
  std::string two;
  SyncBatchEncoder small(&two, limits);
  EXPECT_EQ(small.add(part(1, 1)), SyncAddStatus::kAdded);
  EXPECT_EQ(small.add(part(2, 1)), SyncAddStatus::kAdded);
  EXPECT_EQ(small.add(part(3, 1)), SyncAddStatus::kFull);
  EXPECT_EQ(decode_whole(small.finish(), limits).back(), done_item());
}

TEST(SyncEvent, BatchEncoderRejectsWhatIsNotABatch) {
  std::string out;
  SyncBatchEncoder batch(&out);
  const std::string v2 = encode(changes_header(1), {keyed(SyncOp::kDelete, "k")});
  std::string heartbeat;
  SyncHeader hb = changes_header(0, 0, 0, 3);
  ASSERT_TRUE(encode_heartbeat(&heartbeat, hb, std::vector<uint64_t>{1}).ok());
  for (const std::string& bad : {v2, heartbeat, std::string("SY"), std::string()}) {
    EXPECT_EQ(batch.add(bad), SyncAddStatus::kRejected);
    EXPECT_EQ(batch.error().code, SyncErrorCode::kNotBatch);
  }
  EXPECT_TRUE(out.empty());
  SyncHeader mine = changes_header(1, 5, 0, 3);
  ASSERT_EQ(batch.add(encode(mine, {})), SyncAddStatus::kAdded);
  SyncHeader other = mine;
  other.epoch += 1;  // another start of the instance: its own numbers
  EXPECT_EQ(batch.add(encode(other, {})), SyncAddStatus::kRejected);
  other = mine;
  other.origin += 1;
  EXPECT_EQ(batch.add(encode(other, {})), SyncAddStatus::kRejected);
  SyncLimits tiny;
  tiny.message_bytes_max = kSyncHeaderBytes + kSyncSectionBytes + 20;
  std::string small_out;
  SyncBatchEncoder small(&small_out, tiny);
  EXPECT_EQ(small.add(encode(mine, {set("key", "a value too long")})), SyncAddStatus::kRejected);
  EXPECT_EQ(small.error().code, SyncErrorCode::kMessagePastMax);
}

TEST(SyncEvent, Format3RoundTripsAndWaitsAtEveryCut) {
  const std::vector<OwnedRecord> records = {set("key", "value", 5), keyed(SyncOp::kFlushAll, "")};
  const SyncHeader h = changes_header(3, 5, 0, 3);
  const std::string message = encode(h, records);
  const std::vector<Decoded> all = expected_changes(h, records);
  expect_decode(message, all);
  for (size_t n = 0; n < message.size(); ++n) {
    std::vector<Decoded> got = decode_whole(std::string_view(message).substr(0, n));
    if (!got.empty() && got.back() == need_more_item()) got.pop_back();
    ASSERT_LT(got.size(), all.size() - 1) << n;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin())) << n;
  }
}

TEST(SyncEvent, GoldenChangesMessageFormat2) {
  const std::string golden =
      hex("53 59 02 01"                    // 'S' 'Y', format 2, kind 1 (changes)
          "08 07 06 05 04 03 02 01"        // origin 0x0102030405060708
          "18 17 16 15 14 13 12 11"        // epoch 0x1112131415161718
          "03 00"                          // sender 3
          "02 01"                          // partition 258
          "2a 00 00 00 00 00 00 00"        // seq 42
          "01 00 00 00"                    // count 1
          "40 42 0f 00 00 00 00 00"        // sent_at_us 1000000
          "02 00"                          // delete, no flags
          "00 00 00 00 00 00 00 00"        // version 0 (unknown)
          "01 00 00 00 6b");               // key "k"
  SyncHeader h{SyncKind::kChanges, 0x0102030405060708, 0x1112131415161718, 3, 258, 42, 1, 2};
  h.sent_at_us = 1000000;
  const std::vector<OwnedRecord> records = {keyed(SyncOp::kDelete, "k")};
  EXPECT_EQ(encode(h, records), golden);
  expect_decode(golden, expected_changes(h, records));
}

TEST(SyncEvent, GoldenHeartbeatFormat2) {
  const std::string golden =
      hex("53 59 02 02"                // 'S' 'Y', format 2, kind 2 (heartbeat)
          "01 00 00 00 00 00 00 00"    // origin 1
          "02 00 00 00 00 00 00 00"    // epoch 2
          "01 00 00 00"                // sender 1, partition 0
          "00 00 00 00 00 00 00 00"    // seq 0
          "01 00 00 00"                // one partition
          "ff ff ff ff ff ff ff 7f"    // sent_at_us 2^63-1
          "09 00 00 00 00 00 00 00");  // partition 0: last seq 9
  const std::vector<uint64_t> seqs = {9};
  SyncHeader from{SyncKind::kChanges, 1, 2, 1, 0, 0, 0, kSyncHeartbeatFormat};
  from.sent_at_us = 0x7fffffffffffffffull;
  std::string out;
  ASSERT_TRUE(encode_heartbeat(&out, from, seqs).ok());
  EXPECT_EQ(out, golden);
  SyncHeader want{SyncKind::kHeartbeat, 1, 2, 1, 0, 0, 1, kSyncHeartbeatFormat};
  want.sent_at_us = from.sent_at_us;
  expect_decode(golden, {header_item(want), seqs_item(seqs), done_item()});
}

// Format 1, as older builds write it: still written on request, still read.
TEST(SyncEvent, GoldenChangesMessage) {
  const std::string golden =
      hex("53 59 01 01"                    // 'S' 'Y', format 1, kind 1 (changes)
          "08 07 06 05 04 03 02 01"        // origin 0x0102030405060708
          "18 17 16 15 14 13 12 11"        // epoch 0x1112131415161718
          "03 00"                          // sender 3
          "02 01"                          // partition 258
          "2a 00 00 00 00 00 00 00"        // seq 42
          "02 00 00 00"                    // count 2
          "01 03"                          // set, has value + has expire
          "07 00 00 00 00 00 00 00"        // version 7
          "00 68 e5 cf 8b 01 00 00"        // expire_at_ms 1700000000000
          "06 00 00 00 75 73 65 72 3a 31"  // key "user:1"
          "05 00 00 00 61 6c 69 63 65"     // value "alice"
          "02 00"                          // delete, no flags
          "00 00 00 00 00 00 00 00"        // version 0 (unknown)
          "01 00 00 00 6b");               // key "k"
  const SyncHeader h{SyncKind::kChanges, 0x0102030405060708, 0x1112131415161718, 3, 258, 42, 2, 1};
  const std::vector<OwnedRecord> records = {set("user:1", "alice", 1700000000000),
                                            keyed(SyncOp::kDelete, "k")};
  EXPECT_EQ(encode(h, records), golden);
  expect_decode(golden, expected_changes(h, records));
}

TEST(SyncEvent, GoldenHeartbeat) {
  const std::string golden =
      hex("53 59 01 02"                // 'S' 'Y', format 1, kind 2 (heartbeat)
          "01 00 00 00 00 00 00 00"    // origin 1
          "02 00 00 00 00 00 00 00"    // epoch 2
          "01 00 00 00"                // sender 1, partition 0
          "00 00 00 00 00 00 00 00"    // seq 0
          "02 00 00 00"                // two partitions
          "09 00 00 00 00 00 00 00"    // partition 0: last seq 9
          "ff ff ff ff ff ff ff ff");  // partition 1: last seq 2^64-1
  const std::vector<uint64_t> seqs = {9, std::numeric_limits<uint64_t>::max()};
  std::string out;
  ASSERT_TRUE(encode_heartbeat(&out, {SyncKind::kChanges, 1, 2, 1, 0, 0, 0, 1}, seqs).ok());
  EXPECT_EQ(out, golden);
  expect_decode(golden, {header_item({SyncKind::kHeartbeat, 1, 2, 1, 0, 0, 2, 1}),
                         seqs_item(seqs), done_item()});
}

TEST(SyncEvent, RoundTripEveryOp) {
  const std::string binary("\0\r\n\xff", 4);
  const std::vector<OwnedRecord> records = {
      set("a", std::nullopt),  // a set without its value
      set("b", ""),            // an empty value is a value
      set(binary, binary, 0),  // binary key and value, expire 0 (kept)
      set("c", "v", -5, std::numeric_limits<uint64_t>::max()),
      keyed(SyncOp::kDelete, "d"),
      keyed(SyncOp::kDelete, "d", 99),
      keyed(SyncOp::kInvalidate, "e"),
      keyed(SyncOp::kInvalidate, "e", std::numeric_limits<int64_t>::min()),
      keyed(SyncOp::kFlushAll, ""),
      keyed(SyncOp::kFlushAll, "", 1),
  };
  for (const OwnedRecord& r : records) {
    expect_decode(encode(changes_header(1), {r}), expected_changes(changes_header(1), {r}));
  }
  expect_decode(encode(changes_header(9), records), expected_changes(changes_header(9), records));
}

TEST(SyncEvent, HeartbeatRoundTrip) {
  const SyncHeader from{SyncKind::kHeartbeat, 77, 88, 65535, 0, 0, 0};
  for (const std::vector<uint64_t>& seqs :
       {std::vector<uint64_t>{}, {0}, {1, 2, 3, 0x0102030405060708}}) {
    std::string out;
    ASSERT_TRUE(encode_heartbeat(&out, from, seqs).ok());
    SyncHeader h = from;
    h.count = static_cast<uint32_t>(seqs.size());
    expect_decode(out, {header_item(h), seqs_item(seqs), done_item()});
  }
}

TEST(SyncEvent, EnvelopesBackToBack) {
  const std::vector<OwnedRecord> records = {set("k", "v"), keyed(SyncOp::kInvalidate, "j")};
  std::string stream = encode(changes_header(1), records);
  ASSERT_TRUE(encode_heartbeat(&stream, changes_header(0), std::vector<uint64_t>{4}).ok());
  stream += encode(changes_header(2), {});  // a changes message may hold no record
  std::vector<Decoded> expected = expected_changes(changes_header(1), records);
  SyncHeader heartbeat{SyncKind::kHeartbeat, 0x1111, 0x2222, 3, 0, 0, 1, 2};
  expected.insert(expected.end(), {header_item(heartbeat), seqs_item({4}), done_item()});
  expected.insert(expected.end(), {header_item(changes_header(2)), done_item()});
  expect_decode(stream, expected);
}

// A cut anywhere gives the items before it and then waits: never an error, never kDone.
TEST(SyncEvent, EveryPrefixWaitsForMore) {
  const std::vector<OwnedRecord> records = {set("key", "value", 5), keyed(SyncOp::kFlushAll, "")};
  const std::string message = encode(changes_header(3), records);
  const std::vector<Decoded> all = expected_changes(changes_header(3), records);
  for (size_t n = 0; n < message.size(); ++n) {
    std::vector<Decoded> got = decode_whole(std::string_view(message).substr(0, n));
    if (!got.empty() && got.back() == need_more_item()) got.pop_back();
    ASSERT_LT(got.size(), all.size() - 1) << n;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin())) << n;
  }
}

TEST(SyncEvent, RecordViewsPointIntoTheInput) {
  const std::string message = encode(changes_header(1), {set("key", "value")});
  SyncDecoder d;
  ASSERT_EQ(d.feed(message), SyncStatus::kHeader);
  const std::string_view rest = std::string_view(message).substr(d.consumed());
  ASSERT_EQ(d.feed(rest), SyncStatus::kRecord);
  EXPECT_EQ(d.record().key.data(), rest.data() + 14);
  EXPECT_EQ(d.record().value->data(), rest.data() + 21);
  EXPECT_EQ(d.consumed(), rest.size());
  EXPECT_EQ(d.feed({}), SyncStatus::kDone);
  EXPECT_EQ(d.consumed(), 0u);
  EXPECT_EQ(d.feed({}), SyncStatus::kNeedMore);  // the next message
}

TEST(SyncEvent, SeqsAreReadUnaligned) {
  std::string buffer = "x";
  ASSERT_TRUE(encode_heartbeat(&buffer, {}, std::vector<uint64_t>{0x0807060504030201, 5}).ok());
  SyncDecoder d;
  std::string_view in = std::string_view(buffer).substr(1);
  ASSERT_EQ(d.feed(in), SyncStatus::kHeader);
  in.remove_prefix(d.consumed());
  ASSERT_EQ(d.feed(in), SyncStatus::kHeartbeat);
  ASSERT_EQ(d.seqs().size(), 2u);
  EXPECT_EQ(d.seqs()[0], 0x0807060504030201u);
  EXPECT_EQ(d.seqs()[1], 5u);
}

struct Collect : SyncHandler {
  std::vector<std::string> seen;
  void on_header(const SyncHeader& h) override {
    seen.push_back("header " + std::to_string(h.seq));
  }
  void on_section(const SyncSection& s) override {
    seen.push_back("section " + std::to_string(s.partition) + " " + std::to_string(s.seq));
  }
  void on_record(const SyncRecord& r) override { seen.push_back("record " + std::string(r.key)); }
  void on_heartbeat(SyncSeqView s) override { seen.push_back("seqs " + std::to_string(s.size())); }
};

TEST(SyncEvent, DecodeMessage) {
  const std::string message =
      encode(changes_header(6), {set("a", "1"), keyed(SyncOp::kDelete, "b")});
  Collect c;
  EXPECT_TRUE(decode_message(message, {}, c).ok());
  // A format 2 message is one section, from its header.
  EXPECT_EQ(c.seen,
            (std::vector<std::string>{"header 6", "section 5 6", "record a", "record b"}));

  std::string batch_bytes;
  SyncBatchEncoder batch(&batch_bytes);
  ASSERT_EQ(batch.add(encode(changes_header(6, 5, 0, 3), {set("a", "1")})), SyncAddStatus::kAdded);
  ASSERT_EQ(batch.add(encode(changes_header(2, 9, 0, 3), {keyed(SyncOp::kDelete, "b")})),
            SyncAddStatus::kAdded);
  Collect b;
  EXPECT_TRUE(decode_message(batch.finish(), {}, b).ok());
  EXPECT_EQ(b.seen, (std::vector<std::string>{"header 0", "section 5 6", "record a",
                                              "section 9 2", "record b"}));

  std::string heartbeat;
  ASSERT_TRUE(encode_heartbeat(&heartbeat, {}, std::vector<uint64_t>{1, 2, 3}).ok());
  Collect h;
  EXPECT_TRUE(decode_message(heartbeat, {}, h).ok());
  EXPECT_EQ(h.seen, (std::vector<std::string>{"header 0", "seqs 3"}));
}

// All or nothing: a message that fails late reports nothing, not its first records.
TEST(SyncEvent, DecodeMessageIsAllOrNothing) {
  const std::string message =
      encode(changes_header(6), {set("a", "1"), keyed(SyncOp::kDelete, "b")});
  Collect c;
  EXPECT_EQ(decode_message(message + "!", {}, c).code, SyncErrorCode::kTrailingBytes);
  EXPECT_EQ(decode_message(message + message, {}, c).code, SyncErrorCode::kTrailingBytes);
  EXPECT_EQ(decode_message(message.substr(0, message.size() - 1), {}, c).code,
            SyncErrorCode::kTruncated);
  EXPECT_EQ(decode_message("", {}, c).code, SyncErrorCode::kTruncated);
  std::string bad = message;
  bad[bad.size() - 15] = 9;  // the second record's op
  EXPECT_EQ(decode_message(bad, {}, c).code, SyncErrorCode::kUnknownOp);
  EXPECT_TRUE(c.seen.empty());
  EXPECT_EQ(decode_message("", {}, c).message, "sync: message ends early");
}

}  // namespace
}  // namespace strata::protocol
