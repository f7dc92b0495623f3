// The write-behind journal's record format, pure (no I/O). A segment is a sequence of records:
//
//   u32 magic 'SJR2' | u32 crc32c of everything after this field | u64 segment id | u8 op |
//   u64 version | u32 key length | u32 value length | key bytes | value bytes
//
// little-endian. Segment files are pre-allocated (zero-filled, or recycled from an older
// segment), so what follows the last record is zeros or a recycled file's stale records: the
// segment id in every record (a file's id comes from its name and is never reused) tells the
// live records from stale ones. A record is read only as part of the segment it names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::policies {

struct JournalRecord {
  enum Op : uint8_t { kSet = 1, kDel = 2 };
  Op op = kSet;
  uint64_t version = 0;
  std::string_view key;
  std::string_view value;  // empty for kDel
};

constexpr size_t kJournalHeaderBytes = 4 + 4 + 8 + 1 + 8 + 4 + 4;
constexpr uint32_t kJournalMagic = 0x32524A53;    // "SJR2"
constexpr uint32_t kJournalMagicV1 = 0x31524A53;  // "SJR1": no segment id; not read any more
// One group commit writes at most this many bytes, or a single record, and at most
// kJournalMaxCommitsInFlight commits are in flight at once (acknowledged in order): a crash can
// leave valid records after a torn one only within kJournalTornWindowBytes, so a valid record
// further on than that past the end of the readable records proves corruption.
constexpr size_t kJournalMaxGroupBytes = 1 << 20;
constexpr size_t kJournalMaxCommitsInFlight = 2;
constexpr size_t kJournalTornWindowBytes = kJournalMaxCommitsInFlight * kJournalMaxGroupBytes;

void encode_journal_record(const JournalRecord& r, uint64_t segment, std::string* out);

enum class JournalDecode {
  kRecord,   // a record of this segment
  kEnd,      // no record of this segment starts here: end of data, zeros, stale or other bytes
  kTorn,     // a record of this segment starts here but is cut short or fails its CRC
  kCorrupt,  // a CRC-valid record of this segment that strata never writes
};
// Decodes the record of `segment` at the start of `in`; views point into `in`. *consumed: the
// record's size (kRecord), the bytes a torn record claims up to the end of `in` (kTorn), or 0.
JournalDecode decode_journal_record(std::string_view in, uint64_t segment, JournalRecord* out,
                                    size_t* consumed);

// The offset of the first valid record of `segment` at or after `from`, or npos.
size_t find_journal_record(std::string_view in, size_t from, uint64_t segment);

uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);

}  // namespace strata::policies
