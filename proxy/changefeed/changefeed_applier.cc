#include "proxy/changefeed/changefeed_applier.h"

#include "cache/store.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/log.h"
#include "proxy/redis/upstream.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/hlc.h"
#include "proxy/tiers/policy_registry.h"
#include "proxy/tiers/tier_shared.h"

namespace strata::proxy {
namespace {

// The tiers' L2 version keys (tiers_write.cc): every L2 write and fill is guarded by them.
constexpr std::string_view kVersionPrefix = "__strata:ver:";
constexpr std::string_view kStrataKeys = "__strata:";

// Rows of many transactions in one call, in commit order. KEYS: per row its value key and
// its version key. ARGV: fence ms, then per row: kind ('v' the row has a value, 'd' deleted,
// 'i' changed without its value), the row's version, the row's value, '1' to install the
// value, its TTL in ms (0: none), its fresh version (one per row: two changes of a key in one
// call reach peers as two versions, the later one newer).
// Versions are compared as decimal strings of equal length: Lua's numbers are doubles and
// versions need 64 bits.
// Reply: one digit per row: 0 L2 already held the row (nothing done), 1 invalidated and
// fenced, 2 installed.
constexpr std::string_view kChangefeedL2Script = R"lua(
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local out = {}
for r = 1, #KEYS / 2 do
  local key, vkey = KEYS[2 * r - 1], KEYS[2 * r]
  local a = 1 + 6 * (r - 1)
  local kind, ver, value, install, ttl = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5])
  local cur = redis.call('GET', vkey)
  local same = false
  if cur and cur == ver and ver ~= '0' then
    if kind == 'v' then same = redis.call('GET', key) == value
    elseif kind == 'd' then same = redis.call('EXISTS', key) == 0 end
  end
  if same then
    out[r] = '0'
  else
    local f = ARGV[a + 6]
    if cur and newer(cur, f) then f = cur end
    if install == '1' then
      if ttl > 0 then
        redis.call('SET', key, value, 'PX', ttl)
        redis.call('SET', vkey, f, 'PX', math.max(ttl, tonumber(ARGV[1])))
      else
        redis.call('SET', key, value)
        redis.call('SET', vkey, f)
      end
      out[r] = '2'
    else
      redis.call('SET', vkey, f, 'PX', ARGV[1])
      redis.call('DEL', key)
      out[r] = '1'
    end
  end
end
return table.concat(out))lua";

constexpr size_t kBatchRowsMax = 512;

// One SCAN step over a prefix's keys in L2: each is deleted and fenced like an invalidated key.
// ARGV: cursor, MATCH pattern, fresh version, fence ms, strata's own key prefix. Reply: the
// next cursor ("0": done).
constexpr std::string_view kDropPrefixScript = R"lua(
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 1000)
for _, k in ipairs(r[2]) do
  if string.sub(k, 1, #ARGV[5]) ~= ARGV[5] then
    redis.call('SET', ARGV[5] .. 'ver:' .. k, ARGV[3], 'PX', ARGV[4])
    redis.call('DEL', k)
  end
end
return r[1])lua";

// A glob that matches exactly the keys starting with `prefix`.
std::string match_pattern(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out + '*';
}

}  // namespace

ChangefeedApplier::ChangefeedApplier(ApplierContext ctx, Changefeed* feed)
    : ctx_(ctx), feed_(feed) {}

ChangefeedApplier::~ChangefeedApplier() { *alive_ = false; }

bool ChangefeedApplier::uses_l2(std::string_view key) const {
  if (ctx_.upstream == nullptr) return false;
  return ctx_.registry->current()->match(key).policy.l2;
}

void ChangefeedApplier::take() {
  taken_.clear();
  feed_->take(&taken_);
  if (taken_.empty()) return;
  refs_.clear();
  for (ChangefeedTxn& t : taken_) {
    Pending& p = pending_.emplace_back();
    p.txn = std::move(t);
    p.rows.assign(p.txn.rows.size(), Outcome::kWaiting);
    p.versions.assign(p.txn.rows.size(), 0);
    for (size_t i = 0; i < p.rows.size(); ++i) refs_.push_back({&p, i});
    for (const std::string& prefix : p.txn.drop_prefixes) {
      if (ctx_.upstream != nullptr) send_drop(p, prefix, "0");
    }
  }
  send_rows(refs_, false);
  finish_ready();
}

void ChangefeedApplier::on_tick(int64_t) {
  refs_.clear();
  for (Pending& p : pending_) {
    for (size_t i = 0; i < p.rows.size(); ++i) {
      if (p.rows[i] == Outcome::kFailed) refs_.push_back({&p, i});
    }
  }
  if (!refs_.empty()) {
    feed_->counters().apply_retries.fetch_add(refs_.size(), std::memory_order_relaxed);
    send_rows(refs_, true);
  }
  for (Pending& p : pending_) {
    if (p.drops_failed && p.drops_waiting == 0) {
      p.drops_failed = false;
      feed_->counters().apply_retries.fetch_add(1, std::memory_order_relaxed);
      for (const std::string& prefix : p.txn.drop_prefixes) send_drop(p, prefix, "0");
    }
  }
  finish_ready();
}

