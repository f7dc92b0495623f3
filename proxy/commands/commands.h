// Handlers of the commands strata serves natively, and the error texts they share. Each handler
// parses its arguments, does its work on the Store and composes the reply Redis 7.0 would send
// for the same input; arity has already been checked by run_native().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/commands/command.h"
#include "proxy/commands/number_parse.h"

namespace strata::proxy {

// STRATA HITRATE [prefix] | STRATA HELP: strata's own admin commands (cmd_strata.cc).
void cmd_strata(CommandContext& ctx, Args args);

// Redis's shared error replies (server.c createSharedObjects), without the leading '-'.
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrStringTooLong =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrOutOfMemory =
    "OOM command not allowed when used memory > 'maxmemory'.";

// Redis's proto-max-bulk-len default: the largest string SETRANGE/APPEND may build.
inline constexpr int64_t kStringBytesMax = 512ll * 1024 * 1024;

// Redis matches option words with strcasecmp(): ASCII case folded, and the argument ends at its
// first NUL byte, so "NX\0junk" is NX. lower_word is lowercase.
inline bool option_is(std::string_view arg, std::string_view lower_word) {
  const size_t nul = arg.find('\0');
  if (nul != std::string_view::npos) arg = arg.substr(0, nul);
  if (arg.size() != lower_word.size()) return false;
  for (size_t i = 0; i < arg.size(); ++i) {
    char c = arg[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_word[i]) return false;
  }
  return true;
}

// Command and subcommand names: case-insensitive but the whole argument, NUL bytes included
// (Redis looks them up in a dict of binary-safe strings).
inline bool name_is(std::string_view arg, std::string_view lower_name) {
  return arg.find('\0') == std::string_view::npos && option_is(arg, lower_name);
}

// Redis's getLongLongFromObjectOrReply: parses or replies the integer error.
inline bool parse_int_or_reply(protocol::ReplyWriter& out, std::string_view arg, int64_t* value) {
  if (string2ll(arg, value)) return true;
  out.error(kErrNotInteger);
  return false;
}

// Redis's addReplyErrorExpireTime: "-ERR invalid expire time in '<name>' command".
void reply_invalid_expire(protocol::ReplyWriter& out, std::string_view name);

// Standalone strata's reply to a command only the upstream Redis can serve.
void reply_needs_upstream(protocol::ReplyWriter& out, std::string_view name);

// "-ERR unknown subcommand '<sub>'. Try <CMD> HELP."
void reply_unknown_subcommand(protocol::ReplyWriter& out, std::string_view command,
                              std::string_view sub);

// cmd_string.cc
void cmd_get(CommandContext& ctx, Args args);
void cmd_set(CommandContext& ctx, Args args);
void cmd_setnx(CommandContext& ctx, Args args);
void cmd_setex(CommandContext& ctx, Args args);
void cmd_psetex(CommandContext& ctx, Args args);
void cmd_getset(CommandContext& ctx, Args args);
void cmd_getdel(CommandContext& ctx, Args args);
void cmd_getex(CommandContext& ctx, Args args);
void cmd_mget(CommandContext& ctx, Args args);
void cmd_mset(CommandContext& ctx, Args args);
void cmd_msetnx(CommandContext& ctx, Args args);
void cmd_incr(CommandContext& ctx, Args args);
void cmd_decr(CommandContext& ctx, Args args);
void cmd_incrby(CommandContext& ctx, Args args);
void cmd_decrby(CommandContext& ctx, Args args);
void cmd_incrbyfloat(CommandContext& ctx, Args args);
void cmd_append(CommandContext& ctx, Args args);
void cmd_strlen(CommandContext& ctx, Args args);
void cmd_getrange(CommandContext& ctx, Args args);
void cmd_setrange(CommandContext& ctx, Args args);

// cmd_keyspace.cc
void cmd_del(CommandContext& ctx, Args args);  // DEL and UNLINK
void cmd_exists(CommandContext& ctx, Args args);
void cmd_type(CommandContext& ctx, Args args);
void cmd_expire(CommandContext& ctx, Args args);
void cmd_pexpire(CommandContext& ctx, Args args);
void cmd_expireat(CommandContext& ctx, Args args);
void cmd_pexpireat(CommandContext& ctx, Args args);
void cmd_ttl(CommandContext& ctx, Args args);
void cmd_pttl(CommandContext& ctx, Args args);
void cmd_expiretime(CommandContext& ctx, Args args);
void cmd_pexpiretime(CommandContext& ctx, Args args);
void cmd_persist(CommandContext& ctx, Args args);
void cmd_keys(CommandContext& ctx, Args args);
void cmd_scan(CommandContext& ctx, Args args);
void cmd_dbsize(CommandContext& ctx, Args args);
void cmd_flushall(CommandContext& ctx, Args args);  // FLUSHALL and FLUSHDB

// cmd_rename.cc
void cmd_rename(CommandContext& ctx, Args args);
void cmd_renamenx(CommandContext& ctx, Args args);
void cmd_copy(CommandContext& ctx, Args args);
void cmd_touch(CommandContext& ctx, Args args);

// cmd_connection.cc
void cmd_ping(CommandContext& ctx, Args args);
void cmd_echo(CommandContext& ctx, Args args);
void cmd_hello(CommandContext& ctx, Args args);
void cmd_auth(CommandContext& ctx, Args args);
void cmd_select(CommandContext& ctx, Args args);
void cmd_quit(CommandContext& ctx, Args args);
void cmd_client(CommandContext& ctx, Args args);
void cmd_reset(CommandContext& ctx, Args args);

// CLIENT INFO/LIST/KILL/UNBLOCK over every client of strata are the front's (resp/): cmd_client
// sees the calling connection alone. These are the parts both share.

// What CLIENT LIST and CLIENT INFO print of one connection, in Redis 7.0's format
// (catClientInfoString). Buffer sizes and channel counts strata does not keep print as 0.
struct ClientInfoFields {
  const ClientState* client = nullptr;
  int fd = 0;
  int64_t now_ms = 0;
  int64_t last_interaction_ms = 0;  // 0: now
  std::string upstream_flags;       // of a pinned connection: P, x, b in Redis's order
  int multi = -1;                   // commands queued in MULTI (-1: no MULTI)
  bool closing = false;             // closes once its replies are out (flag c)
  // The caller's own line: its current command is still in its query buffer (qbuf, its bytes)
  // and parsed (argv-mem, the arguments' bytes), as in Redis while the command runs.
  uint64_t qbuf = 0;
  uint64_t argv_mem = 0;
  std::string_view cmd = "NULL";    // the last command's full name ("get", "client|list")
};
// One line, "\n" included.
std::string client_info_line(const ClientInfoFields& f);

// The filters of CLIENT LIST and CLIENT KILL, parsed as Redis 7.0 parses them (plus KILL's
// MAXAGE, from later versions).
struct ClientFilter {
  enum Type : int8_t { kAnyType = -1, kNormal, kReplica, kPubSub, kMaster };
  int8_t type = kAnyType;
  bool list_ids = false;       // CLIENT LIST ID ...
  std::vector<int64_t> ids;    // in the order given, repeats kept
  uint64_t id = 0;             // KILL ID (0: any)
  std::string_view addr;       // empty: any
  std::string_view laddr;
  bool user = false;           // KILL USER default (strata's one user: every client)
  bool skipme = true;
  int64_t maxage_s = 0;        // KILL MAXAGE: older than this (0: any)
  bool old_form = false;       // CLIENT KILL <ip:port>: +OK or "No such client"
};
// False when the line is refused (the error was replied).
bool parse_client_list(protocol::ReplyWriter& out, Args args, ClientFilter* f);
bool parse_client_kill(protocol::ReplyWriter& out, Args args, ClientFilter* f);
// Whether connection c is one `f` selects; pubsub: it is subscribed. self: the caller's id.
bool client_selected(const ClientFilter& f, const ClientState& c, bool pubsub, int64_t now_ms,
                     uint64_t self);
// CLIENT UNBLOCK <id> [TIMEOUT|ERROR]; false when refused (replied).
bool parse_client_unblock(protocol::ReplyWriter& out, Args args, int64_t* id);
// CLIENT KILL's reply once `killed` connections were closed.
void reply_client_kill(protocol::ReplyWriter& out, const ClientFilter& f, int64_t killed);

// cmd_server.cc
void cmd_info(CommandContext& ctx, Args args);
// In front of Redis, INFO is Redis's, followed by the sections only strata has (Strata,
// Policies). info_redis_args: the request minus strata's section names; false when nothing is
// left for Redis (INFO strata). info_own_sections: the text of strata's sections args select.
bool info_redis_args(Args args, std::vector<std::string_view>* redis_args);
std::string info_own_sections(CommandContext& ctx, Args args);
void cmd_command(CommandContext& ctx, Args args);
void cmd_time(CommandContext& ctx, Args args);
void cmd_function(CommandContext& ctx, Args args);

}  // namespace strata::proxy
