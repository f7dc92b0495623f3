// PostgreSQL logical replication as a changefeed reads it: the streaming replication messages a
// walsender sends inside CopyData (XLogData, keepalive), the standby status update sent back,
// and the pgoutput plugin's messages, protocol version 1 (PostgreSQL 10 and up; what
// START_REPLICATION ... LOGICAL ... (proto_version '1', publication_names '...') asks for).
// Pure: no I/O, clocks, threads or globals; decoding never allocates (views into the input).
//
// Every integer is big-endian. Times are i64 microseconds since 2000-01-01 00:00 UTC
// (PostgreSQL's epoch; see pg_epoch_us_from_unix_us). LSNs are u64 WAL positions.
//
// Streaming replication, one CopyData payload each:
//   XLogData 'w'         u64 wal_start, u64 wal_end, i64 send_time, then one pgoutput message
//   keepalive 'k'        u64 wal_end, i64 send_time, u8 reply_requested (0 or 1)
//   standby status 'r'   u64 write_lsn, u64 flush_lsn, u64 apply_lsn, i64 send_time,
//                        u8 reply_requested (we send this one)
//
// pgoutput, proto_version 1 (a cstring is bytes up to a NUL; a namespace of "" means
// pg_catalog):
//   'B' begin      u64 final_lsn (not 0), i64 commit_time, u32 xid
//   'C' commit     u8 flags (0), u64 commit_lsn, u64 end_lsn, i64 commit_time
//   'O' origin     u64 commit_lsn at the origin, cstring origin name
//   'R' relation   u32 relid, cstring namespace, cstring name, u8 replica identity
//                  ('d' default, 'n' nothing, 'f' full, 'i' index), u16 ncols, then per
//                  column: u8 flags (bit 0: part of the key), cstring name, u32 type oid,
//                  i32 type modifier
//   'Y' type       u32 oid, cstring namespace, cstring name
//   'I' insert     u32 relid, 'N', TupleData (the new row)
//   'U' update     u32 relid, ['K' old key's TupleData | 'O' old row's TupleData],
//                  'N', TupleData (the new row)
//   'D' delete     u32 relid, 'K' or 'O', TupleData (the old key or the old row)
//   'T' truncate   u32 nrelations, u8 options (bit 0 CASCADE, bit 1 RESTART IDENTITY),
//                  nrelations x u32 relid
//   'M' message    u8 flags (bit 0: transactional), u64 lsn, cstring prefix, i32 length,
//                  length bytes (pg_logical_emit_message, with the 'messages' option)
//   TupleData      u16 ncols, then per column a kind: 'n' null, 'u' unchanged TOASTed value
//                  (not sent), 't' text (i32 length, bytes), 'b' binary (the same; only with
//                  the 'binary' option)
// Streaming ('S', 'E', 'c', 'A': proto_version 2) and two-phase ('b', 'P', 'K', 'r', 'p':
// proto_version 3) messages never come at version 1 and are refused by their own codes.
//
// Validation: decode_pgoutput checks the whole message in one pass (every field's bounds, every
// column's kind and length, every cstring's NUL, the limits, nothing after the last field), so
// walking a decoded message's columns afterwards cannot fail: the views below are made only by
// the decoder, over bytes it has validated. Every rule is its own PgErrorCode with a static
// message; a message cut anywhere short of its end is kTruncated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace strata::protocol {

inline constexpr size_t kPgXLogDataHeaderBytes = 25;  // 'w', wal_start, wal_end, send_time
inline constexpr size_t kPgKeepaliveBytes = 18;       // 'k', wal_end, send_time, reply flag
inline constexpr size_t kPgStandbyStatusBytes = 34;   // 'r', three LSNs, send_time, reply flag

// PostgreSQL's MaxTupleAttributeNumber: no row, so no tuple or relation, has more columns.
inline constexpr size_t kPgColumnsMax = 1664;
// NAMEDATALEN is 64 (63 bytes and the NUL), but a build may raise it, and a logical message's
// prefix is any text: the default is lenient. Counted without the NUL.
inline constexpr size_t kPgCstringBytesMax = 1024;
// A varlena holds at most 1 GiB: no column value or logical message content is larger.
inline constexpr size_t kPgValueBytesMax = size_t{1} << 30;
// pgoutput sends one truncate per TRUNCATE statement, listing every table it truncated.
inline constexpr size_t kPgTruncateRelationsMax = 65536;
// A largest value and the fields around it. (PostgreSQL's output buffer stops at 1 GiB, so a
// real message stays below.)
inline constexpr size_t kPgMessageBytesMax = kPgValueBytesMax + 64 * 1024;

