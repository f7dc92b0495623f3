// Stampede control across instances. Within a worker, concurrent misses on a key already share
// one flight; across instances (and workers), a miss that would read PostgreSQL first takes a
// short lease in Redis, `__strata:lease:<key>`, valued with a token only this flight has:
//
//   winner  : reads PostgreSQL, installs the value in L2 (the version-guarded script), then
//             gives the lease back by a script that deletes it only if it still holds its token.
//             Both travel on the connection the key routes to, so Redis sees the install first.
//   losers  : look at L2 again on a timer (1, 2, 4, 4 ... ms, never past the lease's end),
//             taking the value when it is there; when the lease is gone without a value (it
//             lapsed: the winner died; or it was given back after an error) the next look takes
//             it over and reads PostgreSQL itself. A wait never outlasts stampede_lease_ms:
//             then it reads PostgreSQL without the lease.
//   absent  : a winner that found no row leaves "a<version>" in the lease key for the lease's
//             time, where <version> is L2's version key when it won the lease; it answers
//             "absent" to the readers that waited, only while that version key is unchanged,
//             so any write since (every write runs a version-guarded L2 script) voids it.
//
// Looking, taking and waiting are one script (kLeaseScript), so there is no gap between "not
// in L2" and "take the lease" in which a winner could install and give back unseen.
//
// Why a waiter's answer is never older than a direct read's: it is what L2 holds when the
// waiter looks, after the read arrived, exactly what an L2 hit at that moment gives; a write
// acknowledged before the look has put its value (or its invalidation and version) into L2, and
// the winner's install is refused by the version guard if it is older. A write of the key on
// this worker ends the wait (yield_lease_wait): the read then goes to PostgreSQL ahead of it,
// as without a lease, so a connection's GET never sees its own later SET, and the write is held
// at most by that read, as today.
//
// Redis away, failing, or slower than kLeaseRedisWaitMs (100 ms): PostgreSQL is read directly, as
// without a lease (counted). Wake-ups are timer looks rather than pub/sub: the expected wait is
// one PostgreSQL read (about a millisecond), each look is one small script on a pipelined
// connection, and one flight per worker looks for all its readers.
#include <cstdio>
#include <random>

#include "cache/store.h"
#include "proxy/loop/log.h"
#include "proxy/redis/upstream.h"
#include "proxy/tiers/tiers.h"
#include "proxy/tiers/tiers_flight.h"
#include "proxy/tiers/tiers_internal.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kLeasePrefix = "__strata:lease:";
constexpr std::string_view kVersionPrefix = "__strata:ver:";  // tiers_write.cc's L2 versions
constexpr uint32_t kLeasePollFirstMs = 1;  // first look after finding the lease held
// Looks back off to this: a waiter answers at most this long after the value is in L2.
constexpr uint32_t kLeasePollMaxMs = 4;
// A lease script unanswered this long counts as Redis being slow: read PostgreSQL directly.
constexpr int64_t kLeaseRedisWaitMs = 100;

// KEYS: value, lease, L2 version. ARGV: token, lease ms, fresh-above ms (misses: -2, any value
// is taken; refresh-ahead: the refresh point, only a value refreshed since is taken), "1" when
// the asker waited on the lease (only a waiter takes an absent mark: its read began before the
// winner's ended; a later reader reads PostgreSQL, so a miss is never cached past
// negative_ttl_ms for readers that come after).
// Reply, a bulk string tagged by its first byte:
//   v<pttl> <value>  L2 holds the value (pttl as PTTL gives it)
//   w<version>       this token took the lease; <version>: L2's version key then ("0": none)
//   h<ms>            another token holds the lease for <ms> more
//   a                (waiters only) the lease key is a winner's "absent" mark still valid
constexpr std::string_view kLeaseScript = R"lua(
local pttl = redis.call('PTTL', KEYS[1])
if pttl > tonumber(ARGV[3]) then
  local v = redis.call('GET', KEYS[1])
  if v then return 'v' .. pttl .. ' ' .. v end
end
local ver = redis.call('GET', KEYS[3]) or '0'
local held = redis.call('GET', KEYS[2])
if held and string.sub(held, 1, 1) == 'a' then
  if string.sub(held, 2) == ver and ARGV[4] == '1' then return 'a' end
  redis.call('DEL', KEYS[2])
  held = false
