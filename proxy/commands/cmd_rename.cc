// Key moves within the one keyspace: RENAME, RENAMENX, COPY (Redis 7.0's db.c), and TOUCH.
// The value and its TTL move together under one lock on both keys.
#include <string>

#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kErrNoKey = "ERR no such key";

// Redis's renameGenericCommand.
void rename_generic(CommandContext& ctx, Args args, bool nx) {
  const std::string_view src = args[1];
  const std::string_view dst = args[2];
  const std::string_view keys[] = {src, dst};
  auto txn = ctx.store->lock(keys);
  cache::EntryView e;
  if (!txn->find(src, &e)) {
    ctx.out->error(kErrNoKey);
    return;
  }
  if (src == dst) {
    if (nx) {
      ctx.out->integer(0);
    } else {
      ctx.out->ok();
    }
    return;
  }
  cache::EntryView existing;
  if (nx && txn->find(dst, &existing)) {
    ctx.out->integer(0);
    return;
  }
  // The view dies with the next write: copy the value first.
  const std::string value(e.value);
  const int64_t expire_at = e.expire_at_ms;
  if (txn->set(dst, value, expire_at) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  txn->erase(src);
  if (nx) {
    ctx.out->integer(1);
  } else {
    ctx.out->ok();
  }
}

}  // namespace

void cmd_rename(CommandContext& ctx, Args args) { rename_generic(ctx, args, false); }

void cmd_renamenx(CommandContext& ctx, Args args) { rename_generic(ctx, args, true); }

void cmd_copy(CommandContext& ctx, Args args) {
  bool replace = false;
  for (size_t j = 3; j < args.size(); ++j) {
    if (option_is(args[j], "replace")) {
      replace = true;
    } else if (option_is(args[j], "db") && j + 1 < args.size()) {
      int64_t db = 0;
      if (!parse_int_or_reply(*ctx.out, args[++j], &db)) return;
      if (db < INT32_MIN || db > INT32_MAX) {
        ctx.out->error("ERR value is out of range, value must between -2147483648 and 2147483647");
        return;
      }
      if (db != 0) {  // strata keeps only Redis's database 0
        ctx.out->error("ERR DB index is out of range");
        return;
      }
    } else {
      ctx.out->error(kErrSyntax);
      return;
    }
  }
  const std::string_view src = args[1];
  const std::string_view dst = args[2];
  if (src == dst) {
    ctx.out->error("ERR source and destination objects are the same");
    return;
  }
  const std::string_view keys[] = {src, dst};
  auto txn = ctx.store->lock(keys);
  cache::EntryView e;
  cache::EntryView existing;
  if (!txn->read(src, &e) || (!replace && txn->find(dst, &existing))) {
    ctx.out->integer(0);
    return;
  }
  const std::string value(e.value);
  if (txn->set(dst, value, e.expire_at_ms) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  ctx.out->integer(1);
}

void cmd_touch(CommandContext& ctx, Args args) {
  const Args keys = args.subspan(1);
  auto txn = ctx.store->lock(keys);
  int64_t count = 0;
  for (std::string_view key : keys) {
    cache::EntryView e;
    if (txn->read(key, &e)) ++count;
  }
  ctx.out->integer(count);
}

}  // namespace strata::proxy
