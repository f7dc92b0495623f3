// One per-prefix policy: which tiers hold the prefix's keys, for how long, how writes travel
// (the write strategy) and where in PostgreSQL the keys live. Plain data; policy_config.h parses
// and validates it, PrefixTable<Policy> picks the one for a key (longest prefix wins).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata::policies {

enum class Strategy : uint8_t {
  kCache,         // no PostgreSQL: L1 (and L2 when on) only, as strata without policies
  kWriteThrough,  // ack after PostgreSQL commits and the cache tiers hold the value
  kWriteBehind,   // ack once cache tiers + local journal hold it; PostgreSQL in batches later
  kWriteAround,   // ack after PostgreSQL commits; cache tiers invalidated, next read fills
  kRefreshAhead,  // writes as write-through; reads past refresh_point of TTL reload in background
};

// How other strata instances hear of this prefix's changes over NATS.
enum class SyncMode : uint8_t {
  kAuto,        // not written: invalidate when [nats] is configured, else off
  kOff,         // peers are not told
  kInvalidate,  // peers drop the key from their L1
  kUpdate,      // peers install the new value and version when newer than theirs
};
std::string_view sync_mode_name(SyncMode m);  // "auto", "off", "invalidate", "update"
bool parse_sync_mode(std::string_view s, SyncMode* out);
// The mode in force: kAuto resolved by whether [nats] is configured.
inline SyncMode effective_sync(SyncMode m, bool nats) {
  return m != SyncMode::kAuto ? m : nats ? SyncMode::kInvalidate : SyncMode::kOff;
}

std::string_view strategy_name(Strategy s);  // "write-through", ..., "cache"
bool parse_strategy(std::string_view s, Strategy* out);
// "write-through, write-behind, write-around, refresh-ahead, cache" (for error messages).
std::string strategy_names_list();

// Where a prefix's keys live in PostgreSQL. The default table is created if missing:
//   strata_kv(key text primary key, value bytea, version bigint, updated_at timestamptz)
struct PgMapping {
  std::string table = "strata_kv";
  std::string key_column = "key";
  std::string value_column = "value";
  std::string version_column = "version";
  bool operator==(const PgMapping&) const = default;
};

struct Policy {
  std::string prefix;  // "" for the default policy
  bool l1 = true;      // L1 (in-process) tier holds this prefix
  bool l2 = true;      // L2 (upstream Redis) tier holds this prefix; ignored without an upstream
  uint64_t ttl_ms = 0;           // lifetime in the cache tiers; 0: no TTL
  uint64_t negative_ttl_ms = 0;  // how long a "not in PostgreSQL" answer is cached; 0: never
  Strategy strategy = Strategy::kCache;
  double refresh_point = 0.8;         // refresh-ahead: reload when this fraction of TTL has passed
  // Stampede control across instances (with L2): a miss (or a refresh-ahead reload) that would
  // read PostgreSQL first takes a lease in Redis for this long; the instances that lose wait
  // for the winner's value in L2, at most this long. 0: every instance reads PostgreSQL.
  uint32_t stampede_lease_ms = 500;
  uint32_t flush_interval_ms = 100;   // write-behind: oldest pending write waits at most this
  uint32_t max_batch = 256;           // write-behind: rows per multi-row upsert
  uint32_t max_queue_depth = 100000;  // write-behind: pending keys before writers wait
  uint32_t queue_wait_ms = 2000;      // write-behind: how long a writer waits for room, then errors
  // An L1 partition of its own: this many bytes, evicted by `eviction` (a cache/ policy name,
  // "adaptive" to let strata choose from this prefix's own traffic). 0: the prefix shares the
  // default L1 (maxmemory, [server] eviction). Fixed while strata runs.
  uint64_t l1_bytes = 0;
  std::string eviction;  // only with l1_bytes; "": the [server] eviction
  SyncMode sync = SyncMode::kAuto;
  // Which of two concurrent writes wins. "lww": the higher version (a hybrid logical clock),
  // in every tier and on every instance. "version": writes are compare-and-set on the
  // PostgreSQL row's version (STRATA CAS), plain SETs are refused. "append": writes never
  // conflict: STRATA APPEND gives each message the next position of its stream, assigned by
  // PostgreSQL (one gapless order), and the message is a key of its own; plain writes are
  // refused (docs/append.md).
  std::string conflict = "lww";
  bool version_checked() const { return conflict == "version"; }
  bool append_only() const { return conflict == "append"; }
  PgMapping pg;

  bool uses_postgres() const { return strategy != Strategy::kCache; }
  bool operator==(const Policy&) const = default;
};

}  // namespace strata::policies
