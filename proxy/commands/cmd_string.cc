// GET/SET family: GET, SET (NX XX GET EX PX EXAT PXAT KEEPTTL), SETNX, SETEX, PSETEX, GETSET,
// GETDEL, GETEX, MGET, MSET, MSETNX -- Redis 7.0's t_string.c, option by option.
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

using cache::EntryView;

// Option bits of SET and GETEX (Redis's OBJ_* flags).
enum SetFlag : uint32_t {
  kNx = 1u << 0,
  kXx = 1u << 1,
  kEx = 1u << 2,
  kPx = 1u << 3,
  kKeepTtl = 1u << 4,
  kGet = 1u << 5,
  kExAt = 1u << 6,
  kPxAt = 1u << 7,
  kPersist = 1u << 8,
};
constexpr uint32_t kAnyExpire = kEx | kPx | kExAt | kPxAt;

enum class CommandKind { kGet, kSet };

struct ExtendedOptions {
  uint32_t flags = 0;
  std::string_view expire;  // the time argument of EX/PX/EXAT/PXAT
};

// Redis's parseExtendedStringArgumentsOrReply: a conflicting or unknown option is a syntax
// error, and a repeated one is accepted (the last time argument wins).
bool parse_extended(protocol::ReplyWriter& out, Args args, CommandKind kind,
                    ExtendedOptions* opts) {
  const bool is_set = kind == CommandKind::kSet;
  uint32_t& f = opts->flags;
  for (size_t j = is_set ? 3 : 2; j < args.size(); ++j) {
    const std::string_view opt = args[j];
    const bool has_next = j + 1 < args.size();
    if (is_set && option_is(opt, "nx") && !(f & kXx)) {
      f |= kNx;
    } else if (is_set && option_is(opt, "xx") && !(f & kNx)) {
      f |= kXx;
    } else if (is_set && option_is(opt, "get")) {
      f |= kGet;
    } else if (is_set && option_is(opt, "keepttl") && !(f & (kPersist | kAnyExpire))) {
      f |= kKeepTtl;
    } else if (!is_set && option_is(opt, "persist") && !(f & (kAnyExpire | kKeepTtl))) {
      f |= kPersist;
    } else if (has_next && option_is(opt, "ex") &&
               !(f & (kKeepTtl | kPersist | kExAt | kPx | kPxAt))) {
      f |= kEx;
      opts->expire = args[++j];
    } else if (has_next && option_is(opt, "px") &&
               !(f & (kKeepTtl | kPersist | kEx | kExAt | kPxAt))) {
      f |= kPx;
      opts->expire = args[++j];
    } else if (has_next && option_is(opt, "exat") &&
               !(f & (kKeepTtl | kPersist | kEx | kPx | kPxAt))) {
      f |= kExAt;
      opts->expire = args[++j];
    } else if (has_next && option_is(opt, "pxat") &&
               !(f & (kKeepTtl | kPersist | kEx | kExAt | kPx))) {
      f |= kPxAt;
      opts->expire = args[++j];
    } else {
      out.error(kErrSyntax);
      return false;
    }
  }
  return true;
}

// Redis's getExpireMillisecondsOrReply: the absolute expiry in ms, or an error reply for a
// non-positive time or one that overflows.
bool expire_at_or_reply(protocol::ReplyWriter& out, std::string_view name, std::string_view text,
                        uint32_t flags, int64_t now_ms, int64_t* at_ms) {
  int64_t v = 0;
  if (!parse_int_or_reply(out, text, &v)) return false;
  const bool seconds = (flags & (kEx | kExAt)) != 0;
  if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
    reply_invalid_expire(out, name);
    return false;
  }
  if (seconds) v *= 1000;
  if (flags & (kEx | kPx)) {
    // Redis adds with signed overflow and then tests for <= 0; do the same without UB.
    v = static_cast<int64_t>(static_cast<uint64_t>(v) + static_cast<uint64_t>(now_ms));
  }
  if (v <= 0) {
    reply_invalid_expire(out, name);
    return false;
  }
  *at_ms = v;
  return true;
}

// Redis's setGenericCommand; int_replies: SETNX answers :1/:0 instead of +OK/null.
void set_generic(CommandContext& ctx, std::string_view name, uint32_t flags, std::string_view key,
                 std::string_view value, std::string_view expire, bool int_replies) {
  auto txn = ctx.store->lock(key);
  int64_t at_ms = 0;
  if (flags & kAnyExpire) {
    if (!expire_at_or_reply(*ctx.out, name, expire, flags, txn->now_ms(), &at_ms)) return;
  }
  EntryView old;
  bool found = false;
  if (flags & kGet) {
    found = txn->read(key, &old);
    if (found) {
      ctx.out->bulk(old.value);
    } else {
      ctx.out->null_bulk();
    }
  } else {
    found = txn->find(key, &old);
  }
  if (((flags & kNx) && found) || ((flags & kXx) && !found)) {
    if (flags & kGet) return;
    if (int_replies) {
      ctx.out->integer(0);
    } else {
      ctx.out->null_bulk();
    }
    return;
  }
  int64_t expire_at = at_ms;
  if ((flags & kKeepTtl) && found) expire_at = old.expire_at_ms;
  if (at_ms != 0 && at_ms <= txn->now_ms()) {
    // An absolute time already past: the key is set and expires at once, as in Redis.
    txn->erase(key);
  } else if (txn->set(key, value, expire_at) == 0) {
    if (!(flags & kGet)) ctx.out->error(kErrOutOfMemory);
    return;
  }
  if (flags & kGet) return;
  if (int_replies) {
    ctx.out->integer(1);
  } else {
    ctx.out->ok();
  }
}

}  // namespace