// Rows whose prefix has no L2 are decided by L1 alone (apply_l1); the others go to L2 in
// batches, one per connection, each on the connection its keys' own commands travel on: after
// strata's own L2 write of a key (so its echo is recognized), and in commit order.
void ChangefeedApplier::send_rows(std::vector<RowRef>& refs, bool retry) {
  std::vector<std::vector<RowRef>> by_slot(std::max<uint32_t>(1, ctx_.upstream != nullptr ? ctx_.upstream->route_slots() : 1));
  for (const RowRef& r : refs) {
    const std::string& key = r.p->txn.rows[r.i].key;
    if (uses_l2(key)) {
      by_slot[ctx_.upstream->route_slot(key)].push_back(r);
    } else {
      r.p->rows[r.i] = Outcome::kDone;
    }
  }
  for (std::vector<RowRef>& rows : by_slot) {
    for (size_t at = 0; at < rows.size(); at += kBatchRowsMax) {
      send_batch(std::span(rows).subspan(at, std::min(kBatchRowsMax, rows.size() - at)), retry);
    }
  }
}

// A retried row (its batch failed) only invalidates: a later transaction's batch may have
// reached Redis before it, and an older value must never be installed over a newer one.
void ChangefeedApplier::send_batch(std::span<const RowRef> batch, bool retry) {
  // vkeys, versions, TTLs, fresh versions: alive until call() copies them (never reallocated)
  std::vector<std::string> owned;
  owned.reserve(batch.size() * 4 + 2);
  owned.push_back(std::to_string(batch.size() * 2));
  owned.push_back(std::to_string(feed_->fence_ms()));
  std::vector<std::string_view> keys, argv;
  keys.reserve(batch.size() * 2);
  argv.reserve(batch.size() * 6 + 1);
  argv.push_back(owned[1]);
  for (const RowRef& r : batch) {
    const ChangefeedRow& row = r.p->txn.rows[r.i];
    const PolicyEntry& e = ctx_.registry->current()->match(row.key);
    const bool install = !retry && row.kind == ChangefeedRow::Kind::kValue &&
                         ctx_.registry->sync_of(row.key) == policies::SyncMode::kUpdate;
    owned.push_back(std::string(kVersionPrefix) + row.key);
    keys.push_back(row.key);
    keys.push_back(owned.back());
    argv.push_back(row.kind == ChangefeedRow::Kind::kValue    ? "v"
                   : row.kind == ChangefeedRow::Kind::kDelete ? "d"
                                                              : "i");
    owned.push_back(std::to_string(row.version));
    argv.push_back(owned.back());
    argv.push_back(row.value);
    argv.push_back(install ? "1" : "0");
    owned.push_back(std::to_string(e.policy.ttl_ms));
    argv.push_back(owned.back());
    const uint64_t fresh = ctx_.clock->next();
    owned.push_back(std::to_string(fresh));
    argv.push_back(owned.back());
    r.p->rows[r.i] = Outcome::kWaiting;
    r.p->versions[r.i] = fresh;
  }
  std::vector<std::string_view> args;
  args.reserve(3 + keys.size() + argv.size());
  args.push_back("EVAL");
  args.push_back(kChangefeedL2Script);
  args.push_back(owned[0]);
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  std::weak_ptr<bool> alive = alive_;
  // Deque elements and their vectors stay put until popped, which waits for this reply.
  std::vector<RowRef> refs(batch.begin(), batch.end());
  const bool sent = ctx_.upstream->call(
      args, batch.front().p->txn.rows[batch.front().i].key,
      [this, alive, refs = std::move(refs)](const RedisReply& r) {
        if (alive.expired()) return;
        const bool ok = r.ok && r.kind == protocol::ReplyKind::kBulk && r.payload.size() == refs.size();
        for (size_t i = 0; i < refs.size(); ++i) {
          Outcome& o = refs[i].p->rows[refs[i].i];
          if (!ok) {
            o = Outcome::kFailed;
          } else {
            const char d = r.payload[i];
            o = d == '0' ? Outcome::kSame : d == '2' ? Outcome::kInstalled : Outcome::kInvalidated;
          }
        }
        if (!ok) {
          STRATA_LOG_WARN("changefeed: L2 step failed (%.*s); sent again at the next tick",
                          static_cast<int>(r.ok ? r.raw.size() : r.error.size()),
                          r.ok ? r.raw.data() : r.error.data());
          drop_l1_early(refs);
        }
        finish_ready();
      });
  if (!sent) {
    for (const RowRef& r : batch) r.p->rows[r.i] = Outcome::kFailed;
    drop_l1_early(batch);
  }
}

