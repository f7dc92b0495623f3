// Reading the policy file with toml++. toml++ keeps a table's keys sorted by name; the parser
// walks them in file order (by line) so the first mistake in the file is the one reported.
#include "policies/policy_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "policies/policy_fields.h"

namespace strata::policies {
namespace {

using detail::FieldSpec;
using detail::FieldValue;

constexpr std::string_view kTopLevelAllowed =
    "[server], [postgres], [journal], [nats], [websocket], [default], [[policy]]";

using Lines = std::map<std::string, uint32_t, std::less<>>;  // field -> line where it was set

struct Where {
  std::string_view source;
  uint32_t line;
  std::string table;  // "[postgres]", "[[policy]] prefix 'x'", ...
};

std::string located(std::string_view source, uint32_t line, std::string_view what) {
  return std::string(source) + ":" + std::to_string(line) + ": " + std::string(what);
}

std::string located(const Where& w, std::string_view what) {
  return located(w.source, w.line, w.table + ": " + std::string(what));
}

std::vector<std::pair<std::string_view, const toml::node*>> by_line(const toml::table& t) {
  std::vector<std::pair<std::string_view, const toml::node*>> out;
  for (auto&& [key, node] : t) out.emplace_back(key.str(), &node);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin.line < b.second->source().begin.line;
  });
  return out;
}

std::string_view node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// The scalar a field can take; dates, arrays and tables are never valid field values.
std::expected<FieldValue, std::string> scalar(const toml::node& n) {
  if (const auto* s = n.as_string()) return FieldValue(s->get());
  if (const auto* i = n.as_integer()) return FieldValue(i->get());
  if (const auto* d = n.as_floating_point()) return FieldValue(d->get());
  if (const auto* b = n.as_boolean()) return FieldValue(b->get());
  return std::unexpected(std::string(node_type_name(n)));
}

template <class T>
std::expected<void, std::string> parse_fields(const toml::table& table,
                                              std::span<const FieldSpec<T>> fields,
                                              std::string_view skip, Where where, T* out,
                                              Lines* lines) {
  for (const auto& [key, node] : by_line(table)) {
    where.line = node->source().begin.line;
    if (!skip.empty() && key == skip) continue;
    const FieldSpec<T>* f = detail::find_field(fields, key);
    if (f == nullptr) {
      return std::unexpected(located(where, "unknown field '" + std::string(key) + "' (allowed: " +
                                                detail::field_names(fields) + ")"));
    }
    auto value = scalar(*node);
    if (!value) {
      return std::unexpected(located(where, std::string(key) + " must be " +
                                                detail::allowed_text(f->kind, f->min, f->max) +
                                                " (got " + value.error() + ")"));
    }
    if (auto ok = detail::assign_field(*f, out, *value); !ok) {
      return std::unexpected(located(where, ok.error()));
    }
    if (lines != nullptr) lines->emplace(std::string(key), where.line);
  }
  return {};
}

struct ParsedPolicy {
  Policy policy;
  uint32_t table_line = 0;
  Lines lines;
};

// One [[policy]] table: its prefix first (messages name it), then the fields over a copy of
// the default.
std::expected<ParsedPolicy, std::string> parse_policy(const toml::node& node, size_t index,
                                                      const Policy& fallback,
                                                      std::string_view source) {
  ParsedPolicy parsed;
  parsed.table_line = node.source().begin.line;
  const std::string numbered = "[[policy]] #" + std::to_string(index + 1);
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return std::unexpected(located(source, parsed.table_line,
                                   numbered + ": must be a table ([[policy]] with fields)"));
  }
  const toml::node* prefix_node = table->get("prefix");
  if (prefix_node == nullptr) {
    return std::unexpected(located(source, parsed.table_line,
                                   numbered + ": prefix is required: a non-empty string such as "
                                              "\"user:\" (keys no prefix matches use [default])"));
  }
  const uint32_t prefix_line = prefix_node->source().begin.line;
  const auto* prefix = prefix_node->as_string();
  if (prefix == nullptr || prefix->get().empty() || prefix->get().size() > kPrefixBytesMax) {
    const std::string got = prefix == nullptr ? std::string(node_type_name(*prefix_node))
                            : prefix->get().empty()
                                ? "an empty string"
                                : std::to_string(prefix->get().size()) + " bytes";
    return std::unexpected(located(source, prefix_line,
                                   numbered + ": prefix must be a non-empty string of at most " +
                                       std::to_string(kPrefixBytesMax) + " bytes (got " + got +
                                       "; keys no prefix matches use [default])"));
  }
  parsed.policy = fallback;
  parsed.policy.prefix = prefix->get();
  parsed.lines.emplace("prefix", prefix_line);
  Where where{source, parsed.table_line, detail::policy_where(parsed.policy)};
  if (auto ok = parse_fields<Policy>(*table, detail::policy_fields(), "prefix", where,
                                     &parsed.policy, &parsed.lines);
      !ok) {
    return std::unexpected(ok.error());
  }
  return parsed;
}

