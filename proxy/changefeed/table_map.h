// Which PostgreSQL tables hold cache keys, and how a row of one becomes a key change: from the
// policies' table mappings ([[policy]] table, key_column, value_column, version_column) plus
// strata_kv, the default table. Pure (no I/O): the change feed's thread builds it from the
// running policies and consults it for every Relation message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policies/policy_config.h"

namespace strata::proxy {

struct MappedTable {
  std::string name;     // as the policies write it: "strata_kv", "app.users"
  std::string schema;   // "public" when the name has none
  std::string relname;  // the name without its schema
  std::string key_column;
  std::string value_column;
  std::string version_column;
  std::vector<std::string> prefixes;  // the policies whose keys live here ("" = [default])
  bool operator==(const MappedTable&) const = default;
};

class TableMap {
 public:
  static TableMap build(const policies::PolicyConfig& config);
  // The table a Relation message names, or null when no policy maps it.
  const MappedTable* find(std::string_view schema, std::string_view relname) const;
  const std::vector<MappedTable>& tables() const { return tables_; }
  bool operator==(const TableMap&) const = default;

 private:
  std::vector<MappedTable> tables_;
};

// What the feed keeps of a Relation message: where the mapped columns are in its tuples.
struct RelationInfo {
  int table = -1;  // index into TableMap::tables(); -1: not mapped (its changes are ignored)
  int key_col = -1;
  int value_col = -1;    // -1: the table has no such column (every change invalidates)
  int version_col = -1;  // -1: none (versions are 0)
  uint32_t value_type = 0;  // the value column's type OID
};
using RelationCache = std::unordered_map<uint32_t, RelationInfo>;  // by relation OID

// The bytes strata caches for a value column's text form (pgoutput sends text): bytea's hex
// form ("\x6869") decoded, the text types as they are. False for any other type, or a bytea
// not in hex form: the change then invalidates instead of carrying the value.
bool cache_bytes_of(uint32_t type_oid, std::string_view text, std::string* out);

// A version column's text form: a non-negative bigint. 0 for anything else.
uint64_t version_of_text(std::string_view text);

}  // namespace strata::proxy