// L2 cannot be reached: nothing can fill L1 from it either, so L1 drops the keys now rather
// than serve them stale until Redis is back (and again once L2 is done: apply_l1).
void ChangefeedApplier::drop_l1_early(std::span<const RowRef> rows) {
  for (const RowRef& r : rows) ctx_.store->invalidate(r.p->txn.rows[r.i].key);
}

void ChangefeedApplier::send_drop(Pending& p, const std::string& prefix, std::string cursor) {
  if (!ctx_.registry->current()->match(prefix).policy.l2) return;
  const std::string pattern = match_pattern(prefix);
  const std::string fresh = std::to_string(ctx_.clock->next());
  const std::string fence = std::to_string(feed_->fence_ms());
  std::string_view args[] = {"EVAL", kDropPrefixScript, "0", cursor, pattern, fresh, fence, kStrataKeys};
  ++p.drops_waiting;
  std::weak_ptr<bool> alive = alive_;
  Pending* pp = &p;
  const bool sent = ctx_.upstream->call(args, prefix, [this, alive, pp, prefix](const RedisReply& r) {
    if (alive.expired()) return;
    --pp->drops_waiting;
    if (!r.ok || r.kind != protocol::ReplyKind::kBulk) {
      pp->drops_failed = true;
      return;
    }
    if (r.payload != "0") {
      send_drop(*pp, prefix, std::string(r.payload));
      return;
    }
    finish_ready();
  });
  if (!sent) {
    --p.drops_waiting;
    p.drops_failed = true;
  }
}

// The oldest transactions whose L2 steps are all answered go to L1 and the seam, in order.
void ChangefeedApplier::finish_ready() {
  while (!pending_.empty()) {
    Pending& p = pending_.front();
    if (p.drops_waiting != 0 || p.drops_failed) return;
    for (Outcome o : p.rows) {
      if (o == Outcome::kWaiting || o == Outcome::kFailed) return;
    }
    apply_l1(p);
    done_.push_back({p.txn.end_lsn, p.txn.commit_unix_us});
    pending_.pop_front();
  }
}

void ChangefeedApplier::apply_l1(Pending& p) {
  ChangefeedCounters& c = feed_->counters();
  for (size_t i = 0; i < p.rows.size(); ++i) {
    const ChangefeedRow& row = p.txn.rows[i];
    Outcome o = p.rows[i];
    // No L2: every instance's L1 drops the key. This instance's L1 holding the row's value
    // proves nothing about the others': it may have read the row from PostgreSQL after the
    // commit, while theirs still hold the value before it. (strata's own writes were
    // recognized before they got here.)
    if (o == Outcome::kDone) o = Outcome::kInvalidated;
    if (o == Outcome::kSame) {
      c.own_writes_skipped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    ctx_.store->invalidate(row.key);  // and every fill in flight for it
    if (ctx_.negative != nullptr) ctx_.negative->erase(row.key);
    ChangeEvent e;
    e.key = row.key;
    e.source = ChangeSource::kChangefeed;
    if (o == Outcome::kInstalled) {
      const PolicyEntry& pe = ctx_.registry->current()->match(row.key);
      if (pe.policy.l1) {
        const int64_t ttl = static_cast<int64_t>(pe.policy.ttl_ms);
        auto txn = ctx_.store->lock(row.key);
        txn->set(row.key, row.value, ttl > 0 ? ctx_.loop->now_ms() + ttl : 0);
      }
      e.op = ChangeOp::kSet;
      e.value = row.value;
      e.version = p.versions[i];
      c.keys_updated.fetch_add(1, std::memory_order_relaxed);
    } else {
      e.op = row.kind == ChangefeedRow::Kind::kDelete ? ChangeOp::kDelete : ChangeOp::kInvalidate;
      c.keys_invalidated.fetch_add(1, std::memory_order_relaxed);
    }
    ctx_.seam->publish(e);
  }
  if (!p.txn.drop_prefixes.empty()) {
    for (const std::string& prefix : p.txn.drop_prefixes) drop_l1_prefix(prefix);
    c.prefix_drops.fetch_add(p.txn.drop_prefixes.size(), std::memory_order_relaxed);
    // Peers, subscribers and tracking clients hear one flush: the bus's event format names keys,
    // not prefixes, and a drop is rare (a TRUNCATE, a lost slot).
    ChangeEvent e;
    e.op = ChangeOp::kFlushAll;
    e.source = ChangeSource::kChangefeed;
    ctx_.seam->publish(e);
  }
}

void ChangefeedApplier::report() {
  for (const auto& [lsn, commit_us] : done_) feed_->applied(lsn, commit_us);
  done_.clear();
}

void ChangefeedApplier::drop_l1_prefix(const std::string& prefix) {
  std::vector<std::string> keys;
  uint64_t cursor = 0;
  do {
    keys.clear();
    cursor = ctx_.store->scan_keys(cursor, 1024, &keys);
    for (const std::string& k : keys) {
      if (k.starts_with(prefix)) ctx_.store->invalidate(k);
    }
  } while (cursor != 0);
}

}  // namespace strata::proxy