void cmd_get(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  EntryView e;
  if (txn->read(args[1], &e)) {
    ctx.out->bulk(e.value);
  } else {
    ctx.out->null_bulk();
  }
}

void cmd_set(CommandContext& ctx, Args args) {
  ExtendedOptions opts;
  if (!parse_extended(*ctx.out, args, CommandKind::kSet, &opts)) return;
  set_generic(ctx, "set", opts.flags, args[1], args[2], opts.expire, false);
}

void cmd_setnx(CommandContext& ctx, Args args) {
  set_generic(ctx, "setnx", kNx, args[1], args[2], {}, true);
}

void cmd_setex(CommandContext& ctx, Args args) {
  set_generic(ctx, "setex", kEx, args[1], args[3], args[2], false);
}

void cmd_psetex(CommandContext& ctx, Args args) {
  set_generic(ctx, "psetex", kPx, args[1], args[3], args[2], false);
}

void cmd_getset(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  EntryView old;
  if (txn->read(args[1], &old)) {
    ctx.out->bulk(old.value);
  } else {
    ctx.out->null_bulk();
  }
  // The reply is already written; a value too big for L1 leaves the key absent.
  if (txn->set(args[1], args[2], 0) == 0) txn->erase(args[1]);
}

void cmd_getdel(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  EntryView old;
  if (!txn->read(args[1], &old)) {
    ctx.out->null_bulk();
    return;
  }
  ctx.out->bulk(old.value);
  txn->erase(args[1]);
}

void cmd_getex(CommandContext& ctx, Args args) {
  ExtendedOptions opts;
  if (!parse_extended(*ctx.out, args, CommandKind::kGet, &opts)) return;
  auto txn = ctx.store->lock(args[1]);
  EntryView e;
  if (!txn->read(args[1], &e)) {
    ctx.out->null_bulk();
    return;
  }
  int64_t at_ms = 0;
  const bool has_expire = (opts.flags & kAnyExpire) != 0;
  if (has_expire &&
      !expire_at_or_reply(*ctx.out, "getex", opts.expire, opts.flags, txn->now_ms(), &at_ms)) {
    return;
  }
  ctx.out->bulk(e.value);
  if ((opts.flags & (kExAt | kPxAt)) && at_ms <= txn->now_ms()) {
    txn->erase(args[1]);
  } else if (has_expire) {
    txn->set_expire(args[1], at_ms);
  } else if (opts.flags & kPersist) {
    txn->set_expire(args[1], 0);
  }
}

void cmd_mget(CommandContext& ctx, Args args) {
  const Args keys = args.subspan(1);
  auto txn = ctx.store->lock(keys);
  ctx.out->array_header(keys.size());
  for (std::string_view key : keys) {
    EntryView e;
    if (txn->read(key, &e)) {
      ctx.out->bulk(e.value);
    } else {
      ctx.out->null_bulk();
    }
  }
}

namespace {

// MSET and MSETNX: all keys locked together, so the batch is atomic.
void mset_generic(CommandContext& ctx, Args args, std::string_view name, bool nx) {
  if (args.size() % 2 == 0) {
    reply_arity(*ctx.out, name);
    return;
  }
  std::vector<std::string_view> keys;
  keys.reserve(args.size() / 2);
  for (size_t j = 1; j < args.size(); j += 2) keys.push_back(args[j]);
  auto txn = ctx.store->lock(keys);
  if (nx) {
    for (std::string_view key : keys) {
      EntryView e;
      if (txn->find(key, &e)) {
        ctx.out->integer(0);
        return;
      }
    }
  }
  bool all_stored = true;
  for (size_t j = 1; j < args.size(); j += 2) {
    if (txn->set(args[j], args[j + 1], 0) == 0) {
      // A value too big for L1: the key must not keep an older value either.
      txn->erase(args[j]);
      all_stored = false;
    }
  }
  if (!all_stored) {
    ctx.out->error(kErrOutOfMemory);
  } else if (nx) {
    ctx.out->integer(1);
  } else {
    ctx.out->ok();
  }
}

}  // namespace

void cmd_mset(CommandContext& ctx, Args args) { mset_generic(ctx, args, "mset", false); }

void cmd_msetnx(CommandContext& ctx, Args args) { mset_generic(ctx, args, "msetnx", true); }

}  // namespace strata::proxy
