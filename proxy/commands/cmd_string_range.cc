// Byte-range string commands: APPEND, STRLEN, GETRANGE (and SUBSTR), SETRANGE, following Redis
// 7.0's t_string.c including its clamping of negative and out-of-range indexes.
#include <algorithm>
#include <string>

#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

// Redis's checkStringLength: a string may not grow past proto-max-bulk-len.
bool length_ok_or_reply(protocol::ReplyWriter& out, int64_t size) {
  if (size <= kStringBytesMax) return true;
  out.error(kErrStringTooLong);
  return false;
}

// Refuses before building a value the store could never hold, so a huge SETRANGE on a small
// L1 does not allocate first.
bool fits_or_reply(CommandContext& ctx, std::string_view key, uint64_t value_bytes) {
  const uint64_t limit = ctx.store->capacity_for(key);
  if (limit == 0 || ctx.store->charged_bytes(key, value_bytes) <= limit) return true;
  ctx.out->error(kErrOutOfMemory);
  return false;
}

}  // namespace

void cmd_append(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  std::string value;
  int64_t expire_at = 0;
  if (txn->find(args[1], &e)) {
    const auto total = static_cast<int64_t>(e.value.size() + args[2].size());
    if (!length_ok_or_reply(*ctx.out, total)) return;
    if (!fits_or_reply(ctx, args[1], static_cast<uint64_t>(total))) return;
    value.reserve(static_cast<size_t>(total));
    value.append(e.value);
    expire_at = e.expire_at_ms;
  }
  value.append(args[2]);
  if (txn->set(args[1], value, expire_at) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  ctx.out->integer(static_cast<int64_t>(value.size()));
}

void cmd_strlen(CommandContext& ctx, Args args) {
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  ctx.out->integer(txn->read(args[1], &e) ? static_cast<int64_t>(e.value.size()) : 0);
}

void cmd_getrange(CommandContext& ctx, Args args) {
  int64_t start = 0;
  int64_t end = 0;
  if (!parse_int_or_reply(*ctx.out, args[2], &start)) return;
  if (!parse_int_or_reply(*ctx.out, args[3], &end)) return;
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  // Redis answers an empty bulk (not null) for a missing key, in RESP3 too.
  constexpr std::string_view kEmpty;
  if (!txn->read(args[1], &e)) {
    ctx.out->bulk(kEmpty);
    return;
  }
  const auto len = static_cast<int64_t>(e.value.size());
  if (start < 0 && end < 0 && start > end) {
    ctx.out->bulk(kEmpty);
    return;
  }
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) {
    ctx.out->bulk(kEmpty);
    return;
  }
  ctx.out->bulk(e.value.substr(static_cast<size_t>(start), static_cast<size_t>(end - start + 1)));
}

void cmd_setrange(CommandContext& ctx, Args args) {
  int64_t offset = 0;
  if (!parse_int_or_reply(*ctx.out, args[2], &offset)) return;
  if (offset < 0) {
    ctx.out->error("ERR offset is out of range");
    return;
  }
  const std::string_view patch = args[3];
  auto txn = ctx.store->lock(args[1]);
  cache::EntryView e;
  const bool found = txn->find(args[1], &e);
  if (patch.empty()) {
    ctx.out->integer(found ? static_cast<int64_t>(e.value.size()) : 0);
    return;
  }
  // offset + size > max, written so that a huge offset cannot overflow.
  if (offset > kStringBytesMax - static_cast<int64_t>(patch.size())) {
    ctx.out->error(kErrStringTooLong);
    return;
  }
  const size_t needed = static_cast<size_t>(offset) + patch.size();
  const size_t new_len = found ? std::max(e.value.size(), needed) : needed;
  if (!fits_or_reply(ctx, args[1], new_len)) return;
  std::string value;
  value.reserve(new_len);
  if (found) value.append(e.value);
  value.resize(new_len, '\0');
  value.replace(static_cast<size_t>(offset), patch.size(), patch);
  if (txn->set(args[1], value, found ? e.expire_at_ms : 0) == 0) {
    ctx.out->error(kErrOutOfMemory);
    return;
  }
  ctx.out->integer(static_cast<int64_t>(value.size()));
}

}  // namespace strata::proxy
