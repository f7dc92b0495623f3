#include "proxy/tiers/policy_registry.h"

#include <algorithm>
#include <chrono>

#include "proxy/loop/log.h"

namespace strata::proxy {
namespace {

// A replaced snapshot outlives every request that may still point into it: those wait at most
// a PostgreSQL connect + query, or a write-behind queue wait, or an upstream reply; this margin
// covers the last (and the rest of a loop iteration).
constexpr int64_t kRetireMarginMs = 60'000;

int64_t retire_grace_ms(const policies::PolicyConfig& c) {
  uint64_t wait = c.fallback.queue_wait_ms;
  for (const policies::Policy& p : c.policies) wait = std::max<uint64_t>(wait, p.queue_wait_ms);
  return kRetireMarginMs +
         static_cast<int64_t>(c.postgres.connect_timeout_ms + c.postgres.query_timeout_ms + wait);
}

int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

MappingSql make_sql(const policies::PgMapping& m) {
  MappingSql s;
  s.table = quote_ident(m.table);
  s.key = quote_ident(m.key_column);
  s.value = quote_ident(m.value_column);
  s.version = quote_ident(m.version_column);
  s.default_table = m == policies::PgMapping{};
  s.select =
      "SELECT " + s.value + ", " + s.version + " FROM " + s.table + " WHERE " + s.key + " = $1";
  s.remove =
      "DELETE FROM " + s.table + " WHERE " + s.key + " = $1 AND " + s.version + " <= $2::bigint";
  s.upsert = s.upsert_rows(1);
  const std::string touched = s.default_table ? ", updated_at = now()" : "";
  const std::string insert = "INSERT INTO " + s.table + " AS t (" + s.key + ", " + s.value +
                             ", " + s.version + (s.default_table ? ", updated_at" : "") +
                             ") VALUES ($1, $2, $3::bigint" +
                             (s.default_table ? ", now()" : "") + ") ON CONFLICT (" + s.key +
                             ") DO UPDATE SET " + s.value + " = EXCLUDED." + s.value + ", " +
                             s.version + " = GREATEST(EXCLUDED." + s.version + ", t." +
                             s.version + " + 1)" +
                             (s.default_table ? ", updated_at = EXCLUDED.updated_at" : "");
  s.upsert_latest = insert + " RETURNING " + s.version;
  s.remove_latest = "DELETE FROM " + s.table + " WHERE " + s.key + " = $1";
  s.cas_update = "UPDATE " + s.table + " AS t SET " + s.value + " = $2, " + s.version +
                 " = GREATEST($3::bigint, $4::bigint + 1)" + touched + " WHERE " + s.key +
                 " = $1 AND " + s.version + " = $4::bigint AND " + s.value +
                 " IS NOT NULL RETURNING " + s.version;
  s.cas_create = insert + " WHERE t." + s.value + " IS NULL RETURNING " + s.version;
  s.version_of = "SELECT " + s.version + " FROM " + s.table + " WHERE " + s.key + " = $1 AND " +
                 s.value + " IS NOT NULL";
  s.append = "WITH h AS (INSERT INTO strata_append AS a (stream, last) VALUES ($1, 1) "
             "ON CONFLICT (stream) DO UPDATE SET last = a.last + 1 RETURNING last) "
             "INSERT INTO " + s.table + " (" + s.key + ", " + s.value + ", " + s.version +
             (s.default_table ? ", updated_at" : "") + ") SELECT $1 || ':' || h.last, $2, "
             "$3::bigint" + (s.default_table ? ", now()" : "") + " FROM h RETURNING " + s.key +
             ", " + s.version;
  s.head = "SELECT last FROM strata_append WHERE stream = $1";
  s.tombstone = "INSERT INTO " + s.table + " AS t (" + s.key + ", " + s.value + ", " + s.version +
                (s.default_table ? ", updated_at" : "") + ") VALUES ($1, NULL, $2::bigint" +
                (s.default_table ? ", now()" : "") + ") ON CONFLICT (" + s.key +
                ") DO UPDATE SET " + s.value + " = NULL, " + s.version + " = EXCLUDED." +
                s.version + (s.default_table ? ", updated_at = EXCLUDED.updated_at" : "") +
                " WHERE t." + s.version + " < EXCLUDED." + s.version;
  return s;
}

// The Store's L1 partitions are laid out at start, so a new config keeps each prefix's running
// l1_bytes/eviction. Returns whether anything had to be kept back.
bool keep_l1_layout(const policies::PolicyConfig& old, policies::PolicyConfig* next) {
  bool changed = false;
  for (policies::Policy& p : next->policies) {
    uint64_t bytes = 0;
    std::string eviction;
    for (const policies::Policy& o : old.policies) {
      if (o.prefix == p.prefix) {
        bytes = o.l1_bytes;
        eviction = o.eviction;
      }
    }
    if (p.l1_bytes != bytes || p.eviction != eviction) {
      changed = true;
      p.l1_bytes = bytes;
      p.eviction = std::move(eviction);
    }
  }
  for (const policies::Policy& o : old.policies) {
    if (o.l1_bytes == 0) continue;
    const bool kept = std::any_of(next->policies.begin(), next->policies.end(),
                                  [&](const policies::Policy& p) { return p.prefix == o.prefix; });
    changed = changed || !kept;
  }
  return changed;
}

}  // namespace

std::string quote_ident(std::string_view name) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    std::string_view part =
        name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    out += '"';
    for (char c : part) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
    if (dot == std::string_view::npos) break;
    out += '.';
    start = dot + 1;
  }
  return out;
}

