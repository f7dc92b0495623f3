// The policy file: TOML, validated with messages that name the file, line, field and what is
// allowed. Besides [server] (proxy/server/options.cc reads that table) it holds:
//
//   [postgres]            conninfo, pool_size, connect_timeout_ms, query_timeout_ms,
//                         backoff_max_ms, dead_letter_max
//   [journal]             dir, segment_bytes, shutdown_drain_ms
//   [nats]                url, subject_prefix, instance, user, password, token, timeouts,
//                         heartbeat_ms, partitions, max_staleness_ms, queue limits
//   [default]             the policy for keys no prefix matches (same fields as [[policy]])
//   [[policy]]            prefix = "user:", l1, l2, ttl_ms, negative_ttl_ms, strategy,
//                         refresh_point, flush_interval_ms, max_batch, max_queue_depth,
//                         queue_wait_ms, l1_bytes, eviction, sync, conflict, table,
//                         key_column, value_column, version_column
//
// Parsing may throw internally (toml++), never out of these functions: errors are values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policies/policy.h"
#include "policies/policy_table.h"

namespace strata::policies {

// Limits the file (and STRATA POLICY SET) accepts; messages quote them.
constexpr uint64_t kTtlMsMax = 315'360'000'000;  // ten years
constexpr uint64_t kFlushIntervalMsMax = 3'600'000;
constexpr uint64_t kMaxBatchMax = 10'000;
constexpr uint64_t kQueueDepthMax = 100'000'000;
constexpr uint64_t kQueueWaitMsMax = 600'000;
constexpr uint64_t kStampedeLeaseMsMax = 60'000;  // a dead lease holder costs waiters this much
constexpr size_t kPrefixBytesMax = 1024;
constexpr size_t kSqlIdentifierBytesMax = 63;  // PostgreSQL's NAMEDATALEN - 1, per dotted part
constexpr uint64_t kPoolSizeMax = 64;
constexpr uint64_t kPgTimeoutMsMax = 3'600'000;
constexpr uint64_t kDeadLetterMax = 10'000'000;
constexpr uint64_t kSegmentBytesMin = 4096;
constexpr uint64_t kSegmentBytesMax = 16ull << 30;
constexpr uint64_t kShutdownDrainMsMax = 600'000;
constexpr uint64_t kFdatasyncIntervalMsMax = 60'000;
constexpr uint64_t kL1BytesMax = 1ull << 40;  // one prefix's own L1 partition
constexpr size_t kL1PartitionsMax = 64;       // prefixes with an L1 partition of their own
constexpr uint64_t kNatsTimeoutMsMax = 600'000;
constexpr uint64_t kHeartbeatMsMin = 5;
constexpr uint64_t kHeartbeatMsMax = 10'000;
constexpr uint64_t kSyncLingerUsMax = 10'000;  // a busy stream's sender clock, at most 10 ms
constexpr uint64_t kSyncPartitionsMax = 4096;  // the event format's limit
constexpr uint64_t kSyncQueueMax = 1ull << 24;
constexpr uint64_t kSyncMessageBytesMax = 1ull << 20;  // NATS's default max_payload

struct PostgresConfig {
  std::string conninfo;  // libpq conninfo; empty: no PostgreSQL tier
  uint32_t pool_size = 2;  // connections per worker
  uint32_t connect_timeout_ms = 2000;
  uint32_t query_timeout_ms = 5000;
  uint32_t backoff_max_ms = 2000;
  uint32_t dead_letter_max = 10000;
  // The change feed (logical replication, pgoutput): changes made directly in PostgreSQL
  // invalidate (or, with sync = "update", update) the cache tiers of every instance. One
  // instance of the fleet reads the slot at a time (an advisory lock elects it).
  bool changefeed = false;
  std::string changefeed_slot = "strata_changefeed";        // created if missing
  std::string changefeed_publication = "strata_changefeed";  // created/extended if missing
  uint32_t changefeed_status_interval_ms = 1000;  // standby status updates at least this often
  // A standby instance tries to take over the slot this often: the bound on a reader's death
  // going unnoticed (PostgreSQL frees the lock as soon as the dead reader's socket closes).
  uint32_t changefeed_takeover_ms = 1000;
  bool operator==(const PostgresConfig&) const = default;
};

struct JournalConfig {
  std::string dir = "strata-journal";  // write-behind journal segments
  uint64_t segment_bytes = 64ull << 20;
  uint32_t shutdown_drain_ms = 5000;  // SIGTERM/SHUTDOWN: time to drain write-behind queues
  // fdatasync each group commit before acknowledging: an acknowledged write survives a machine
  // crash. false: it survives kill -9 of strata (the page cache keeps it), not a power loss.
  bool fdatasync = true;
  // With fdatasync: 0 syncs each group commit before its OKs; N > 0 acknowledges once the
  // write is in the page cache (kill -9 loses nothing) and fdatasyncs in the background at most
  // every N ms (a power loss may lose the last ~N ms of acknowledged writes), as Redis's
  // appendfsync everysec does.
  uint32_t fdatasync_interval_ms = 0;
  bool operator==(const JournalConfig&) const = default;
};

// The NATS bus between strata instances. No servers: no bus (unless --nats gives one).
struct NatsConfig {
  std::string url;                   // "nats://127.0.0.1:4222", comma-separated for a cluster
  std::string subject_prefix = "strata";
  std::string instance;              // this instance's stable name; "": host name and port
  std::string user;
  std::string password;
  std::string token;
  uint32_t connect_timeout_ms = 2000;
  uint32_t reconnect_wait_ms = 250;
  uint32_t ping_interval_ms = 1000;  // nats.c's default is 2 minutes: far past any bound
  uint32_t max_pings_out = 2;
  uint32_t heartbeat_ms = 100;       // each sender's heartbeat: its last sequence per partition
  // A busy stream's changes go out in groups this far apart (one NATS message, one wake-up at
  // each peer per group): the lag it adds, half of it on average, buys CPU per write. 0: every
  // loop iteration's changes are sent at once.
  uint32_t linger_us = 400;
  uint32_t silence_ms = 0;           // a sender silent this long is lost; 0: 2 heartbeats + 50 ms
  uint32_t partitions = 64;          // key-hash partitions: a gap drops one partition's keys
  // While the bus is down, synced prefixes keep serving L1 this long, then read through.
  uint32_t max_staleness_ms = 1000;
  // A peer's version more than this ahead of our clock is not trusted: its change still drops
  // the key here, but installs no value and does not advance our clock (counted).
  uint32_t clock_skew_max_ms = 1000;
  uint32_t batch_bytes_max = 64 * 1024;  // one NATS message of changes, at most
  uint32_t queue_max = 65536;            // received events waiting for one worker
  uint32_t pending_msgs_max = 65536;     // nats.c's subscription limits (drops are counted)
  uint64_t pending_bytes_max = 64ull << 20;
  bool operator==(const NatsConfig&) const = default;
};

// The WebSocket channel (docs/websocket.md). port 0: no listener.
struct WebsocketConfig {
  uint32_t port = 0;
  std::string bind = "127.0.0.1";
  std::string path = "/ws";
  std::string secret;       // HS256 key of the tokens; empty: no token is accepted
  std::string public_read;  // prefixes anyone may read without a token, comma-separated
  uint32_t connections_max = 100000;
  uint32_t subscriptions_max = 256;          // per connection
  uint32_t frame_bytes_max = 1 << 20;        // one frame's payload
  uint32_t message_bytes_max = 1 << 20;      // one reassembled message
  uint32_t value_bytes_max = 512 * 1024;     // a written value
  uint32_t send_queue_bytes = 256 * 1024;    // past it, changes are merged per key
  uint32_t merged_keys_max = 10000;          // distinct keys merged for one slow client
  uint32_t slow_close_ms = 10000;            // behind this long: closed 4008
  uint32_t history_events = 100000;          // the change stream's history, in changes ...
  uint32_t history_ms = 120000;              // ... and in age
  uint32_t snapshot_page = 500;              // keys per snapshot page
  uint32_t snapshot_keys_max = 10000;        // keys per prefix snapshot
  uint32_t writes_per_s = 1000;              // per connection; 0: no limit
  uint32_t ops_remembered = 1024;            // answers kept per session for resent ops
  uint32_t handshake_timeout_ms = 5000;      // to send a complete upgrade request
  bool operator==(const WebsocketConfig&) const = default;
};

struct PolicyConfig {
  Policy fallback;               // [default]; its prefix is ""
  std::vector<Policy> policies;  // [[policy]] in file order
  PostgresConfig postgres;
  JournalConfig journal;
  NatsConfig nats;
  WebsocketConfig websocket;

