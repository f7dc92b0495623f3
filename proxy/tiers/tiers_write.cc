// The tiered write path: the four strategies (see ../shared/DESIGN.md § Write strategies), L2
// writes guarded by version, write-behind backpressure, FLUSH-BEHIND. Flushing batches to
// PostgreSQL is in tiers_flush.cc.
#include <algorithm>

#include "cache/store.h"
#include "protocol/reply_writer.h"
#include "proxy/journal/journal.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/tiers.h"
#include "proxy/tiers/tiers_internal.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {

using namespace tiers_detail;
using policies::Strategy;

namespace {

// L2 holds, beside each key of a PostgreSQL-backed prefix, the version of the newest write or
// invalidation strata made of it. A write or fill older than that is refused by Redis itself,
// so a slow fill or a reordered write can never put an older value back, whichever worker or
// connection sent it.
constexpr std::string_view kL2VersionPrefix = "__strata:ver:";
constexpr int64_t kL2GuardMs = 60'000;  // the version outlives the value at least this long

constexpr std::string_view kL2SetScript = R"lua(
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local v = tonumber(ARGV[2])
if v < cur then return 0 end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  redis.call('SET', KEYS[2], ARGV[2], 'PX', math.max(ttl, tonumber(ARGV[4])))
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1)lua";

constexpr std::string_view kL2DelScript = R"lua(
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local v = tonumber(ARGV[1])
if v < cur then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]))
return redis.call('DEL', KEYS[1]))lua";

constexpr size_t kL2RepairMax = 100'000;  // keys whose L2 copy awaits invalidation

std::string pg_error(const PgResult& r) {
  return error_line("ERR strata: PostgreSQL write failed: " + r.error);
}

}  // namespace

// ---- L2 ----

void Tiers::l2_write(const WriteReq& req, uint64_t version, RedisCallback cb) {
  Upstream* up = ctx_.upstream;
  const std::string vkey = std::string(kL2VersionPrefix) + req.key;
  const std::string ver = std::to_string(version);
  bool sent = false;
  if (req.is_delete) {
    const std::string guard = std::to_string(kL2GuardMs);
    std::string_view args[] = {"EVAL", kL2DelScript, "2", req.key, vkey, ver, guard};
    sent = up->call(args, req.key, std::move(cb));
  } else {
    int64_t ttl = 0;
    if (req.expire_at_ms > 0) ttl = std::max<int64_t>(1, req.expire_at_ms - ctx_.loop->now_ms());
    const std::string ttl_s = std::to_string(ttl), guard = std::to_string(kL2GuardMs);
    std::string_view args[] = {"EVAL",    kL2SetScript, "2",   req.key, vkey,
                               req.value, ver,          ttl_s, guard};
    sent = up->call(args, req.key, std::move(cb));
  }
  if (!sent && l2_repair_.size() < kL2RepairMax) l2_repair_.push_back(req.key);
}

void Tiers::l2_install(const PolicyEntry& e, std::string_view key, std::string_view value,
                       uint64_t version, int64_t ttl_ms) {
  Upstream* up = ctx_.upstream;
  if (!e.policy.l2 || up == nullptr || !up->available()) return;
  WriteReq req;
  req.key = std::string(key);
  req.value = std::string(value);
  req.expire_at_ms = ttl_ms > 0 ? ctx_.loop->now_ms() + ttl_ms : 0;
  l2_write(req, version, [](const RedisReply&) {});
}

// ---- writes ----

void Tiers::publish_write(std::string_view key, bool is_delete, bool installed,
                          std::string_view value, uint64_t version, int64_t expire_at_ms,
                          PrefixStats* stats) {
  ChangeEvent e;
  e.key = key;
  e.op = is_delete ? ChangeOp::kDelete : installed ? ChangeOp::kSet : ChangeOp::kInvalidate;
  if (e.op == ChangeOp::kSet) {
    e.value = value;
    e.expire_at_ms = expire_at_ms;
  }
  e.version = version;
  e.source = ChangeSource::kStrategy;
  e.prefix_changes = &stats->changes;
  ctx_.seam->publish(e);
}

void Tiers::write(WriteReq req) {
  if (!busy_.empty()) {
    const bool to_postgres_first = req.entry->policy.strategy != Strategy::kWriteBehind;
    if (must_wait(req.key, false, to_postgres_first)) {
      const std::string key = req.key;
      enqueue(key, [this, r = std::move(req)]() mutable { write(std::move(r)); });
      return;
    }
  }
  bump(req.entry->stats->writes);
  shared_->negative.erase(req.key);
  switch (req.entry->policy.strategy) {
    case Strategy::kWriteBehind:
      req.deadline_ms = ctx_.loop->now_ms() + req.entry->policy.queue_wait_ms;
      write_behind(std::move(req));
      return;
    case Strategy::kWriteThrough:
    case Strategy::kWriteAround:
    case Strategy::kRefreshAhead:
      write_through(std::move(req));
      return;
    case Strategy::kCache:
      break;
  }
  multi_done(req.multi, 0, error_line("ERR strata: internal: no PostgreSQL strategy"));
}