// Slot and publication names go into SQL and replication commands as identifiers: PostgreSQL's
// own rule for slot names (lower-case letters, digits, underscore; at most 63 bytes) for both.
bool replication_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 63) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::expected<void, std::string> check_changefeed(const PostgresConfig& pg,
                                                  std::string_view source) {
  if (!pg.changefeed) return {};
  if (pg.conninfo.empty()) {
    return std::unexpected(std::string(source) +
                           ": [postgres] changefeed = true needs conninfo (the change feed reads "
                           "PostgreSQL's logical replication stream)");
  }
  for (const auto& [field, name] : {std::pair{"changefeed_slot", &pg.changefeed_slot},
                                    std::pair{"changefeed_publication", &pg.changefeed_publication}}) {
    if (!replication_name_ok(*name)) {
      return std::unexpected(std::string(source) + ": [postgres] " + field + " '" + *name +
                             "': use 1 to 63 lower-case letters, digits or '_'");
    }
  }
  return {};
}

std::expected<void, std::string> check_parsed(const ParsedPolicy& p, bool has_postgres,
                                              std::string_view source) {
  auto ok = detail::check_policy(p.policy, has_postgres);
  if (ok) return {};
  uint32_t line = p.table_line;
  for (std::string_view field : ok.error().fields) {
    if (auto it = p.lines.find(field); it != p.lines.end()) {
      line = it->second;
      break;
    }
  }
  return std::unexpected(
      located(source, line, detail::policy_where(p.policy) + ": " + ok.error().message));
}

// A [[policy]] that writes a field its strategy never reads (flush_interval_ms under
// write-through, ...) would be ignored in silence; the first such line in the table is refused.
std::expected<void, std::string> check_written_fields(const ParsedPolicy& p,
                                                      std::string_view source) {
  std::string_view field;
  std::string_view users;
  uint32_t line = 0;
  for (const auto& [name, at] : p.lines) {
    const std::string_view why = detail::field_unused_by(name, p.policy.strategy);
    if (why.empty() || (line != 0 && at >= line)) continue;
    field = name;
    users = why;
    line = at;
  }
  if (line == 0) return {};
  const std::string what = std::string(field) + " has no effect with strategy '" +
                           std::string(strategy_name(p.policy.strategy)) +
                           "': " + std::string(users) + " (remove it, or choose such a strategy)";
  return std::unexpected(located(source, line, detail::policy_where(p.policy) + ": " + what));
}

std::expected<std::vector<ParsedPolicy>, std::string> parse_policy_array(const toml::array& array,
                                                                         const Policy& fallback,
                                                                         std::string_view source) {
  std::vector<ParsedPolicy> parsed;
  std::map<std::string, uint32_t, std::less<>> seen;  // prefix -> line of its first definition
  for (size_t i = 0; i < array.size(); ++i) {
    auto p = parse_policy(*array.get(i), i, fallback, source);
    if (!p) return std::unexpected(p.error());
    const uint32_t prefix_line = p->lines.at("prefix");
    auto [it, fresh] = seen.emplace(p->policy.prefix, prefix_line);
    if (!fresh) {
      return std::unexpected(
          located(source, prefix_line,
                  detail::policy_where(p->policy) + ": duplicate prefix (first defined at line " +
                      std::to_string(it->second) + "; each prefix may appear once)"));
    }
    parsed.push_back(std::move(*p));
  }
  return parsed;
}

