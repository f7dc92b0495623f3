// The tiered write path's tools: L2 writes guarded by version, L2 repair, the change event of a
// write, FLUSH-BEHIND, housekeeping. The strategies themselves are plans (policies/write_plan.h)
// run by write_run.cc; flushing batches to PostgreSQL is in write_behind_flush.cc.
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
  if (!sent) repair_l2(req.key);
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

// ---- writes (the plan runner is write_run.cc) ----

void Tiers::publish_write(std::string_view key, bool is_delete, bool installed,
                          std::string_view value, uint64_t version, int64_t expire_at_ms,
                          PrefixStats* stats, uint64_t client) {
  ChangeEvent e;
  e.key = key;
  e.op = is_delete ? ChangeOp::kDelete : installed ? ChangeOp::kSet : ChangeOp::kInvalidate;
  if (e.op == ChangeOp::kSet) {
    e.value = value;
    e.expire_at_ms = expire_at_ms;
  }
  e.version = version;
  e.source = ChangeSource::kStrategy;
  e.client = client;
  e.prefix_changes = &stats->changes;
  ctx_.seam->publish(e);
}

void Tiers::repair_l2(const std::string& key) {
  if (l2_repair_.size() < kL2RepairMax) l2_repair_.push_back(key);
}

std::string Tiers::queue_full_error(const policies::Policy& p) {
  return error_line("ERR strata: write-behind queue for prefix '" + p.prefix + "' is full (" +
                    std::to_string(p.max_queue_depth) + " pending writes); try again later");
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
