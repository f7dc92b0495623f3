// The fields of [default]/[[policy]], [postgres] and [journal] as tables of specs: name, kind,
// range and where the value lives. The TOML parser, STRATA POLICY SET and describe_policy all
// go through them, so a field is validated and printed the same way everywhere.
// Internal to policies/.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "policies/policy.h"
#include "policies/policy_config.h"

namespace strata::policies::detail {

enum class FieldKind {
  kBool,
  kUint,        // integer in [min, max]
  kFraction,    // number strictly between 0 and 1
  kStrategy,    // one of strategy_names_list()
  kIdentifier,  // SQL identifier, optionally schema.table
  kString,      // any string (may be empty)
  kPath,        // non-empty string
  kEviction,    // an eviction policy name cache::make_policy() knows
  kSyncMode,    // off, invalidate or update
  kConflict,    // lww (the only rule today)
  kServers,     // NATS server URLs: "nats://host:port", comma-separated
};

using FieldSlot =
    std::variant<bool*, uint32_t*, uint64_t*, double*, Strategy*, std::string*, SyncMode*>;

template <class T>
struct FieldSpec {
  std::string_view name;
  FieldKind kind;
  uint64_t min = 0;
  uint64_t max = 0;
  FieldSlot (*slot)(T&);
};

// A value as written: typed from TOML, or text from STRATA POLICY SET parsed by kind.
using FieldValue = std::variant<bool, int64_t, double, std::string>;

// "an integer in 1..10000", "true or false", ...
std::string allowed_text(FieldKind kind, uint64_t min, uint64_t max);
// "a string", "an integer", ... for "(got ...)".
std::string_view value_type_name(const FieldValue& v);

// Validates `v` for the field and stores it. The error has no location prefix, e.g.
// "max_batch 0 is out of range: must be an integer in 1..10000".
std::expected<void, std::string> assign_value(std::string_view name, FieldKind kind, uint64_t min,
                                              uint64_t max, FieldSlot slot, const FieldValue& v);
template <class T>
std::expected<void, std::string> assign_field(const FieldSpec<T>& f, T* target,
                                              const FieldValue& v) {
  return assign_value(f.name, f.kind, f.min, f.max, f.slot(*target), v);
}
// STRATA POLICY SET text -> value of the field's kind ("yes" -> true, "250" -> 250, ...).
std::expected<FieldValue, std::string> parse_value_text(std::string_view name, FieldKind kind,
                                                        uint64_t min, uint64_t max,
                                                        std::string_view text);
std::string format_slot(const FieldSlot& slot);  // "yes", "250", "0.8", "write-through"

// Policy fields in describe_policy order (prefix excluded: it is the key, not a setting).
std::span<const FieldSpec<Policy>> policy_fields();
std::span<const FieldSpec<PostgresConfig>> postgres_fields();
std::span<const FieldSpec<JournalConfig>> journal_fields();
std::span<const FieldSpec<NatsConfig>> nats_fields();
std::span<const FieldSpec<WebsocketConfig>> websocket_fields();

template <class T>
const FieldSpec<T>* find_field(std::span<const FieldSpec<T>> fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}
template <class T>
std::string field_names(std::span<const FieldSpec<T>> fields) {
  std::string names;
  for (const auto& f : fields) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

// "[default]" or "[[policy]] prefix 'chat:'".
std::string policy_where(const Policy& p);

// A rule across fields that `p` breaks: the message (no location) and the fields to blame, most
// specific first (the parser points at the first one the table names).
struct PolicyProblem {
  std::string message;
  std::vector<std::string_view> fields;
};
std::expected<void, PolicyProblem> check_policy(const Policy& p, bool has_postgres);

// Why `field` cannot act under strategy `s` ("only write-behind uses it"), or "" when it can.
// The file parser refuses such a field where a [[policy]] writes it; [default]'s fields are
// defaults for the [[policy]] tables too, and SET accepts what GET prints, so both stay lenient.
std::string_view field_unused_by(std::string_view field, Strategy s);

}  // namespace strata::policies::detail