struct PgoutLimits {
  size_t message_bytes_max = kPgMessageBytesMax;  // a CopyData payload or a pgoutput message
  size_t columns_max = kPgColumnsMax;             // per TupleData and per relation
  size_t cstring_bytes_max = kPgCstringBytesMax;  // every name, and a message's prefix
  size_t value_bytes_max = kPgValueBytesMax;      // a column value or a message's content
  size_t truncate_relations_max = kPgTruncateRelationsMax;
};

// Why a set of limits cannot work (for start-up checks), or empty when it can: a message must
// hold at least a keepalive, a PostgreSQL identifier (63 bytes) must fit, and a row must be
// allowed a column.
std::string_view pgout_limits_problem(const PgoutLimits& limits);

enum class PgErrorCode : uint8_t {
  kNone,
  kTruncated,           // the input ends inside a field
  kTrailingBytes,       // bytes after the message's last field
  kMessagePastMax,      // the input is longer than message_bytes_max
  kUnknownReplMessage,  // a CopyData payload that is neither XLogData nor a keepalive
  kBadReplyRequested,   // a keepalive's reply_requested other than 0 or 1
  kUnknownMessage,      // a pgoutput message type this codec does not know
  kStreamMessage,       // 'S', 'E', 'c', 'A': streaming of large transactions (version 2)
  kTwoPhaseMessage,     // 'b', 'P', 'K', 'r', 'p': two-phase commit (version 3)
  kBeginLsnZero,        // a begin without its final_lsn (PostgreSQL's reader refuses it too)
  kCommitFlags,         // a commit's flags other than 0
  kBadReplicaIdentity,  // a relation's replica identity other than d, n, f, i
  kColumnFlags,         // a relation column's flags with bits other than bit 0
  kColumnsPastMax,      // a TupleData's or a relation's ncols past columns_max
  kCstringPastMax,      // no NUL within cstring_bytes_max + 1 bytes
  kInsertMarker,        // an insert without 'N' before its tuple
  kUpdateMarker,        // an update with other than 'K', 'O' or 'N' first, or no 'N' after
  kDeleteMarker,        // a delete with other than 'K' or 'O' before its tuple
  kBadColumnKind,       // a TupleData column kind other than n, u, t, b
  kNegativeLength,      // a column value's or a message content's i32 length below 0
  kValuePastMax,        // a column value or message content past value_bytes_max
  kTruncateOptions,     // a truncate's options with bits other than 0 and 1
  kTruncateRelationsPastMax,
  kMessageFlags,  // a logical message's flags with bits other than bit 0
};

// A code, a static message and where in the input the rule broke (the first byte of the field
// that broke it; for kTruncated, of the field that did not fit): copying one never allocates.
struct PgError {
  PgErrorCode code = PgErrorCode::kNone;
  std::string_view message;
  size_t offset = 0;
  bool ok() const { return code == PgErrorCode::kNone; }
  bool operator==(const PgError&) const = default;
};
PgError pg_error(PgErrorCode code, size_t offset = 0);

// ---------------------------------------------------------------- streaming replication

enum class ReplKind : uint8_t { kXLogData = 'w', kKeepalive = 'k' };

struct ReplMessage {
  ReplKind kind = ReplKind::kKeepalive;
  uint64_t wal_start = 0;        // XLogData: where `data`'s change is in the WAL
  uint64_t wal_end = 0;          // the server's current end of WAL
  int64_t send_time = 0;         // us since 2000-01-01
  bool reply_requested = false;  // keepalive: answer with a standby status update now
  std::string_view data;         // XLogData: one pgoutput message (decode_pgoutput)
};

// Decodes one CopyData payload from the walsender. `out` is overwritten only on success.
PgError decode_repl_message(std::string_view payload, ReplMessage* out,
                            const PgoutLimits& limits = {});

