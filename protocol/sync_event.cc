#include "protocol/sync_event.h"

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>

namespace strata::protocol {
namespace {

// Header field offsets.
constexpr size_t kFormatAt = 2;
constexpr size_t kKindAt = 3;
constexpr size_t kOriginAt = 4;
constexpr size_t kEpochAt = 12;
constexpr size_t kSenderAt = 20;
constexpr size_t kPartitionAt = 22;
constexpr size_t kSeqAt = 24;
constexpr size_t kCountAt = 32;
constexpr size_t kSentAtAt = 36;  // formats 2, 3
static_assert(kCountAt + 4 == kSyncHeaderBytesV1);
static_assert(kSentAtAt + 8 == kSyncHeaderBytes);
static_assert(kPartitionAt + 2 == kSyncIdBytes);

// Format 3 section field offsets, from the section's start.
constexpr size_t kSectionSenderAt = 0;
constexpr size_t kSectionPartitionAt = 2;
constexpr size_t kSectionSeqAt = 4;
constexpr size_t kSectionCountAt = 12;
static_assert(kSectionCountAt + 4 == kSyncSectionBytes);

// Record layout: op, flags, version, then the optional and variable parts.
constexpr size_t kVersionAt = 2;
constexpr size_t kRecordFixedBytes = 10;
constexpr size_t kExpireBytes = 8;
constexpr size_t kLengthBytes = 4;
static_assert(kRecordFixedBytes + kLengthBytes == kSyncRecordBytesMin);
static_assert(kRecordFixedBytes + kExpireBytes + 2 * kLengthBytes == kSyncRecordOverheadMax);
constexpr uint8_t kFlagValue = 1;
constexpr uint8_t kFlagExpire = 2;

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kPartitionsWireMax = uint64_t{std::numeric_limits<uint16_t>::max()} + 1;

template <typename T>
T load_le(const char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return static_cast<T>(v);
}

template <typename T>
void store_le(char* p, T value) {
  auto v = static_cast<std::make_unsigned_t<T>>(value);
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

template <typename T>
void append_le(std::string* out, T value) {
  char bytes[sizeof(T)];
  store_le(bytes, value);
  out->append(bytes, sizeof(T));
}

// A switch rather than a table indexed by the code: -Wswitch catches a code without a text.
std::string_view error_text(SyncErrorCode code) {
  using E = SyncErrorCode;
  switch (code) {
    case E::kNone:
      return "";
    case E::kBadMagic:
      return "sync: bad magic (not a sync event)";
    case E::kUnknownFormat:
      return "sync: unknown format version";
    case E::kUnknownKind:
      return "sync: unknown message kind";
    case E::kHeartbeatFields:
      return "sync: heartbeat with partition or seq set";
    case E::kSeqZero:
      return "sync: changes message with seq 0";
    case E::kPartitionPastMax:
      return "sync: partition past partitions_max";
    case E::kRecordsPastMax:
      return "sync: record count past records_max";
    case E::kPartitionsPastMax:
      return "sync: heartbeat partition count past partitions_max";
    case E::kMessagePastMax:
      return "sync: message past message_bytes_max";
    case E::kUnknownOp:
      return "sync: unknown record op";
    case E::kReservedFlags:
      return "sync: reserved record flag bits set";
    case E::kValueOnNonSet:
      return "sync: value on a record that is not a set";
    case E::kKeyEmpty:
      return "sync: empty key on a record that is not a flushall";
    case E::kKeyOnFlushAll:
      return "sync: key on a flushall record";
    case E::kKeyPastMax:
      return "sync: key past key_bytes_max";
    case E::kValuePastMax:
      return "sync: value past value_bytes_max";
    case E::kTrailingBytes:
      return "sync: bytes after the end of the message";
    case E::kTruncated:
      return "sync: message ends early";
    case E::kEncoderMisuse:
      return "sync: encoder used out of order (add outside begin/finish, or begin twice)";
    case E::kBatchFields:
      return "sync: format 3 changes header with seq set or no section";
    case E::kSectionsPastMax:
      return "sync: section count past sections_max";
    case E::kSectionId:
      return "sync: first section differs from the one the header names";
    case E::kNotBatch:
      return "sync: not a format 3 changes message of this batch's origin and epoch";
  }
  return "sync: unknown error";
}

SyncError sync_error(SyncErrorCode code) { return {code, error_text(code)}; }

// "unknown format version N (this build reads 1 to 3)" for every byte N, built at compile time
// so the message is as static as the others.
constexpr std::string_view kFormatPrefix = "sync: unknown format version ";
constexpr std::string_view kFormatSuffix = " (this build reads 1 to 3)";
static_assert(kSyncFormatMin == 1 && kSyncFormat == 3,
              "kFormatSuffix names the versions this build reads");
constexpr size_t kFormatSlotBytes = kFormatPrefix.size() + 3 + kFormatSuffix.size();

struct FormatMessages {
  std::array<std::array<char, kFormatSlotBytes>, 256> text{};
  std::array<uint8_t, 256> size{};
};

constexpr FormatMessages make_format_messages() {
  FormatMessages m{};
  for (size_t v = 0; v < 256; ++v) {
    auto& t = m.text[v];
    size_t n = 0;
    for (char c : kFormatPrefix) t[n++] = c;
    if (v >= 100) t[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) t[n++] = static_cast<char>('0' + v / 10 % 10);
    t[n++] = static_cast<char>('0' + v % 10);
    for (char c : kFormatSuffix) t[n++] = c;
    m.size[v] = static_cast<uint8_t>(n);
  }
  return m;
}

constexpr FormatMessages kFormatMessages = make_format_messages();

SyncError format_error(uint8_t version) {
  return {SyncErrorCode::kUnknownFormat,
          {kFormatMessages.text[version].data(), kFormatMessages.size[version]}};
}

uint8_t byte_at(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }

bool known_format(uint8_t format) { return format >= kSyncFormatMin && format <= kSyncFormat; }

// The header rules, for a decoded header and for one about to be encoded alike.
SyncErrorCode check_header(const SyncHeader& h, const SyncLimits& limits) {
  if (!known_format(h.format)) return SyncErrorCode::kUnknownFormat;
  if (h.format == 1 && h.sent_at_us != 0) return SyncErrorCode::kEncoderMisuse;
  const uint64_t count = h.count;
  const uint64_t header_bytes = sync_header_bytes(h.format);
  if (h.kind == SyncKind::kHeartbeat) {
    if (h.partition != 0 || h.seq != 0) return SyncErrorCode::kHeartbeatFields;
    if (count > limits.partitions_max) return SyncErrorCode::kPartitionsPastMax;
    if (header_bytes + count * kSyncSeqBytes > limits.message_bytes_max) {
      return SyncErrorCode::kMessagePastMax;
    }
    return SyncErrorCode::kNone;
  }
  if (h.partition >= limits.partitions_max) return SyncErrorCode::kPartitionPastMax;
  if (h.format >= 3) {
    // A batch: count is its sections, each at least a section header.
    if (h.seq != 0 || count == 0) return SyncErrorCode::kBatchFields;
    if (count > limits.sections_max) return SyncErrorCode::kSectionsPastMax;
    if (header_bytes + count * kSyncSectionBytes > limits.message_bytes_max) {
      return SyncErrorCode::kMessagePastMax;
    }
    return SyncErrorCode::kNone;
  }
  if (h.seq == 0) return SyncErrorCode::kSeqZero;
  if (count > limits.records_max) return SyncErrorCode::kRecordsPastMax;
  // Even the smallest records would not fit.
  if (header_bytes + count * kSyncRecordBytesMin > limits.message_bytes_max) {
    return SyncErrorCode::kMessagePastMax;
  }
  return SyncErrorCode::kNone;
}

// The rules on a section (its place in the message is the decoder's to check).
SyncErrorCode check_section(const SyncSection& section, const SyncLimits& limits) {
  if (section.partition >= limits.partitions_max) return SyncErrorCode::kPartitionPastMax;
  if (section.seq == 0) return SyncErrorCode::kSeqZero;
  if (section.count > limits.records_max) return SyncErrorCode::kRecordsPastMax;
  return SyncErrorCode::kNone;
}

// The rules on a record's first two bytes.
SyncErrorCode check_op_flags(uint8_t op, uint8_t flags) {
  if (op < static_cast<uint8_t>(SyncOp::kSet) || op > static_cast<uint8_t>(SyncOp::kFlushAll)) {
    return SyncErrorCode::kUnknownOp;
  }
  if ((flags & ~(kFlagValue | kFlagExpire)) != 0) return SyncErrorCode::kReservedFlags;
  if ((flags & kFlagValue) != 0 && op != static_cast<uint8_t>(SyncOp::kSet)) {
    return SyncErrorCode::kValueOnNonSet;
  }
  return SyncErrorCode::kNone;
}

SyncErrorCode check_key(uint8_t op, uint64_t key_bytes, const SyncLimits& limits) {
  if (op == static_cast<uint8_t>(SyncOp::kFlushAll)) {
    if (key_bytes != 0) return SyncErrorCode::kKeyOnFlushAll;
  } else if (key_bytes == 0) {
    return SyncErrorCode::kKeyEmpty;
  }
  if (key_bytes > std::min<uint64_t>(limits.key_bytes_max, kU32Max)) {
    return SyncErrorCode::kKeyPastMax;
  }
  return SyncErrorCode::kNone;
}

SyncErrorCode check_value(uint64_t value_bytes, const SyncLimits& limits) {
  const bool past = value_bytes > std::min<uint64_t>(limits.value_bytes_max, kU32Max);
  return past ? SyncErrorCode::kValuePastMax : SyncErrorCode::kNone;
}

uint8_t record_flags(const SyncRecord& r) {
  return static_cast<uint8_t>((r.value ? kFlagValue : 0) | (r.expire_at_ms ? kFlagExpire : 0));
}

SyncErrorCode check_record(const SyncRecord& r, const SyncLimits& limits) {
  const auto op = static_cast<uint8_t>(r.op);
  SyncErrorCode code = check_op_flags(op, record_flags(r));
  if (code == SyncErrorCode::kNone) code = check_key(op, r.key.size(), limits);
  if (code == SyncErrorCode::kNone && r.value) code = check_value(r.value->size(), limits);
  return code;
}

void append_header(std::string* out, const SyncHeader& h) {
  out->push_back('S');
  out->push_back('Y');
  out->push_back(static_cast<char>(h.format));
  out->push_back(static_cast<char>(h.kind));
  append_le(out, h.origin);
  append_le(out, h.epoch);
  append_le(out, h.sender);
  append_le(out, h.partition);
  append_le(out, h.seq);
  append_le(out, h.count);
  if (h.format >= 2) append_le(out, h.sent_at_us);
}

void append_section(std::string* out, const SyncSection& section) {
  append_le(out, section.sender);
  append_le(out, section.partition);
  append_le(out, section.seq);
  append_le(out, section.count);
}

void append_record(std::string* out, const SyncRecord& r) {
  out->push_back(static_cast<char>(r.op));
  out->push_back(static_cast<char>(record_flags(r)));
  append_le(out, r.version);
  if (r.expire_at_ms) append_le(out, *r.expire_at_ms);
  append_le(out, static_cast<uint32_t>(r.key.size()));
  out->append(r.key);
  if (r.value) {
    append_le(out, static_cast<uint32_t>(r.value->size()));
    out->append(*r.value);
  }
}

// Decodes one envelope from `payload`; with a handler, reports what it decoded.
SyncError walk_message(std::string_view payload, const SyncLimits& limits, SyncHandler* handler) {
  SyncDecoder decoder(limits);
  std::string_view rest = payload;
  while (true) {
    const SyncStatus status = decoder.feed(rest);
    switch (status) {
      case SyncStatus::kError:
        return decoder.error();
      case SyncStatus::kNeedMore:
        return sync_error(SyncErrorCode::kTruncated);
      case SyncStatus::kDone:
        return rest.empty() ? SyncError{} : sync_error(SyncErrorCode::kTrailingBytes);
      case SyncStatus::kHeader:
        if (handler) {
          const SyncHeader& h = decoder.header();
          handler->on_header(h);
          // Formats 1 and 2: the message is one section.
          if (h.kind == SyncKind::kChanges && h.format < 3) {
            handler->on_section({h.sender, h.partition, h.seq, h.count});
          }
        }
        break;
      case SyncStatus::kSection:
        if (handler) handler->on_section(decoder.section());
        break;
      case SyncStatus::kRecord:
        if (handler) handler->on_record(decoder.record());
        break;
      case SyncStatus::kHeartbeat:
        if (handler) handler->on_heartbeat(decoder.seqs());
        break;
    }
    rest.remove_prefix(decoder.consumed());
  }
}

}  // namespace

std::string_view sync_limits_problem(const SyncLimits& limits) {
  if (limits.message_bytes_max <
      kSyncHeaderBytes + kSyncSectionBytes + kSyncRecordBytesMin + 1) {
    return "sync limits: message_bytes_max leaves no room for a record";
  }
  if (limits.records_max < 1 || limits.records_max > kU32Max) {
    return "sync limits: records_max must be 1..4294967295";
  }
  if (limits.partitions_max < 1 || limits.partitions_max > kPartitionsWireMax) {
    return "sync limits: partitions_max must be 1..65536 (a partition is a u16)";
  }
  if (limits.key_bytes_max < 1 || limits.key_bytes_max > kU32Max) {
    return "sync limits: key_bytes_max must be 1..4294967295";
  }
  if (limits.value_bytes_max > kU32Max) {
    return "sync limits: value_bytes_max must be at most 4294967295";
  }
  if (limits.sections_max < 1 || limits.sections_max > kU32Max) {
    return "sync limits: sections_max must be 1..4294967295";
  }
  if (kSyncHeaderBytes + uint64_t{limits.partitions_max} * kSyncSeqBytes >
      limits.message_bytes_max) {
    return "sync limits: a heartbeat for partitions_max partitions passes message_bytes_max";
  }
  return {};
}

size_t sync_record_bytes(const SyncRecord& r) {
  return kRecordFixedBytes + (r.expire_at_ms ? kExpireBytes : 0) + kLengthBytes + r.key.size() +
         (r.value ? kLengthBytes + r.value->size() : 0);
}

std::optional<SyncEnvelopeId> sync_peek_id(std::string_view payload) {
  if (payload.size() < kSyncIdBytes || payload[0] != 'S' || payload[1] != 'Y') return std::nullopt;
  const char* p = payload.data();
  SyncEnvelopeId id;
  id.format = byte_at(payload, kFormatAt);
  id.kind = byte_at(payload, kKindAt);
  id.origin = load_le<uint64_t>(p + kOriginAt);
  id.epoch = load_le<uint64_t>(p + kEpochAt);
  id.sender = load_le<uint16_t>(p + kSenderAt);
  id.partition = load_le<uint16_t>(p + kPartitionAt);
  return id;
}

uint64_t SyncSeqView::operator[](size_t partition) const {
  return load_le<uint64_t>(bytes_.data() + partition * kSyncSeqBytes);
}

SyncDecoder::SyncDecoder(SyncLimits limits) : limits_(limits) {}

void SyncDecoder::reset() {
  stage_ = Stage::kHeader;
  items_left_ = 0;
  sections_left_ = 0;
  section_ = {};
  message_bytes_ = 0;
  consumed_ = 0;
  header_ = {};
  record_ = {};
  seqs_ = {};
  error_ = {};
}

SyncStatus SyncDecoder::emit(SyncStatus status, size_t consumed) {
  consumed_ = consumed;
  message_bytes_ += consumed;
  return status;
}

SyncStatus SyncDecoder::fail(SyncError error) {
  stage_ = Stage::kFailed;
  error_ = error;
  return SyncStatus::kError;
}

SyncStatus SyncDecoder::feed(std::string_view input) {
  consumed_ = 0;
  record_ = {};
  seqs_ = {};
  switch (stage_) {
    case Stage::kHeader:
      return parse_header(input);
    case Stage::kSections:
      return parse_section(input);
    case Stage::kRecords:
      return parse_record(input);
    case Stage::kSeqs:
      return parse_seqs(input);
    case Stage::kEnd:
      stage_ = Stage::kHeader;
      message_bytes_ = 0;
      return SyncStatus::kDone;
    case Stage::kFailed:
      break;
  }
  return SyncStatus::kError;
}

SyncStatus SyncDecoder::parse_header(std::string_view in) {
  // The first four bytes are checked as they arrive: junk fails without waiting for a whole header.
  if ((!in.empty() && in[0] != 'S') || (in.size() > 1 && in[1] != 'Y')) {
    return fail(sync_error(SyncErrorCode::kBadMagic));
  }
  if (in.size() > kFormatAt && !known_format(byte_at(in, kFormatAt))) {
    return fail(format_error(byte_at(in, kFormatAt)));
  }
  if (in.size() > kKindAt && byte_at(in, kKindAt) != static_cast<uint8_t>(SyncKind::kChanges) &&
      byte_at(in, kKindAt) != static_cast<uint8_t>(SyncKind::kHeartbeat)) {
    return fail(sync_error(SyncErrorCode::kUnknownKind));
  }
  if (in.size() <= kFormatAt) return SyncStatus::kNeedMore;
  const uint8_t format = byte_at(in, kFormatAt);
  const size_t header_bytes = sync_header_bytes(format);
  if (in.size() < header_bytes) return SyncStatus::kNeedMore;
  const char* p = in.data();
  header_.format = format;
  header_.sent_at_us = format >= 2 ? load_le<uint64_t>(p + kSentAtAt) : 0;
  header_.kind = static_cast<SyncKind>(byte_at(in, kKindAt));
  header_.origin = load_le<uint64_t>(p + kOriginAt);
  header_.epoch = load_le<uint64_t>(p + kEpochAt);
  header_.sender = load_le<uint16_t>(p + kSenderAt);
  header_.partition = load_le<uint16_t>(p + kPartitionAt);
  header_.seq = load_le<uint64_t>(p + kSeqAt);
  header_.count = load_le<uint32_t>(p + kCountAt);
  const SyncErrorCode code = check_header(header_, limits_);
  if (code != SyncErrorCode::kNone) return fail(sync_error(code));
  message_bytes_ = 0;
  items_left_ = 0;
  sections_left_ = 0;
  if (header_.kind == SyncKind::kHeartbeat) {
    stage_ = Stage::kSeqs;
  } else if (format >= 3) {
    sections_left_ = header_.count;
    stage_ = Stage::kSections;
  } else {
    items_left_ = header_.count;
    stage_ = after_section();
  }
  return emit(SyncStatus::kHeader, header_bytes);
}

// Where a section (a format 1, 2 message) goes once its header is read or a record ends.
SyncDecoder::Stage SyncDecoder::after_section() const {
  if (items_left_ != 0) return Stage::kRecords;
  return sections_left_ != 0 ? Stage::kSections : Stage::kEnd;
}

SyncStatus SyncDecoder::parse_section(std::string_view in) {
  if (in.size() < kSyncSectionBytes) return SyncStatus::kNeedMore;
  const char* p = in.data();
  SyncSection section;
  section.sender = load_le<uint16_t>(p + kSectionSenderAt);
  section.partition = load_le<uint16_t>(p + kSectionPartitionAt);
  section.seq = load_le<uint64_t>(p + kSectionSeqAt);
  section.count = load_le<uint32_t>(p + kSectionCountAt);
  // The first section is the one the header names (what an older build reads there).
  if (sections_left_ == header_.count &&
      (section.sender != header_.sender || section.partition != header_.partition)) {
    return fail(sync_error(SyncErrorCode::kSectionId));
  }
  const SyncErrorCode code = check_section(section, limits_);
  if (code != SyncErrorCode::kNone) return fail(sync_error(code));
  // The message at its smallest from here: this section's smallest records, then the smallest
  // sections after it.
  const uint64_t smallest = kSyncSectionBytes + uint64_t{section.count} * kSyncRecordBytesMin +
                            uint64_t{sections_left_ - 1} * kSyncSectionBytes;
  if (message_bytes_ + smallest > limits_.message_bytes_max) {
    return fail(sync_error(SyncErrorCode::kMessagePastMax));
  }
  section_ = section;
  --sections_left_;
  items_left_ = section.count;
  stage_ = after_section();
  return emit(SyncStatus::kSection, kSyncSectionBytes);
}

SyncStatus SyncDecoder::parse_record(std::string_view in) {
  if (in.size() < 2) return SyncStatus::kNeedMore;
  const uint8_t op = byte_at(in, 0);
  const uint8_t flags = byte_at(in, 1);
  SyncErrorCode code = check_op_flags(op, flags);
  if (code != SyncErrorCode::kNone) return fail(sync_error(code));
  const bool has_value = (flags & kFlagValue) != 0;
  const bool has_expire = (flags & kFlagExpire) != 0;
  const uint64_t key_length_at = kRecordFixedBytes + (has_expire ? kExpireBytes : 0);
  if (in.size() < key_length_at + kLengthBytes) return SyncStatus::kNeedMore;
  const uint64_t key_bytes = load_le<uint32_t>(in.data() + key_length_at);
  code = check_key(op, key_bytes, limits_);
  if (code != SyncErrorCode::kNone) return fail(sync_error(code));
  // The message at its smallest from here: this record as far as it is known, and the
  // smallest possible records and sections after it.
  const uint64_t rest_min = uint64_t{items_left_ - 1} * kSyncRecordBytesMin +
                            uint64_t{sections_left_} * kSyncSectionBytes;
  const auto past_max = [&](uint64_t record_bytes) {
    return message_bytes_ + record_bytes + rest_min > limits_.message_bytes_max;
  };
  const uint64_t key_end = key_length_at + kLengthBytes + key_bytes;
  if (past_max(key_end + (has_value ? kLengthBytes : 0))) {
    return fail(sync_error(SyncErrorCode::kMessagePastMax));
  }
  uint64_t end = key_end;
  if (has_value) {
    if (in.size() < key_end + kLengthBytes) return SyncStatus::kNeedMore;
    const uint64_t value_bytes = load_le<uint32_t>(in.data() + key_end);
    code = check_value(value_bytes, limits_);
    if (code != SyncErrorCode::kNone) return fail(sync_error(code));
    end = key_end + kLengthBytes + value_bytes;
    if (past_max(end)) return fail(sync_error(SyncErrorCode::kMessagePastMax));
  }
  if (in.size() < end) return SyncStatus::kNeedMore;

  record_.op = static_cast<SyncOp>(op);
  record_.version = load_le<uint64_t>(in.data() + kVersionAt);
  if (has_expire) record_.expire_at_ms = load_le<int64_t>(in.data() + kRecordFixedBytes);
  record_.key = in.substr(key_length_at + kLengthBytes, key_bytes);
  if (has_value) record_.value = in.substr(key_end + kLengthBytes, end - key_end - kLengthBytes);
  --items_left_;
  stage_ = after_section();
  return emit(SyncStatus::kRecord, end);
}

SyncStatus SyncDecoder::parse_seqs(std::string_view in) {
  const size_t bytes = size_t{header_.count} * kSyncSeqBytes;
  if (in.size() < bytes) return SyncStatus::kNeedMore;
  seqs_ = SyncSeqView(in.substr(0, bytes));
  stage_ = Stage::kEnd;
  return emit(SyncStatus::kHeartbeat, bytes);
}

SyncError decode_message(std::string_view payload, const SyncLimits& limits, SyncHandler& handler) {
  // Validate first, so the handler never sees part of a message that turns out to be bad.
  const SyncError error = walk_message(payload, limits, nullptr);
  if (!error.ok()) return error;
  return walk_message(payload, limits, &handler);
}

SyncAddStatus SyncAppender::reject(SyncError error) {
  error_ = error;
  return SyncAddStatus::kRejected;
}

std::string_view SyncAppender::close(size_t count_at, size_t count) {
  if (!open_) return {};
  open_ = false;
  store_le(out_->data() + start_ + count_at, static_cast<uint32_t>(count));
  return std::string_view(*out_).substr(start_);
}

SyncEncoder::SyncEncoder(std::string* out, SyncLimits limits) : SyncAppender(out, limits) {}

SyncError SyncEncoder::begin(const SyncHeader& header) {
  if (open_) return sync_error(SyncErrorCode::kEncoderMisuse);
  SyncHeader h = header;
  h.kind = SyncKind::kChanges;
  h.count = 0;
  start_ = out_->size();
  if (h.format >= 3) {
    // One section: the header names it (seq 0, one section), the section numbers it.
    const SyncSection section{h.sender, h.partition, h.seq, 0};
    h.seq = 0;
    h.count = 1;
    SyncErrorCode code = check_header(h, limits_);
    if (code == SyncErrorCode::kNone) code = check_section(section, limits_);
    if (code != SyncErrorCode::kNone) return sync_error(code);
    header_bytes_ = kSyncHeaderBytes + kSyncSectionBytes;
    count_at_ = kSyncHeaderBytes + kSectionCountAt;
    append_header(out_, h);
    append_section(out_, section);
  } else {
    const SyncErrorCode code = check_header(h, limits_);
    if (code != SyncErrorCode::kNone) return sync_error(code);
    header_bytes_ = sync_header_bytes(h.format);
    count_at_ = kCountAt;
    append_header(out_, h);
  }
  open_ = true;
  records_ = 0;
  return {};
}

SyncAddStatus SyncEncoder::add(const SyncRecord& record) {
  if (!open_) return reject(sync_error(SyncErrorCode::kEncoderMisuse));
  const SyncErrorCode code = check_record(record, limits_);
  if (code != SyncErrorCode::kNone) return reject(sync_error(code));
  // A record no message could carry is refused rather than reported as "full": a new message
  // would not take it either.
  if (limits_.records_max == 0) return reject(sync_error(SyncErrorCode::kRecordsPastMax));
  const uint64_t bytes = sync_record_bytes(record);
  if (header_bytes_ + bytes > limits_.message_bytes_max) {
    return reject(sync_error(SyncErrorCode::kMessagePastMax));
  }
  if (records_ + 1 > std::min<uint64_t>(limits_.records_max, kU32Max) ||
      (out_->size() - start_) + bytes > limits_.message_bytes_max) {
    return SyncAddStatus::kFull;
  }
  append_record(out_, record);
  ++records_;
  return SyncAddStatus::kAdded;
}

std::string_view SyncEncoder::finish() { return close(count_at_, records_); }

void SyncEncoder::abandon() {
  if (!open_) return;
  open_ = false;
  out_->resize(start_);
}

SyncBatchEncoder::SyncBatchEncoder(std::string* out, SyncLimits limits)
    : SyncAppender(out, limits) {}

SyncAddStatus SyncBatchEncoder::add(std::string_view message) {
  const std::optional<SyncEnvelopeId> id = sync_peek_id(message);
  if (!id || id->format != 3 || id->kind != static_cast<uint8_t>(SyncKind::kChanges) ||
      message.size() < kSyncHeaderBytes + kSyncSectionBytes || (open_ && (id->origin != origin_ ||
                                                                          id->epoch != epoch_))) {
    return reject(sync_error(SyncErrorCode::kNotBatch));
  }
  const uint64_t sections = load_le<uint32_t>(message.data() + kCountAt);
  if (sections == 0) return reject(sync_error(SyncErrorCode::kBatchFields));
  if (sections > limits_.sections_max) return reject(sync_error(SyncErrorCode::kSectionsPastMax));
  if (message.size() > limits_.message_bytes_max) {
    return reject(sync_error(SyncErrorCode::kMessagePastMax));
  }
  if (!open_) {
    start_ = out_->size();
    origin_ = id->origin;
    epoch_ = id->epoch;
    out_->append(message);
    open_ = true;
    sections_ = sections;
    return SyncAddStatus::kAdded;
  }
  const std::string_view body = message.substr(kSyncHeaderBytes);
  if (sections_ + sections > limits_.sections_max ||
      (out_->size() - start_) + body.size() > limits_.message_bytes_max) {
    return SyncAddStatus::kFull;
  }
  out_->append(body);
  sections_ += sections;
  return SyncAddStatus::kAdded;
}

std::string_view SyncBatchEncoder::finish() { return close(kCountAt, sections_); }

SyncError encode_heartbeat(std::string* out, const SyncHeader& from,
                           std::span<const uint64_t> last_seq, const SyncLimits& limits) {
  if (last_seq.size() > kU32Max) return sync_error(SyncErrorCode::kPartitionsPastMax);
  SyncHeader h = from;
  h.kind = SyncKind::kHeartbeat;
  h.partition = 0;
  h.seq = 0;
  h.count = static_cast<uint32_t>(last_seq.size());
  const SyncErrorCode code = check_header(h, limits);
  if (code != SyncErrorCode::kNone) return sync_error(code);
  out->reserve(out->size() + sync_header_bytes(h.format) + last_seq.size() * kSyncSeqBytes);
  append_header(out, h);
  for (uint64_t seq : last_seq) append_le(out, seq);
  return {};
}

}  // namespace strata::protocol
