// The command table: every command Redis 7.0 has, with its arity, flags and key positions as
// Redis's own table gives them (generated from `COMMAND` of redis-server 7.0.15), plus the
// handler for those strata serves natively. The dispatcher uses the flags and key positions to
// decide what may run from L1, what goes upstream and which keys a forwarded write invalidates.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <string>

#include "proxy/commands/command.h"
#include "proxy/commands/commands.h"
#include "proxy/commands/number_parse.h"

namespace strata::proxy {
namespace {

// Redis prints at most this many bytes of the unknown name and of its arguments.
constexpr size_t kUnknownEchoBytes = 128;

// EVAL, EVALSHA and FCALL carry kWrite although Redis does not flag them so: a script may write
// any key it names, so forwarded ones must invalidate like writes.
constexpr auto kCommands = std::to_array<CommandSpec>({
    {"acl", -2, 0, 0, 0, 0, nullptr},
    {"append", 3, kWrite | kFast, 1, 1, 1, cmd_append},
    {"asking", 1, kFast, 0, 0, 0, nullptr},
    {"auth", -2, kFast | kNoAuth, 0, 0, 0, cmd_auth},
    {"bgrewriteaof", 1, kAdmin, 0, 0, 0, nullptr},
    {"bgsave", -1, kAdmin, 0, 0, 0, nullptr},
    {"bitcount", -2, kReadOnly, 1, 1, 1, nullptr},
    {"bitfield", -2, kWrite, 1, 1, 1, nullptr},
    {"bitfield_ro", -2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"bitop", -4, kWrite, 2, -1, 1, nullptr},
    {"bitpos", -3, kReadOnly, 1, 1, 1, nullptr},
    {"blmove", 6, kWrite | kBlocking, 1, 2, 1, nullptr},
    {"blmpop", -5, kWrite | kBlocking | kMovableKeys, 0, 0, 0, nullptr},
    {"blpop", -3, kWrite | kBlocking, 1, -2, 1, nullptr},
    {"brpop", -3, kWrite | kBlocking, 1, -2, 1, nullptr},
    {"brpoplpush", 4, kWrite | kBlocking, 1, 2, 1, nullptr},
    {"bzmpop", -5, kWrite | kBlocking | kMovableKeys, 0, 0, 0, nullptr},
    {"bzpopmax", -3, kWrite | kBlocking | kFast, 1, -2, 1, nullptr},
    {"bzpopmin", -3, kWrite | kBlocking | kFast, 1, -2, 1, nullptr},
    {"client", -2, 0, 0, 0, 0, cmd_client},
    {"cluster", -2, 0, 0, 0, 0, nullptr},
    {"command", -1, 0, 0, 0, 0, cmd_command},
    {"config", -2, 0, 0, 0, 0, nullptr},
    {"copy", -3, kWrite, 1, 2, 1, cmd_copy},
    {"dbsize", 1, kReadOnly | kFast, 0, 0, 0, cmd_dbsize},
    {"debug", -2, kAdmin | kSlow, 0, 0, 0, nullptr},
    {"decr", 2, kWrite | kFast, 1, 1, 1, cmd_decr},
    {"decrby", 3, kWrite | kFast, 1, 1, 1, cmd_decrby},
    {"del", -2, kWrite, 1, -1, 1, cmd_del},
    {"discard", 1, kFast | kPinning, 0, 0, 0, nullptr},
    {"dump", 2, kReadOnly, 1, 1, 1, nullptr},
    {"echo", 2, kFast, 0, 0, 0, cmd_echo},
    {"eval", -3, kWrite | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"eval_ro", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"evalsha", -3, kWrite | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"evalsha_ro", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"exec", 1, kPinning, 0, 0, 0, nullptr},
    {"exists", -2, kReadOnly | kFast, 1, -1, 1, cmd_exists},
    {"expire", -3, kWrite | kFast, 1, 1, 1, cmd_expire},
    {"expireat", -3, kWrite | kFast, 1, 1, 1, cmd_expireat},
    {"expiretime", 2, kReadOnly | kFast, 1, 1, 1, cmd_expiretime},
    {"failover", -1, kAdmin, 0, 0, 0, nullptr},
    {"fcall", -3, kWrite | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"fcall_ro", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"flushall", -1, kWrite | kSlow, 0, 0, 0, cmd_flushall},
    {"flushdb", -1, kWrite | kSlow, 0, 0, 0, cmd_flushall},
    {"function", -2, 0, 0, 0, 0, cmd_function},
    {"geoadd", -5, kWrite, 1, 1, 1, nullptr},
    {"geodist", -4, kReadOnly, 1, 1, 1, nullptr},
    {"geohash", -2, kReadOnly, 1, 1, 1, nullptr},
    {"geopos", -2, kReadOnly, 1, 1, 1, nullptr},
    {"georadius", -6, kWrite | kMovableKeys, 1, 1, 1, nullptr},
    {"georadius_ro", -6, kReadOnly, 1, 1, 1, nullptr},
    {"georadiusbymember", -5, kWrite | kMovableKeys, 1, 1, 1, nullptr},
    {"georadiusbymember_ro", -5, kReadOnly, 1, 1, 1, nullptr},
    {"geosearch", -7, kReadOnly, 1, 1, 1, nullptr},
    {"geosearchstore", -8, kWrite, 1, 2, 1, nullptr},
    {"get", 2, kReadOnly | kFast, 1, 1, 1, cmd_get},
    {"getbit", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"getdel", 2, kWrite | kFast, 1, 1, 1, cmd_getdel},
    {"getex", -2, kWrite | kFast, 1, 1, 1, cmd_getex},
    {"getrange", 4, kReadOnly, 1, 1, 1, cmd_getrange},
    {"getset", 3, kWrite | kFast, 1, 1, 1, cmd_getset},
    {"hdel", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"hello", -1, kFast | kNoAuth, 0, 0, 0, cmd_hello},
    {"hexists", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"hget", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"hgetall", 2, kReadOnly, 1, 1, 1, nullptr},
    {"hincrby", 4, kWrite | kFast, 1, 1, 1, nullptr},
    {"hincrbyfloat", 4, kWrite | kFast, 1, 1, 1, nullptr},
    {"hkeys", 2, kReadOnly, 1, 1, 1, nullptr},
    {"hlen", 2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"hmget", -3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"hmset", -4, kWrite | kFast, 1, 1, 1, nullptr},
    {"hrandfield", -2, kReadOnly, 1, 1, 1, nullptr},
    {"hscan", -3, kReadOnly, 1, 1, 1, nullptr},
    {"hset", -4, kWrite | kFast, 1, 1, 1, nullptr},
    {"hsetnx", 4, kWrite | kFast, 1, 1, 1, nullptr},
    {"hstrlen", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"hvals", 2, kReadOnly, 1, 1, 1, nullptr},
    {"incr", 2, kWrite | kFast, 1, 1, 1, cmd_incr},
    {"incrby", 3, kWrite | kFast, 1, 1, 1, cmd_incrby},
    {"incrbyfloat", 3, kWrite | kFast, 1, 1, 1, cmd_incrbyfloat},
    {"info", -1, 0, 0, 0, 0, cmd_info},
    {"keys", 2, kReadOnly | kSlow, 0, 0, 0, cmd_keys},
    {"lastsave", 1, kFast, 0, 0, 0, nullptr},
    {"latency", -2, 0, 0, 0, 0, nullptr},
    {"lcs", -3, kReadOnly, 1, 2, 1, nullptr},
    {"lindex", 3, kReadOnly, 1, 1, 1, nullptr},
    {"linsert", 5, kWrite, 1, 1, 1, nullptr},
    {"llen", 2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"lmove", 5, kWrite, 1, 2, 1, nullptr},
    {"lmpop", -4, kWrite | kMovableKeys, 0, 0, 0, nullptr},
    {"lolwut", -1, kReadOnly | kFast, 0, 0, 0, nullptr},
    {"lpop", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"lpos", -3, kReadOnly, 1, 1, 1, nullptr},
    {"lpush", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"lpushx", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"lrange", 4, kReadOnly, 1, 1, 1, nullptr},
    {"lrem", 4, kWrite, 1, 1, 1, nullptr},
    {"lset", 4, kWrite, 1, 1, 1, nullptr},
    {"ltrim", 4, kWrite, 1, 1, 1, nullptr},
    {"memory", -2, 0, 0, 0, 0, nullptr},
    {"mget", -2, kReadOnly | kFast, 1, -1, 1, cmd_mget},
    {"migrate", -6, kWrite | kMovableKeys | kSlow, 3, 3, 1, nullptr},
    {"module", -2, 0, 0, 0, 0, nullptr},
    {"monitor", 1, kAdmin | kPinning, 0, 0, 0, nullptr},
    {"move", 3, kWrite | kFast, 1, 1, 1, nullptr},
    {"mset", -3, kWrite, 1, -1, 2, cmd_mset},
    {"msetnx", -3, kWrite, 1, -1, 2, cmd_msetnx},
    {"multi", 1, kFast | kPinning, 0, 0, 0, nullptr},
    {"object", -2, 0, 0, 0, 0, nullptr},
    {"persist", 2, kWrite | kFast, 1, 1, 1, cmd_persist},
    {"pexpire", -3, kWrite | kFast, 1, 1, 1, cmd_pexpire},
    {"pexpireat", -3, kWrite | kFast, 1, 1, 1, cmd_pexpireat},
    {"pexpiretime", 2, kReadOnly | kFast, 1, 1, 1, cmd_pexpiretime},
    {"pfadd", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"pfcount", -2, kReadOnly, 1, -1, 1, nullptr},
    {"pfdebug", 3, kWrite | kAdmin, 2, 2, 1, nullptr},
    {"pfmerge", -2, kWrite, 1, -1, 1, nullptr},
    {"pfselftest", 1, kAdmin, 0, 0, 0, nullptr},
    {"ping", -1, kFast, 0, 0, 0, cmd_ping},
    {"psetex", 4, kWrite, 1, 1, 1, cmd_psetex},
    {"psubscribe", -2, kPubSub | kPinning, 0, 0, 0, nullptr},
    {"psync", -3, kAdmin | kPinning, 0, 0, 0, nullptr},
    {"pttl", 2, kReadOnly | kFast, 1, 1, 1, cmd_pttl},
    {"publish", 3, kPubSub | kFast, 0, 0, 0, nullptr},
    {"pubsub", -2, 0, 0, 0, 0, nullptr},
    {"punsubscribe", -1, kPubSub | kPinning, 0, 0, 0, nullptr},
    {"quit", -1, kFast | kNoAuth, 0, 0, 0, cmd_quit},
    {"randomkey", 1, kReadOnly, 0, 0, 0, nullptr},
    {"readonly", 1, kFast, 0, 0, 0, nullptr},
    {"readwrite", 1, kFast, 0, 0, 0, nullptr},
    {"rename", 3, kWrite, 1, 2, 1, cmd_rename},
    {"renamenx", 3, kWrite | kFast, 1, 2, 1, cmd_renamenx},
    {"replconf", -1, kAdmin, 0, 0, 0, nullptr},
    {"replicaof", 3, kAdmin, 0, 0, 0, nullptr},
    {"reset", 1, kFast | kNoAuth, 0, 0, 0, cmd_reset},
    {"restore", -4, kWrite, 1, 1, 1, nullptr},
    {"restore-asking", -4, kWrite, 1, 1, 1, nullptr},
    {"role", 1, kFast, 0, 0, 0, nullptr},
    {"rpop", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"rpoplpush", 3, kWrite, 1, 2, 1, nullptr},
    {"rpush", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"rpushx", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"sadd", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"save", 1, kAdmin | kSlow, 0, 0, 0, nullptr},
    {"scan", -2, kReadOnly, 0, 0, 0, cmd_scan},
    {"scard", 2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"script", -2, 0, 0, 0, 0, nullptr},
    {"sdiff", -2, kReadOnly | kSlow, 1, -1, 1, nullptr},
    {"sdiffstore", -3, kWrite | kSlow, 1, -1, 1, nullptr},
    {"select", 2, kFast, 0, 0, 0, cmd_select},
    {"set", -3, kWrite, 1, 1, 1, cmd_set},
    {"setbit", 4, kWrite, 1, 1, 1, nullptr},
    {"setex", 4, kWrite, 1, 1, 1, cmd_setex},
    {"setnx", 3, kWrite | kFast, 1, 1, 1, cmd_setnx},
    {"setrange", 4, kWrite, 1, 1, 1, cmd_setrange},
    {"shutdown", -1, kAdmin, 0, 0, 0, nullptr},
    {"sinter", -2, kReadOnly | kSlow, 1, -1, 1, nullptr},
    {"sintercard", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"sinterstore", -3, kWrite | kSlow, 1, -1, 1, nullptr},
    {"sismember", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"slaveof", 3, kAdmin, 0, 0, 0, nullptr},
    {"slowlog", -2, 0, 0, 0, 0, nullptr},
    {"smembers", 2, kReadOnly, 1, 1, 1, nullptr},
    {"smismember", -3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"smove", 4, kWrite | kFast, 1, 2, 1, nullptr},
    {"sort", -2, kWrite | kMovableKeys | kSlow, 1, 1, 1, nullptr},
    {"sort_ro", -2, kReadOnly | kMovableKeys | kSlow, 1, 1, 1, nullptr},
    {"spop", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"spublish", 3, kPubSub | kFast, 1, 1, 1, nullptr},
    {"srandmember", -2, kReadOnly, 1, 1, 1, nullptr},
    {"srem", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"sscan", -3, kReadOnly, 1, 1, 1, nullptr},
    {"ssubscribe", -2, kPubSub | kPinning, 1, -1, 1, nullptr},
    {"strata", -2, kAdmin, 0, 0, 0, cmd_strata},
    {"strlen", 2, kReadOnly | kFast, 1, 1, 1, cmd_strlen},
    {"subscribe", -2, kPubSub | kPinning, 0, 0, 0, nullptr},
    {"substr", 4, kReadOnly, 1, 1, 1, cmd_getrange},
    {"sunion", -2, kReadOnly | kSlow, 1, -1, 1, nullptr},
    {"sunionstore", -3, kWrite | kSlow, 1, -1, 1, nullptr},
    {"sunsubscribe", -1, kPubSub | kPinning, 1, -1, 1, nullptr},
    {"swapdb", 3, kWrite | kFast, 0, 0, 0, nullptr},
    {"sync", 1, kAdmin | kPinning, 0, 0, 0, nullptr},
    {"time", 1, kFast, 0, 0, 0, cmd_time},
    {"touch", -2, kReadOnly | kFast, 1, -1, 1, cmd_touch},
    {"ttl", 2, kReadOnly | kFast, 1, 1, 1, cmd_ttl},
    {"type", 2, kReadOnly | kFast, 1, 1, 1, cmd_type},
    {"unlink", -2, kWrite | kFast, 1, -1, 1, cmd_del},
    {"unsubscribe", -1, kPubSub | kPinning, 0, 0, 0, nullptr},
    {"unwatch", 1, kFast | kPinning, 0, 0, 0, nullptr},
    {"wait", 3, 0, 0, 0, 0, nullptr},
    {"watch", -2, kFast | kPinning, 1, -1, 1, nullptr},
    {"xack", -4, kWrite | kFast, 1, 1, 1, nullptr},
    {"xadd", -5, kWrite | kFast, 1, 1, 1, nullptr},
    {"xautoclaim", -6, kWrite | kFast, 1, 1, 1, nullptr},
    {"xclaim", -6, kWrite | kFast, 1, 1, 1, nullptr},
    {"xdel", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"xgroup", -2, 0, 0, 0, 0, nullptr},
    {"xinfo", -2, 0, 0, 0, 0, nullptr},
    {"xlen", 2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"xpending", -3, kReadOnly, 1, 1, 1, nullptr},
    {"xrange", -4, kReadOnly, 1, 1, 1, nullptr},
    {"xread", -4, kReadOnly | kBlocking | kMovableKeys, 0, 0, 0, nullptr},
    {"xreadgroup", -7, kWrite | kBlocking | kMovableKeys, 0, 0, 0, nullptr},
    {"xrevrange", -4, kReadOnly, 1, 1, 1, nullptr},
    {"xsetid", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"xtrim", -4, kWrite, 1, 1, 1, nullptr},
    {"zadd", -4, kWrite | kFast, 1, 1, 1, nullptr},
    {"zcard", 2, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zcount", 4, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zdiff", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"zdiffstore", -4, kWrite | kMovableKeys | kSlow, 1, 1, 1, nullptr},
    {"zincrby", 4, kWrite | kFast, 1, 1, 1, nullptr},
    {"zinter", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"zintercard", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"zinterstore", -4, kWrite | kMovableKeys | kSlow, 1, 1, 1, nullptr},
    {"zlexcount", 4, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zmpop", -4, kWrite | kMovableKeys, 0, 0, 0, nullptr},
    {"zmscore", -3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zpopmax", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"zpopmin", -2, kWrite | kFast, 1, 1, 1, nullptr},
    {"zrandmember", -2, kReadOnly, 1, 1, 1, nullptr},
    {"zrange", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrangebylex", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrangebyscore", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrangestore", -5, kWrite, 1, 2, 1, nullptr},
    {"zrank", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zrem", -3, kWrite | kFast, 1, 1, 1, nullptr},
    {"zremrangebylex", 4, kWrite, 1, 1, 1, nullptr},
    {"zremrangebyrank", 4, kWrite, 1, 1, 1, nullptr},
    {"zremrangebyscore", 4, kWrite, 1, 1, 1, nullptr},
    {"zrevrange", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrevrangebylex", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrevrangebyscore", -4, kReadOnly, 1, 1, 1, nullptr},
    {"zrevrank", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zscan", -3, kReadOnly, 1, 1, 1, nullptr},
    {"zscore", 3, kReadOnly | kFast, 1, 1, 1, nullptr},
    {"zunion", -3, kReadOnly | kMovableKeys | kSlow, 0, 0, 0, nullptr},
    {"zunionstore", -4, kWrite | kMovableKeys | kSlow, 1, 1, 1, nullptr},
});

constexpr bool names_sorted() {
  for (size_t i = 1; i < kCommands.size(); ++i) {
    if (!(kCommands[i - 1].name < kCommands[i].name)) return false;
  }
  return true;
}
static_assert(names_sorted(), "find_command binary-searches kCommands by name");

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Compares a table name (lowercase) with user text, ignoring the text's case.
int compare_folded(std::string_view table_name, std::string_view text) {
  const size_t n = std::min(table_name.size(), text.size());
  for (size_t i = 0; i < n; ++i) {
    const auto a = static_cast<unsigned char>(table_name[i]);
    const auto b = static_cast<unsigned char>(lower(text[i]));
    if (a != b) return a < b ? -1 : 1;
  }
  if (table_name.size() == text.size()) return 0;
  return table_name.size() < text.size() ? -1 : 1;
}

// printf's "%.Ns" stops at the first NUL; Redis formats these texts that way.
std::string_view c_string_prefix(std::string_view s, size_t max_bytes) {
  s = s.substr(0, std::min(s.size(), max_bytes));
  const size_t nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

}  // namespace

std::span<const CommandSpec> all_commands() { return kCommands; }

bool is_container_command(const CommandSpec& spec) {
  static constexpr std::string_view kContainers[] = {
      "acl",    "client", "cluster", "command", "config",  "function", "latency", "memory",
      "module", "object", "pubsub",  "script",  "slowlog", "xgroup",   "xinfo"};
  return std::find(std::begin(kContainers), std::end(kContainers), spec.name) !=
         std::end(kContainers);
}

namespace {

// [first, last) of the table's names starting with each byte: the binary search then runs over
// a handful of entries (the dispatcher looks up every command).
struct FirstByteIndex {
  uint16_t begin[256];
  uint16_t end[256];
};

constexpr FirstByteIndex make_first_byte_index() {
  FirstByteIndex index{};
  for (size_t i = 0; i < kCommands.size(); ++i) {
    const auto b = static_cast<unsigned char>(kCommands[i].name[0]);
    if (index.end[b] == 0) index.begin[b] = static_cast<uint16_t>(i);
    index.end[b] = static_cast<uint16_t>(i + 1);
  }
  return index;
}

constexpr FirstByteIndex kFirstByte = make_first_byte_index();

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  if (name.empty()) return nullptr;
  const auto first = static_cast<unsigned char>(lower(name[0]));
  size_t lo = kFirstByte.begin[first];
  size_t hi = kFirstByte.end[first];
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const int c = compare_folded(kCommands[mid].name, name);
    if (c == 0) return &kCommands[mid];
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

bool arity_ok(const CommandSpec& spec, size_t argc) {
  const auto n = static_cast<int64_t>(argc);
  return spec.arity > 0 ? n == spec.arity : n >= -static_cast<int64_t>(spec.arity);
}

void reply_arity(protocol::ReplyWriter& out, std::string_view name) {
  std::string msg = "ERR wrong number of arguments for '";
  for (char c : name) msg.push_back(lower(c));
  msg += "' command";
  out.error(msg);
}

void reply_needs_upstream(protocol::ReplyWriter& out, std::string_view name) {
  out.error("ERR '" + std::string(name) +
            "' needs an upstream Redis; strata runs standalone (start it with --upstream "
            "host:port)");
}

void reply_invalid_expire(protocol::ReplyWriter& out, std::string_view name) {
  std::string msg = "ERR invalid expire time in '";
  msg += name;
  msg += "' command";
  out.error(msg);
}

void reply_unknown_subcommand(protocol::ReplyWriter& out, std::string_view command,
                              std::string_view sub) {
  std::string msg = "ERR unknown subcommand '";
  msg += c_string_prefix(sub, kUnknownEchoBytes);
  msg += "'. Try ";
  for (char c : c_string_prefix(command, std::string_view::npos)) {
    msg.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c);
  }
  msg += " HELP.";
  out.error(msg);
}

// Redis (server.c commandCheckExistence): a known container with an unknown subcommand gets
// the subcommand error, anything else echoes the name and the start of its arguments.
void reply_unknown_command(protocol::ReplyWriter& out, Args args) {
  if (args.empty()) return;
  if (args.size() >= 2) {
    const CommandSpec* container = find_command(args[0]);
    if (container != nullptr && is_container_command(*container)) {
      reply_unknown_subcommand(out, args[0], args[1]);
      return;
    }
  }
  std::string msg = "ERR unknown command '";
  msg += c_string_prefix(args[0], kUnknownEchoBytes);
  msg += "', with args beginning with: ";
  size_t echoed = 0;  // Redis measures the growing "'a' 'b' " text against the limit
  for (size_t i = 1; i < args.size() && echoed < kUnknownEchoBytes; ++i) {
    const std::string_view arg = c_string_prefix(args[i], kUnknownEchoBytes - echoed);
    msg.push_back('\'');
    msg += arg;
    msg += "' ";
    echoed += arg.size() + 3;
  }
  out.error(msg);
}

namespace {

// Keys by the spec's fixed positions (Redis's legacy range: a negative last counts from the end).
void range_keys(const CommandSpec& spec, Args args, std::vector<std::string_view>* keys) {
  if (spec.first_key <= 0 || spec.key_step <= 0) return;
  const auto argc = static_cast<int64_t>(args.size());
  int64_t last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  if (last >= argc) last = argc - 1;
  for (int64_t i = spec.first_key; i <= last; i += spec.key_step) {
    keys->push_back(args[static_cast<size_t>(i)]);
  }
}

// "numkeys" at args[at], keys right after it (EVAL, ZUNION, LMPOP...).
void numkeys_keys(Args args, size_t at, std::vector<std::string_view>* keys) {
  if (at >= args.size()) return;
  int64_t n = 0;
  if (!string2ll(args[at], &n) || n <= 0) return;
  if (static_cast<uint64_t>(n) > args.size() - at - 1) return;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) keys->push_back(args[at + 1 + i]);
}

// SORT's STORE key as Redis's sortGetKeys finds it: LIMIT, GET and BY skip their arguments and
// the last STORE wins (sortCommand stores there too), so "STORE a STORE b" writes b.
void sort_store_key(Args args, std::vector<std::string_view>* keys) {
  std::string_view store;
  bool found = false;
  for (size_t i = 2; i < args.size(); ++i) {
    if (option_is(args[i], "limit")) {
      i += 2;
    } else if (option_is(args[i], "store") && i + 1 < args.size()) {
      store = args[i + 1];  // no skip, as Redis: the next argument is looked at again
      found = true;
    } else if (option_is(args[i], "get") || option_is(args[i], "by")) {
      i += 1;
    }
  }
  if (found) keys->push_back(store);
}

// GEORADIUS[BYMEMBER]: the first STORE and the first STOREDIST key, as Redis's key specs (and
// so COMMAND GETKEYS) name them, then the key georadiusCommand really writes when it is another
// one (the last STORE/STOREDIST wins there): a forwarded write must invalidate that key.
void georadius_store_keys(std::string_view name, Args args, std::vector<std::string_view>* keys) {
  const size_t first_option =
      name == "georadius" ? 6 : 5;  // after key lon lat | member radius unit
  size_t store = 0;
  size_t storedist = 0;
  size_t written = 0;
  for (size_t i = first_option; i + 1 < args.size(); ++i) {
    const bool is_store = option_is(args[i], "store");
    const bool is_dist = option_is(args[i], "storedist");
    if (is_store && store == 0) store = i + 1;
    if (is_dist && storedist == 0) storedist = i + 1;
    if (is_store || is_dist) written = i++ + 1;
  }
  if (store != 0) keys->push_back(args[store]);
  if (storedist != 0) keys->push_back(args[storedist]);
  if (written != 0 && written != store && written != storedist) keys->push_back(args[written]);
}

// XREAD/XREADGROUP: after STREAMS, the first half of the remaining arguments are keys.
void streams_keys(Args args, std::vector<std::string_view>* keys) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (!option_is(args[i], "streams")) continue;
    const size_t rest = args.size() - i - 1;
    if (rest == 0 || rest % 2 != 0) return;
    for (size_t k = 0; k < rest / 2; ++k) keys->push_back(args[i + 1 + k]);
    return;
  }
}

}  // namespace

void command_keys(const CommandSpec& spec, Args args, std::vector<std::string_view>* keys) {
  if (!(spec.flags & kMovableKeys)) {
    range_keys(spec, args, keys);
    return;
  }
  const std::string_view n = spec.name;
  if (n.starts_with("eval") || n.starts_with("fcall") || n == "blmpop" || n == "bzmpop") {
    numkeys_keys(args, 2, keys);
  } else if (n == "zunionstore" || n == "zinterstore" || n == "zdiffstore") {
    if (args.size() > 1) keys->push_back(args[1]);
    numkeys_keys(args, 2, keys);
  } else if (n == "zunion" || n == "zinter" || n == "zdiff" || n == "zintercard" ||
             n == "sintercard" || n == "lmpop" || n == "zmpop") {
    numkeys_keys(args, 1, keys);
  } else if (n == "sort" || n == "sort_ro") {
    range_keys(spec, args, keys);
    if (n == "sort") sort_store_key(args, keys);
  } else if (n == "georadius" || n == "georadiusbymember") {
    range_keys(spec, args, keys);
    georadius_store_keys(n, args, keys);
  } else if (n == "xread" || n == "xreadgroup") {
    streams_keys(args, keys);
  } else if (n == "migrate") {
    // MIGRATE host port key|"" db timeout [... KEYS k1 k2 ...]
    if (args.size() > 3 && !args[3].empty()) {
      keys->push_back(args[3]);
      return;
    }
    for (size_t i = 6; i < args.size(); ++i) {
      if (option_is(args[i], "keys")) {
        for (size_t k = i + 1; k < args.size(); ++k) keys->push_back(args[k]);
        return;
      }
    }
  } else {
    range_keys(spec, args, keys);
  }
}

void run_native(const CommandSpec& spec, CommandContext& ctx, Args args) {
  if (!arity_ok(spec, args.size())) {
    reply_arity(*ctx.out, spec.name);
    return;
  }
  if (spec.native == nullptr) {
    reply_unknown_command(*ctx.out, args);
    return;
  }
  spec.native(ctx, args);
}

}  // namespace strata::proxy
