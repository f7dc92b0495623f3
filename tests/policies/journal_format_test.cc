#include "policies/journal_format.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace strata::policies {
namespace {

struct Owned {
  JournalRecord::Op op;
  uint64_t version;
  std::string key;
  std::string value;
};

constexpr uint64_t kSeg = 42;

std::string encode(const Owned& r, uint64_t segment = kSeg) {
  std::string out;
  encode_journal_record({r.op, r.version, r.key, r.value}, segment, &out);
  return out;
}

// Decodes every record of `seg`; returns the outcome that stopped it.
JournalDecode decode_all(std::string_view seg, std::vector<Owned>* out, size_t* offset) {
  *offset = 0;
  while (*offset < seg.size()) {
    JournalRecord r;
    size_t used = 0;
    JournalDecode d = decode_journal_record(seg.substr(*offset), kSeg, &r, &used);
    if (d != JournalDecode::kRecord) return d;
    EXPECT_GT(used, 0u);
    out->push_back({r.op, r.version, std::string(r.key), std::string(r.value)});
    *offset += used;
  }
  return JournalDecode::kEnd;
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string ones(32, '\xff');
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::string inc(32, 0);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(inc.data(), inc.size()), 0x46DD794Eu);
}

TEST(Crc32c, ChainsAcrossSplits) {
  std::mt19937 rng(7);
  std::string data(1000, 0);
  for (char& c : data) c = static_cast<char>(rng());
  const uint32_t whole = crc32c(data.data(), data.size());
  for (size_t cut = 0; cut <= data.size(); cut += 37) {
    EXPECT_EQ(crc32c(data.data() + cut, data.size() - cut, crc32c(data.data(), cut)), whole);
  }
}

TEST(JournalFormat, LayoutIsAsDocumented) {
  const std::string b = encode({JournalRecord::kSet, 0x0102030405060708ull, "ab", "xyz"}, 0x1122);
  ASSERT_EQ(b.size(), kJournalHeaderBytes + 5);
  EXPECT_EQ(b.substr(0, 4), "SJR2");
  EXPECT_EQ(b[8], 0x22);  // segment id, little-endian
  EXPECT_EQ(b[9], 0x11);
  EXPECT_EQ(b[15], 0);
  EXPECT_EQ(b[16], 1);     // op
  EXPECT_EQ(b[17], 0x08);  // version, little-endian
  EXPECT_EQ(b[24], 0x01);
  EXPECT_EQ(b[25], 2);  // key length
  EXPECT_EQ(b[29], 3);  // value length
  EXPECT_EQ(b.substr(33), "abxyz");
  const uint32_t crc = crc32c(b.data() + 8, b.size() - 8);
  EXPECT_EQ(static_cast<uint8_t>(b[4]), crc & 0xFF);
  EXPECT_EQ(static_cast<uint8_t>(b[7]), crc >> 24);
}

TEST(JournalFormat, RoundTrip) {
  std::vector<Owned> in = {
      {JournalRecord::kSet, 1, "user:1", "alice"},
      {JournalRecord::kDel, 2, "user:2", ""},
      {JournalRecord::kSet, UINT64_MAX, "", ""},
      {JournalRecord::kSet, 3, std::string(300, 'k'), std::string(70000, '\0')},
      {JournalRecord::kSet, 4, "bin\r\n\0key", std::string("\0\xff\x01", 3)},
  };
  std::string seg;
  for (const auto& r : in) seg += encode(r);
  std::vector<Owned> out;
  size_t offset = 0;
  EXPECT_EQ(decode_all(seg, &out, &offset), JournalDecode::kEnd);
  EXPECT_EQ(offset, seg.size());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].op, in[i].op);
    EXPECT_EQ(out[i].version, in[i].version);
    EXPECT_EQ(out[i].key, in[i].key);
    EXPECT_EQ(out[i].value, in[i].value);
  }
}

TEST(JournalFormat, DeleteDropsAnyValue) {
  std::string b;
  encode_journal_record({JournalRecord::kDel, 9, "k", "ignored"}, kSeg, &b);
  JournalRecord r;
  size_t used = 0;
  ASSERT_EQ(decode_journal_record(b, kSeg, &r, &used), JournalDecode::kRecord);
  EXPECT_EQ(r.op, JournalRecord::kDel);
  EXPECT_TRUE(r.value.empty());
}

TEST(JournalFormat, AppendsToExistingBuffer) {
  std::string b = "prefix";
  encode_journal_record({JournalRecord::kSet, 1, "k", "v"}, kSeg, &b);
  JournalRecord r;
  size_t used = 0;
  ASSERT_EQ(decode_journal_record(std::string_view(b).substr(6), kSeg, &r, &used),
            JournalDecode::kRecord);
  EXPECT_EQ(r.key, "k");
}

