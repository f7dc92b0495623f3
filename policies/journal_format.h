// The write-behind journal's record format, pure (no I/O). A segment is a sequence of records:
//
//   u32 magic 'SJR1' | u32 crc32c of everything after this field | u8 op | u64 version |
//   u32 key length | u32 value length | key bytes | value bytes
//
// little-endian. A torn tail (crash mid-append) decodes as kTorn and is ignored on recovery;
// a CRC mismatch anywhere else is kCorrupt.
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

constexpr size_t kJournalHeaderBytes = 4 + 4 + 1 + 8 + 4 + 4;
constexpr uint32_t kJournalMagic = 0x31524A53;  // "SJR1"

void encode_journal_record(const JournalRecord& r, std::string* out);

enum class JournalDecode { kRecord, kTorn, kCorrupt };
// Decodes the record at the start of `in`; views point into `in`.
JournalDecode decode_journal_record(std::string_view in, JournalRecord* out, size_t* consumed);

uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);

}  // namespace strata::policies