// The root: each top-level name in file order, [default] before the [[policy]] entries that
// copy it.
// A sync mode a [[policy]] or [default] writes needs a bus to act on, and a tier behind L1:
// where L1 is a key's only copy, a peer told to drop it would lose it.
std::expected<void, std::string> check_sync(const ParsedPolicy& p, bool nats, bool upstream,
                                            std::string_view source) {
  const auto at = p.lines.find("sync");
  if (at == p.lines.end() || p.policy.sync == SyncMode::kOff ||
      p.policy.sync == SyncMode::kAuto) {
    return {};
  }
  const std::string where =
      detail::policy_where(p.policy) + ": sync '" + std::string(sync_mode_name(p.policy.sync));
  if (!nats) {
    return std::unexpected(located(source, at->second,
                                   where + "' needs the NATS bus: set [nats] url (or --nats), "
                                           "or write sync = \"off\""));
  }
  if (!p.policy.uses_postgres() && (!p.policy.l2 || !upstream)) {
    return std::unexpected(located(
        source, at->second,
        where + "' needs a tier behind L1: with strategy 'cache' and no Redis (l2 = false, or "
                "no upstream) L1 holds the only copy, and peers cannot drop or replace it "
                "without losing it (use a PostgreSQL strategy, or l2 = true with an upstream)"));
  }
  return {};
}

std::expected<PolicyConfig, std::string> parse_root(const toml::table& root,
                                                    std::string_view source, bool cli_nats,
                                                    bool upstream) {
  PolicyConfig config;
  ParsedPolicy fallback;
  const toml::array* policy_array = nullptr;
  for (const auto& [name, node] : by_line(root)) {
    const uint32_t line = node->source().begin.line;
    const toml::table* table = node->as_table();
    const bool known = name == "server" || name == "postgres" || name == "journal" ||
                       name == "nats" || name == "websocket" || name == "default" ||
                       name == "policy";
    if (!known) {
      const std::string what = table != nullptr ? "table [" + std::string(name) + "]"
                               : node->is_array_of_tables()
                                   ? "table [[" + std::string(name) + "]]"
                                   : "top-level key '" + std::string(name) + "'";
      return std::unexpected(located(
          source, line, "unknown " + what + " (allowed: " + std::string(kTopLevelAllowed) + ")"));
    }
    if (name == "policy") {
      policy_array = node->as_array();
      if (policy_array == nullptr || !node->is_array_of_tables()) {
        return std::unexpected(located(
            source, line, "policy must be written as [[policy]] tables (an array of tables)"));
      }
      continue;
    }
    if (table == nullptr) {
      return std::unexpected(located(
          source, line, std::string(name) + " must be a table: [" + std::string(name) + "]"));
    }
    std::expected<void, std::string> ok;
    if (name == "postgres") {
      ok = parse_fields<PostgresConfig>(*table, detail::postgres_fields(), {},
                                        {source, line, "[postgres]"}, &config.postgres, nullptr);
    } else if (name == "journal") {
      ok = parse_fields<JournalConfig>(*table, detail::journal_fields(), {},
                                       {source, line, "[journal]"}, &config.journal, nullptr);
    } else if (name == "nats") {
      ok = parse_fields<NatsConfig>(*table, detail::nats_fields(), {}, {source, line, "[nats]"},
                                    &config.nats, nullptr);
    } else if (name == "websocket") {
      ok = parse_fields<WebsocketConfig>(*table, detail::websocket_fields(), {},
                                         {source, line, "[websocket]"}, &config.websocket, nullptr);
    } else if (name == "default") {
      fallback.table_line = line;
      if (const toml::node* p = table->get("prefix"); p != nullptr) {
        return std::unexpected(located(source, p->source().begin.line,
                                       "[default]: prefix is not allowed here: [default] covers "
                                       "the keys no [[policy]] prefix matches"));
      }
      ok = parse_fields<Policy>(*table, detail::policy_fields(), {}, {source, line, "[default]"},
                                &fallback.policy, &fallback.lines);
    }  // [server] belongs to proxy/server/options.cc
    if (!ok) return std::unexpected(ok.error());
  }
  fallback.policy.prefix.clear();
  std::vector<ParsedPolicy> parsed;
  if (policy_array != nullptr) {
    auto policies = parse_policy_array(*policy_array, fallback.policy, source);
    if (!policies) return std::unexpected(policies.error());
    parsed = std::move(*policies);
  }
  const bool has_postgres = !config.postgres.conninfo.empty();
  const bool nats = cli_nats || !config.nats.url.empty();
  if (auto ok = check_changefeed(config.postgres, source); !ok) return std::unexpected(ok.error());
  if (auto ok = check_parsed(fallback, has_postgres, source); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = check_sync(fallback, nats, upstream, source); !ok) {
    return std::unexpected(ok.error());
  }
  size_t partitions = 0;
  for (const auto& p : parsed) {
    if (auto ok = check_parsed(p, has_postgres, source); !ok) return std::unexpected(ok.error());
    if (auto ok = check_written_fields(p, source); !ok) return std::unexpected(ok.error());
    if (auto ok = check_sync(p, nats, upstream, source); !ok) return std::unexpected(ok.error());
    if (p.policy.l1_bytes != 0 && ++partitions > kL1PartitionsMax) {
      return std::unexpected(std::string(source) + ":" + std::to_string(p.table_line) +
                             ": [[policy]] prefix '" + p.policy.prefix + "': more than " +
                             std::to_string(kL1PartitionsMax) +
                             " prefixes with l1_bytes (an L1 partition of their own)");
    }
  }
  config.fallback = std::move(fallback.policy);
  for (auto& p : parsed) config.policies.push_back(std::move(p.policy));
  return config;
}

}  // namespace

