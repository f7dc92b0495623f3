// The sync event codec: what strata instances tell each other about key changes over core NATS.
// One NATS message is one envelope: a fixed header, then change records (in sections, format
// 3) or heartbeat seqs.
// Pure: no I/O, clocks, threads or globals; the decoder never allocates (views into the input).
//
// Wire format 3 (formats 1 and 2 still decode): little-endian, fixed-width integers, no padding.
//
//   header, 44 bytes (format 1: 36, without sent_at_us)
//     u8  'S', u8 'Y'   magic
//     u8  format        3 (2 and 1 from older builds)
//     u8  kind          1 = changes, 2 = heartbeat
//     u64 origin        hash of the sending instance's name (stable across restarts)
//     u64 epoch         random per start of the sending instance
//     u16 sender        worker index inside the instance: each is its own gapless seq space
//                       (format 3 changes: the first section's)
//     u16 partition     formats 1, 2 changes: the key-hash partition of every record;
//                       format 3 changes: the first section's; heartbeat: 0
//     u64 seq           formats 1, 2 changes: this message's number in (origin, epoch, sender,
//                       partition), from 1, gapless; format 3 changes and heartbeat: 0
//     u32 count         formats 1, 2 changes: records that follow; format 3 changes: sections
//                       that follow (1 and up); heartbeat: u64s that follow (partitions)
//     u64 sent_at_us    formats 2, 3: the sender's wall clock when it made the message (format
//                       3 changes: its first section; us since the Unix epoch; 0 = unknown):
//                       receivers measure how late their link is
//   section (format 3 changes), 16 bytes, then its records: one sender's changes of one
//   partition, numbered as a whole format 1 or 2 message was; a message carries the sections
//   of several workers and partitions (a batch), each numbered in its own space, so a receiver
//   still sees a gap per (origin, epoch, sender, partition) exactly
//     u16 sender        worker index
//     u16 partition     the key-hash partition of every record of the section
//     u64 seq           the section's number in (origin, epoch, sender, partition), from 1
//     u32 count         records that follow
//   changes record, 14 bytes and up
//     u8  op            1 set, 2 delete, 3 invalidate, 4 flushall
//     u8  flags         bit0: has value, bit1: has expire; other bits 0
//     u64 version       strata's hybrid logical clock of the change; 0 = unknown
//     [i64 expire_at_ms]           if bit1 (absolute, ms since the Unix epoch)
//     u32 key length, key bytes    flushall: length 0; every other op: 1 and up
//     [u32 value length, value]    if bit0; only op set may carry one
//   heartbeat body
//     count x u64       the last seq the sender published for partitions 0..count-1
//
// A message is exactly one envelope: nothing may follow its last record or seq.
//
// Versions: every format keeps format 1's first 24 bytes (magic, format, kind, origin, epoch,
// sender, partition) where they are, so a receiver that cannot read a newer format still knows
// whose message it was and which partition it changed (sync_peek_id), and drops that partition
// instead of guessing at the rest. A format 3 batch names its first section there; the numbers
// its other sections took show up as gaps in the next heartbeat, which a format 3 build still
// writes in format 2 (the heartbeat did not change), so a format 2 peer drops exactly the
// partitions it could not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace strata::protocol {

inline constexpr uint8_t kSyncFormat = 3;     // what this build writes changes in
inline constexpr uint8_t kSyncHeartbeatFormat = 2;  // ... and heartbeats (see "Versions")
inline constexpr uint8_t kSyncFormatMin = 1;  // the oldest it reads
inline constexpr size_t kSyncHeaderBytes = 44;    // formats 2 and 3's header
inline constexpr size_t kSyncHeaderBytesV1 = 36;  // format 1's
inline constexpr size_t kSyncIdBytes = 24;        // the prefix every format keeps
inline constexpr size_t kSyncSectionBytes = 16;   // format 3's section header
inline constexpr size_t kSyncRecordBytesMin = 14;     // op, flags, version, key length
inline constexpr size_t kSyncRecordOverheadMax = 26;  // ... plus expire and value length
inline constexpr size_t kSyncSeqBytes = 8;

