// Keyspace commands: DEL/UNLINK, EXISTS, TYPE, the EXPIRE family, TTL/PTTL/EXPIRETIME, PERSIST,
// KEYS, SCAN, DBSIZE, FLUSHALL/FLUSHDB -- Redis 7.0's db.c and expire.c semantics. L1 holds
// only strings, so TYPE is "string" or "none".
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <unordered_set>
#include <vector>

#include "proxy/commands/commands.h"
#include "proxy/commands/glob_match.h"

namespace strata::proxy {
namespace {

// Redis's SCAN default COUNT.
constexpr size_t kScanCountDefault = 10;
// KEYS walks the whole store in batches of this many keys.
constexpr size_t kKeysBatch = 1024;

// printf's "%s" stops at a NUL; Redis formats option names that way in its errors.
std::string_view c_text(std::string_view s) { return s.substr(0, s.find('\0')); }

enum ExpireFlag : uint32_t { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };

// Redis's parseExtendedExpireArgumentsOrReply.
bool parse_expire_flags(protocol::ReplyWriter& out, Args args, uint32_t* flags) {
  for (size_t j = 3; j < args.size(); ++j) {
    if (option_is(args[j], "nx")) {
      *flags |= kNx;
    } else if (option_is(args[j], "xx")) {
      *flags |= kXx;
    } else if (option_is(args[j], "gt")) {
      *flags |= kGt;
    } else if (option_is(args[j], "lt")) {
      *flags |= kLt;
    } else {
      std::string msg = "ERR Unsupported option ";
      msg += c_text(args[j]);
      out.error(msg);
      return false;
    }
  }
  if ((*flags & kNx) && (*flags & (kXx | kGt | kLt))) {
    out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return false;
  }
  if ((*flags & kGt) && (*flags & kLt)) {
    out.error("ERR GT and LT options at the same time are not compatible");
    return false;
  }
  return true;
}

// Redis's expireGenericCommand. base_ms: now for EXPIRE/PEXPIRE, 0 for the *AT forms.
void expire_generic(CommandContext& ctx, Args args, std::string_view name, bool seconds,
                    bool relative) {
  uint32_t flags = 0;
  if (!parse_expire_flags(*ctx.out, args, &flags)) return;
  int64_t when = 0;
  if (!parse_int_or_reply(*ctx.out, args[2], &when)) return;
  auto txn = ctx.store->lock(args[1]);
  const int64_t base_ms = relative ? txn->now_ms() : 0;
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
      reply_invalid_expire(*ctx.out, name);
      return;
    }
    when *= 1000;
  }
  if (when > INT64_MAX - base_ms) {
    reply_invalid_expire(*ctx.out, name);
    return;
  }
  when += base_ms;
  cache::EntryView e;
  if (!txn->find(args[1], &e)) {
    ctx.out->integer(0);
    return;
  }
  const int64_t current = e.expire_at_ms == 0 ? -1 : e.expire_at_ms;
  if (((flags & kNx) && current != -1) || ((flags & kXx) && current == -1) ||
      ((flags & kGt) && (when <= current || current == -1)) ||
      ((flags & kLt) && current != -1 && when >= current)) {
    ctx.out->integer(0);
    return;
  }
  if (when <= txn->now_ms()) {
    txn->erase(args[1]);  // a time already past deletes the key, as in Redis
  } else {
    txn->set_expire(args[1], when);
  }
  ctx.out->integer(1);
}

enum class TtlOutput { kSeconds, kMillis, kAbsSeconds, kAbsMillis };

// Redis's ttlGenericCommand: -2 missing, -1 no TTL, else rounded to the nearest second.
void ttl_generic(CommandContext& ctx, std::string_view key, TtlOutput mode) {
  auto txn = ctx.store->lock(key);
  cache::EntryView e;
  if (!txn->read(key, &e)) {
    ctx.out->integer(-2);
    return;
  }
  if (e.expire_at_ms == 0) {
    ctx.out->integer(-1);
    return;
  }
  const bool absolute = mode == TtlOutput::kAbsSeconds || mode == TtlOutput::kAbsMillis;
  int64_t ttl = absolute ? e.expire_at_ms : e.expire_at_ms - txn->now_ms();
  if (ttl < 0) ttl = 0;
  const bool millis = mode == TtlOutput::kMillis || mode == TtlOutput::kAbsMillis;
  ctx.out->integer(millis ? ttl : (ttl + 500) / 1000);
}

}  // namespace

void cmd_del(CommandContext& ctx, Args args) {
  const Args keys = args.subspan(1);
  auto txn = ctx.store->lock(keys);
  int64_t deleted = 0;
  for (std::string_view key : keys) {
    if (txn->erase(key)) ++deleted;
  }
  ctx.out->integer(deleted);
}

void cmd_exists(CommandContext& ctx, Args args) {
  const Args keys = args.subspan(1);
  auto txn = ctx.store->lock(keys);
  int64_t count = 0;  // a key named twice counts twice
  for (std::string_view key : keys) {
    cache::EntryView e;
    if (txn->read(key, &e)) ++count;
  }
  ctx.out->integer(count);
}