struct StandbyStatus {
  uint64_t write_lsn = 0;  // received and written
  uint64_t flush_lsn = 0;  // durable here: the slot may drop WAL before it
  uint64_t apply_lsn = 0;  // applied
  int64_t send_time = 0;   // us since 2000-01-01
  bool reply_requested = false;
};

// Appends the 34 bytes of a standby status update (the CopyData payload; framing it is the
// connection's, e.g. PQputCopyData).
void append_standby_status(std::string* out, const StandbyStatus& status);

// PostgreSQL's epoch is 2000-01-01, 946684800 s after the Unix epoch. The ends of int64
// (PostgreSQL's -infinity and infinity) map to themselves; other values that would pass an end
// saturate there instead of overflowing.
inline constexpr int64_t kPgEpochUnixSeconds = 946684800;
int64_t pg_epoch_us_from_unix_us(int64_t unix_us);
int64_t unix_us_from_pg_epoch_us(int64_t pg_us);

// An LSN as PostgreSQL writes it: the high and low 32 bits in upper-case hex without leading
// zeros, separated by '/' ("16/B374D848", "0/0").
struct PgLsnText {
  std::array<char, 17> bytes{};  // 8 + '/' + 8
  uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};
PgLsnText format_lsn(uint64_t lsn);
// Reads what PostgreSQL's pg_lsn type accepts: 1-8 hex digits (either case), '/', 1-8 hex
// digits, nothing else. False, and *lsn untouched, otherwise.
bool parse_lsn(std::string_view text, uint64_t* lsn);

// ---------------------------------------------------------------- pgoutput

enum class PgoutTag : uint8_t {
  kBegin = 'B',
  kCommit = 'C',
  kOrigin = 'O',
  kRelation = 'R',
  kType = 'Y',
  kInsert = 'I',
  kUpdate = 'U',
  kDelete = 'D',
  kTruncate = 'T',
  kMessage = 'M',
};

enum class PgColumnKind : uint8_t {
  kNull = 'n',
  kUnchanged = 'u',  // a TOASTed value the change left alone: keep the one you have
  kText = 't',       // the type's output function's text
  kBinary = 'b',     // the type's send function's bytes (the 'binary' option)
};

// One TupleData column; `bytes` is empty unless kText or kBinary.
struct PgColumnValue {
  PgColumnKind kind = PgColumnKind::kNull;
  std::string_view bytes;
};

// One column of a relation message.
struct PgRelationColumn {
  bool key = false;  // part of the replica identity (every column with REPLICA IDENTITY FULL)
  std::string_view name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;  // atttypmod; -1 when the type has none
};

struct PgListMaker;  // the decoder's: lists exist only over bytes it validated

namespace pgout_detail {
// The item that starts at `at` in validated bytes; returns the offset after it.
size_t read_item(std::string_view bytes, size_t at, PgColumnValue* out);
size_t read_item(std::string_view bytes, size_t at, PgRelationColumn* out);
}  // namespace pgout_detail

// A validated run of `size()` items, decoded one at a time as an iterator walks them (O(1)
// each; nothing is stored): for (const PgColumnValue& v : insert.new_tuple) ...
template <typename Item>
class PgList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Item;
    using difference_type = std::ptrdiff_t;
    using pointer = const Item*;
    using reference = const Item&;

    Iterator() = default;
    const Item& operator*() const { return item_; }
    const Item* operator->() const { return &item_; }
    Iterator& operator++() {
      --left_;
      load();
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    // Iterators of the same list are equal when as many items are left after them.
    bool operator==(const Iterator& other) const { return left_ == other.left_; }

   private:
    friend class PgList;
    Iterator(std::string_view bytes, size_t left) : bytes_(bytes), left_(left) { load(); }
    void load() {
      if (left_ > 0) next_ = pgout_detail::read_item(bytes_, next_, &item_);
    }

    std::string_view bytes_;
    size_t next_ = 0;  // where the item after item_ starts
    size_t left_ = 0;  // items from item_ on
    Item item_{};
  };

  PgList() = default;
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The items' wire bytes (after the count).
  std::string_view wire_bytes() const { return bytes_; }
  Iterator begin() const { return Iterator(bytes_, count_); }
  Iterator end() const { return Iterator({}, 0); }

 private:
  friend struct PgListMaker;
  PgList(std::string_view bytes, size_t count) : bytes_(bytes), count_(count) {}

  std::string_view bytes_;
  size_t count_ = 0;
};