// write-through, refresh-ahead and write-around: PostgreSQL commits first; the client hears
// about it only after the cache tiers were updated (or invalidated, for write-around).
void Tiers::write_through(WriteReq req) {
  // No availability check: while connecting the pool holds the request (bounded, with the
  // connect timeout); when PostgreSQL is down it fails it with the reason.
  const uint64_t version = shared_->versions.next();
  // A lease, not an invalidation: if PostgreSQL refuses the write, the tiers stay as they were.
  const uint64_t lease =
      req.entry->policy.l1 && req.entry->policy.strategy != Strategy::kWriteAround
          ? ctx_.store->begin_fill(req.key)
          : 0;
  // The request moves into the callback; on the heap, the views in params stay valid.
  ++busy_[req.key].writes;  // later commands on this key wait until it has settled
  auto held = std::make_unique<WriteReq>(std::move(req));
  const std::string ver = std::to_string(version);
  std::vector<PgParam> params;
  params.push_back({held->key, false, false});
  if (!held->is_delete) params.push_back({held->value, false, true});
  params.push_back({ver, false, false});
  const std::string& sql = held->is_delete ? held->entry->sql.remove : held->entry->sql.upsert;
  pool_->exec(sql, params, false,
              [this, held = std::move(held), version, lease](PgResult&& r) mutable {
                if (r.status != PgResult::kOk) {
                  bump(held->entry->stats->write_errors);
                  multi_done(held->multi, 0, pg_error(r));
                  settle_write(held->key);
                  return;
                }
                after_commit(std::move(*held), version, lease, r.affected);
              });
}

void Tiers::after_commit(WriteReq req, uint64_t version, uint64_t lease, uint64_t affected) {
  const policies::Policy& p = req.entry->policy;
  const bool install = !req.is_delete && p.strategy != Strategy::kWriteAround;
  auto finish = [this, key = req.key, value = req.value, install, lease, l1 = p.l1,
                 exp = req.expire_at_ms, multi = req.multi, affected, version,
                 is_delete = req.is_delete, stats = req.entry->stats] {
    cache::Store& store = *ctx_.store;
    // A lease broken by a concurrent write means the order between the two is unknown here:
    // drop the key and let the next read fetch the newest value from the tiers below.
    if (!install || !l1 || !store.complete_fill(key, lease, value, exp)) store.invalidate(key);
    publish_write(key, is_delete, install, value, version, exp, stats);
    multi_done(multi, static_cast<int64_t>(affected), {});
    settle_write(key);
  };
  Upstream* up = ctx_.upstream;
  if (!p.l2 || up == nullptr) {
    finish();
    return;
  }
  WriteReq l2 = req;
  l2.is_delete = !install;  // write-around and DEL invalidate L2 (recording the version)
  std::string key = req.key;
  auto cb = [this, key, finish = std::move(finish)](const RedisReply& r) mutable {
    // PostgreSQL has committed: the client gets its OK even if Redis failed; the key is
    // invalidated in L2 once Redis is back (l2_repair_), so L2 converges.
    if ((!r.ok || r.kind == protocol::ReplyKind::kError) && l2_repair_.size() < kL2RepairMax) {
      l2_repair_.push_back(key);
    }
    finish();
  };
  if (up->available()) {
    l2_write(l2, version, std::move(cb));
  } else {
    if (l2_repair_.size() < kL2RepairMax) l2_repair_.push_back(req.key);
    cb(RedisReply{});
  }
}

