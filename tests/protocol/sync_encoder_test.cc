// The sync encoder: it splits at records_max and message_bytes_max, refuses what no message
// could carry, and never emits what the decoder with the same limits would refuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/sync_event.h"
#include "tests/protocol/sync_test_util.h"

namespace strata::protocol {
namespace {

using testing::changes_header;
using testing::decode_whole;
using testing::Decoded;
using testing::encode;
using testing::expected_changes;
using testing::keyed;
using testing::OwnedRecord;
using testing::set;
using E = SyncErrorCode;

constexpr size_t kH = kSyncHeaderBytes;

struct Fixture {
  explicit Fixture(SyncLimits limits) : encoder(&out, limits) {}
  std::string out;
  SyncEncoder encoder;
};

TEST(SyncEncoder, RecordsMaxStartsANewMessage) {
  SyncLimits limits;
  limits.records_max = 2;
  Fixture f(limits);
  const OwnedRecord r = keyed(SyncOp::kDelete, "k");
  ASSERT_TRUE(f.encoder.begin(changes_header(1)).ok());
  EXPECT_EQ(f.encoder.add(r.view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.add(r.view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.add(r.view()), SyncAddStatus::kFull);
  const std::string first(f.encoder.finish());
  EXPECT_EQ(decode_whole(first, limits), expected_changes(changes_header(1), {r, r}));
  ASSERT_TRUE(f.encoder.begin(changes_header(2)).ok());
  EXPECT_EQ(f.encoder.add(r.view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.finish().size(), kSyncHeaderBytes + 15);
  EXPECT_EQ(f.out.size(), first.size() + kSyncHeaderBytes + 15);
}

TEST(SyncEncoder, MessageBytesMaxAtAndPast) {
  const OwnedRecord a = keyed(SyncOp::kDelete, "a");  // 15 bytes
  for (size_t max : {kH + 30, kH + 29}) {
    SyncLimits limits;
    limits.message_bytes_max = max;
    Fixture f(limits);
    ASSERT_TRUE(f.encoder.begin(changes_header(1)).ok());
    EXPECT_EQ(f.encoder.add(a.view()), SyncAddStatus::kAdded);
    EXPECT_EQ(f.encoder.add(a.view()),
              max == kH + 30 ? SyncAddStatus::kAdded : SyncAddStatus::kFull);
    EXPECT_EQ(f.encoder.add(a.view()), SyncAddStatus::kFull);
    const std::string_view message = f.encoder.finish();
    EXPECT_LE(message.size(), max);
    EXPECT_EQ(decode_whole(message, limits).back().status, SyncStatus::kDone);
  }
}

TEST(SyncEncoder, RejectsWhatNoMessageCarries) {
  SyncLimits limits;
  limits.key_bytes_max = 4;
  limits.value_bytes_max = 8;
  limits.message_bytes_max = kH + 30;
  Fixture f(limits);
  ASSERT_TRUE(f.encoder.begin(changes_header(1)).ok());
  const size_t before = f.out.size();
  const auto rejected = [&](const OwnedRecord& r) {
    EXPECT_EQ(f.encoder.add(r.view()), SyncAddStatus::kRejected);
    EXPECT_EQ(f.out.size(), before);
    return f.encoder.error().code;
  };
  EXPECT_EQ(rejected(keyed(SyncOp::kInvalidate, "abcde")), E::kKeyPastMax);
  EXPECT_EQ(rejected(set("k", "123456789")), E::kValuePastMax);
  // Within the field limits, but 10 + 8 + 4 + 4 + 4 + 8 = 38 record bytes are past 30 alone.
  EXPECT_EQ(rejected(set("abcd", "12345678", 1)), E::kMessagePastMax);
  EXPECT_EQ(rejected({SyncOp::kDelete, 0, std::nullopt, "k", "v"}), E::kValueOnNonSet);
  EXPECT_EQ(rejected(set("", "v")), E::kKeyEmpty);
  EXPECT_EQ(rejected(keyed(SyncOp::kFlushAll, "k")), E::kKeyOnFlushAll);
  EXPECT_EQ(rejected(keyed(static_cast<SyncOp>(0), "k")), E::kUnknownOp);
  EXPECT_EQ(rejected(keyed(static_cast<SyncOp>(9), "k")), E::kUnknownOp);
  EXPECT_FALSE(f.encoder.error().message.empty());
  EXPECT_EQ(f.encoder.add(keyed(SyncOp::kFlushAll, "").view()), SyncAddStatus::kAdded);
}

TEST(SyncEncoder, BeginRefusesBadHeaders) {
  SyncLimits limits;
  limits.partitions_max = 8;
  Fixture f(limits);
  EXPECT_EQ(f.encoder.begin(changes_header(0)).code, E::kSeqZero);
  EXPECT_EQ(f.encoder.begin(changes_header(1, 8)).code, E::kPartitionPastMax);
  EXPECT_TRUE(f.out.empty());
  EXPECT_FALSE(f.encoder.open());
  ASSERT_TRUE(f.encoder.begin(changes_header(1, 7)).ok());
  EXPECT_EQ(f.encoder.begin(changes_header(2)).code, E::kEncoderMisuse);
  EXPECT_EQ(f.out.size(), kSyncHeaderBytes);
}

TEST(SyncEncoder, UsedOutOfOrder) {
  Fixture f({});
  EXPECT_EQ(f.encoder.add(keyed(SyncOp::kDelete, "k").view()), SyncAddStatus::kRejected);
  EXPECT_EQ(f.encoder.error().code, E::kEncoderMisuse);
  EXPECT_EQ(f.encoder.finish(), "");
  f.encoder.abandon();
  EXPECT_TRUE(f.out.empty());
}

TEST(SyncEncoder, AppendsAndAbandons) {
  Fixture f({});
  f.out = "xyz";
  ASSERT_TRUE(f.encoder.begin(changes_header(1)).ok());
  ASSERT_EQ(f.encoder.add(keyed(SyncOp::kDelete, "k").view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.records(), 1u);
  f.encoder.abandon();
  EXPECT_EQ(f.out, "xyz");
  ASSERT_TRUE(f.encoder.begin(changes_header(1)).ok());
  ASSERT_EQ(f.encoder.add(keyed(SyncOp::kDelete, "k").view()), SyncAddStatus::kAdded);
  const std::string_view message = f.encoder.finish();
  EXPECT_EQ(message.data(), f.out.data() + 3);
  EXPECT_EQ(message, encode(changes_header(1), {keyed(SyncOp::kDelete, "k")}));
}

// The default field limits are what one default-sized (NATS max_payload) format 3 message
// carries in its one section.
TEST(SyncEncoder, DefaultLimitsFillANatsPayloadExactly) {
  Fixture f({});
  ASSERT_TRUE(f.encoder.begin(changes_header(1, 5, 0, 3)).ok());
  const std::string big(kSyncFieldBytesMax - 1, 'v');
  ASSERT_EQ(f.encoder.add(set("k", big, 1).view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.finish().size(), kSyncMessageBytesMax);
  struct Count : SyncHandler {
    int records = 0;
    int sections = 0;
    void on_header(const SyncHeader&) override {}
    void on_section(const SyncSection&) override { ++sections; }
    void on_record(const SyncRecord&) override { ++records; }
    void on_heartbeat(SyncSeqView) override {}
  } count;
  EXPECT_TRUE(decode_message(f.out, {}, count).ok());
  EXPECT_EQ(count.records, 1);
  EXPECT_EQ(count.sections, 1);

  ASSERT_TRUE(f.encoder.begin(changes_header(2, 5, 0, 3)).ok());
  const std::string too_big(kSyncFieldBytesMax, 'v');
  EXPECT_EQ(f.encoder.add(set("k", too_big, 1).view()), SyncAddStatus::kRejected);
  EXPECT_EQ(f.encoder.error().code, E::kMessagePastMax);
  EXPECT_EQ(f.encoder.add(keyed(SyncOp::kInvalidate, too_big, 1).view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.add(keyed(SyncOp::kInvalidate, too_big + "k").view()),
            SyncAddStatus::kRejected);
  EXPECT_EQ(f.encoder.error().code, E::kKeyPastMax);
}

TEST(SyncEncoder, HeartbeatLimits) {
  SyncLimits limits;
  limits.partitions_max = 4;
  limits.message_bytes_max = kH + 8 * 3;
  std::string out;
  const std::vector<uint64_t> three = {1, 2, 3};
  const std::vector<uint64_t> four = {1, 2, 3, 4};
  const std::vector<uint64_t> five = {1, 2, 3, 4, 5};
  EXPECT_EQ(encode_heartbeat(&out, {}, five, limits).code, E::kPartitionsPastMax);
  EXPECT_EQ(encode_heartbeat(&out, {}, four, limits).code, E::kMessagePastMax);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(encode_heartbeat(&out, {}, three, limits).ok());
  EXPECT_EQ(out.size(), limits.message_bytes_max);
}

// Format 3: one section per message, numbered by the section (the header's seq is 0); the
// limits count the section header too.
TEST(SyncEncoder, Format3WritesOneSection) {
  const OwnedRecord a = keyed(SyncOp::kDelete, "a");  // 15 bytes
  constexpr size_t kHS = kH + kSyncSectionBytes;
  SyncLimits limits;
  limits.message_bytes_max = kHS + 30;
  limits.partitions_max = 8;
  Fixture f(limits);
  EXPECT_EQ(f.encoder.begin(changes_header(0, 5, 0, 3)).code, E::kSeqZero);
  EXPECT_EQ(f.encoder.begin(changes_header(1, 8, 0, 3)).code, E::kPartitionPastMax);
  EXPECT_TRUE(f.out.empty());
  ASSERT_TRUE(f.encoder.begin(changes_header(4, 7, 0, 3)).ok());
  EXPECT_EQ(f.encoder.add(a.view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.add(a.view()), SyncAddStatus::kAdded);
  EXPECT_EQ(f.encoder.add(a.view()), SyncAddStatus::kFull);
  const std::string_view message = f.encoder.finish();
  EXPECT_EQ(message.size(), kHS + 30);
  EXPECT_EQ(decode_whole(message, limits), expected_changes(changes_header(4, 7, 0, 3), {a, a}));
}

// Random records under small limits: whatever the encoder emits decodes back to exactly the
// records it took, under the same limits.
TEST(SyncEncoder, EmitsOnlyWhatTheDecoderTakes) {
  const SyncLimits limits{
      .message_bytes_max = 200, .records_max = 5, .key_bytes_max = 12, .value_bytes_max = 40};
  for (const uint8_t format : {2, 3}) {
  std::mt19937 rng(11);
  const auto pick = [&rng](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  std::string out;
  SyncEncoder encoder(&out, limits);
  std::vector<OwnedRecord> taken;
  uint64_t seq = 1;
  const auto header = [&] { return changes_header(seq, 5, 0, format); };
  const auto flush = [&] {
    const size_t start = out.size() - encoder.finish().size();
    EXPECT_EQ(decode_whole(std::string_view(out).substr(start), limits),
              expected_changes(header(), taken));
    taken.clear();
    ++seq;
  };
  ASSERT_TRUE(encoder.begin(header()).ok());
  for (int i = 0; i < 2000; ++i) {
    OwnedRecord r{static_cast<SyncOp>(1 + pick(4)), rng(), std::nullopt, std::string(pick(15), 'k'),
                  std::nullopt};
    if (pick(2)) r.expire_at_ms = static_cast<int64_t>(rng());
    if (pick(2)) r.value = std::string(pick(45), 'v');
    const SyncAddStatus s = encoder.add(r.view());
    if (s == SyncAddStatus::kFull) {
      flush();
      ASSERT_TRUE(encoder.begin(header()).ok());
      ASSERT_EQ(encoder.add(r.view()), SyncAddStatus::kAdded);
    }
    if (s != SyncAddStatus::kRejected) taken.push_back(r);
  }
  flush();
  EXPECT_GT(seq, 50u);
  }
}

}  // namespace
}  // namespace strata::protocol