end
if not held then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 'w' .. ver
end
return 'h' .. math.max(redis.call('PTTL', KEYS[2]), 1))lua";

// KEYS: lease, L2 version. ARGV: token, absent version ("": no mark), mark ms.
constexpr std::string_view kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], 'a' .. ARGV[2], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1)lua";

bool parse_i64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  bool neg = s[0] == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = neg ? -v : v;
  return true;
}

}  // namespace

bool Tiers::lease_applies(const PolicyEntry& e) const {
  return e.policy.l2 && e.policy.stampede_lease_ms > 0 && ctx_.upstream != nullptr;
}

std::string Tiers::lease_token(uint64_t flight_id) const {
  return lease_owner_ + "." + std::to_string(flight_id);
}

Tiers::Flight* Tiers::live_flight(const std::string& key, uint64_t id) {
  auto it = flights_.find(key);
  return it != flights_.end() && it->second->id == id ? it->second.get() : nullptr;
}

void Tiers::miss_to_pg(Flight* f) {
  if (!lease_applies(*f->entry)) return read_pg(f);
  if (f->l2_failed || !ctx_.upstream->available()) {
    bump(f->entry->stats->lease_redis_fallbacks);
    return read_pg(f);
  }
  ask_lease(f);
}

void Tiers::ask_lease(Flight* f) {
  const std::string key = f->key;
  const std::string lkey = std::string(kLeasePrefix) + key;
  const std::string vkey = std::string(kVersionPrefix) + key;
  const std::string token = lease_token(f->id);
  const std::string ms = std::to_string(f->entry->policy.stampede_lease_ms);
  std::string_view args[] = {"EVAL", kLeaseScript, "3", key,  lkey,
                             vkey,   token,       ms,  "-2", f->waited ? "1" : "0"};
  const uint64_t id = f->id, gen = ++f->lease_gen;
  f->lease_stage = Flight::LeaseStage::kAsking;
  const bool sent = ctx_.upstream->call(args, key, [this, key, id, gen](const RedisReply& r) {
    on_lease_reply(key, id, gen, r);
  });
  if (!sent || !arm_lease_timer(f, ctx_.loop->now_ms() + kLeaseRedisWaitMs)) {
    // Unsent: Redis is away. Sent but no timer room: the reply still comes, but unguarded a
    // slow Redis could hold the read; PostgreSQL now, and a lease won late is given back.
    bump(f->entry->stats->lease_redis_fallbacks);
    read_pg(f);
  }
}

bool Tiers::arm_lease_timer(Flight* f, int64_t at_ms) {
  const std::string key = f->key;
  const uint64_t id = f->id, gen = f->lease_gen;
  f->timer = ctx_.loop->timers().add(at_ms, [this, key, id, gen] { lease_timer(key, id, gen); });
  return f->timer != 0;
}

void Tiers::end_lease_stage(Flight* f) {
  ++f->lease_gen;
  f->lease_stage = Flight::LeaseStage::kNone;
  if (f->timer != 0) ctx_.loop->timers().cancel(f->timer);
  f->timer = 0;
}

void Tiers::on_lease_reply(const std::string& key, uint64_t id, uint64_t gen,
                           const RedisReply& r) {
  const bool bulk = r.ok && r.kind == protocol::ReplyKind::kBulk && !r.payload.empty();
  Flight* f = live_flight(key, id);
  if (f == nullptr || f->lease_gen != gen || f->lease_stage != Flight::LeaseStage::kAsking) {
    // The read went on without this answer (Redis was slow); a lease it won is given back.
    if (bulk && r.payload[0] == 'w') release_lease(key, lease_token(id), {});
    return;
  }
  PrefixStats& st = *f->entry->stats;
  end_lease_stage(f);
  if (!bulk) {
    bump(st.lease_redis_fallbacks);
    return read_pg(f);
  }
  const std::string_view p = r.payload.substr(1);
  int64_t n = 0;
  switch (r.payload[0]) {
    case 'v': {
      const size_t sp = p.find(' ');
      if (sp == std::string_view::npos || !parse_i64(p.substr(0, sp), &n)) break;
      if (f->waited) bump(st.lease_wait_l2);
      return serve_l2(f, std::string(p.substr(sp + 1)), n);
    }
    case 'a':
      bump(st.lease_wait_l2);
      bump(st.misses);  // the winner's read found no row
      return finish_read(key, false, {}, {});
    case 'w':
      bump(f->waited ? st.lease_takeovers : st.lease_won);
      f->holds_lease = true;
      f->lease_ver = std::string(p);
      return read_pg(f);
    case 'h':
      if (!parse_i64(p, &n)) break;
      return lease_held(f, n);
    default:
      break;
  }
  STRATA_LOG_WARN("tiers: unexpected lease script reply for a key of prefix '%s'",
                  f->entry->policy.prefix.c_str());
  bump(st.lease_redis_fallbacks);
  read_pg(f);
}