std::string MappingSql::upsert_rows(size_t n) const {
  const std::string& t = table;
  const std::string& k = key;
  const std::string& v = value;
  const std::string& ver = version;
  std::string q = "INSERT INTO " + t + " AS t (" + k + ", " + v + ", " + ver;
  if (default_table) q += ", updated_at";
  q += ") VALUES ";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) q += ", ";
    q += "($" + std::to_string(3 * i + 1) + ", $" + std::to_string(3 * i + 2) + ", $" +
         std::to_string(3 * i + 3) + "::bigint";
    if (default_table) q += ", now()";
    q += ")";
  }
  // Never replace a newer version: replays and retries are idempotent.
  q += " ON CONFLICT (" + k + ") DO UPDATE SET " + v + " = EXCLUDED." + v + ", " + ver +
       " = EXCLUDED." + ver;
  if (default_table) q += ", updated_at = EXCLUDED.updated_at";
  q += " WHERE t." + ver + " < EXCLUDED." + ver;
  return q;
}

PolicyRegistry::PolicyRegistry(std::string path, policies::ConfigContext ctx,
                               policies::PolicyConfig initial)
    : path_(std::move(path)), ctx_(ctx) {
  // STRATA POLICY SET may choose a PostgreSQL strategy only if strata started with [postgres].
  ctx_.has_postgres = !initial.postgres.conninfo.empty();
  std::lock_guard lock(mu_);
  publish(build(std::move(initial)));
}

PolicyRegistry::~PolicyRegistry() = default;

PrefixStats* PolicyRegistry::stats_for(std::string_view prefix) {
  auto [it, fresh] = stats_.try_emplace(std::string(prefix));
  if (fresh) it->second = std::make_unique<PrefixStats>();
  return it->second.get();
}

std::unique_ptr<PolicySnapshot> PolicyRegistry::build(policies::PolicyConfig c) {
  auto s = std::make_unique<PolicySnapshot>();
  auto entry = [&](const policies::Policy& p) {
    PolicyEntry e;
    e.policy = p;
    e.stats = stats_for(p.prefix);
    e.sql = make_sql(p.pg);
    if (p.uses_postgres()) s->any_postgres = true;
    if (!p.uses_postgres() && (!p.l1 || !p.l2)) s->any_tier_off = true;
    if (!p.uses_postgres() && p.ttl_ms > 0) s->any_cache_ttl = true;
    return e;
  };
  s->table = policies::PrefixTable<PolicyEntry>(entry(c.fallback));
  for (const policies::Policy& p : c.policies) s->table.set(p.prefix, entry(p));
  s->config = std::move(c);
  return s;
}

