#include "proxy/admin/policy_admin.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "protocol/reply_writer.h"
#include "proxy/commands/commands.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/tier_shared.h"
#include "proxy/tiers/tiers.h"

namespace strata::proxy {
namespace {

constexpr int64_t kFlushBehindTimeoutMs = 30'000;

void write_policy(protocol::ReplyWriter& w, const policies::Policy& p) {
  auto fields = policies::describe_policy(p);
  w.array_header(fields.size() * 2);
  for (auto& [k, v] : fields) {
    w.bulk(k);
    w.bulk(v);
  }
}

void policy_cmd(ReplySink* c, TierShared& ts, Args args, protocol::ReplyWriter& w) {
  const PolicySnapshot* snap = ts.registry->current();
  if (args.size() == 3 && name_is(args[2], "list")) {
    std::vector<const policies::Policy*> ps;
    for (const policies::Policy& p : snap->config.policies) ps.push_back(&p);
    std::stable_sort(ps.begin(), ps.end(),
                     [](auto* a, auto* b) { return a->prefix.size() > b->prefix.size(); });
    w.array_header(ps.size() + 1);
    for (const policies::Policy* p : ps) write_policy(w, *p);
    write_policy(w, snap->config.fallback);
    return;
  }
  if (args.size() == 4 && name_is(args[2], "get")) {
    if (args[3].empty()) return write_policy(w, snap->config.fallback);
    for (const policies::Policy& p : snap->config.policies) {
      if (p.prefix == args[3]) return write_policy(w, p);
    }
    w.error("ERR no policy for prefix '" + std::string(args[3]) + "'");
    return;
  }
  if (args.size() == 6 && name_is(args[2], "set")) {
    auto r = ts.registry->set_field(args[3], args[4], args[5]);
    if (!r) {
      w.error("ERR " + r.error());
      return;
    }
    if (ts.write_behind) ts.write_behind->apply(*ts.registry->current());
    STRATA_LOG_INFO("policy '%.*s': %.*s set to %.*s by client %llu",
                    static_cast<int>(args[3].size()), args[3].data(),
                    static_cast<int>(args[4].size()), args[4].data(),
                    static_cast<int>(args[5].size()), args[5].data(),
                    static_cast<unsigned long long>(c->client_id()));
    w.ok();
    return;
  }
  w.error("ERR syntax: STRATA POLICY LIST | GET <prefix> | SET <prefix> <field> <value>");
}

void deadletter_cmd(TierShared& ts, int64_t now_ms, Args args, protocol::ReplyWriter& w) {
  if (!ts.write_behind) {
    w.error("ERR no PostgreSQL tier configured ([postgres] conninfo)");
    return;
  }
  if (args.size() == 3 && name_is(args[2], "list")) {
    auto items = ts.write_behind->dead_letters();
    const int64_t now = now_ms;
    w.array_header(items.size());
    for (const auto& it : items) {
      w.array_header(5);
      w.bulk(it.write.key);
      w.bulk(std::to_string(it.write.version));
      w.bulk(it.error);
      w.bulk(std::to_string(now - it.at_ms));
      if (it.write.is_delete) {
        w.null_bulk();
      } else {
        w.bulk(it.write.value);
      }
    }
    return;
  }
  if ((args.size() == 3 || args.size() == 4) &&
      (name_is(args[2], "retry") || name_is(args[2], "drop"))) {
    std::string_view key = args.size() == 4 ? args[3] : std::string_view();
    const size_t n = name_is(args[2], "retry")
                         ? ts.write_behind->retry(key, *ts.registry->current())
                         : ts.write_behind->drop(key);
    w.integer(static_cast<int64_t>(n));
    return;
  }
  w.error("ERR syntax: STRATA DEADLETTER LIST | RETRY [key] | DROP [key]");
}

bool parse_u64_arg(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// STRATA CAS key expected_version value [PX ms] | STRATA VERSION key: compare-and-set on a
// conflict = version prefix, decided by PostgreSQL's row version.
void cas_cmd(ReplySink* c, Tiers* tiers, int64_t now_ms, Args args, protocol::ReplyWriter& w) {
  const bool cas = name_is(args[1], "cas");
  if (cas ? (args.size() != 5 && args.size() != 7) : args.size() != 3) {
    w.error(cas ? "ERR usage: STRATA CAS key expected_version value [PX milliseconds]"
                : "ERR usage: STRATA VERSION key");
    return;
  }
  const std::string_view key = args[2];
  auto not_versioned = [&] {
    w.error("ERR strata: key '" + std::string(key) +
            "' is not under a prefix with conflict = version and a PostgreSQL strategy");
  };
  if (tiers == nullptr) return not_versioned();
  if (!cas) {
    if (!tiers->version_of(c, key)) not_versioned();
    return;
  }
  uint64_t expected = 0;
  if (!parse_u64_arg(args[3], &expected)) {
    w.error("ERR expected_version must be a non-negative integer (0: the key must be absent)");
    return;
  }
  int64_t expire_at_ms = 0;
  if (args.size() == 7) {
    uint64_t px = 0;
    if (!name_is(args[5], "px") || !parse_u64_arg(args[6], &px) || px == 0 ||
        px > static_cast<uint64_t>(INT64_MAX - now_ms)) {
      w.error("ERR syntax error: the only option is PX milliseconds (a positive integer)");
      return;
    }
    expire_at_ms = now_ms + static_cast<int64_t>(px);
  }
  if (!tiers->cas(c, key, expected, args[4], expire_at_ms)) not_versioned();
}

// STRATA APPEND stream value | RANGE stream from count | HEAD stream, on a conflict = append
// prefix (docs/append.md).
void append_cmd(ReplySink* c, Tiers* tiers, Args args, protocol::ReplyWriter& w) {
  const std::string_view sub = args[1];
  const bool range = name_is(sub, "range");
  const size_t want = range ? 5 : name_is(sub, "append") ? 4 : 3;
  if (args.size() != want) {
    w.error(range                      ? "ERR usage: STRATA RANGE stream from count"
            : name_is(sub, "append") ? "ERR usage: STRATA APPEND stream value"
                                       : "ERR usage: STRATA HEAD stream");
    return;
  }
  const std::string_view stream = args[2];
  uint64_t from = 0;
  uint64_t count = 0;
  if (range) {
    if (!parse_u64_arg(args[3], &from) || from == 0 || !parse_u64_arg(args[4], &count) ||
        count > kAppendRangeMax || from > UINT64_MAX - count) {
      w.error("ERR from must be a position (1 or more) and count at most " +
              std::to_string(kAppendRangeMax));
      return;
    }
  }
  const bool served = range                    ? tiers != nullptr && tiers->append_range(c, stream, from, count)
                      : name_is(sub, "append") ? tiers != nullptr && tiers->append(c, stream, args[3])
                                               : tiers != nullptr && tiers->append_head(c, stream);
  if (!served) {
    w.error("ERR strata: '" + std::string(stream.substr(0, 64)) +
            "' is not under a prefix with conflict = append and a PostgreSQL strategy");
  }
}

}  // namespace

bool strata_policy_admin(ReplySink* c, TierShared* shared, Tiers* tiers, int64_t now_ms,
                         Args args) {
  if (args.size() < 2 || shared == nullptr) return false;
  const std::string_view sub = args[1];
  protocol::ReplyWriter w(c->reply_target(), c->resp_version());
  TierShared& ts = *shared;
  if (name_is(sub, "policy")) {
    policy_cmd(c, ts, args, w);
    return true;
  }
  if (name_is(sub, "reload") && args.size() == 2) {
    auto r = ts.registry->reload();
    if (!r) {
      STRATA_LOG_WARN("STRATA RELOAD refused: %s", r.error().c_str());
      w.error("ERR reload refused: " + r.error());
      return true;
    }
    if (ts.write_behind) ts.write_behind->apply(*ts.registry->current());
    STRATA_LOG_INFO("policies reloaded from %s", ts.registry->path().c_str());
    w.ok();
    return true;
  }
  if (name_is(sub, "flush-behind") && args.size() <= 3) {
    int64_t timeout = kFlushBehindTimeoutMs;
    if (args.size() == 3) {
      auto [p, ec] = std::from_chars(args[2].data(), args[2].data() + args[2].size(), timeout);
      if (ec != std::errc() || p != args[2].data() + args[2].size() || timeout <= 0) {
        w.error("ERR timeout must be a positive number of milliseconds");
        return true;
      }
    }
    if (tiers == nullptr) {
      w.ok();  // no PostgreSQL tier: nothing can be pending
      return true;
    }
    tiers->flush_behind_wait(c, timeout);
    return true;
  }
  if (name_is(sub, "deadletter")) {
    deadletter_cmd(ts, now_ms, args, w);
    return true;
  }
  if (name_is(sub, "cas") || name_is(sub, "version")) {
    cas_cmd(c, tiers, now_ms, args, w);
    return true;
  }
  if (name_is(sub, "append") || name_is(sub, "range") || name_is(sub, "head")) {
    append_cmd(c, tiers, args, w);
    return true;
  }
  return false;
}

std::string policies_info(TierShared& ts) {
  const PolicySnapshot* snap = ts.registry->current();
  std::string out;
  auto rd = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::vector<const policies::Policy*> ps;
  for (const policies::Policy& p : snap->config.policies) ps.push_back(&p);
  ps.push_back(&snap->config.fallback);
  const int64_t now = [] {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }();
  size_t i = 0;
  for (const policies::Policy* p : ps) {
    const PolicyEntry& e = p->prefix.empty() ? snap->table.fallback() : snap->match(p->prefix);
    const PrefixStats& s = *e.stats;
    WriteBehindShared::QueueInfo q;
    if (ts.write_behind) q = ts.write_behind->info(p->prefix);
    out += "policy_" + std::to_string(i++) + ":prefix=" + p->prefix +
           ",strategy=" + std::string(policies::strategy_name(p->strategy)) +
           ",l1=" + (p->l1 ? "on" : "off") + ",l2=" + (p->l2 ? "on" : "off") +
           ",l1_hits=" + std::to_string(rd(s.l1_hits)) +
           ",pending_hits=" + std::to_string(rd(s.pending_hits)) +
           ",l2_hits=" + std::to_string(rd(s.l2_hits)) +
           ",pg_hits=" + std::to_string(rd(s.pg_hits)) + ",misses=" + std::to_string(rd(s.misses)) +
           ",negative_hits=" + std::to_string(rd(s.negative_hits)) +
           ",fills=" + std::to_string(rd(s.fills)) + ",writes=" + std::to_string(rd(s.writes)) +
           ",write_errors=" + std::to_string(rd(s.write_errors)) +
           ",wb_queue_depth=" + std::to_string(q.depth) +
           ",wb_oldest_ms=" + std::to_string(q.oldest_ms == 0 ? 0 : now - q.oldest_ms) +
           ",wb_batches=" + std::to_string(rd(s.wb_batches)) +
           ",wb_rows=" + std::to_string(rd(s.wb_rows)) +
           ",wb_retries=" + std::to_string(rd(s.wb_retries)) +
           ",refreshes=" + std::to_string(rd(s.refreshes)) +
           ",pg_waits=" + std::to_string(rd(s.pg_waits)) +
           ",dead_letters=" + std::to_string(rd(s.dead_letters)) +
           ",changes=" + std::to_string(rd(s.changes)) +
           ",lease_won=" + std::to_string(rd(s.lease_won)) +
           ",lease_waits=" + std::to_string(rd(s.lease_waits)) +
           ",lease_wait_l2=" + std::to_string(rd(s.lease_wait_l2)) +
           ",lease_takeovers=" + std::to_string(rd(s.lease_takeovers)) +
           ",lease_timeouts=" + std::to_string(rd(s.lease_timeouts)) +
           ",lease_yields=" + std::to_string(rd(s.lease_yields)) +
           ",lease_redis_fallbacks=" + std::to_string(rd(s.lease_redis_fallbacks)) +
           ",refresh_shared=" + std::to_string(rd(s.refresh_shared)) + "\r\n";
  }
  if (ts.write_behind) {
    out += "wb_queue_depth:" + std::to_string(ts.write_behind->depth()) + "\r\n";
    out += "dead_letters:" + std::to_string(ts.write_behind->dead_letter_count()) + "\r\n";
  }
  if (ts.ledger != nullptr) {
    out += "journal_live_records:" + std::to_string(ts.ledger->live_records()) + "\r\n";
    out += "journal_segments:" + std::to_string(ts.ledger->segments()) + "\r\n";
    const JournalCounters& j = ts.journal;
    out += "journal_group_commits:" + std::to_string(rd(j.group_commits)) + "\r\n";
    out += "journal_bytes_written:" + std::to_string(rd(j.bytes_written)) + "\r\n";
    out += "journal_background_syncs:" + std::to_string(rd(j.background_syncs)) + "\r\n";
    out += "journal_failures:" + std::to_string(rd(j.failures)) + "\r\n";
  }
  return out;
}

}  // namespace strata::proxy