void Tiers::lease_held(Flight* f, int64_t held_ms) {
  PrefixStats& st = *f->entry->stats;
  const int64_t now = ctx_.loop->now_ms();
  if (!f->waited) {
    f->waited = true;
    bump(st.lease_waits);
    f->wait_until_ms = now + f->entry->policy.stampede_lease_ms;
    f->poll_ms = kLeasePollFirstMs;
  }
  if (f->yield) {
    bump(st.lease_yields);
    return read_pg(f);
  }
  if (now >= f->wait_until_ms) {
    bump(st.lease_timeouts);
    return read_pg(f);
  }
  // The next look: after the backoff, at the latest when the lease ends (+1: PTTL rounds
  // down), never past the wait's bound.
  const int64_t at = std::min({now + f->poll_ms, now + held_ms + 1, f->wait_until_ms});
  f->poll_ms = std::min(f->poll_ms * 2, kLeasePollMaxMs);
  f->lease_stage = Flight::LeaseStage::kWaiting;
  if (!arm_lease_timer(f, at)) {
    bump(st.lease_timeouts);  // no timer room: waiting is not possible, read now
    read_pg(f);
  }
}

void Tiers::lease_timer(const std::string& key, uint64_t id, uint64_t gen) {
  Flight* f = live_flight(key, id);
  if (f == nullptr || f->lease_gen != gen) return;
  f->timer = 0;
  switch (f->lease_stage) {
    case Flight::LeaseStage::kAsking:  // Redis slower than kLeaseRedisWaitMs
      bump(f->entry->stats->lease_redis_fallbacks);
      return read_pg(f);
    case Flight::LeaseStage::kWaiting:
      if (f->yield) {
        bump(f->entry->stats->lease_yields);
        return read_pg(f);
      }
      if (!ctx_.upstream->available()) {
        bump(f->entry->stats->lease_redis_fallbacks);
        return read_pg(f);
      }
      return ask_lease(f);
    case Flight::LeaseStage::kNone:
      return;
  }
}

void Tiers::release_lease(std::string_view key, std::string_view token,
                          std::string_view absent_ver) {
  Upstream* up = ctx_.upstream;
  if (up == nullptr || !up->available()) return;  // the lease lapses by itself
  const std::string lkey = std::string(kLeasePrefix) + std::string(key);
  const std::string vkey = std::string(kVersionPrefix) + std::string(key);
  const PolicyEntry& e = shared_->registry->current()->match(key);
  const std::string ms = std::to_string(std::max<uint32_t>(e.policy.stampede_lease_ms, 1));
  std::string_view args[] = {"EVAL", kReleaseScript, "2", lkey, vkey, token, absent_ver, ms};
  up->call(args, key, [](const RedisReply&) {});
}

void Tiers::yield_lease_wait(const std::string& key) {
  auto it = flights_.find(key);
  if (it == flights_.end()) return;
  Flight* f = it->second.get();
  if (f->lease_stage == Flight::LeaseStage::kNone || f->yield) return;
  f->yield = true;
  if (f->lease_stage == Flight::LeaseStage::kWaiting) {
    // From a timer due now, not from here: the write asking is in the middle of its own
    // bookkeeping, and a PostgreSQL read may answer synchronously.
    const TimerHeap::Id poll = f->timer;
    if (arm_lease_timer(f, ctx_.loop->now_ms())) {
      ctx_.loop->timers().cancel(poll);
    } else {
      f->timer = poll;  // no timer room: the poll armed already ends the wait
    }
  }
  // kAsking: the reply decides (a value or a lease won is taken; "held" reads PostgreSQL).
}