void PolicyRegistry::publish(std::unique_ptr<PolicySnapshot> s) {
  const int64_t now = mono_ms();
  std::erase_if(retired_,
                [&](const Retired& r) { return now - r.at_ms > retire_grace_ms(r.snap->config); });
  current_.store(s.get(), std::memory_order_release);
  if (live_) retired_.push_back({std::move(live_), now});
  live_ = std::move(s);
}

std::expected<void, std::string> PolicyRegistry::reload() {
  if (path_.empty()) return std::unexpected("no config file (start strata with --config FILE)");
  auto parsed = policies::load_policy_file(path_, ctx_);
  if (!parsed) return std::unexpected(parsed.error());
  std::lock_guard lock(mu_);
  const policies::PolicyConfig& old = live_->config;
  if (!(parsed->postgres == old.postgres) || !(parsed->journal == old.journal)) {
    STRATA_LOG_WARN("reload: [postgres] and [journal] changes take effect at the next restart");
    parsed->postgres = old.postgres;
    parsed->journal = old.journal;
  }
  if (keep_l1_layout(old, &*parsed)) {
    STRATA_LOG_WARN(
        "reload: l1_bytes/eviction (L1 partitions) changes take effect at the next "
        "restart; the running partitions stay");
  }
  if (parsed->any_postgres() && old.postgres.conninfo.empty()) {
    return std::unexpected(
        "a policy uses PostgreSQL but strata started without [postgres]; restart");
  }
  publish(build(std::move(*parsed)));
  return {};
}

std::expected<void, std::string> PolicyRegistry::set_field(std::string_view prefix,
                                                           std::string_view field,
                                                           std::string_view value) {
  if (field == "l1_bytes" || field == "eviction") {
    return std::unexpected(std::string(field) +
                           " is fixed while strata runs (L1 partitions are laid out at start): "
                           "change it in the config file and restart");
  }
  std::lock_guard lock(mu_);
  policies::PolicyConfig c = live_->config;
  policies::Policy* target = nullptr;
  if (prefix.empty()) {
    target = &c.fallback;
  } else {
    for (policies::Policy& p : c.policies) {
      if (p.prefix == prefix) target = &p;
    }
    if (target == nullptr) {
      policies::Policy p = c.fallback;
      p.prefix = std::string(prefix);
      c.policies.push_back(std::move(p));
      target = &c.policies.back();
    }
  }
  if (auto r = policies::set_policy_field(target, field, value, ctx_); !r) {
    return std::unexpected(r.error());
  }
  if (target->uses_postgres() && c.postgres.conninfo.empty()) {
    return std::unexpected("strategy " + std::string(policies::strategy_name(target->strategy)) +
                           " needs PostgreSQL: configure [postgres] conninfo and restart");
  }
  publish(build(std::move(c)));
  return {};
}

std::string PolicyRegistry::setup_sql(const policies::PolicyConfig& c) {
  bool uses_default = c.fallback.uses_postgres() && c.fallback.pg == policies::PgMapping{};
  bool appends = false;
  for (const policies::Policy& p : c.policies) {
    if (p.uses_postgres() && p.pg == policies::PgMapping{}) uses_default = true;
    if (p.uses_postgres() && p.append_only()) appends = true;
  }
  // PgConn runs this in a transaction under pg_advisory_xact_lock(7256001): the setups of every
  // connection, worker and process never overlap.
  std::string sql;
  if (uses_default) {
    sql += "CREATE TABLE IF NOT EXISTS strata_kv (key text PRIMARY KEY, value bytea, "
           "version bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());";
  }
  // conflict = append: each stream's last position (the messages are rows of the prefix's
  // table, keyed stream:position).
  if (appends) {
    sql += "CREATE TABLE IF NOT EXISTS strata_append (stream text PRIMARY KEY, "
           "last bigint NOT NULL);";
  }
  return sql;
}

}  // namespace strata::proxy