// NATS's default max_payload: a bigger message is refused by the server.
inline constexpr size_t kSyncMessageBytesMax = 1024 * 1024;
// Keys and values may be as large as one default-sized message carries in a record. L1 allows
// far larger ones (512 MiB), but only what fits a message reaches peers, and any lower key cap
// would leave keys that peers can never hear about. (A set whose value does not fit can still
// go out as an invalidate; a key has no such fallback.)
inline constexpr size_t kSyncFieldBytesMax =
    kSyncMessageBytesMax - kSyncHeaderBytes - kSyncSectionBytes - kSyncRecordOverheadMax;
inline constexpr size_t kSyncRecordsMax = 4096;
inline constexpr size_t kSyncPartitionsMax = 4096;
inline constexpr size_t kSyncSectionsMax = 4096;

struct SyncLimits {
  size_t message_bytes_max = kSyncMessageBytesMax;  // header and body together
  size_t records_max = kSyncRecordsMax;  // per changes message (format 3: per section)
  size_t key_bytes_max = kSyncFieldBytesMax;
  size_t value_bytes_max = kSyncFieldBytesMax;
  size_t partitions_max = kSyncPartitionsMax;  // partition < this; heartbeat count <= this
  size_t sections_max = kSyncSectionsMax;      // per format 3 changes message
};

// Why a set of limits cannot work (for start-up checks), or empty when it can: every field
// fits its wire width, a record fits a message, a full heartbeat fits a message.
std::string_view sync_limits_problem(const SyncLimits& limits);

enum class SyncKind : uint8_t { kChanges = 1, kHeartbeat = 2 };

enum class SyncOp : uint8_t {
  kSet = 1,         // the key now holds `value` (when carried) at `version`
  kDelete = 2,      // the key was deleted
  kInvalidate = 3,  // the key changed; read its new value from a tier
  kFlushAll = 4,    // every key changed; the key is empty
};

struct SyncHeader {
  SyncKind kind = SyncKind::kChanges;
  uint64_t origin = 0;
  uint64_t epoch = 0;
  uint16_t sender = 0;
  uint16_t partition = 0;
  uint64_t seq = 0;
  uint32_t count = 0;
  uint8_t format = kSyncFormat;  // the encoder writes this format (1 to 3)
  uint64_t sent_at_us = 0;       // formats 2, 3; 0 = unknown (and always 0 in format 1)
  bool operator==(const SyncHeader&) const = default;
};

// One sender's changes of one partition, numbered: a format 3 section, or the whole of a
// format 1 or 2 changes message (its header's sender, partition, seq and count).
struct SyncSection {
  uint16_t sender = 0;
  uint16_t partition = 0;
  uint64_t seq = 0;
  uint32_t count = 0;  // records
  bool operator==(const SyncSection&) const = default;
};

// Bytes of a header in `format` (kSyncFormatMin..kSyncFormat).
constexpr size_t sync_header_bytes(uint8_t format) {
  return format == 1 ? kSyncHeaderBytesV1 : kSyncHeaderBytes;
}

// Whose message a payload is and what it changed, read from the prefix every format keeps
// (see "Versions"): for a message of a format this build cannot read. Empty when the payload
// is shorter than the prefix or not a sync message.
struct SyncEnvelopeId {
  uint8_t format = 0;
  uint8_t kind = 0;  // as on the wire: a newer format may have kinds this build does not know
  uint64_t origin = 0;
  uint64_t epoch = 0;
  uint16_t sender = 0;
  uint16_t partition = 0;
};
std::optional<SyncEnvelopeId> sync_peek_id(std::string_view payload);

// Decoded, the views point into the bytes given to feed(); encoded, into the caller's.
struct SyncRecord {
  SyncOp op = SyncOp::kInvalidate;
  uint64_t version = 0;
  std::optional<int64_t> expire_at_ms;  // flags bit1
  std::string_view key;
  std::optional<std::string_view> value;  // flags bit0; kSet only
  bool operator==(const SyncRecord&) const = default;
};

// Bytes `record` takes on the wire.
size_t sync_record_bytes(const SyncRecord& record);

