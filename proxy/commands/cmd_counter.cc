// Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT. The stored text must parse exactly as
// Redis parses it, and the result is stored as Redis formats it; the TTL is kept.
#include <cmath>

#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

// Redis's incrDecrCommand.
void incr_by(CommandContext& ctx, std::string_view key, int64_t incr) {
  auto txn = ctx.store->lock(key);
  cache::EntryView e;
  const bool found = txn->find(key, &e);
  int64_t value = 0;
  if (found && !string2ll(e.value, &value)) {
    ctx.out->error(kErrNotInteger);
    return;
  }
  if ((incr < 0 && value < 0 && incr < INT64_MIN - value) ||
      (incr > 0 && value > 0 && incr > INT64_MAX - value)) {
    ctx.out->error(kErrOverflow);
    return;
  }
  value += incr;
  char buf[32];
  const size_t n = ll2string(buf, value);
  if (txn->set(key, std::string_view(buf, n), found ? e.expire_at_ms : 0) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  ctx.out->integer(value);
}

}  // namespace

void cmd_incr(CommandContext& ctx, Args args) { incr_by(ctx, args[1], 1); }

void cmd_decr(CommandContext& ctx, Args args) { incr_by(ctx, args[1], -1); }

void cmd_incrby(CommandContext& ctx, Args args) {
  int64_t incr = 0;
  if (!parse_int_or_reply(*ctx.out, args[2], &incr)) return;
  incr_by(ctx, args[1], incr);
}

void cmd_decrby(CommandContext& ctx, Args args) {
  int64_t incr = 0;
  if (!parse_int_or_reply(*ctx.out, args[2], &incr)) return;
  if (incr == INT64_MIN) {
    ctx.out->error("ERR decrement would overflow");  // negating it would overflow
    return;
  }
  incr_by(ctx, args[1], -incr);
}

void cmd_incrbyfloat(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  const bool found = txn->find(args[1], &e);
  long double value = 0;
  long double incr = 0;
  if ((found && !string2ld(e.value, &value)) || !string2ld(args[2], &incr)) {
    ctx.out->error(kErrNotFloat);
    return;
  }
  value += incr;
  if (std::isnan(value) || std::isinf(value)) {
    ctx.out->error("ERR increment would produce NaN or Infinity");
    return;
  }
  char buf[kLongDoubleCharsMax];
  const size_t n = ld2string_human(buf, sizeof(buf), value);
  const std::string_view text(buf, n);
  if (txn->set(args[1], text, found ? e.expire_at_ms : 0) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  ctx.out->bulk(text);
}

}  // namespace strata::proxy
