// What a client's write does beyond its own reply, on the paths that do not go through the
// tiered path's plans: every key it wrote leaves through the change seam, and a cache-strategy
// prefix's ttl_ms gives keys written without a TTL of their own one (in L1, and in Redis with a
// PEXPIRE ... NX right behind the forwarded command, on the same connection).
#include "cache/store.h"
#include "proxy/redis/upstream.h"
#include "proxy/resp/client_conn.h"
#include "proxy/tiers/tier_shared.h"

namespace strata::proxy {
namespace {

bool is_flush(const CommandSpec& spec) { return spec.name == "flushall" || spec.name == "flushdb"; }

// The ttl_ms a cache-strategy policy gives `key`, or 0.
uint64_t cache_ttl_ms(const PolicySnapshot& snap, std::string_view key) {
  const policies::Policy& p = snap.match(key).policy;
  return p.strategy == policies::Strategy::kCache ? p.ttl_ms : 0;
}

}  // namespace

const PolicySnapshot* ClientConn::ttl_policies() const {
  if (ctx_->tier_shared == nullptr) return nullptr;
  const PolicySnapshot* snap = ctx_->tier_shared->registry->current();
  return snap->any_cache_ttl ? snap : nullptr;
}

void ClientConn::after_local_write(const CommandSpec& spec, Args args) {
  if (is_flush(spec)) {
    ctx_->seam->publish({}, ChangeOp::kFlushAll, ChangeSource::kNative, client_.id);
    return;
  }
  keys_.clear();
  command_keys(spec, args, &keys_);
  const PolicySnapshot* ttl = ttl_policies();
  for (std::string_view k : keys_) {
    if (ttl != nullptr) {
      if (const uint64_t ms = cache_ttl_ms(*ttl, k); ms > 0) {
        auto txn = ctx_->store->lock(k);
        cache::EntryView v;
        if (txn->find(k, &v) && v.expire_at_ms == 0) {
          txn->set_expire(k, loop_->now_ms() + static_cast<int64_t>(ms));
        }
      }
    }
    ctx_->seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kNative, client_.id);
  }
}

void ClientConn::policy_ttl_upstream(const CommandSpec& spec, Args args) {
  const PolicySnapshot* ttl = ttl_policies();
  if (ttl == nullptr || is_flush(spec)) return;
  keys_.clear();
  command_keys(spec, args, &keys_);
  for (std::string_view k : keys_) {
    const uint64_t ms = cache_ttl_ms(*ttl, k);
    if (ms == 0) continue;
    const std::string ttl_s = std::to_string(ms);
    std::string_view cmd[] = {"PEXPIRE", k, ttl_s, "NX"};
    // Behind the client's command on its connection; the answer concerns no one.
    ctx_->upstream->call_for(client_.id, cmd, [](const RedisReply&) {});
  }
}

int64_t ClientConn::cache_expiry(std::string_view key) const {
  const PolicySnapshot* ttl = ttl_policies();
  if (ttl == nullptr) return 0;
  const uint64_t ms = cache_ttl_ms(*ttl, key);
  return ms > 0 ? loop_->now_ms() + static_cast<int64_t>(ms) : 0;
}

}  // namespace strata::proxy