  bool any_postgres() const;  // some policy (or the default) uses PostgreSQL
  bool any_write_behind() const;
  PrefixTable<Policy> table() const;
};

struct ConfigContext {
  // An L2 (upstream Redis) is configured. Without one, l2 = true is accepted and means nothing:
  // L2 is off for every policy (the proxy checks this flag, the file stays portable).
  bool has_upstream = false;
  // set_policy_field only: [postgres] conninfo is set. False refuses a PostgreSQL strategy; the
  // file parser ignores it and looks at the file's own [postgres] table.
  bool has_postgres = true;
  // --nats gave the bus on the command line (the file may then have no [nats] url).
  bool has_nats = false;
};

// Reads and validates `path`. A [[policy]] starts as a copy of [default] (wherever [default]
// stands in the file) and overrides the fields it names. The error names file:line, the field and
// what is allowed, e.g.
//   "strata.toml:12: [[policy]] prefix 'chat:': strategy 'write-behnd' is not one of
//    write-through, write-behind, write-around, refresh-ahead, cache"
// A field a [[policy]] writes but its strategy never reads (flush_interval_ms under
// write-through) is an error too; [default]'s, copied into the [[policy]] tables, never is.
std::expected<PolicyConfig, std::string> load_policy_file(const std::string& path,
                                                          const ConfigContext& ctx);
// The same from text (tests); `source_name` stands in for the path in messages.
std::expected<PolicyConfig, std::string> parse_policy_text(std::string_view text,
                                                           std::string_view source_name,
                                                           const ConfigContext& ctx);

// STRATA POLICY SET <prefix> <field> <value>: changes one field with the same validation as
// the file; on error *p is unchanged and the message says what is allowed.
std::expected<void, std::string> set_policy_field(Policy* p, std::string_view field,
                                                  std::string_view value,
                                                  const ConfigContext& ctx);
// STRATA POLICY GET: field name / value text pairs, in a fixed order.
std::vector<std::pair<std::string, std::string>> describe_policy(const Policy& p);

}  // namespace strata::policies
