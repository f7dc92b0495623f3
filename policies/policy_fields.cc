#include "policies/policy_fields.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

#include "cache/eviction_policy.h"

namespace strata::policies::detail {
namespace {

constexpr uint64_t kU32Max = UINT32_MAX;

const std::array<FieldSpec<Policy>, 19> kPolicyFields = {{
    {"strategy", FieldKind::kStrategy, 0, 0, [](Policy& p) -> FieldSlot { return &p.strategy; }},
    {"l1", FieldKind::kBool, 0, 0, [](Policy& p) -> FieldSlot { return &p.l1; }},
    {"l2", FieldKind::kBool, 0, 0, [](Policy& p) -> FieldSlot { return &p.l2; }},
    {"ttl_ms", FieldKind::kUint, 0, kTtlMsMax, [](Policy& p) -> FieldSlot { return &p.ttl_ms; }},
    {"negative_ttl_ms", FieldKind::kUint, 0, kTtlMsMax,
     [](Policy& p) -> FieldSlot { return &p.negative_ttl_ms; }},
    {"refresh_point", FieldKind::kFraction, 0, 0,
     [](Policy& p) -> FieldSlot { return &p.refresh_point; }},
    {"stampede_lease_ms", FieldKind::kUint, 0, kStampedeLeaseMsMax,
     [](Policy& p) -> FieldSlot { return &p.stampede_lease_ms; }},
    {"flush_interval_ms", FieldKind::kUint, 0, kFlushIntervalMsMax,
     [](Policy& p) -> FieldSlot { return &p.flush_interval_ms; }},
    {"max_batch", FieldKind::kUint, 1, kMaxBatchMax,
     [](Policy& p) -> FieldSlot { return &p.max_batch; }},
    {"max_queue_depth", FieldKind::kUint, 1, kQueueDepthMax,
     [](Policy& p) -> FieldSlot { return &p.max_queue_depth; }},
    {"queue_wait_ms", FieldKind::kUint, 0, kQueueWaitMsMax,
     [](Policy& p) -> FieldSlot { return &p.queue_wait_ms; }},
    {"l1_bytes", FieldKind::kUint, 0, kL1BytesMax,
     [](Policy& p) -> FieldSlot { return &p.l1_bytes; }},
    {"eviction", FieldKind::kEviction, 0, 0, [](Policy& p) -> FieldSlot { return &p.eviction; }},
    {"sync", FieldKind::kSyncMode, 0, 0, [](Policy& p) -> FieldSlot { return &p.sync; }},
    {"conflict", FieldKind::kConflict, 0, 0, [](Policy& p) -> FieldSlot { return &p.conflict; }},
    {"table", FieldKind::kIdentifier, 0, 0, [](Policy& p) -> FieldSlot { return &p.pg.table; }},
    {"key_column", FieldKind::kIdentifier, 0, 0,
     [](Policy& p) -> FieldSlot { return &p.pg.key_column; }},
    {"value_column", FieldKind::kIdentifier, 0, 0,
     [](Policy& p) -> FieldSlot { return &p.pg.value_column; }},
    {"version_column", FieldKind::kIdentifier, 0, 0,
     [](Policy& p) -> FieldSlot { return &p.pg.version_column; }},
}};

const std::array<FieldSpec<PostgresConfig>, 11> kPostgresFields = {{
    {"conninfo", FieldKind::kString, 0, 0,
     [](PostgresConfig& c) -> FieldSlot { return &c.conninfo; }},
    {"pool_size", FieldKind::kUint, 1, kPoolSizeMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.pool_size; }},
    {"connect_timeout_ms", FieldKind::kUint, 1, kPgTimeoutMsMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.connect_timeout_ms; }},
    {"query_timeout_ms", FieldKind::kUint, 1, kPgTimeoutMsMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.query_timeout_ms; }},
    {"backoff_max_ms", FieldKind::kUint, 1, kPgTimeoutMsMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.backoff_max_ms; }},
    {"dead_letter_max", FieldKind::kUint, 1, kDeadLetterMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.dead_letter_max; }},
    {"changefeed", FieldKind::kBool, 0, 0,
     [](PostgresConfig& c) -> FieldSlot { return &c.changefeed; }},
    {"changefeed_slot", FieldKind::kString, 0, 0,
     [](PostgresConfig& c) -> FieldSlot { return &c.changefeed_slot; }},
    {"changefeed_publication", FieldKind::kString, 0, 0,
     [](PostgresConfig& c) -> FieldSlot { return &c.changefeed_publication; }},
    {"changefeed_status_interval_ms", FieldKind::kUint, 10, kPgTimeoutMsMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.changefeed_status_interval_ms; }},
    {"changefeed_takeover_ms", FieldKind::kUint, 50, kPgTimeoutMsMax,
     [](PostgresConfig& c) -> FieldSlot { return &c.changefeed_takeover_ms; }},
}};

