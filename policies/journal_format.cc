#include "policies/journal_format.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace strata::policies {
namespace {

// CRC-32C (Castagnoli), reflected polynomial. Slicing-by-8: eight tables let the loop fold
// eight bytes per step; record values can be large and every append and replay checks them.
constexpr uint32_t kCrc32cPoly = 0x82F63B78;

using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr CrcTables kCrcTables = make_crc_tables();

// Offsets inside a record.
constexpr size_t kCrcOffset = 4;
constexpr size_t kBodyOffset = 8;  // segment id: what the CRC covers starts here
constexpr size_t kSegmentOffset = 8;
constexpr size_t kOpOffset = 16;
constexpr size_t kVersionOffset = 17;
constexpr size_t kKeyLenOffset = 25;
constexpr size_t kValueLenOffset = 29;
static_assert(kValueLenOffset + 4 == kJournalHeaderBytes);

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

}  // namespace

uint32_t crc32c(const void* data, size_t len, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (len >= 8) {
    const uint32_t lo =
        c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    c = kCrcTables[7][lo & 0xFF] ^ kCrcTables[6][(lo >> 8) & 0xFF] ^
        kCrcTables[5][(lo >> 16) & 0xFF] ^ kCrcTables[4][lo >> 24] ^ kCrcTables[3][p[4]] ^
        kCrcTables[2][p[5]] ^ kCrcTables[1][p[6]] ^ kCrcTables[0][p[7]];
    p += 8;
    len -= 8;
  }
  while (len-- > 0) c = kCrcTables[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

void encode_journal_record(const JournalRecord& r, uint64_t segment, std::string* out) {
  const std::string_view value = r.op == JournalRecord::kDel ? std::string_view() : r.value;
  const size_t start = out->size();
  out->resize(start + kJournalHeaderBytes);
  char* h = out->data() + start;
  put_u32(h, kJournalMagic);
  put_u64(h + kSegmentOffset, segment);
  h[kOpOffset] = static_cast<char>(r.op);
  put_u64(h + kVersionOffset, r.version);
  put_u32(h + kKeyLenOffset, static_cast<uint32_t>(r.key.size()));
  put_u32(h + kValueLenOffset, static_cast<uint32_t>(value.size()));
  out->append(r.key);
  out->append(value);
  const uint32_t crc = crc32c(out->data() + start + kBodyOffset, out->size() - start - kBodyOffset);
  put_u32(out->data() + start + kCrcOffset, crc);
}

// Only a header carrying this segment's id can start a torn record: anything else (zeros past
// the last record, a recycled file's older records, a partly overwritten older record) is the
// end. Whether the end is early -- corruption -- is find_journal_record's question.
JournalDecode decode_journal_record(std::string_view in, uint64_t segment, JournalRecord* out,
                                    size_t* consumed) {
  *consumed = 0;
  char head[kSegmentOffset + 8];
  put_u32(head, kJournalMagic);
  put_u64(head + kSegmentOffset, segment);
  if (in.size() < kJournalHeaderBytes) {
    const bool ours = std::memcmp(in.data(), head, std::min<size_t>(4, in.size())) == 0;
    if (!ours || in.empty()) return JournalDecode::kEnd;
    *consumed = in.size();
    return JournalDecode::kTorn;
  }
  if (std::memcmp(in.data(), head, 4) != 0 ||
      std::memcmp(in.data() + kSegmentOffset, head + kSegmentOffset, 8) != 0) {
    return JournalDecode::kEnd;
  }
  const uint64_t key_len = get_u32(in.data() + kKeyLenOffset);
  const uint64_t value_len = get_u32(in.data() + kValueLenOffset);
  const uint64_t total = kJournalHeaderBytes + key_len + value_len;
  const uint32_t want = get_u32(in.data() + kCrcOffset);
  if (total > in.size() || crc32c(in.data() + kBodyOffset, total - kBodyOffset) != want) {
    *consumed = static_cast<size_t>(std::min<uint64_t>(total, in.size()));
    return JournalDecode::kTorn;
  }
  const auto op = static_cast<uint8_t>(in[kOpOffset]);
  if ((op != JournalRecord::kSet && op != JournalRecord::kDel) ||
      (op == JournalRecord::kDel && value_len != 0)) {
    return JournalDecode::kCorrupt;  // a CRC-valid record we did not write
  }
  out->op = static_cast<JournalRecord::Op>(op);
  out->version = get_u64(in.data() + kVersionOffset);
  out->key = in.substr(kJournalHeaderBytes, key_len);
  out->value = in.substr(kJournalHeaderBytes + key_len, value_len);
  *consumed = total;
  return JournalDecode::kRecord;
}

size_t find_journal_record(std::string_view in, size_t from, uint64_t segment) {
  char magic[4];
  put_u32(magic, kJournalMagic);
  for (size_t at = in.find(std::string_view(magic, 4), from); at != std::string_view::npos;
       at = in.find(std::string_view(magic, 4), at + 1)) {
    JournalRecord r;
    size_t used = 0;
    if (decode_journal_record(in.substr(at), segment, &r, &used) == JournalDecode::kRecord) {
      return at;
    }
  }
  return std::string_view::npos;
}

}  // namespace strata::policies