enum class SyncErrorCode : uint8_t {
  kNone,
  kBadMagic,
  kUnknownFormat,  // the message names the version (sync_peek_id still reads its prefix)
  kUnknownKind,
  kHeartbeatFields,  // a heartbeat with partition or seq set
  kSeqZero,          // a changes message with seq 0
  kPartitionPastMax,
  kRecordsPastMax,
  kPartitionsPastMax,  // a heartbeat's count
  kMessagePastMax,
  kUnknownOp,
  kReservedFlags,
  kValueOnNonSet,
  kKeyEmpty,  // on an op other than flushall
  kKeyOnFlushAll,
  kKeyPastMax,
  kValuePastMax,
  kTrailingBytes,  // decode_message: bytes after the envelope
  kTruncated,      // decode_message: the payload ends inside the envelope
  kEncoderMisuse,  // add() outside begin() / finish(), begin() twice
  kBatchFields,    // a format 3 changes header with seq set or no section
  kSectionsPastMax,  // a format 3 changes header's count past sections_max
  kSectionId,        // the first section is not the one the header names
  kNotBatch,         // SyncBatchEncoder: not a format 3 changes message of the batch's origin
};

// A code and a static message: copying one never allocates; the message never dangles.
struct SyncError {
  SyncErrorCode code = SyncErrorCode::kNone;
  std::string_view message;
  bool ok() const { return code == SyncErrorCode::kNone; }
};

// The heartbeat's seqs, read from the wire bytes in place (they need not be aligned).
class SyncSeqView {
 public:
  SyncSeqView() = default;
  explicit SyncSeqView(std::string_view bytes) : bytes_(bytes) {}
  size_t size() const { return bytes_.size() / kSyncSeqBytes; }
  uint64_t operator[](size_t partition) const;

 private:
  std::string_view bytes_;
};

enum class SyncStatus : uint8_t {
  kHeader,     // header() is valid; consumed() == sync_header_bytes(header().format)
  kSection,    // format 3: section() is valid; consumed() == kSyncSectionBytes
  kRecord,     // record() is valid; consumed() bytes were the record
  kHeartbeat,  // seqs() is valid; consumed() bytes were the seqs
  kDone,       // the message is complete; consumed() == 0; the next feed() starts a new one
  kNeedMore,   // the input ends inside the next item; consumed() == 0
  kError,      // error() says what; every feed() returns kError until reset()
};

// Usage, as with RespParser: the caller keeps the unconsumed bytes contiguous and always passes
// them from the start of the next item, dropping consumed() bytes after each status other than
// kNeedMore. The decoder keeps no bytes of its own (no carry), only which item comes next, and
// each feed() looks at a fixed number of length fields, so byte-at-a-time input costs O(n).
// Rules are checked as soon as the bytes they need arrive (junk fails on its first byte, a
// record on its op and flags, a length on its length field; message_bytes_max counts the
// smallest records still to come), in an order that depends only on the bytes, so any split of
// the input gives the same result.
// Envelopes may follow each other in one stream; decode_message() insists on exactly one.
class SyncDecoder {
 public:
  explicit SyncDecoder(SyncLimits limits = {});

  SyncStatus feed(std::string_view input);

  size_t consumed() const { return consumed_; }
  // The last header decoded (a copy: valid after the input changes).
  const SyncHeader& header() const { return header_; }
  // The last format 3 section decoded (a copy).
  const SyncSection& section() const { return section_; }
  // Valid after kRecord / kHeartbeat until the input buffer changes or feed() is called again.
  const SyncRecord& record() const { return record_; }
  SyncSeqView seqs() const { return seqs_; }
  const SyncError& error() const { return error_; }
  void reset();

 private:
  enum class Stage : uint8_t { kHeader, kSections, kRecords, kSeqs, kEnd, kFailed };

  SyncStatus parse_header(std::string_view input);
  SyncStatus parse_section(std::string_view input);
  SyncStatus parse_record(std::string_view input);
  Stage after_section() const;
  SyncStatus parse_seqs(std::string_view input);
  SyncStatus emit(SyncStatus status, size_t consumed);
  SyncStatus fail(SyncError error);

  SyncLimits limits_;
  Stage stage_ = Stage::kHeader;
  uint32_t items_left_ = 0;     // records still to come in this section (message)
  uint32_t sections_left_ = 0;  // format 3: sections still to come in this message
  size_t message_bytes_ = 0;  // bytes of this message consumed so far
  size_t consumed_ = 0;
  SyncHeader header_;
  SyncSection section_;
  SyncRecord record_;
  SyncSeqView seqs_;
  SyncError error_;
};