const std::array<FieldSpec<JournalConfig>, 5> kJournalFields = {{
    {"dir", FieldKind::kPath, 0, 0, [](JournalConfig& c) -> FieldSlot { return &c.dir; }},
    {"segment_bytes", FieldKind::kUint, kSegmentBytesMin, kSegmentBytesMax,
     [](JournalConfig& c) -> FieldSlot { return &c.segment_bytes; }},
    {"shutdown_drain_ms", FieldKind::kUint, 0, kShutdownDrainMsMax,
     [](JournalConfig& c) -> FieldSlot { return &c.shutdown_drain_ms; }},
    {"fdatasync", FieldKind::kBool, 0, 0,
     [](JournalConfig& c) -> FieldSlot { return &c.fdatasync; }},
    {"fdatasync_interval_ms", FieldKind::kUint, 0, kFdatasyncIntervalMsMax,
     [](JournalConfig& c) -> FieldSlot { return &c.fdatasync_interval_ms; }},
}};

const std::array<FieldSpec<NatsConfig>, 20> kNatsFields = {{
    {"url", FieldKind::kServers, 0, 0, [](NatsConfig& c) -> FieldSlot { return &c.url; }},
    {"subject_prefix", FieldKind::kIdentifier, 0, 0,
     [](NatsConfig& c) -> FieldSlot { return &c.subject_prefix; }},
    {"instance", FieldKind::kString, 0, 0, [](NatsConfig& c) -> FieldSlot { return &c.instance; }},
    {"user", FieldKind::kString, 0, 0, [](NatsConfig& c) -> FieldSlot { return &c.user; }},
    {"password", FieldKind::kString, 0, 0, [](NatsConfig& c) -> FieldSlot { return &c.password; }},
    {"token", FieldKind::kString, 0, 0, [](NatsConfig& c) -> FieldSlot { return &c.token; }},
    {"connect_timeout_ms", FieldKind::kUint, 1, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.connect_timeout_ms; }},
    {"reconnect_wait_ms", FieldKind::kUint, 1, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.reconnect_wait_ms; }},
    {"ping_interval_ms", FieldKind::kUint, 10, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.ping_interval_ms; }},
    {"max_pings_out", FieldKind::kUint, 1, 100,
     [](NatsConfig& c) -> FieldSlot { return &c.max_pings_out; }},
    {"heartbeat_ms", FieldKind::kUint, kHeartbeatMsMin, kHeartbeatMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.heartbeat_ms; }},
    {"linger_us", FieldKind::kUint, 0, kSyncLingerUsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.linger_us; }},
    {"silence_ms", FieldKind::kUint, 0, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.silence_ms; }},
    {"partitions", FieldKind::kUint, 1, kSyncPartitionsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.partitions; }},
    {"max_staleness_ms", FieldKind::kUint, 0, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.max_staleness_ms; }},
    {"clock_skew_max_ms", FieldKind::kUint, 0, kNatsTimeoutMsMax,
     [](NatsConfig& c) -> FieldSlot { return &c.clock_skew_max_ms; }},
    {"batch_bytes_max", FieldKind::kUint, 1024, kSyncMessageBytesMax,
     [](NatsConfig& c) -> FieldSlot { return &c.batch_bytes_max; }},
    {"queue_max", FieldKind::kUint, 16, kSyncQueueMax,
     [](NatsConfig& c) -> FieldSlot { return &c.queue_max; }},
    {"pending_msgs_max", FieldKind::kUint, 16, kSyncQueueMax,
     [](NatsConfig& c) -> FieldSlot { return &c.pending_msgs_max; }},
    {"pending_bytes_max", FieldKind::kUint, 1 << 16, 1ull << 34,
     [](NatsConfig& c) -> FieldSlot { return &c.pending_bytes_max; }},
}};

