// Native commands: parse (args) -> process (Store) -> compose (ReplyWriter). Handlers never do
// I/O; the connection owns the sockets and the dispatcher decides what runs natively, what
// goes upstream and what is refused.
#pragma once

#include <strings.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store.h"
#include "protocol/reply_writer.h"

namespace strata::proxy {

using Args = std::span<const std::string_view>;

// ASCII case-insensitive equality, as Redis compares command and option names.
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Per-connection state a command can read or change.
struct ClientState {
  uint64_t id = 0;
  int resp_version = 2;
  bool authenticated = true;
  bool close_after_reply = false;  // QUIT
  std::string name;
  std::string addr;  // "127.0.0.1:54321"
  std::string laddr;
  int64_t created_ms = 0;
  bool no_evict = false;  // CLIENT NO-EVICT ON (shown in CLIENT LIST's flags)
};

// Server-wide facts and counters that INFO / HELLO / CLIENT report; filled by the server.
struct ServerView {
  std::string_view version = "7.0.15";   // the Redis version strata answers as
  std::string_view mode = "standalone";  // "standalone" or "proxy"
  std::string_view upstream;             // "host:port" or empty
  std::string_view requirepass;          // empty: AUTH is refused as in Redis without a password
  std::string_view eviction;
  uint64_t maxmemory_bytes = 0;
  int64_t start_ms = 0;
  uint32_t port = 6380;
  uint32_t workers = 1;
  uint64_t connected_clients = 0;
  uint64_t total_connections = 0;
  uint64_t total_commands = 0;
  uint64_t rejected_connections = 0;
  uint64_t upstream_hits = 0;
  uint64_t upstream_misses = 0;
  uint64_t upstream_errors = 0;
  uint64_t upstream_pinned_total = 0;
  bool upstream_up = false;
  uint64_t protocol_errors = 0;
  uint64_t output_limit_disconnects = 0;
  uint64_t idle_disconnects = 0;
  uint64_t used_memory_rss = 0;  // filled from /proc when INFO asks
  std::string_view io;           // the event loop strata runs on (io_uring features, or epoll)
  std::string hitrate_info;      // INFO lines of the hit-rate monitor (may be empty)
  std::string changes_info;      // INFO lines of the change seam (events per op and source)
  std::string policies_info;     // INFO "# Policies" lines (empty without policies)
  std::string sync_info;         // INFO "# Sync" lines (empty without a sync bus)
  std::string ws_info;           // INFO "# WebSocket" lines (empty without the channel)
  std::string changefeed_info;   // INFO "# Changefeed" lines (empty without the change feed)
};

struct CommandContext {
  cache::Store* store;
  protocol::ReplyWriter* out;
  ClientState* client;
  const ServerView* server;
  class HitRateMonitor* hitrate = nullptr;  // STRATA HITRATE; null when sampling is off
};

using Handler = void (*)(CommandContext& ctx, Args args);

// Flags as in Redis's command table: what a command touches and how keys are placed.
enum CommandFlag : uint32_t {
  kWrite = 1u << 0,  // modifies keys: forwarded ones invalidate L1 first
  kReadOnly = 1u << 1,
  kAdmin = 1u << 2,
  kPubSub = 1u << 3,
  kBlocking = 1u << 4,  // may block: needs a pinned upstream connection
  kPinning = 1u << 5,   // creates connection state (MULTI, WATCH, SUBSCRIBE, CLIENT TRACKING)
  kNoAuth = 1u << 6,
  kFast = 1u << 7,
  kMovableKeys = 1u << 8,  // keys are found by parsing the arguments (EVAL numkeys, SORT STORE)
  // May run long: user code (EVAL, FCALL), work over the whole keyspace or over several whole
  // collections (KEYS, SORT, set and sorted-set algebra, FLUSHALL), or a stall by design (DEBUG,
  // SAVE). Not Redis's @slow ACL category (every command not flagged fast, SET included).
  // In front of Redis these travel on a connection of their own (redis/upstream.h, Route).
  kSlow = 1u << 9,
};

struct CommandSpec {
  std::string_view name;  // lowercase
  int arity;              // as Redis: positive = exact, negative = at least -arity
  uint32_t flags;
  int first_key;  // 0: no keys
  int last_key;   // -1: last argument, -2: second to last...
  int key_step;
  Handler native;  // nullptr: not served natively (forwarded, or refused standalone)
};

// Looks a command up by name, case-insensitively. nullptr if strata does not know it.
const CommandSpec* find_command(std::string_view name);

// Runs a native command, with arity checked against spec (Redis's wording on mismatch).
void run_native(const CommandSpec& spec, CommandContext& ctx, Args args);

// Whether args has the count spec.arity asks for.
bool arity_ok(const CommandSpec& spec, size_t argc);

// Redis's reply to a command it does not know: "-ERR unknown command 'foo', with args beginning
// with: 'a' 'b' ", or "-ERR unknown subcommand ..." when args[0] names a container command.
void reply_unknown_command(protocol::ReplyWriter& out, Args args);

// "-ERR wrong number of arguments for '<name>' command", name lowercased.
void reply_arity(protocol::ReplyWriter& out, std::string_view name);

// Appends the keys a command line names (args[0] is the command), by the spec's fixed
// positions, or by parsing the arguments for kMovableKeys commands (EVAL numkeys, SORT STORE,
// ZUNIONSTORE numkeys, XREAD STREAMS, GEORADIUS STORE, MIGRATE KEYS...), as Redis's getkeys
// procedures do. A malformed line yields the keys found before the problem.
void command_keys(const CommandSpec& spec, Args args, std::vector<std::string_view>* keys);

// Whether the command only groups subcommands (CLIENT, CONFIG, OBJECT, XINFO...): Redis looks
// such commands up together with args[1].
bool is_container_command(const CommandSpec& spec);

// For a container command: the arity Redis 7.0 gives its subcommand `sub` (any case), or 0 if
// Redis has no such subcommand. Lets a caller that does not serve the container still answer
// "unknown subcommand" and arity errors exactly as Redis.
int subcommand_arity(const CommandSpec& spec, std::string_view sub);

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]: the absolute expiry the write
// gives its key (0: none). False when strata cannot know it (GET, KEEPTTL, a bad option: Redis
// decides). *state_option: the first option that depends on the key's current state (NX, XX,
// GET, KEEPTTL), or empty.
bool set_expiry(Args args, int64_t now_ms, int64_t* expire_at_ms, std::string_view* state_option);

// Every command strata knows, sorted by name (COMMAND, COMMAND COUNT, tests).
std::span<const CommandSpec> all_commands();

}  // namespace strata::proxy
