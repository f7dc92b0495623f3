#include "protocol/pgoutput.h"

#include <cstring>
#include <limits>
#include <type_traits>

namespace strata::protocol {
namespace {

using E = PgErrorCode;

// A switch rather than a table indexed by the code: -Wswitch catches a code without a text.
std::string_view error_text(PgErrorCode code) {
  switch (code) {
    case E::kNone:
      return "";
    case E::kTruncated:
      return "pgoutput: message ends early";
    case E::kTrailingBytes:
      return "pgoutput: bytes after the end of the message";
    case E::kMessagePastMax:
      return "pgoutput: message past message_bytes_max";
    case E::kUnknownReplMessage:
      return "pgoutput: replication message neither XLogData ('w') nor keepalive ('k')";
    case E::kBadReplyRequested:
      return "pgoutput: keepalive's reply_requested neither 0 nor 1";
    case E::kUnknownMessage:
      return "pgoutput: unknown message type";
    case E::kStreamMessage:
      return "pgoutput: streaming message (proto_version 2; this reader asks for 1)";
    case E::kTwoPhaseMessage:
      return "pgoutput: two-phase commit message (proto_version 3; this reader asks for 1)";
    case E::kBeginLsnZero:
      return "pgoutput: begin without its final_lsn";
    case E::kCommitFlags:
      return "pgoutput: commit flags other than 0";
    case E::kBadReplicaIdentity:
      return "pgoutput: relation's replica identity not d, n, f or i";
    case E::kColumnFlags:
      return "pgoutput: relation column flags with bits other than the key bit";
    case E::kColumnsPastMax:
      return "pgoutput: column count past columns_max";
    case E::kCstringPastMax:
      return "pgoutput: string past cstring_bytes_max (or without its NUL)";
    case E::kInsertMarker:
      return "pgoutput: insert without 'N' before its tuple";
    case E::kUpdateMarker:
      return "pgoutput: update's tuples not ['K' or 'O' tuple] then 'N' tuple";
    case E::kDeleteMarker:
      return "pgoutput: delete without 'K' or 'O' before its tuple";
    case E::kBadColumnKind:
      return "pgoutput: tuple column kind not n, u, t or b";
    case E::kNegativeLength:
      return "pgoutput: negative length";
    case E::kValuePastMax:
      return "pgoutput: column value or message content past value_bytes_max";
    case E::kTruncateOptions:
      return "pgoutput: truncate options other than CASCADE and RESTART IDENTITY";
    case E::kTruncateRelationsPastMax:
      return "pgoutput: truncate relation count past truncate_relations_max";
    case E::kMessageFlags:
      return "pgoutput: logical message flags other than transactional";
  }
  return "pgoutput: unknown error";
}

template <typename T>
T load_be(const char* p) {
  std::make_unsigned_t<T> v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<T>(v);
}

template <typename T>
void append_be(std::string* out, T value) {
  const auto v = static_cast<std::make_unsigned_t<T>>(value);
  for (size_t i = sizeof(T); i-- > 0;) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads fields off the front of one message, bounds-checked. The first failure sticks: every
// later read returns false, and error() reports the first.
class Reader {
 public:
  explicit Reader(std::string_view in, size_t at = 0) : in_(in), at_(at) {}

  size_t at() const { return at_; }
  size_t left() const { return in_.size() - at_; }
  PgError error() const { return pg_error(code_, error_at_); }

  bool fail(PgErrorCode code, size_t at) {
    if (code_ == E::kNone) {
      code_ = code;
      error_at_ = at;
    }
    return false;
  }

  template <typename T>
  bool read(T* value) {
    if (code_ != E::kNone) return false;
    if (left() < sizeof(T)) return fail(E::kTruncated, at_);
    *value = load_be<T>(in_.data() + at_);
    at_ += sizeof(T);
    return true;
  }

  bool bytes(size_t n, std::string_view* out) {
    if (code_ != E::kNone) return false;
    if (left() < n) return fail(E::kTruncated, at_);
    *out = in_.substr(at_, n);
    at_ += n;
    return true;
  }

  // Bytes up to a NUL (which is consumed, not returned). A cut message may end inside the
  // string, so a missing NUL is a limit error only once more than `max` bytes have no NUL.
  bool cstring(size_t max, std::string_view* out) {
    if (code_ != E::kNone) return false;
    const size_t window = max >= left() ? left() : max + 1;
    if (window == 0) return fail(E::kTruncated, at_);
    const void* nul = std::memchr(in_.data() + at_, '\0', window);
    if (nul == nullptr) return fail(window > max ? E::kCstringPastMax : E::kTruncated, at_);
    const size_t n = static_cast<const char*>(nul) - (in_.data() + at_);
    *out = in_.substr(at_, n);
    at_ += n + 1;
    return true;
  }

  // The bytes read since `start`.
  std::string_view since(size_t start) const { return in_.substr(start, at_ - start); }

  // The rest of the input.
  std::string_view rest() {
    std::string_view out = in_.substr(at_);
    at_ = in_.size();
    return out;
  }

  // An i32 length field: not negative, at most `max`.
  bool length(size_t max, size_t* out) {
    const size_t field_at = at_;
    int32_t n = 0;
    if (!read(&n)) return false;
    if (n < 0) return fail(E::kNegativeLength, field_at);
    if (static_cast<size_t>(n) > max) return fail(E::kValuePastMax, field_at);
    *out = static_cast<size_t>(n);
    return true;
  }

  // The whole message was read: nothing may follow.
  PgError finish() const {
    if (code_ != E::kNone) return error();
    return at_ == in_.size() ? PgError{} : pg_error(E::kTrailingBytes, at_);
  }

 private:
  std::string_view in_;
  size_t at_ = 0;
  PgErrorCode code_ = E::kNone;
  size_t error_at_ = 0;
};

// Bytes the decoder validated are walked again with no limits: they already held.
constexpr PgoutLimits kUnbounded{
    .message_bytes_max = std::numeric_limits<size_t>::max(),
    .columns_max = std::numeric_limits<size_t>::max(),
    .cstring_bytes_max = std::numeric_limits<size_t>::max(),
    .value_bytes_max = std::numeric_limits<size_t>::max(),
    .truncate_relations_max = std::numeric_limits<size_t>::max(),
};

bool read_one(Reader& r, const PgoutLimits& limits, PgColumnValue* out) {
  const size_t kind_at = r.at();
  uint8_t kind = 0;
  if (!r.read(&kind)) return false;
  out->kind = static_cast<PgColumnKind>(kind);
  out->bytes = {};
  switch (out->kind) {
    case PgColumnKind::kNull:
    case PgColumnKind::kUnchanged:
      return true;
    case PgColumnKind::kText:
    case PgColumnKind::kBinary: {
      size_t n = 0;
      return r.length(limits.value_bytes_max, &n) && r.bytes(n, &out->bytes);
    }
  }
  return r.fail(E::kBadColumnKind, kind_at);
}

// A relation column's flags: bit 0, part of the replica identity; no other bit is defined.
constexpr uint8_t kColumnKeyFlag = 1;

bool read_one(Reader& r, const PgoutLimits& limits, PgRelationColumn* out) {
  const size_t flags_at = r.at();
  uint8_t flags = 0;
  if (!r.read(&flags)) return false;
  if ((flags & ~kColumnKeyFlag) != 0) return r.fail(E::kColumnFlags, flags_at);
  out->key = flags == kColumnKeyFlag;
  return r.cstring(limits.cstring_bytes_max, &out->name) && r.read(&out->type_oid) &&
         r.read(&out->type_modifier);
}

}  // namespace

// Makes the views only the decoder may make (see PgList).
struct PgListMaker {
  template <typename Item>
  static PgList<Item> list(std::string_view bytes, size_t count) {
    return PgList<Item>(bytes, count);
  }
  static PgRelids relids(std::string_view bytes) { return PgRelids(bytes); }
};

namespace {

// A u16 count, then that many items, each validated.
template <typename Item>
bool read_list(Reader& r, const PgoutLimits& limits, PgList<Item>* out) {
  const size_t count_at = r.at();
  uint16_t count = 0;
  if (!r.read(&count)) return false;
  if (count > limits.columns_max) return r.fail(E::kColumnsPastMax, count_at);
  const size_t start = r.at();
  Item item;
  for (size_t i = 0; i < count; ++i) {
    if (!read_one(r, limits, &item)) return false;
  }
  *out = PgListMaker::list<Item>(r.since(start), count);
  return true;
}

// A tuple marker byte: true when it is one of `allowed` (and then in *marker).
bool read_marker(Reader& r, std::string_view allowed, PgErrorCode code, uint8_t* marker) {
  const size_t marker_at = r.at();
  if (!r.read(marker)) return false;
  if (allowed.find(static_cast<char>(*marker)) == std::string_view::npos) {
    return r.fail(code, marker_at);
  }
  return true;
}

bool read_begin(Reader& r, const PgoutLimits&, PgoutMessage* m) {
  PgBegin& b = m->begin;
  if (!r.read(&b.final_lsn)) return false;
  if (b.final_lsn == 0) return r.fail(E::kBeginLsnZero, r.at() - sizeof(b.final_lsn));
  return r.read(&b.commit_time) && r.read(&b.xid);
}

bool read_commit(Reader& r, const PgoutLimits&, PgoutMessage* m) {
  PgCommit& c = m->commit;
  if (!r.read(&c.flags)) return false;
  if (c.flags != 0) return r.fail(E::kCommitFlags, r.at() - 1);
  return r.read(&c.commit_lsn) && r.read(&c.end_lsn) && r.read(&c.commit_time);
}

bool read_origin(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  return r.read(&m->origin.commit_lsn) && r.cstring(limits.cstring_bytes_max, &m->origin.name);
}

bool known_replica_identity(uint8_t v) {
  switch (static_cast<PgReplicaIdentity>(v)) {
    case PgReplicaIdentity::kDefault:
    case PgReplicaIdentity::kNothing:
    case PgReplicaIdentity::kFull:
    case PgReplicaIdentity::kIndex:
      return true;
  }
  return false;
}

bool read_relation(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  PgRelation& rel = m->relation;
  if (!r.read(&rel.relid) || !r.cstring(limits.cstring_bytes_max, &rel.namespace_name) ||
      !r.cstring(limits.cstring_bytes_max, &rel.name)) {
    return false;
  }
  uint8_t identity = 0;
  if (!r.read(&identity)) return false;
  if (!known_replica_identity(identity)) return r.fail(E::kBadReplicaIdentity, r.at() - 1);
  rel.replica_identity = static_cast<PgReplicaIdentity>(identity);
  return read_list(r, limits, &rel.columns);
}

bool read_type(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  return r.read(&m->type.oid) && r.cstring(limits.cstring_bytes_max, &m->type.namespace_name) &&
         r.cstring(limits.cstring_bytes_max, &m->type.name);
}

bool read_insert(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  uint8_t marker = 0;
  return r.read(&m->insert.relid) && read_marker(r, "N", E::kInsertMarker, &marker) &&
         read_list(r, limits, &m->insert.new_tuple);
}

// The old tuple is optional: 'K' or 'O' and a tuple, or straight to 'N'.
bool read_update(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  PgUpdate& u = m->update;
  uint8_t marker = 0;
  if (!r.read(&u.relid) || !read_marker(r, "KON", E::kUpdateMarker, &marker)) return false;
  if (marker != 'N') {
    u.old_kind = static_cast<PgOldTuple>(marker);
    if (!read_list(r, limits, &u.old_tuple) || !read_marker(r, "N", E::kUpdateMarker, &marker)) {
      return false;
    }
  }
  return read_list(r, limits, &u.new_tuple);
}

bool read_delete(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  PgDelete& d = m->del;
  uint8_t marker = 0;
  if (!r.read(&d.relid) || !read_marker(r, "KO", E::kDeleteMarker, &marker)) return false;
  d.old_kind = static_cast<PgOldTuple>(marker);
  return read_list(r, limits, &d.old_tuple);
}

bool read_truncate(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  PgTruncate& t = m->truncate;
  const size_t count_at = r.at();
  uint32_t count = 0;
  if (!r.read(&count)) return false;
  if (count > limits.truncate_relations_max) {
    return r.fail(E::kTruncateRelationsPastMax, count_at);
  }
  if (!r.read(&t.options)) return false;
  if ((t.options & ~(kPgTruncateCascade | kPgTruncateRestartIdentity)) != 0) {
    return r.fail(E::kTruncateOptions, r.at() - 1);
  }
  std::string_view relids;
  if (!r.bytes(size_t{count} * sizeof(uint32_t), &relids)) return false;
  t.relids = PgListMaker::relids(relids);
  return true;
}

bool read_message(Reader& r, const PgoutLimits& limits, PgoutMessage* m) {
  PgLogicalMessage& msg = m->message;
  if (!r.read(&msg.flags)) return false;
  if ((msg.flags & ~kPgMessageTransactional) != 0) return r.fail(E::kMessageFlags, r.at() - 1);
  size_t length = 0;
  return r.read(&msg.lsn) && r.cstring(limits.cstring_bytes_max, &msg.prefix) &&
         r.length(limits.value_bytes_max, &length) && r.bytes(length, &msg.content);
}

using ReadBody = bool (*)(Reader&, const PgoutLimits&, PgoutMessage*);

// The reader of a message type's body, or null with the error for types this codec refuses.
ReadBody body_reader(uint8_t tag, PgErrorCode* refused) {
  switch (tag) {
    case 'B':
      return read_begin;
    case 'C':
      return read_commit;
    case 'O':
      return read_origin;
    case 'R':
      return read_relation;
    case 'Y':
      return read_type;
    case 'I':
      return read_insert;
    case 'U':
      return read_update;
    case 'D':
      return read_delete;
    case 'T':
      return read_truncate;
    case 'M':
      return read_message;
    case 'S':  // stream start
    case 'E':  // stream stop
    case 'c':  // stream commit
    case 'A':  // stream abort
      *refused = E::kStreamMessage;
      return nullptr;
    case 'b':  // begin prepare
    case 'P':  // prepare
    case 'K':  // commit prepared
    case 'r':  // rollback prepared
    case 'p':  // stream prepare
      *refused = E::kTwoPhaseMessage;
      return nullptr;
    default:
      *refused = E::kUnknownMessage;
      return nullptr;
  }
}

PgError decode_keepalive(Reader& r, ReplMessage* m) {
  uint8_t reply = 0;
  if (!r.read(&m->wal_end) || !r.read(&m->send_time) || !r.read(&reply)) return r.error();
  if (reply > 1) return pg_error(E::kBadReplyRequested, r.at() - 1);
  m->reply_requested = reply == 1;
  return r.finish();
}

constexpr int64_t kPgEpochOffsetUs = kPgEpochUnixSeconds * 1'000'000;
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Hex digits of `v` without leading zeros (at least one), upper case.
size_t put_hex(uint32_t v, char* out) {
  size_t digits = 1;
  while (digits < 8 && (v >> (4 * digits)) != 0) ++digits;
  for (size_t i = 0; i < digits; ++i) {
    out[digits - 1 - i] = "0123456789ABCDEF"[(v >> (4 * i)) & 0xf];
  }
  return digits;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 1-8 hex digits, all of `text`.
bool parse_hex32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 8) return false;
  uint32_t v = 0;
  for (char c : text) {
    const int digit = hex_value(c);
    if (digit < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(digit);
  }
  *out = v;
  return true;
}

}  // namespace

PgError pg_error(PgErrorCode code, size_t offset) { return {code, error_text(code), offset}; }

std::string_view pgout_limits_problem(const PgoutLimits& limits) {
  if (limits.message_bytes_max < kPgKeepaliveBytes) {
    return "pgoutput limits: message_bytes_max must hold a keepalive (18 bytes)";
  }
  if (limits.cstring_bytes_max < 63) {
    return "pgoutput limits: cstring_bytes_max must hold a PostgreSQL identifier (63 bytes)";
  }
  if (limits.columns_max < 1) return "pgoutput limits: columns_max must be at least 1";
  return {};
}

PgError decode_repl_message(std::string_view payload, ReplMessage* out, const PgoutLimits& limits) {
  if (payload.size() > limits.message_bytes_max) return pg_error(E::kMessagePastMax);
  Reader r(payload);
  uint8_t kind = 0;
  if (!r.read(&kind)) return r.error();
  ReplMessage m;
  m.kind = static_cast<ReplKind>(kind);
  switch (m.kind) {
    case ReplKind::kXLogData:
      if (!r.read(&m.wal_start) || !r.read(&m.wal_end) || !r.read(&m.send_time)) {
        return r.error();
      }
      m.data = r.rest();
      break;
    case ReplKind::kKeepalive:
      if (const PgError e = decode_keepalive(r, &m); !e.ok()) return e;
      break;
    default:
      return pg_error(E::kUnknownReplMessage);
  }
  *out = m;
  return {};
}

void append_standby_status(std::string* out, const StandbyStatus& status) {
  out->reserve(out->size() + kPgStandbyStatusBytes);
  out->push_back('r');
  append_be(out, status.write_lsn);
  append_be(out, status.flush_lsn);
  append_be(out, status.apply_lsn);
  append_be(out, status.send_time);
  out->push_back(status.reply_requested ? 1 : 0);
}

// PostgreSQL's infinities (the ends of int64) stay infinities; anything else past an end
// saturates there.
int64_t pg_epoch_us_from_unix_us(int64_t unix_us) {
  if (unix_us == kInt64Max) return kInt64Max;
  if (unix_us < kInt64Min + kPgEpochOffsetUs) return kInt64Min;
  return unix_us - kPgEpochOffsetUs;
}

int64_t unix_us_from_pg_epoch_us(int64_t pg_us) {
  if (pg_us == kInt64Min) return kInt64Min;
  if (pg_us > kInt64Max - kPgEpochOffsetUs) return kInt64Max;
  return pg_us + kPgEpochOffsetUs;
}

PgLsnText format_lsn(uint64_t lsn) {
  PgLsnText text;
  size_t n = put_hex(static_cast<uint32_t>(lsn >> 32), text.bytes.data());
  text.bytes[n++] = '/';
  n += put_hex(static_cast<uint32_t>(lsn), text.bytes.data() + n);
  text.size = static_cast<uint8_t>(n);
  return text;
}

bool parse_lsn(std::string_view text, uint64_t* lsn) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  uint32_t high = 0;
  uint32_t low = 0;
  if (!parse_hex32(text.substr(0, slash), &high) || !parse_hex32(text.substr(slash + 1), &low)) {
    return false;
  }
  *lsn = (uint64_t{high} << 32) | low;
  return true;
}

uint32_t PgRelids::operator[](size_t index) const {
  return load_be<uint32_t>(bytes_.data() + index * sizeof(uint32_t));
}

PgError decode_pgoutput(std::string_view message, PgoutMessage* out, const PgoutLimits& limits) {
  if (message.size() > limits.message_bytes_max) return pg_error(E::kMessagePastMax);
  Reader r(message);
  uint8_t tag = 0;
  if (!r.read(&tag)) return r.error();
  PgErrorCode refused = E::kNone;
  const ReadBody read_body = body_reader(tag, &refused);
  if (read_body == nullptr) return pg_error(refused);
  PgoutMessage m;
  m.tag = static_cast<PgoutTag>(tag);
  read_body(r, limits, &m);
  if (const PgError e = r.finish(); !e.ok()) return e;
  *out = m;
  return {};
}

namespace {

// Walks bytes the decoder validated, so the read cannot fail.
template <typename Item>
size_t read_validated(std::string_view bytes, size_t at, Item* out) {
  Reader r(bytes, at);
  read_one(r, kUnbounded, out);
  return r.at();
}

}  // namespace

namespace pgout_detail {

size_t read_item(std::string_view bytes, size_t at, PgColumnValue* out) {
  return read_validated(bytes, at, out);
}

size_t read_item(std::string_view bytes, size_t at, PgRelationColumn* out) {
  return read_validated(bytes, at, out);
}

}  // namespace pgout_detail
}  // namespace strata::protocol