#define WS_UINT(name, lo, hi) \
  {#name, FieldKind::kUint, lo, hi, [](WebsocketConfig& c) -> FieldSlot { return &c.name; }}
#define WS_TEXT(name, kind) \
  {#name, kind, 0, 0, [](WebsocketConfig& c) -> FieldSlot { return &c.name; }}
const std::array<FieldSpec<WebsocketConfig>, 20> kWebsocketFields = {{
    WS_UINT(port, 0, 65535),
    WS_TEXT(bind, FieldKind::kPath),
    WS_TEXT(path, FieldKind::kPath),
    WS_TEXT(secret, FieldKind::kString),
    WS_TEXT(public_read, FieldKind::kString),
    WS_UINT(connections_max, 1, 10'000'000),
    WS_UINT(subscriptions_max, 1, 100'000),
    WS_UINT(frame_bytes_max, 125, 1u << 30),
    WS_UINT(message_bytes_max, 125, 1u << 30),
    WS_UINT(value_bytes_max, 1, 512u << 20),
    WS_UINT(send_queue_bytes, 4096, 1u << 30),
    WS_UINT(merged_keys_max, 1, 10'000'000),
    WS_UINT(slow_close_ms, 100, 3'600'000),
    WS_UINT(history_events, 0, 100'000'000),
    WS_UINT(history_ms, 0, 86'400'000),
    WS_UINT(snapshot_page, 1, 100'000),
    WS_UINT(snapshot_keys_max, 1, 100'000'000),
    WS_UINT(writes_per_s, 0, 10'000'000),
    WS_UINT(ops_remembered, 0, 1'000'000),
    WS_UINT(handshake_timeout_ms, 100, 600'000),
}};
#undef WS_UINT
#undef WS_TEXT

// "nats://host:port" or "tls://host:port" (or host:port), each non-empty, comma-separated.
bool is_server_list(std::string_view s) {
  if (s.empty()) return true;  // no bus
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    std::string_view one = s.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (const size_t scheme = one.find("://"); scheme != std::string_view::npos) {
      const std::string_view name = one.substr(0, scheme);
      if (name != "nats" && name != "tls") return false;
      one.remove_prefix(scheme + 3);
    }
    const size_t colon = one.rfind(':');
    if (one.empty() || colon == 0 || colon == std::string_view::npos ||
        colon + 1 == one.size() || one.find_first_of(" /") != std::string_view::npos) {
      return false;
    }
    start = comma + 1;
  }
  return true;
}

// Fields that act under some strategies only; the others act under all of them.
struct FieldScope {
  std::string_view field;
  bool (*acts)(Strategy);
  std::string_view users;
};

constexpr bool with_postgres(Strategy s) { return s != Strategy::kCache; }
constexpr bool write_behind(Strategy s) { return s == Strategy::kWriteBehind; }
constexpr bool refresh_ahead(Strategy s) { return s == Strategy::kRefreshAhead; }
constexpr std::string_view kPgUsers = "only the PostgreSQL strategies use it";
constexpr std::string_view kBehindUsers = "only write-behind uses it";

constexpr FieldScope kScopedFields[] = {
    {"negative_ttl_ms", with_postgres,
     "only the PostgreSQL strategies use it (it caches PostgreSQL's misses)"},
    {"refresh_point", refresh_ahead, "only refresh-ahead uses it"},
    {"stampede_lease_ms", with_postgres,
     "only the PostgreSQL strategies use it (it spares PostgreSQL concurrent misses)"},
    {"flush_interval_ms", write_behind, kBehindUsers},
    {"max_batch", write_behind, kBehindUsers},
    {"max_queue_depth", write_behind, kBehindUsers},
    {"queue_wait_ms", write_behind, kBehindUsers},
    {"table", with_postgres, kPgUsers},
    {"key_column", with_postgres, kPgUsers},
    {"value_column", with_postgres, kPgUsers},
    {"version_column", with_postgres, kPgUsers},
};

bool is_identifier_part(std::string_view s) {
  if (s.empty() || s.size() > kSqlIdentifierBytesMax) return false;
  auto c0 = static_cast<unsigned char>(s[0]);
  if (!std::isalpha(c0) && c0 != '_') return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

// Letters only from ASCII: std::isalpha under the "C" locale, which the proxy never changes.
bool is_sql_identifier(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos) return is_identifier_part(s);
  return is_identifier_part(s.substr(0, dot)) && is_identifier_part(s.substr(dot + 1));
}

std::string format_double(double d) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  if (ec != std::errc()) return "?";
  return std::string(buf.data(), end);
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool is_eviction_name(std::string_view s) {
  const auto names = cache::policy_names();
  return std::find(names.begin(), names.end(), s) != names.end();
}

std::string eviction_names_list() {
  std::string out;
  for (std::string_view n : cache::policy_names())
    out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string format_value(const FieldValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return format_double(*d);
  return quote(std::get<std::string>(v));
}

std::string wrong_type(std::string_view name, FieldKind kind, uint64_t min, uint64_t max,
                       const FieldValue& v) {
  return std::string(name) + " must be " + allowed_text(kind, min, max) + " (got " +
         std::string(value_type_name(v)) + ")";
}

std::expected<void, std::string> assign_uint(std::string_view name, uint64_t min, uint64_t max,
                                             FieldSlot slot, int64_t i) {
  if (i < 0 || static_cast<uint64_t>(i) < min || static_cast<uint64_t>(i) > max) {
    return std::unexpected(std::string(name) + " " + std::to_string(i) +
                           " is out of range: must be " + allowed_text(FieldKind::kUint, min, max));
  }
  const auto u = static_cast<uint64_t>(i);
  if (auto* p32 = std::get_if<uint32_t*>(&slot)) {
    if (u > kU32Max) return std::unexpected(std::string(name) + " does not fit 32 bits");
    **p32 = static_cast<uint32_t>(u);
  } else {
    *std::get<uint64_t*>(slot) = u;
  }
  return {};
}

}  // namespace

std::string allowed_text(FieldKind kind, uint64_t min, uint64_t max) {
  switch (kind) {
    case FieldKind::kBool:
      return "true or false";
    case FieldKind::kUint:
      return "an integer in " + std::to_string(min) + ".." + std::to_string(max);
    case FieldKind::kFraction:
      return "a number between 0 and 1, both excluded";
    case FieldKind::kStrategy:
      return "one of " + strategy_names_list();
    case FieldKind::kIdentifier:
      return "an SQL identifier: [A-Za-z_][A-Za-z0-9_]* (optionally schema.table), at most " +
             std::to_string(kSqlIdentifierBytesMax) + " characters per part";
    case FieldKind::kString:
      return "a string";
    case FieldKind::kPath:
      return "a non-empty string";
    case FieldKind::kEviction:
      return "one of " + eviction_names_list();
    case FieldKind::kSyncMode:
      return "one of off, invalidate, update, auto (invalidate when a NATS bus is configured)";
    case FieldKind::kConflict:
      return "lww, version or append";
    case FieldKind::kServers:
      return "NATS server URLs, comma-separated: nats://host:port[,nats://host:port...]";
  }
  return "?";
}

std::string_view value_type_name(const FieldValue& v) {
  if (std::holds_alternative<bool>(v)) return "a boolean";
  if (std::holds_alternative<int64_t>(v)) return "an integer";
  if (std::holds_alternative<double>(v)) return "a floating-point number";
  return "a string";
}

std::expected<void, std::string> assign_value(std::string_view name, FieldKind kind, uint64_t min,
                                              uint64_t max, FieldSlot slot, const FieldValue& v) {
  const std::string* s = std::get_if<std::string>(&v);
  switch (kind) {
    case FieldKind::kBool:
      if (!std::holds_alternative<bool>(v)) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      *std::get<bool*>(slot) = std::get<bool>(v);
      return {};
    case FieldKind::kUint:
      if (!std::holds_alternative<int64_t>(v)) {
        return std::unexpected(wrong_type(name, kind, min, max, v));
      }
      return assign_uint(name, min, max, slot, std::get<int64_t>(v));
    case FieldKind::kFraction: {
      double d;
      if (const auto* i = std::get_if<int64_t>(&v)) {
        d = static_cast<double>(*i);
      } else if (const auto* f = std::get_if<double>(&v)) {
        d = *f;
      } else {
        return std::unexpected(wrong_type(name, kind, 0, 0, v));
      }
      if (!(d > 0.0 && d < 1.0)) {  // also refuses NaN
        return std::unexpected(std::string(name) + " " + format_value(v) +
                               " is out of range: must be " + allowed_text(kind, 0, 0));
      }
      *std::get<double*>(slot) = d;
      return {};
    }
    case FieldKind::kStrategy: {
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      Strategy st;
      if (!parse_strategy(*s, &st)) {
        return std::unexpected(std::string(name) + " " + quote(*s) + " is not " +
                               allowed_text(kind, 0, 0));
      }
      *std::get<Strategy*>(slot) = st;
      return {};
    }
    case FieldKind::kIdentifier:
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      if (!is_sql_identifier(*s)) {
        return std::unexpected(std::string(name) + " " + quote(*s) +
                               " is not a valid SQL identifier: must be " +
                               allowed_text(kind, 0, 0));
      }
      *std::get<std::string*>(slot) = *s;
      return {};
    case FieldKind::kEviction:
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      if (!s->empty() && !is_eviction_name(*s)) {  // "": the [server] eviction
        return std::unexpected(std::string(name) + " " + quote(*s) + " is not " +
                               allowed_text(kind, 0, 0));
      }
      *std::get<std::string*>(slot) = *s;
      return {};
    case FieldKind::kSyncMode: {
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      SyncMode m;
      if (!parse_sync_mode(*s, &m)) {
        return std::unexpected(std::string(name) + " " + quote(*s) + " is not " +
                               allowed_text(kind, 0, 0));
      }
      *std::get<SyncMode*>(slot) = m;
      return {};
    }
    case FieldKind::kConflict:
    case FieldKind::kServers:
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      if (kind == FieldKind::kConflict ? *s != "lww" && *s != "version" && *s != "append" : !is_server_list(*s)) {
        return std::unexpected(std::string(name) + " " + quote(*s) + " is not accepted: must be " +
                               allowed_text(kind, 0, 0));
      }
      *std::get<std::string*>(slot) = *s;
      return {};
    case FieldKind::kString:
    case FieldKind::kPath:
      if (s == nullptr) return std::unexpected(wrong_type(name, kind, 0, 0, v));
      if (kind == FieldKind::kPath && s->empty()) {
        return std::unexpected(std::string(name) + " must be " + allowed_text(kind, 0, 0) +
                               " (got an empty string)");
      }
      *std::get<std::string*>(slot) = *s;
      return {};
  }
  return std::unexpected(std::string(name) + ": unknown field kind");
}

std::expected<FieldValue, std::string> parse_value_text(std::string_view name, FieldKind kind,
                                                        uint64_t min, uint64_t max,
                                                        std::string_view text) {
  switch (kind) {
    case FieldKind::kBool: {
      std::string lower(text);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") return true;
      if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return false;
      return std::unexpected(std::string(name) + " " + quote(text) +
                             " is not a boolean: must be true or false (or yes/no)");
    }
    case FieldKind::kUint: {
      int64_t i = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec == std::errc::result_out_of_range) {
        return std::unexpected(std::string(name) + " " + std::string(text) +
                               " is out of range: must be " + allowed_text(kind, min, max));
      }
      if (ec != std::errc() || end != text.data() + text.size()) {
        return std::unexpected(std::string(name) + " " + quote(text) +
                               " is not an integer: must be " + allowed_text(kind, min, max));
      }
      return i;
    }
    case FieldKind::kFraction: {
      double d = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(d)) {
        return std::unexpected(std::string(name) + " " + quote(text) +
                               " is not a number: must be " + allowed_text(kind, min, max));
      }
      return d;
    }
    case FieldKind::kStrategy:
    case FieldKind::kIdentifier:
    case FieldKind::kString:
    case FieldKind::kPath:
    case FieldKind::kEviction:
    case FieldKind::kSyncMode:
    case FieldKind::kConflict:
    case FieldKind::kServers:
      return std::string(text);
  }
  return std::unexpected(std::string(name) + ": unknown field kind");
}

std::string format_slot(const FieldSlot& slot) {
  if (const auto* b = std::get_if<bool*>(&slot)) return **b ? "yes" : "no";
  if (const auto* u = std::get_if<uint32_t*>(&slot)) return std::to_string(**u);
  if (const auto* u = std::get_if<uint64_t*>(&slot)) return std::to_string(**u);
  if (const auto* d = std::get_if<double*>(&slot)) return format_double(**d);
  if (const auto* st = std::get_if<Strategy*>(&slot)) return std::string(strategy_name(**st));
  if (const auto* m = std::get_if<SyncMode*>(&slot)) return std::string(sync_mode_name(**m));
  return *std::get<std::string*>(slot);
}

std::span<const FieldSpec<Policy>> policy_fields() { return kPolicyFields; }
std::span<const FieldSpec<PostgresConfig>> postgres_fields() { return kPostgresFields; }
std::span<const FieldSpec<JournalConfig>> journal_fields() { return kJournalFields; }
std::span<const FieldSpec<NatsConfig>> nats_fields() { return kNatsFields; }
std::span<const FieldSpec<WebsocketConfig>> websocket_fields() { return kWebsocketFields; }

std::string policy_where(const Policy& p) {
  if (p.prefix.empty()) return "[default]";
  return "[[policy]] prefix " + quote(p.prefix);
}

std::expected<void, PolicyProblem> check_policy(const Policy& p, bool has_postgres) {
  if ((p.conflict == "version" || p.conflict == "append") &&
      p.strategy != Strategy::kWriteThrough && p.strategy != Strategy::kWriteAround &&
      p.strategy != Strategy::kRefreshAhead) {
    const bool append = p.conflict == "append";
    return std::unexpected(PolicyProblem{
        "conflict '" + p.conflict +
            "' needs a strategy that writes PostgreSQL before acknowledging "
            "(write-through, write-around, refresh-ahead): " +
            (append ? "positions are assigned by PostgreSQL" : "the check is PostgreSQL's row version") +
            ", and strategy '" + std::string(strategy_name(p.strategy)) + "' " +
            (p.strategy == Strategy::kCache ? "does not use PostgreSQL" : "acknowledges first"),
        {"conflict", "strategy"}});
  }
  if (p.conflict == "append" && p.negative_ttl_ms > 0) {
    return std::unexpected(PolicyProblem{
        "negative_ttl_ms must be 0 with conflict 'append': readers look for the next position, "
        "and a cached absence would hide the message once it is written",
        {"negative_ttl_ms", "conflict"}});
  }
  if (p.strategy == Strategy::kCache && !p.l1 && !p.l2) {
    return std::unexpected(PolicyProblem{
        "l1 and l2 are both false with strategy 'cache': its keys would be kept nowhere "
        "(turn on l1 or l2, or choose a PostgreSQL strategy)",
        {"l2", "l1", "strategy"}});
  }
  if (p.strategy == Strategy::kRefreshAhead && p.ttl_ms == 0) {
    return std::unexpected(PolicyProblem{
        "strategy 'refresh-ahead' needs ttl_ms > 0 (refresh_point is a fraction of the TTL)",
        {"ttl_ms", "strategy"}});
  }
  if (p.prefix.empty() && (p.l1_bytes != 0 || !p.eviction.empty())) {
    return std::unexpected(PolicyProblem{
        "l1_bytes and eviction are not allowed in [default]: the default L1 is sized by "
        "[server] maxmemory and evicted by [server] eviction",
        {"l1_bytes", "eviction"}});
  }
  if (!p.eviction.empty() && p.l1_bytes == 0) {
    return std::unexpected(PolicyProblem{
        "eviction " + quote(p.eviction) +
            " needs l1_bytes > 0: a prefix has an eviction policy of its own only in an L1 "
            "partition of its own",
        {"eviction", "l1_bytes"}});
  }
  if (p.l1_bytes != 0 && !p.l1) {
    return std::unexpected(PolicyProblem{"l1_bytes " + std::to_string(p.l1_bytes) +
                                             " with l1 = false: the prefix keeps nothing "
                                             "in L1 (drop l1_bytes or turn l1 on)",
                                         {"l1_bytes", "l1"}});
  }
  if (p.uses_postgres() && !has_postgres) {
    return std::unexpected(PolicyProblem{
        "strategy " + quote(strategy_name(p.strategy)) +
            " uses PostgreSQL, but [postgres] conninfo is not set (set it, or use strategy "
            "'cache')",
        {"strategy"}});
  }
  return {};
}

std::string_view field_unused_by(std::string_view field, Strategy s) {
  for (const FieldScope& f : kScopedFields) {
    if (f.field == field) return f.acts(s) ? std::string_view() : f.users;
  }
  return {};
}

}  // namespace strata::policies::detail