// The common case, a whole NATS payload holding one envelope. The handler runs only for a
// message that decoded whole (all or nothing): header, then each section (a format 1 or 2
// changes message is one, from its header) followed by its records, or the seqs.
class SyncHandler {
 public:
  virtual void on_header(const SyncHeader& header) = 0;
  virtual void on_section(const SyncSection& section) = 0;
  virtual void on_record(const SyncRecord& record) = 0;
  virtual void on_heartbeat(SyncSeqView seqs) = 0;

 protected:
  ~SyncHandler() = default;
};
SyncError decode_message(std::string_view payload, const SyncLimits& limits, SyncHandler& handler);

enum class SyncAddStatus : uint8_t {
  kAdded,
  kFull,      // it would pass records_max or message_bytes_max: finish(), begin() seq + 1, retry
  kRejected,  // no message could carry it (error() says why); a set too big for its value
              // goes out as an invalidate without one, so peers read the next tier
};

// What both encoders below share: the caller's string, the limits, the open message, and why
// the last add() was refused.
class SyncAppender {
 public:
  bool open() const { return open_; }
  const SyncError& error() const { return error_; }

 protected:
  SyncAppender(std::string* out, SyncLimits limits) : out_(out), limits_(limits) {}
  SyncAddStatus reject(SyncError error);
  // Closes the open message, setting the u32 `count_at` bytes into it; returns its bytes (a
  // view into the caller's string), or nothing when none is open.
  std::string_view close(size_t count_at, size_t count);

  std::string* out_;
  SyncLimits limits_;
  bool open_ = false;
  size_t start_ = 0;  // where the open message begins in *out_
  SyncError error_;
};

// Appends changes messages to the caller's string (never clears it; no other allocation):
// begin(header), add(record)..., finish(). Never emits what SyncDecoder with the same limits
// would refuse, so a record is refused up front rather than sent and dropped by a peer.
// Format 3 (the default): a message of one section, `header`'s sender, partition and seq;
// SyncBatchEncoder joins such messages into one.
class SyncEncoder : public SyncAppender {
 public:
  explicit SyncEncoder(std::string* out, SyncLimits limits = {});

  // Writes the header of a changes message: kind and count are the encoder's, the rest is
  // `header`'s (seq >= 1, partition < partitions_max, a format this build writes or reads).
  // Nothing is written on error.
  SyncError begin(const SyncHeader& header);
  SyncAddStatus add(const SyncRecord& record);
  // Patches the count; returns the message's bytes (a view into the caller's string).
  std::string_view finish();
  // Takes the open message back out of the string (e.g. when no record was added).
  void abandon();

  size_t records() const { return records_; }

 private:
  size_t header_bytes_ = kSyncHeaderBytes;  // the open message's, with its section header
  size_t count_at_ = 0;  // where its record count is, from start_
  size_t records_ = 0;
};

// Joins format 3 changes messages of one instance (origin and epoch) into one, appended to the
// caller's string: their sections in order under the first one's header, the count summed (a
// batch of batches is a batch). The bus sends every worker's and partition's changes waiting
// at once as one NATS message this way. It reads the headers of what it is given, not their
// sections: give it SyncEncoder's messages, made with the same limits.
class SyncBatchEncoder : public SyncAppender {
 public:
  explicit SyncBatchEncoder(std::string* out, SyncLimits limits = {});

  // kFull: the batch would pass message_bytes_max or sections_max (finish() it, add again);
  // kRejected (error()): not a whole format 3 changes message of the batch's origin and epoch,
  // or one that no batch could carry.
  SyncAddStatus add(std::string_view message);
  // Patches the count; returns the batch's bytes (a view into the caller's string), or
  // nothing when nothing was added.
  std::string_view finish();

  size_t sections() const { return sections_; }

 private:
  size_t sections_ = 0;
  uint64_t origin_ = 0;
  uint64_t epoch_ = 0;
};

// Appends one heartbeat: kind 2, partition 0, seq 0, count = last_seq.size(); origin, epoch,
// sender, format and sent_at_us from `from` (formats 2 and 3 write the same heartbeat; this
// build sends kSyncHeartbeatFormat). Refuses more than partitions_max seqs or a message past
// the limit.
SyncError encode_heartbeat(std::string* out, const SyncHeader& from,
                           std::span<const uint64_t> last_seq, const SyncLimits& limits = {});

}  // namespace strata::protocol