using PgTuple = PgList<PgColumnValue>;
using PgRelationColumns = PgList<PgRelationColumn>;

// A truncate's relation ids, read from the wire in place.
class PgRelids {
 public:
  PgRelids() = default;
  size_t size() const { return bytes_.size() / 4; }
  uint32_t operator[](size_t index) const;
  std::string_view wire_bytes() const { return bytes_; }

 private:
  friend struct PgListMaker;
  explicit PgRelids(std::string_view bytes) : bytes_(bytes) {}

  std::string_view bytes_;
};

enum class PgReplicaIdentity : uint8_t {
  kDefault = 'd',  // the primary key
  kNothing = 'n',
  kFull = 'f',   // every column
  kIndex = 'i',  // a unique index's columns
};

// What an update or a delete carries of the row as it was.
enum class PgOldTuple : uint8_t {
  kNone = 0,   // update only: the key did not change (and REPLICA IDENTITY is not FULL)
  kKey = 'K',  // the replica identity's columns; the others are null
  kRow = 'O',  // the whole row (REPLICA IDENTITY FULL)
};

struct PgBegin {
  uint64_t final_lsn = 0;  // the commit's LSN
  int64_t commit_time = 0;
  uint32_t xid = 0;
};

struct PgCommit {
  uint8_t flags = 0;
  uint64_t commit_lsn = 0;
  uint64_t end_lsn = 0;  // confirm this (flush_lsn) once the transaction is applied
  int64_t commit_time = 0;
};

struct PgOrigin {
  uint64_t commit_lsn = 0;
  std::string_view name;
};

struct PgRelation {
  uint32_t relid = 0;
  std::string_view namespace_name;  // "" is pg_catalog
  std::string_view name;
  PgReplicaIdentity replica_identity = PgReplicaIdentity::kDefault;
  PgRelationColumns columns;
};

struct PgType {
  uint32_t oid = 0;
  std::string_view namespace_name;  // "" is pg_catalog
  std::string_view name;
};

struct PgInsert {
  uint32_t relid = 0;
  PgTuple new_tuple;
};

struct PgUpdate {
  uint32_t relid = 0;
  PgOldTuple old_kind = PgOldTuple::kNone;
  PgTuple old_tuple;  // empty with kNone
  PgTuple new_tuple;
};

struct PgDelete {
  uint32_t relid = 0;
  PgOldTuple old_kind = PgOldTuple::kKey;  // never kNone
  PgTuple old_tuple;
};

inline constexpr uint8_t kPgTruncateCascade = 1;
inline constexpr uint8_t kPgTruncateRestartIdentity = 2;

struct PgTruncate {
  uint8_t options = 0;  // kPgTruncateCascade | kPgTruncateRestartIdentity
  PgRelids relids;
};

inline constexpr uint8_t kPgMessageTransactional = 1;

struct PgLogicalMessage {
  uint8_t flags = 0;  // kPgMessageTransactional
  uint64_t lsn = 0;
  std::string_view prefix;
  std::string_view content;
};

// One decoded pgoutput message: `tag` says which member holds it; the others stay default.
// Views point into the bytes given to decode_pgoutput.
struct PgoutMessage {
  PgoutTag tag = PgoutTag::kBegin;
  PgBegin begin;
  PgCommit commit;
  PgOrigin origin;
  PgRelation relation;
  PgType type;
  PgInsert insert;
  PgUpdate update;
  PgDelete del;
  PgTruncate truncate;
  PgLogicalMessage message;
};

// Decodes one whole pgoutput message (ReplMessage::data of an XLogData), validating all of it
// first: on success every list in *out iterates without failing. `out` is overwritten only on
// success. O(n) in the message's bytes.
PgError decode_pgoutput(std::string_view message, PgoutMessage* out,
                        const PgoutLimits& limits = {});

}  // namespace strata::protocol