bool PolicyConfig::any_postgres() const {
  if (fallback.uses_postgres()) return true;
  return std::any_of(policies.begin(), policies.end(),
                     [](const Policy& p) { return p.uses_postgres(); });
}

bool PolicyConfig::any_write_behind() const {
  auto wb = [](const Policy& p) { return p.strategy == Strategy::kWriteBehind; };
  return wb(fallback) || std::any_of(policies.begin(), policies.end(), wb);
}

PrefixTable<Policy> PolicyConfig::table() const {
  PrefixTable<Policy> t(fallback);
  for (const auto& p : policies) t.set(p.prefix, p);
  return t;
}

std::expected<PolicyConfig, std::string> parse_policy_text(std::string_view text,
                                                           std::string_view source_name,
                                                           const ConfigContext& ctx) {
  // ctx.has_upstream changes nothing here: l2 = true without an upstream is valid (L2 off).
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return std::unexpected(located(source_name, e.source().begin.line,
                                   "not valid TOML: " + std::string(e.description())));
  }
  try {
    return parse_root(root, source_name, ctx.has_nats, ctx.has_upstream);
  } catch (const std::exception& e) {  // std::bad_alloc and the like: still a value
    return std::unexpected(std::string(source_name) + ": " + e.what());
  }
}

std::expected<PolicyConfig, std::string> load_policy_file(const std::string& path,
                                                          const ConfigContext& ctx) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::unexpected(path + ": cannot read: " + std::strerror(errno));
  return parse_policy_text(text.str(), path, ctx);
}

std::expected<void, std::string> set_policy_field(Policy* p, std::string_view field,
                                                  std::string_view value,
                                                  const ConfigContext& ctx) {
  const std::string where = detail::policy_where(*p) + ": ";
  if (field == "prefix") {
    return std::unexpected(where +
                           "prefix cannot be changed (SET a field on the new prefix to "
                           "create a policy copied from [default])");
  }
  const auto* f = detail::find_field(detail::policy_fields(), field);
  if (f == nullptr) {
    return std::unexpected(where + "unknown field '" + std::string(field) +
                           "' (allowed: " + detail::field_names(detail::policy_fields()) + ")");
  }
  auto parsed = detail::parse_value_text(f->name, f->kind, f->min, f->max, value);
  if (!parsed) return std::unexpected(where + parsed.error());
  Policy next = *p;
  if (auto ok = detail::assign_field(*f, &next, *parsed); !ok) {
    return std::unexpected(where + ok.error());
  }
  if (auto ok = detail::check_policy(next, ctx.has_postgres); !ok) {
    return std::unexpected(where + ok.error().message);
  }
  *p = std::move(next);
  return {};
}

std::vector<std::pair<std::string, std::string>> describe_policy(const Policy& p) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("prefix", p.prefix);
  Policy copy = p;  // the slots take a mutable reference
  for (const auto& f : detail::policy_fields()) {
    out.emplace_back(std::string(f.name), detail::format_slot(f.slot(copy)));
  }
  return out;
}

}  // namespace strata::policies
