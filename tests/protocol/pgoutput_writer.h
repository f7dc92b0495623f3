// Test-side writer of PostgreSQL replication messages, shared by the unit tests and the fuzz
// target: builds each message byte by byte from explicit values (independently of the
// decoder's code, from the layouts in protocol/pgoutput.h), and encodes decoded messages back
// to bytes through the same builders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pgoutput.h"

namespace strata::protocol::testing {

// Big-endian bytes of `v`, `bytes` wide.
inline std::string be(uint64_t v, size_t bytes) {
  std::string out;
  for (size_t i = bytes; i-- > 0;) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

inline std::string u8(uint8_t v) { return be(v, 1); }
inline std::string u16(uint16_t v) { return be(v, 2); }
inline std::string u32(uint32_t v) { return be(v, 4); }
inline std::string u64(uint64_t v) { return be(v, 8); }
inline std::string i32(int32_t v) { return be(static_cast<uint32_t>(v), 4); }
inline std::string i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
inline std::string cstring(std::string_view s) { return std::string(s) + '\0'; }

// One TupleData column as written: 'n' and 'u' carry no bytes, 't' and 'b' a length and bytes.
struct TestColumn {
  char kind = 'n';
  std::string bytes;
  bool operator==(const TestColumn&) const = default;
};

inline std::string tuple_data(const std::vector<TestColumn>& columns) {
  std::string out = u16(static_cast<uint16_t>(columns.size()));
  for (const TestColumn& c : columns) {
    out += c.kind;
    if (c.kind == 't' || c.kind == 'b') out += i32(static_cast<int32_t>(c.bytes.size())) + c.bytes;
  }
  return out;
}

struct TestRelationColumn {
  bool key = false;
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool operator==(const TestRelationColumn&) const = default;
};

// ---------------------------------------------------------------- message builders

inline std::string pg_begin(uint64_t final_lsn, int64_t commit_time, uint32_t xid) {
  return "B" + u64(final_lsn) + i64(commit_time) + u32(xid);
}

inline std::string pg_commit(uint8_t flags, uint64_t commit_lsn, uint64_t end_lsn,
                             int64_t commit_time) {
  return "C" + u8(flags) + u64(commit_lsn) + u64(end_lsn) + i64(commit_time);
}

inline std::string pg_origin(uint64_t lsn, std::string_view name) {
  return "O" + u64(lsn) + cstring(name);
}

inline std::string pg_relation(uint32_t relid, std::string_view nspname, std::string_view name,
                               char identity, const std::vector<TestRelationColumn>& columns) {
  std::string out = "R" + u32(relid) + cstring(nspname) + cstring(name) + identity;
  out += u16(static_cast<uint16_t>(columns.size()));
  for (const TestRelationColumn& c : columns) {
    out += u8(c.key ? 1 : 0) + cstring(c.name) + u32(c.type_oid) + i32(c.type_modifier);
  }
  return out;
}

inline std::string pg_type(uint32_t oid, std::string_view nspname, std::string_view name) {
  return "Y" + u32(oid) + cstring(nspname) + cstring(name);
}

inline std::string pg_insert(uint32_t relid, const std::vector<TestColumn>& row) {
  return "I" + u32(relid) + "N" + tuple_data(row);
}

// old_marker 0: no old tuple.
inline std::string pg_update(uint32_t relid, char old_marker, const std::vector<TestColumn>& old,
                             const std::vector<TestColumn>& row) {
  std::string out = "U" + u32(relid);
  if (old_marker != 0) out += old_marker + tuple_data(old);
  return out + "N" + tuple_data(row);
}

inline std::string pg_delete(uint32_t relid, char old_marker, const std::vector<TestColumn>& old) {
  return "D" + u32(relid) + old_marker + tuple_data(old);
}

inline std::string pg_truncate(uint8_t options, const std::vector<uint32_t>& relids) {
  std::string out = "T" + u32(static_cast<uint32_t>(relids.size())) + u8(options);
  for (uint32_t relid : relids) out += u32(relid);
  return out;
}

inline std::string pg_message(uint8_t flags, uint64_t lsn, std::string_view prefix,
                              std::string_view content) {
  return "M" + u8(flags) + u64(lsn) + cstring(prefix) + i32(static_cast<int32_t>(content.size())) +
         std::string(content);
}

inline std::string xlog_data(uint64_t wal_start, uint64_t wal_end, int64_t send_time,
                             std::string_view data) {
  return "w" + u64(wal_start) + u64(wal_end) + i64(send_time) + std::string(data);
}

inline std::string keepalive(uint64_t wal_end, int64_t send_time, uint8_t reply_requested) {
  return "k" + u64(wal_end) + i64(send_time) + u8(reply_requested);
}

// ---------------------------------------------------------------- decoded, owned

inline std::vector<TestColumn> columns_of(const PgTuple& tuple) {
  std::vector<TestColumn> out;
  for (const PgColumnValue& v : tuple) {
    out.push_back({static_cast<char>(v.kind), std::string(v.bytes)});
  }
  return out;
}

inline std::vector<TestRelationColumn> columns_of(const PgRelationColumns& columns) {
  std::vector<TestRelationColumn> out;
  for (const PgRelationColumn& c : columns) {
    out.push_back({c.key, std::string(c.name), c.type_oid, c.type_modifier});
  }
  return out;
}

inline std::vector<uint32_t> relids_of(const PgRelids& relids) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < relids.size(); ++i) out.push_back(relids[i]);
  return out;
}

// The bytes of a decoded message, through the builders above.
inline std::string encode_pgoutput(const PgoutMessage& m) {
  switch (m.tag) {
    case PgoutTag::kBegin:
      return pg_begin(m.begin.final_lsn, m.begin.commit_time, m.begin.xid);
    case PgoutTag::kCommit:
      return pg_commit(m.commit.flags, m.commit.commit_lsn, m.commit.end_lsn, m.commit.commit_time);
    case PgoutTag::kOrigin:
      return pg_origin(m.origin.commit_lsn, m.origin.name);
    case PgoutTag::kRelation:
      return pg_relation(m.relation.relid, m.relation.namespace_name, m.relation.name,
                         static_cast<char>(m.relation.replica_identity),
                         columns_of(m.relation.columns));
    case PgoutTag::kType:
      return pg_type(m.type.oid, m.type.namespace_name, m.type.name);
    case PgoutTag::kInsert:
      return pg_insert(m.insert.relid, columns_of(m.insert.new_tuple));
    case PgoutTag::kUpdate:
      return pg_update(m.update.relid, static_cast<char>(m.update.old_kind),
                       columns_of(m.update.old_tuple), columns_of(m.update.new_tuple));
    case PgoutTag::kDelete:
      return pg_delete(m.del.relid, static_cast<char>(m.del.old_kind), columns_of(m.del.old_tuple));
    case PgoutTag::kTruncate:
      return pg_truncate(m.truncate.options, relids_of(m.truncate.relids));
    case PgoutTag::kMessage:
      return pg_message(m.message.flags, m.message.lsn, m.message.prefix, m.message.content);
  }
  return {};
}

inline std::string encode_repl(const ReplMessage& m) {
  if (m.kind == ReplKind::kXLogData) return xlog_data(m.wal_start, m.wal_end, m.send_time, m.data);
  return keepalive(m.wal_end, m.send_time, m.reply_requested ? 1 : 0);
}

}  // namespace strata::protocol::testing
