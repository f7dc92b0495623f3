// STRATA: strata's own admin commands. HITRATE reports the shadow simulations of the hit-rate
// monitor: estimated miss ratios per key prefix, per eviction policy, per L1 size.
#include <strings.h>

#include "proxy/commands/commands.h"
#include "proxy/commands/hitrate_monitor.h"
#include "proxy/commands/l1_partitions.h"

namespace strata::proxy {
namespace {

void reply_text(CommandContext& ctx, std::string_view text) {
  if (ctx.out->resp_version() >= 3) {
    ctx.out->verbatim("txt", text);
  } else {
    ctx.out->bulk(text);
  }
}

}  // namespace

void cmd_strata(CommandContext& ctx, Args args) {
  std::string_view sub = args[1];
  if (name_is(sub, "help") && args.size() == 2) {
    static constexpr std::string_view kLines[] = {
        "STRATA HITRATE [prefix]",
        "    L1 partitions (live policy, hit ratio), then estimated miss ratios per key",
        "    prefix, eviction policy and L1 size.",
        "STRATA POLICY LIST | GET <prefix> | SET <prefix> <field> <value>",
        "    The per-prefix policies (tiers, TTL, write strategy, PostgreSQL mapping).",
        "STRATA RELOAD",
        "    Re-read the policy file; a bad file is refused and the running policies stay.",
        "STRATA FLUSH-BEHIND [timeout_ms]",
        "    Wait until every write-behind queue is empty.",
        "STRATA DEADLETTER LIST | RETRY [key] | DROP [key]",
        "    Writes PostgreSQL refused for good.",
        "STRATA CAS key expected_version value [PX ms]",
        "    Compare-and-set on a conflict = version prefix: the new version, or CONFLICT.",
        "STRATA VERSION key",
        "    [version, value] of the key as PostgreSQL holds it ([0, nil]: absent).",
        "STRATA APPEND stream value",
        "    Add a message to a stream of a conflict = append prefix: its position.",
        "STRATA RANGE stream from count",
        "    The stream's messages from position `from`, up to the first not written yet.",
        "STRATA HEAD stream",
        "    The stream's last position (0: none), as PostgreSQL holds it.",
        "STRATA SYNC",
        "    The sync bus: connection, events, gaps, partition drops, lag, peers.",
        "STRATA HELP",
    };
    ctx.out->array_header(std::size(kLines));
    for (std::string_view l : kLines) ctx.out->simple(l);
    return;
  }
  if (name_is(sub, "hitrate") && args.size() <= 3) {
    const std::string_view prefix = args.size() == 3 ? args[2] : std::string_view();
    // The live partitions first (what L1 does now), then the shadows (what it would do).
    std::string text = partition_report(*ctx.store, prefix);
    if (ctx.hitrate == nullptr && text.empty()) {
      ctx.out->error("ERR hit-rate sampling is off (start strata with --hitrate-sample-shift N)");
      return;
    }
    if (ctx.hitrate != nullptr) text += ctx.hitrate->report(prefix);
    if (text.empty()) {
      if (args.size() == 3) {
        ctx.out->error("ERR no sampled keys with prefix '" + std::string(args[2]) + "' yet");
      } else {
        ctx.out->error("ERR no sampled keys yet");
      }
      return;
    }
    reply_text(ctx, text);
    return;
  }
  if (name_is(sub, "sync") && args.size() == 2) {
    if (ctx.server->sync_info.empty()) {
      ctx.out->error("ERR the sync bus is off (configure [nats] url, or start with --nats URL)");
      return;
    }
    reply_text(ctx, ctx.server->sync_info);
    return;
  }
  ctx.out->error("ERR unknown subcommand or wrong number of arguments for '" + std::string(sub) +
                 "'. Try STRATA HELP.");
}

}  // namespace strata::proxy