void cmd_type(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  ctx.out->simple(txn->find(args[1], &e) ? "string" : "none");
}

void cmd_expire(CommandContext& ctx, Args args) { expire_generic(ctx, args, "expire", true, true); }

void cmd_pexpire(CommandContext& ctx, Args args) {
  expire_generic(ctx, args, "pexpire", false, true);
}

void cmd_expireat(CommandContext& ctx, Args args) {
  expire_generic(ctx, args, "expireat", true, false);
}

void cmd_pexpireat(CommandContext& ctx, Args args) {
  expire_generic(ctx, args, "pexpireat", false, false);
}

void cmd_ttl(CommandContext& ctx, Args args) { ttl_generic(ctx, args[1], TtlOutput::kSeconds); }

void cmd_pttl(CommandContext& ctx, Args args) { ttl_generic(ctx, args[1], TtlOutput::kMillis); }

void cmd_expiretime(CommandContext& ctx, Args args) {
  ttl_generic(ctx, args[1], TtlOutput::kAbsSeconds);
}

void cmd_pexpiretime(CommandContext& ctx, Args args) {
  ttl_generic(ctx, args[1], TtlOutput::kAbsMillis);
}

void cmd_persist(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  if (!txn->find(args[1], &e) || e.expire_at_ms == 0) {
    ctx.out->integer(0);
    return;
  }
  txn->set_expire(args[1], 0);
  ctx.out->integer(1);
}

void cmd_keys(CommandContext& ctx, Args args) {
  const std::string_view pattern = args[1];
  const bool all = pattern == "*";
  std::vector<std::string> batch;
  std::vector<std::string> matched;
  std::unordered_set<std::string> seen;  // a scan may return a key twice; KEYS never does
  uint64_t cursor = 0;
  do {
    batch.clear();
    cursor = ctx.store->scan_keys(cursor, kKeysBatch, &batch);
    for (std::string& key : batch) {
      if (!all && !glob_match(pattern, key)) continue;
      if (seen.insert(key).second) matched.push_back(std::move(key));
    }
  } while (cursor != 0);
  ctx.out->array_header(matched.size());
  for (const std::string& key : matched) ctx.out->bulk(key);
}

namespace {

// Redis's parseScanCursorOrReply: strtoul's rules ("+5", "-1" and "" are accepted).
bool parse_cursor(std::string_view text, uint64_t* cursor) {
  const std::string copy(text);  // NUL-terminated, as strtoul needs
  errno = 0;
  char* end = nullptr;
  *cursor = std::strtoul(copy.c_str(), &end, 10);
  return !std::isspace(static_cast<unsigned char>(copy[0])) && *end == '\0' && errno != ERANGE;
}

}  // namespace

void cmd_scan(CommandContext& ctx, Args args) {
  uint64_t cursor = 0;
  if (!parse_cursor(args[1], &cursor)) {
    ctx.out->error("ERR invalid cursor");
    return;
  }
  int64_t count = static_cast<int64_t>(kScanCountDefault);
  std::string_view pattern;
  bool use_pattern = false;
  bool has_type = false;
  std::string_view type;
  for (size_t i = 2; i < args.size(); i += 2) {
    const bool has_value = i + 1 < args.size();
    if (has_value && option_is(args[i], "count")) {
      if (!parse_int_or_reply(*ctx.out, args[i + 1], &count)) return;
      if (count < 1) {
        ctx.out->error(kErrSyntax);
        return;
      }
    } else if (has_value && option_is(args[i], "match")) {
      pattern = args[i + 1];
      use_pattern = pattern != "*";
    } else if (has_value && option_is(args[i], "type")) {
      has_type = true;
      type = args[i + 1];
    } else {
      ctx.out->error(kErrSyntax);
      return;
    }
  }
  std::vector<std::string> keys;
  const uint64_t next = ctx.store->scan_keys(cursor, static_cast<size_t>(count), &keys);
  // L1 holds only strings: any other TYPE filters out everything (Redis compares the name
  // case-insensitively and does not reject unknown ones).
  const bool type_ok = !has_type || option_is(type, "string");
  size_t kept = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!type_ok || (use_pattern && !glob_match(pattern, keys[i]))) continue;
    if (kept != i) keys[kept] = std::move(keys[i]);
    ++kept;
  }
  keys.resize(kept);
  char buf[24];
  const int n = std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(next));
  ctx.out->array_header(2);
  ctx.out->bulk(std::string_view(buf, static_cast<size_t>(n)));
  ctx.out->array_header(keys.size());
  for (const std::string& key : keys) ctx.out->bulk(key);
}

void cmd_dbsize(CommandContext& ctx, Args) {
  ctx.out->integer(static_cast<int64_t>(ctx.store->stats().keys));
}

void cmd_flushall(CommandContext& ctx, Args args) {
  // SYNC and ASYNC are accepted; L1 frees its entries at once either way.
  if (args.size() > 2 ||
      (args.size() == 2 && !option_is(args[1], "sync") && !option_is(args[1], "async"))) {
    ctx.out->error(kErrSyntax);
    return;
  }
  ctx.store->flush_all();
  ctx.out->ok();
}

}  // namespace strata::proxy