// ---- refresh-ahead ----

// A reload past the refresh point: one instance reads PostgreSQL. The others find the lease
// held (they leave it to the holder), or L2 refreshed already past the refresh point (they
// take that into L1 instead).
void Tiers::refresh(const PolicyEntry* e, std::string key) {
  // The L1 lease is taken before the read: a write that lands meanwhile wins over the reload.
  const uint64_t lease = ctx_.store->begin_fill(key);
  if (!lease_applies(*e)) return refresh_pg(e, std::move(key), lease, {}, {});
  Upstream* up = ctx_.upstream;
  const policies::Policy& p = e->policy;
  const auto fresh =
      static_cast<int64_t>(static_cast<double>(p.ttl_ms) * (1.0 - p.refresh_point));
  const std::string lkey = std::string(kLeasePrefix) + key;
  const std::string vkey = std::string(kVersionPrefix) + key;
  const std::string token = lease_token(next_flight_++);
  const std::string ms = std::to_string(p.stampede_lease_ms), fresh_s = std::to_string(fresh);
  std::string_view args[] = {"EVAL", kLeaseScript, "3", key, lkey, vkey, token, ms, fresh_s, "0"};
  const bool sent =
      up->available() && up->call(args, key, [this, e, key, lease, token](const RedisReply& r) {
        const bool bulk = r.ok && r.kind == protocol::ReplyKind::kBulk && !r.payload.empty();
        const std::string_view p = bulk ? r.payload.substr(1) : std::string_view();
        const char tag = bulk ? r.payload[0] : '\0';
        if (tag == 'w') return refresh_pg(e, key, lease, token, std::string(p));
        if (tag != 'v' && tag != 'h' && tag != 'a') {
          bump(e->stats->lease_redis_fallbacks);
          return refresh_pg(e, key, lease, {}, {});
        }
        shared_->refreshing.end(key);
        bump(e->stats->refresh_shared);
        const size_t sp = p.find(' ');
        int64_t pttl = 0;
        if (tag != 'v' || sp == std::string_view::npos || !parse_i64(p.substr(0, sp), &pttl) ||
            pttl < 0 || !use_l1(*e, key)) {
          return;
        }
        ctx_.store->complete_fill(key, lease, p.substr(sp + 1),
                                  ctx_.loop->now_ms() + std::max<int64_t>(pttl, 1));
      });
  if (!sent) {
    bump(e->stats->lease_redis_fallbacks);
    refresh_pg(e, std::move(key), lease, {}, {});
  }
}

void Tiers::refresh_pg(const PolicyEntry* e, std::string key, uint64_t lease, std::string token,
                       std::string lease_ver) {
  PgParam params[] = {{key, false, false}};
  pool_->exec(e->sql.select, params, true,
              [this, e, key, lease, token, lease_ver](PgResult&& r) {
    shared_->refreshing.end(key);
    const bool found = r.status == PgResult::kOk && !r.rows.empty() && r.rows[0][0].has_value();
    if (found) {
      bump(e->stats->refreshes);
      const policies::Policy& p = e->policy;
      const int64_t ttl = static_cast<int64_t>(p.ttl_ms);
      const uint64_t version = r.rows[0].size() > 1 ? tiers_detail::decode_version(r.rows[0][1]) : 0;
      if (p.l2) l2_install(*e, key, *r.rows[0][0], version, ttl);
      if (use_l1(*e, key)) {
        ctx_.store->complete_fill(key, lease, *r.rows[0][0], ctx_.loop->now_ms() + ttl);
      }
    }
    if (!token.empty()) {
      release_lease(key, token, !found && r.status == PgResult::kOk ? lease_ver : "");
    }
  });
}

void Tiers::init_lease_owner() {
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[48];
  // 't' first: a token never reads as an absent mark ('a').
  std::snprintf(buf, sizeof buf, "t%016llx.%u", static_cast<unsigned long long>(r),
                ctx_.loop->index());
  lease_owner_ = buf;
}

}  // namespace strata::proxy