// A crash mid-write: every cut of the last record is torn (except a cut inside the magic's
// first bytes that cannot be told from the end); the records before it survive.
TEST(JournalFormat, TornTailAtEveryByteCut) {
  const std::string first = encode({JournalRecord::kSet, 1, "a", "first"});
  const std::string second = encode({JournalRecord::kSet, 2, "bb", "second value"});
  const std::string seg = first + second;
  for (size_t cut = first.size(); cut < seg.size(); ++cut) {
    std::vector<Owned> out;
    size_t offset = 0;
    EXPECT_EQ(decode_all(std::string_view(seg).substr(0, cut), &out, &offset),
              cut == first.size() ? JournalDecode::kEnd : JournalDecode::kTorn)
        << "cut at " << cut;
    ASSERT_EQ(out.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(out[0].value, "first");
    EXPECT_EQ(offset, first.size());
  }
  for (size_t cut = 1; cut < first.size(); ++cut) {
    JournalRecord r;
    size_t used = 7;
    EXPECT_EQ(decode_journal_record(std::string_view(first).substr(0, cut), kSeg, &r, &used),
              JournalDecode::kTorn)
        << "cut at " << cut;
    EXPECT_EQ(used, cut);
  }
}

// Pre-allocated segments: what follows the last record is zeros, or a recycled file's records
// of an older segment, whole or partly overwritten. All of it is the end, not corruption.
TEST(JournalFormat, ZerosAndStaleRecordsEndTheSegment) {
  const std::string rec = encode({JournalRecord::kSet, 1, "a", "v"});
  std::vector<Owned> out;
  size_t offset = 0;
  EXPECT_EQ(decode_all(rec + std::string(100, '\0'), &out, &offset), JournalDecode::kEnd);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(offset, rec.size());
  std::string stale;
  for (int i = 0; i < 20; ++i) stale += encode({JournalRecord::kSet, 100u + i, "old", "x"}, 7);
  for (size_t at = 0; at < 60; ++at) {  // new records overwrote the first `at` stale bytes
    out.clear();
    const std::string seg = rec + stale.substr(at);
    EXPECT_EQ(decode_all(seg, &out, &offset), JournalDecode::kEnd) << at;
    EXPECT_EQ(out.size(), 1u) << at;
    EXPECT_EQ(find_journal_record(seg, offset, kSeg), std::string_view::npos) << at;
  }
}

TEST(JournalFormat, FindLocatesTheNextRecordOfTheSegment) {
  const std::string a = encode({JournalRecord::kSet, 1, "a", "alpha"});
  const std::string other = encode({JournalRecord::kSet, 2, "b", "beta"}, 7);
  const std::string c = encode({JournalRecord::kSet, 3, "c", "SJR2SJR2"});
  const std::string seg = a + "SJR2junk" + other + std::string(10, '\0') + c;
  EXPECT_EQ(find_journal_record(seg, 0, kSeg), 0u);
  EXPECT_EQ(find_journal_record(seg, 1, kSeg), seg.size() - c.size());
  EXPECT_EQ(find_journal_record(seg, seg.size() - c.size() + 1, kSeg), std::string_view::npos);
  EXPECT_EQ(find_journal_record(seg, 1, 7), a.size() + 8);
  EXPECT_EQ(find_journal_record(seg, seg.size() + 5, kSeg), std::string_view::npos);
}

TEST(JournalFormat, FlippedBytesNeverDecode) {
  const std::string a = encode({JournalRecord::kSet, 1, "a", "alpha"});
  const std::string b = encode({JournalRecord::kSet, 2, "b", "beta"});
  // Every single-byte flip in `a` (followed by `b`) is caught: never decoded as a record.
  for (size_t i = 0; i < a.size(); ++i) {
    std::string seg = a + b;
    seg[i] ^= 0x20;
    JournalRecord r;
    size_t used = 0;
    const JournalDecode d = decode_journal_record(seg, kSeg, &r, &used);
    if (i < 4 || (i >= 8 && i < 16)) {
      EXPECT_EQ(d, JournalDecode::kEnd) << "byte " << i;  // not this segment's header
    } else {
      EXPECT_EQ(d, JournalDecode::kTorn) << "byte " << i;
    }
  }
}

TEST(JournalFormat, CrcValidRecordsStrataNeverWritesAreCorrupt) {
  JournalRecord r;
  size_t used = 0;
  EXPECT_EQ(decode_journal_record("XY", kSeg, &r, &used), JournalDecode::kEnd);
  EXPECT_EQ(decode_journal_record("SJ", kSeg, &r, &used), JournalDecode::kTorn);
  EXPECT_EQ(decode_journal_record("", kSeg, &r, &used), JournalDecode::kEnd);
  // A CRC-valid record with an op we never write.
  std::string bad = encode({static_cast<JournalRecord::Op>(7), 1, "a", "v"}) + "more";
  EXPECT_EQ(decode_journal_record(bad, kSeg, &r, &used), JournalDecode::kCorrupt);
  std::string del_with_value = encode({JournalRecord::kSet, 1, "a", "v"});
  del_with_value[16] = JournalRecord::kDel;
  const uint32_t crc = crc32c(del_with_value.data() + 8, del_with_value.size() - 8);
  for (int i = 0; i < 4; ++i) del_with_value[4 + i] = static_cast<char>(crc >> (8 * i));
  EXPECT_EQ(decode_journal_record(del_with_value + "x", kSeg, &r, &used), JournalDecode::kCorrupt);
}

}  // namespace
}  // namespace strata::policies
