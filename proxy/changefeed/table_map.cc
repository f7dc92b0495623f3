#include "proxy/changefeed/table_map.h"

#include <algorithm>
#include <charconv>

namespace strata::proxy {
namespace {

constexpr uint32_t kByteaOid = 17;
// Types whose text form is the value itself: text, varchar, bpchar, name, json, jsonb, xml.
constexpr uint32_t kTextOids[] = {25, 1043, 1042, 19, 114, 3802, 142};

void add(std::vector<MappedTable>* tables, const policies::PgMapping& m, const std::string& prefix) {
  for (MappedTable& t : *tables) {
    if (t.name == m.table) {
      if (std::find(t.prefixes.begin(), t.prefixes.end(), prefix) == t.prefixes.end()) {
        t.prefixes.push_back(prefix);
      }
      return;
    }
  }
  MappedTable t;
  t.name = m.table;
  const size_t dot = m.table.find('.');
  t.schema = dot == std::string::npos ? "public" : m.table.substr(0, dot);
  t.relname = dot == std::string::npos ? m.table : m.table.substr(dot + 1);
  t.key_column = m.key_column;
  t.value_column = m.value_column;
  t.version_column = m.version_column;
  t.prefixes.push_back(prefix);
  tables->push_back(std::move(t));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

TableMap TableMap::build(const policies::PolicyConfig& config) {
  TableMap map;
  if (config.fallback.uses_postgres()) add(&map.tables_, config.fallback.pg, config.fallback.prefix);
  for (const policies::Policy& p : config.policies) {
    if (p.uses_postgres()) add(&map.tables_, p.pg, p.prefix);
  }
  // strata_kv is the default table even when no policy names it today: a policy added by a
  // reload, or rows another instance's policies write, live there.
  const bool has_kv = std::any_of(map.tables_.begin(), map.tables_.end(),
                                  [](const MappedTable& t) { return t.name == "strata_kv"; });
  if (!has_kv && !map.tables_.empty()) add(&map.tables_, policies::PgMapping{}, "");
  return map;
}

const MappedTable* TableMap::find(std::string_view schema, std::string_view relname) const {
  for (const MappedTable& t : tables_) {
    if (t.relname == relname && t.schema == schema) return &t;
  }
  return nullptr;
}

bool cache_bytes_of(uint32_t type_oid, std::string_view text, std::string* out) {
  if (type_oid == kByteaOid) {
    if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return false;
    out->clear();
    out->reserve((text.size() - 2) / 2);
    for (size_t i = 2; i < text.size(); i += 2) {
      const int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi << 4 | lo));
    }
    return true;
  }
  if (std::find(std::begin(kTextOids), std::end(kTextOids), type_oid) == std::end(kTextOids)) {
    return false;
  }
  out->assign(text);
  return true;
}

uint64_t version_of_text(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return 0;
  return static_cast<uint64_t>(v);
}

}  // namespace strata::proxy