// write-behind: acknowledged once L1 (and L2) hold the value and the journal has it on disk.
void Tiers::write_behind(WriteReq req) {
  const policies::Policy& p = req.entry->policy;
  if (!shared_->write_behind->has_room(*req.entry)) {
    if (ctx_.loop->now_ms() >= req.deadline_ms) {
      bump(req.entry->stats->write_errors);
      multi_done(
          req.multi, 0,
          error_line("ERR strata: write-behind queue for prefix '" + p.prefix + "' is full (" +
                     std::to_string(p.max_queue_depth) + " pending writes); try again later"));
      return;
    }
    parked_.push_back(std::move(req));  // backpressure: retried as the queue drains
    return;
  }
  const uint64_t version = shared_->versions.next();
  const int64_t now = ctx_.loop->now_ms();
  cache::Store& store = *ctx_.store;
  int64_t existed = 0;
  if (req.is_delete) {
    policies::PendingWrite pw;
    if (shared_->write_behind->find(p.prefix, req.key, &pw) && !pw.is_delete) existed = 1;
    cache::EntryView v;
    if (store.lock(req.key)->find(req.key, &v)) existed = 1;
    store.invalidate(req.key);
  } else if (p.l1) {
    store.lock(req.key)->set(req.key, req.value, req.expire_at_ms);
  } else {
    store.invalidate(req.key);
  }
  policies::JournalRecord rec;
  rec.op = req.is_delete ? policies::JournalRecord::kDel : policies::JournalRecord::kSet;
  rec.version = version;
  rec.key = req.key;
  rec.value = req.is_delete ? std::string_view() : std::string_view(req.value);
  Upstream* up = ctx_.upstream;
  const bool with_l2 = p.l2 && up != nullptr;
  // The reply waits for the journal and (when on) Redis: two parts of a Multi that settles the
  // command's own Multi (DEL counts the key if a tier or the queue had it). Without Redis the
  // journal settles the command's own Multi directly.
  const uint64_t join = with_l2 ? next_multi_++ : req.multi;
  if (with_l2) {
    Multi& m = multis_[join];
    m.remaining = 2;
    m.count = existed;
    m.part_of = req.multi;
  }
  auto settle = [this, join](int64_t n, std::string_view err) { multi_done(join, n, err); };
  const int64_t journal_count = with_l2 ? 0 : existed;
  const uint64_t segment = journal_->append(rec, [settle, journal_count](bool ok) mutable {
    if (ok) return settle(journal_count, {});
    settle(0, "-ERR strata: journal write failed\r\n");
  });
  policies::WriteView pw;
  pw.key = req.key;
  if (!req.is_delete) pw.value = req.value;
  pw.version = version;
  pw.is_delete = req.is_delete;
  pw.segment = segment;
  pw.enqueued_ms = now;
  shared_->write_behind->push(*req.entry, pw);
  publish_write(req.key, req.is_delete, !req.is_delete, req.value, version, req.expire_at_ms,
                req.entry->stats);
  if (with_l2) {
    if (up->available()) {
      std::string key = req.key;
      l2_write(req, version, [this, settle, key](const RedisReply& r) mutable {
        const bool failed = !r.ok || r.kind == protocol::ReplyKind::kError;
        if (failed && l2_repair_.size() < kL2RepairMax) l2_repair_.push_back(key);
        settle(!failed && r.kind == protocol::ReplyKind::kInteger ? r.integer : 0, {});
      });
    } else {
      // Redis is away: the pending queue serves reads meanwhile; L2 is invalidated once back.
      if (l2_repair_.size() < kL2RepairMax) l2_repair_.push_back(req.key);
      settle(0, {});
    }
  }
}

void Tiers::retry_parked(int64_t now_ms) {
  size_t n = parked_.size();
  while (n-- > 0 && !parked_.empty()) {
    WriteReq req = std::move(parked_.front());
    parked_.pop_front();
    if (!shared_->write_behind->has_room(*req.entry) && now_ms < req.deadline_ms) {
      parked_.push_front(std::move(req));  // keep order: nobody behind it may overtake
      return;
    }
    write_behind(std::move(req));
  }
}

// ---- FLUSH-BEHIND ----

void Tiers::flush_behind_wait(ReplySink* c, int64_t timeout_ms) {
  const int64_t now = ctx_.loop->now_ms();
  shared_->flush_waiters.fetch_add(1, std::memory_order_relaxed);
  flush_waiters_.push_back({c->sink_token(), c->reserve_reply(), now + timeout_ms, timeout_ms});
  check_flush_waiters(now);
  flush_due(now);
}

void Tiers::check_flush_waiters(int64_t now_ms) {
  if (flush_waiters_.empty()) return;
  const size_t depth = shared_->write_behind->depth();
  const size_t before = flush_waiters_.size();
  std::erase_if(flush_waiters_, [&](const FlushWaiter& w) {
    ReplySink* c = sink_of(*ctx_.loop, w.client);
    if (c == nullptr) return true;
    if (depth == 0) {
      c->complete_reply(w.seq, "+OK\r\n");
      return true;
    }
    if (now_ms >= w.deadline_ms) {
      c->fail_reply(w.seq,
                    error_line("ERR FLUSH-BEHIND timed out after " + std::to_string(w.timeout_ms) +
                               " ms: " + std::to_string(depth) + " writes pending"));
      return true;
    }
    return false;
  });
  shared_->flush_waiters.fetch_sub(static_cast<int64_t>(before - flush_waiters_.size()),
                                   std::memory_order_relaxed);
}

// ---- housekeeping ----

void Tiers::on_tick(int64_t now_ms) {
  pool_->on_tick(now_ms);
  retry_parked(now_ms);
  check_flush_waiters(now_ms);
  Upstream* up = ctx_.upstream;
  if (!l2_repair_.empty() && up != nullptr && up->available()) {
    // Invalidate what may be stale in L2, with a version newer than any write made so far.
    std::vector<std::string> keys;
    keys.swap(l2_repair_);
    for (std::string& k : keys) {
      WriteReq req;
      req.key = std::move(k);
      req.is_delete = true;
      l2_write(req, shared_->versions.next(), [](const RedisReply&) {});
    }
  }
}

void Tiers::end_of_iteration(int64_t now_ms) {
  journal_->flush();
  // A mutex per check: at most every few milliseconds, and only when something may be due.
  if (now_ms - last_due_check_ms_ < 2 && !shared_->draining.load(std::memory_order_relaxed)) {
    return;
  }
  last_due_check_ms_ = now_ms;
  flush_due(now_ms);
  if (!flush_waiters_.empty()) check_flush_waiters(now_ms);
}

}  // namespace strata::proxy
