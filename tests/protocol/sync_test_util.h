// GoogleTest helpers for the sync event codec tests: expected decoder statuses, an encoder
// wrapper, a raw writer for messages the encoder refuses to make, and expect_decode(), which
// checks an input fed whole, byte by byte and in random splits.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sync_event.h"
#include "tests/protocol/sync_harness.h"

namespace strata::protocol::testing {

inline void PrintTo(const Decoded& d, std::ostream* os) {
  *os << "{status " << static_cast<int>(d.status) << ", consumed " << d.consumed;
  if (d.status == SyncStatus::kHeader)
    *os << ", format " << int{d.header.format} << ", seq " << d.header.seq << ", count "
        << d.header.count;
  if (d.status == SyncStatus::kSection) {
    *os << ", sender " << d.section.sender << ", partition " << d.section.partition << ", seq "
        << d.section.seq << ", count " << d.section.count;
  }
  if (d.status == SyncStatus::kRecord) {
    *os << ", op " << static_cast<int>(d.record.op) << ", key "
        << ::testing::PrintToString(d.record.key);
  }
  if (d.status == SyncStatus::kHeartbeat) *os << ", seqs " << ::testing::PrintToString(d.seqs);
  if (d.status == SyncStatus::kError) *os << ", error " << d.message;
  *os << "}";
}

// Bytes from lower-case hex digits; spaces are ignored.
inline std::string hex(std::string_view digits) {
  std::string out;
  int high = -1;
  for (char c : digits) {
    if (c == ' ') continue;
    const int v = c <= '9' ? c - '0' : c - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

// Little-endian bytes of `v`, `bytes` wide.
inline std::string le(uint64_t v, size_t bytes) {
  std::string out;
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

// A format 2 changes header (one message, one section); format 3's tests pass format = 3.
inline SyncHeader changes_header(uint64_t seq, uint16_t partition = 5, uint32_t count = 0,
                                 uint8_t format = 2) {
  return {SyncKind::kChanges, 0x1111, 0x2222, 3, partition, seq, count, format};
}

// A header as raw bytes, whatever its fields say (origin, epoch and sender as in
// changes_header).
// Format 2 and later (as far as this build knows them) carry sent_at_us after the count.
inline std::string raw_header(SyncKind kind, uint16_t partition, uint64_t seq, uint32_t count,
                              uint8_t format = 2, uint64_t sent_at_us = 0) {
  return std::string("SY") + static_cast<char>(format) + static_cast<char>(kind) + le(0x1111, 8) +
         le(0x2222, 8) + le(3, 2) + le(partition, 2) + le(seq, 8) + le(count, 4) +
         (format >= 2 ? le(sent_at_us, 8) : std::string());
}

// A record as raw bytes: the expire field is there when flags has bit1, the value when bit0.
inline std::string raw_record(SyncOp op, uint8_t flags, std::string_view key,
                              std::string_view value = {}) {
  std::string out;
  out.push_back(static_cast<char>(op));
  out.push_back(static_cast<char>(flags));
  out += le(7, 8);
  if (flags & 2) out += le(1000, 8);
  out += le(key.size(), 4);
  out += key;
  if (flags & 1) out += le(value.size(), 4) + std::string(value);
  return out;
}

// A format 3 section header as raw bytes.
inline std::string raw_section(uint16_t sender, uint16_t partition, uint64_t seq,
                               uint32_t count) {
  return le(sender, 2) + le(partition, 2) + le(seq, 8) + le(count, 4);
}

inline Decoded header_item(SyncHeader h) {
  return {SyncStatus::kHeader, sync_header_bytes(h.format), h, {}, {}, {}, {}, {}};
}
inline Decoded section_item(SyncSection s) {
  return {SyncStatus::kSection, kSyncSectionBytes, {}, {}, {}, {}, {}, s};
}
inline Decoded record_item(const OwnedRecord& r) {
  return {SyncStatus::kRecord, sync_record_bytes(r.view()), {}, r, {}, {}, {}, {}};
}
inline Decoded seqs_item(std::vector<uint64_t> seqs) {
  const size_t bytes = seqs.size() * kSyncSeqBytes;
  return {SyncStatus::kHeartbeat, bytes, {}, {}, std::move(seqs), {}, {}, {}};
}
inline Decoded done_item() { return {SyncStatus::kDone, 0, {}, {}, {}, {}, {}, {}}; }
inline Decoded need_more_item() { return {}; }

inline OwnedRecord set(std::string key, std::optional<std::string> value,
                       std::optional<int64_t> expire = std::nullopt, uint64_t version = 7) {
  return {SyncOp::kSet, version, expire, std::move(key), std::move(value)};
}
inline OwnedRecord keyed(SyncOp op, std::string key, std::optional<int64_t> expire = std::nullopt) {
  return {op, 0, expire, std::move(key), std::nullopt};
}

inline std::string encode(SyncHeader h, const std::vector<OwnedRecord>& records,
                          SyncLimits limits = {}) {
  std::string out;
  SyncEncoder encoder(&out, limits);
  EXPECT_TRUE(encoder.begin(h).ok());
  for (const OwnedRecord& r : records) EXPECT_EQ(encoder.add(r.view()), SyncAddStatus::kAdded);
  encoder.finish();
  return out;
}

// What decoding encode(h, records) reports (format 3: a header naming one section, the
// section, its records).
inline std::vector<Decoded> expected_changes(SyncHeader h,
                                             const std::vector<OwnedRecord>& records) {
  h.kind = SyncKind::kChanges;
  const auto n = static_cast<uint32_t>(records.size());
  std::vector<Decoded> out;
  if (h.format >= 3) {
    const SyncSection section{h.sender, h.partition, h.seq, n};
    h.seq = 0;
    h.count = 1;
    out = {header_item(h), section_item(section)};
  } else {
    h.count = n;
    out = {header_item(h)};
  }
  for (const OwnedRecord& r : records) out.push_back(record_item(r));
  out.push_back(done_item());
  return out;
}

// Decodes `input` whole, byte by byte and in random splits, and checks all agree with each
// other; returns the statuses.
inline std::vector<Decoded> decode_all_ways(std::string_view input, SyncLimits limits = {}) {
  const std::vector<Decoded> whole = decode_whole(input, limits);
  EXPECT_EQ(decode_stream(
                input, [] { return size_t{1}; }, limits),
            whole)
      << "bytewise";
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    EXPECT_EQ(decode_stream(input, LcgChunks{input.size(), seed}, limits), whole) << seed;
    std::mt19937 rng(seed);
    EXPECT_EQ(decode_stream(
                  input, [&] { return size_t{1} + rng() % 64; }, limits),
              whole)
        << "mt seed " << seed;
  }
  return whole;
}

inline void expect_decode(std::string_view input, const std::vector<Decoded>& expected,
                          SyncLimits limits = {}) {
  EXPECT_EQ(decode_all_ways(input, limits), expected);
}

// The decoder stops on `code` however the input is split, with a non-empty message.
inline void expect_error(std::string_view input, SyncErrorCode code, SyncLimits limits = {}) {
  const std::vector<Decoded> got = decode_all_ways(input, limits);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().status, SyncStatus::kError);
  EXPECT_EQ(got.back().error, code) << got.back().message;
  EXPECT_FALSE(got.back().message.empty());
}

// The decoder accepts `input` as one whole message, however it is split.
inline void expect_ok(std::string_view input, SyncLimits limits = {}) {
  const std::vector<Decoded> got = decode_all_ways(input, limits);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().status, SyncStatus::kDone) << ::testing::PrintToString(got.back());
}

}  // namespace strata::protocol::testing
