// The tiered read path, command routing and replies. Writes and write-behind flushing are in
// tiers_write.cc.
#include "proxy/tiers/tiers.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "cache/store.h"
#include "protocol/reply_writer.h"
#include "proxy/journal/journal.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/tiers_flight.h"
#include "proxy/tiers/tiers_internal.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {

using policies::Strategy;

namespace tiers_detail {

uint64_t decode_version(const std::optional<std::string>& field) {
  if (!field) return 0;
  const std::string& s = *field;
  uint64_t v = 0;
  if (s.size() == 8 || s.size() == 4) {  // binary int8 / int4, network order
    for (unsigned char c : s) v = (v << 8) | c;
  }
  return v;
}

}  // namespace tiers_detail

using namespace tiers_detail;

Tiers::Tiers(const TierContext& ctx) : ctx_(ctx), shared_(ctx.shared) {}

Tiers::~Tiers() {
  for (auto& [key, f] : flights_) {
    if (f->timer != 0) ctx_.loop->timers().cancel(f->timer);
  }
  // Pending PostgreSQL callbacks run from the pool's destructor and may touch this object's
  // maps: the pool goes first, while they are alive.
  pool_.reset();
}

bool Tiers::init(std::string* err) {
  const PolicySnapshot* snap = shared_->registry->current();
  const policies::PolicyConfig& cfg = snap->config;
  pool_ = std::make_unique<PgPool>(ctx_.loop, cfg.postgres, PolicyRegistry::setup_sql(cfg));
  journal_ = std::make_unique<Journal>(ctx_.loop, shared_->ledger, cfg.journal, &shared_->journal);
  if (!journal_->open(err)) return false;
  pool_->start();
  init_lease_owner();
  return true;
}

// ---- routing ----

namespace tiers_detail {

// PostgreSQL text keys hold valid UTF-8 without NUL; anything else would be refused (or, for a
// NUL, silently cut by libpq's C strings) when it reaches the table. Null when fine.
const char* unstorable_key(std::string_view k) {
  size_t i = 0;
  while (i < k.size()) {
    const auto c = static_cast<unsigned char>(k[i]);
    if (c == 0) return "contains a NUL byte";
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > k.size() || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) {
      return "is not valid UTF-8";
    }
    for (size_t j = 1; j < n; ++j) {
      if ((static_cast<unsigned char>(k[i + j]) & 0xc0) != 0x80) return "is not valid UTF-8";
    }
    // Overlong forms and UTF-16 surrogates, as PostgreSQL refuses them.
    const auto c1 = n > 1 ? static_cast<unsigned char>(k[i + 1]) : 0;
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 >= 0x90)) {
      return "is not valid UTF-8";
    }
    i += n;
  }
  return nullptr;
}

// A command's keys; a single-key command's is args[1], with no vector (`storage` is for the
// others).
std::span<const std::string_view> keys_of(const CommandSpec& spec, Args args,
                                          std::vector<std::string_view>* storage) {
  if ((spec.flags & kMovableKeys) == 0 && spec.first_key == 1 && spec.last_key == 1 &&
      args.size() > 1) {
    return args.subspan(1, 1);
  }
  command_keys(spec, args, storage);
  return *storage;
}

std::string printable(std::string_view k) {
  std::string out;
  for (unsigned char c : k.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace tiers_detail

using tiers_detail::keys_of;
using tiers_detail::printable;
using tiers_detail::unstorable_key;

bool Tiers::route(ReplySink* c, const CommandSpec& spec, Args args) {
  const PolicySnapshot* snap = shared_->registry->current();
  const bool movable = (spec.flags & kMovableKeys) != 0;  // EVAL, FCALL, SORT ... STORE
  if (!snap->any_postgres || (spec.first_key == 0 && !movable)) return false;
  // The common single-key command on a key of a cache-only prefix: one prefix match, no vector.
  if (!movable && spec.first_key == 1 && spec.last_key == 1 && args.size() > 1 &&
      !snap->match(args[1]).policy.uses_postgres()) {
    return false;
  }
  std::vector<std::string_view> key_list;
  const std::span<const std::string_view> keys = keys_of(spec, args, &key_list);
  const PolicyEntry* pg_entry = nullptr;  // of pg_key, the first key under a PostgreSQL policy
  std::string_view pg_key;
  for (std::string_view k : keys) {
    const PolicyEntry& e = snap->match(k);
    if (e.policy.uses_postgres()) {
      pg_entry = &e;
      pg_key = k;
      break;
    }
  }
  if (pg_entry == nullptr) return false;
  const std::string_view n = spec.name;
  const int64_t now = ctx_.loop->now_ms();
  auto unsupported = [&](std::string_view what) {
    const policies::Policy& p = pg_entry->policy;
    std::string cmd(what);
    for (char& ch : cmd) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    protocol::ReplyWriter(c->reply_target(), c->resp_version())
        .error("ERR strata: " + cmd + " is not supported on key '" + std::string(pg_key) +
               "' (prefix '" + p.prefix + "' is " +
               std::string(policies::strategy_name(p.strategy)) + "); use SET or DEL");
    return true;
  };
  if (!arity_ok(spec, args.size())) return false;  // the normal path answers arity errors
  for (std::string_view k : keys) {
    if (!snap->match(k).policy.uses_postgres()) continue;
    if (const char* why = unstorable_key(k)) {
      protocol::ReplyWriter(c->reply_target(), c->resp_version())
          .error("ERR strata: key '" + printable(k) + "' cannot be stored in PostgreSQL: it " +
                 why + " (prefix '" + snap->match(k).policy.prefix + "' uses PostgreSQL)");
      return true;
    }
  }
  if (n == "get") {
    read(*pg_entry, args[1], Waiter{c->sink_token(), c->reserve_reply(), -1, 0, ReadKind::kGet});
    return true;
  }
  if (n == "mget") {
    const uint64_t seq = c->reserve_array_reply(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      const PolicyEntry& e = snap->match(keys[i]);
      Waiter w{c->sink_token(), seq, static_cast<int32_t>(i), 0, ReadKind::kGet};
      if (e.policy.uses_postgres()) {
        read(e, keys[i], w);
      } else {
        // A key of a cache-only prefix in the same MGET: L1, then Redis, as usual.
        cache::EntryView v;
        auto txn = ctx_.store->lock(keys[i]);
        if (txn->read(keys[i], &v)) {
          std::string elem;
          protocol::ReplyWriter(&elem, c->resp_version()).bulk(v.value);
          c->complete_part(seq, i, elem);
        } else if (Upstream* up = ctx_.upstream; up != nullptr && up->available()) {
          txn.reset();
          up->fill(c, seq, static_cast<int32_t>(i), keys[i]);
        } else {
          std::string elem;
          protocol::ReplyWriter(&elem, c->resp_version()).null_bulk();
          c->complete_part(seq, i, elem);
        }
      }
    }
    return true;
  }
  if (n == "exists") {
    const uint64_t m = new_multi(c, static_cast<uint32_t>(keys.size()), true);
    for (std::string_view k : keys) {
      const PolicyEntry& e = snap->match(k);
      if (e.policy.uses_postgres()) {
        read(e, k, Waiter{c->sink_token(), 0, -1, m, ReadKind::kExists});
      } else {
        route_mixed_key(spec, m, k, {});
      }
    }
    return true;
  }
  if (n == "set" || n == "setex" || n == "psetex" || n == "mset" || n == "del" ||
      n == "unlink") {
    for (std::string_view k : keys) {
      const policies::Policy& p = snap->match(k).policy;
      if (p.append_only()) {
        // Positions are gapless and messages immutable: a SET or DEL would break both.
        protocol::ReplyWriter(c->reply_target(), c->resp_version())
            .error("ERR strata: key '" + printable(k) + "' is under prefix '" + p.prefix +
                   "' (conflict = append): add messages with STRATA APPEND stream value; "
                   "they are never overwritten or deleted");
        return true;
      }
      if (!p.version_checked() || n == "del" || n == "unlink") continue;
      // A blind write would overwrite a concurrent one unseen: the prefix's rule forbids it.
      protocol::ReplyWriter(c->reply_target(), c->resp_version())
          .error("ERR strata: key '" + printable(k) + "' is under prefix '" + p.prefix +
                 "' (conflict = version): write it with STRATA CAS key expected_version value "
                 "(STRATA VERSION key gives the current version)");
      return true;
    }
  }
  if (n == "set" || n == "setex" || n == "psetex") {
    WriteReq req;
    req.key = std::string(args[1]);
    req.entry = pg_entry;
    if (n == "set") {
      std::string_view state_option;
      const bool known = set_expiry(args, now, &req.expire_at_ms, &state_option);
      if (!state_option.empty()) return unsupported("SET " + std::string(state_option));
      if (!known) return false;  // Redis's own error text, from the normal path
      req.value = std::string(args[2]);
    } else {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(args[2].data(), args[2].data() + args[2].size(), v);
      if (ec != std::errc() || p != args[2].data() + args[2].size() || v <= 0 ||
          v > INT64_MAX / 1000 - now) {
        return false;
      }
      req.expire_at_ms = now + (n == "setex" ? v * 1000 : v);
      req.value = std::string(args[3]);
    }
    req.multi = new_multi(c, 1, false);
    req.client = c->client_id();
    write(std::move(req));
    return true;
  }
  if (n == "mset") {
    if (args.size() < 3 || args.size() % 2 == 0) return false;
    const uint64_t m = new_multi(c, static_cast<uint32_t>((args.size() - 1) / 2), false);
    for (size_t i = 1; i + 1 < args.size(); i += 2) {
      const PolicyEntry& e = snap->match(args[i]);
      if (!e.policy.uses_postgres()) {
        route_mixed_key(spec, m, args[i], args[i + 1]);
        continue;
      }
      WriteReq req;
      req.key = std::string(args[i]);
      req.value = std::string(args[i + 1]);
      req.entry = &e;
      req.multi = m;
      req.client = c->client_id();
      write(std::move(req));
    }
    return true;
  }
  if (n == "del" || n == "unlink") {
    const uint64_t m = new_multi(c, static_cast<uint32_t>(keys.size()), true);
    for (std::string_view k : keys) {
      const PolicyEntry& e = snap->match(k);
      if (!e.policy.uses_postgres()) {
        route_mixed_key(spec, m, k, {});
        continue;
      }
      WriteReq req;
      req.key = std::string(k);
      req.is_delete = true;
      req.entry = &e;
      req.multi = m;
      req.client = c->client_id();
      write(std::move(req));
    }
    return true;
  }
  if ((spec.flags & kWrite) != 0) return unsupported(n);
  return false;  // other reads (TTL, STRLEN...) see the cache tiers as they are
}

// ---- conflict = version: compare-and-set on PostgreSQL's row version ----

bool Tiers::cas(ReplySink* c, std::string_view key, uint64_t expected, std::string_view value,
                int64_t expire_at_ms) {
  const PolicyEntry& e = shared_->registry->current()->match(key);
  if (!e.policy.uses_postgres() || !e.policy.version_checked()) return false;
  if (const char* why = unstorable_key(key)) {
    protocol::ReplyWriter(c->reply_target(), c->resp_version())
        .error("ERR strata: key '" + printable(key) + "' cannot be stored in PostgreSQL: it " +
               why);
    return true;
  }
  WriteReq req;
  req.key = std::string(key);
  req.value = std::string(value);
  req.entry = &e;
  req.expire_at_ms = expire_at_ms;
  req.expected_version = expected;
  req.multi = new_multi(c, 1, true);  // the reply is the new version, an integer
  req.client = c->client_id();
  write(std::move(req));
  return true;
}

bool Tiers::version_of(ReplySink* c, std::string_view key) {
  const PolicyEntry& e = shared_->registry->current()->match(key);
  if (!e.policy.uses_postgres()) return false;
  auto reply = [](ReplySink* c, uint64_t seq, uint64_t v, const std::string* value) {
    std::string bytes;
    protocol::ReplyWriter w(&bytes, c->resp_version());
    w.array_header(2);
    w.integer(static_cast<int64_t>(v));
    if (value != nullptr) {
      w.bulk(*value);
    } else {
      w.null_bulk();
    }
    c->complete_reply(seq, bytes);
  };
  const uint64_t seq = c->reserve_reply();
  if (unstorable_key(key) != nullptr) return reply(c, seq, 0, nullptr), true;  // never stored
  const Token who = c->sink_token();
  Loop* loop = ctx_.loop;
  const PgParam params[] = {{key, false, false}};
  // Value and version of one row, read together: what a read-modify-CAS must start from (a
  // cache tier's value may trail the row's version).
  pool_->exec(e.sql.select, params, true, [loop, who, seq, reply](PgResult&& r) {
    ReplySink* c = sink_of(*loop, who);
    if (c == nullptr) return;
    if (r.status != PgResult::kOk) {
      c->fail_reply(seq, error_line("ERR strata: PostgreSQL read failed: " + r.error));
      return;
    }
    if (r.rows.empty() || !r.rows[0][0].has_value()) return reply(c, seq, 0, nullptr);
    reply(c, seq, decode_version(r.rows[0][1]), &*r.rows[0][0]);
  });
  return true;
}

std::optional<std::string_view> Tiers::postgres_key(const CommandSpec& spec, Args args) const {
  const PolicySnapshot* snap = shared_->registry->current();
  if (!snap->any_postgres || (spec.first_key == 0 && (spec.flags & kMovableKeys) == 0)) {
    return std::nullopt;
  }
  std::vector<std::string_view> key_list;
  const std::span<const std::string_view> keys = keys_of(spec, args, &key_list);
  for (std::string_view k : keys) {
    if (snap->match(k).policy.uses_postgres()) return k;
  }
  return std::nullopt;
}

// One key of a cache-only prefix inside a multi-key command that also touches PostgreSQL keys:
// handled as strata handles it without policies, its result counted into the same reply.
bool Tiers::route_mixed_key(const CommandSpec& spec, uint64_t multi, std::string_view key,
                            std::string_view value) {
  cache::Store& store = *ctx_.store;
  Upstream* up = ctx_.upstream;
  const std::string_view n = spec.name;
  // The key's own policy decides its TTL (a cache-strategy ttl_ms), as for any write of it.
  const policies::WritePlan plan = policies::plan_write(
      shared_->registry->current()->match(key).policy,
      policies::WriteRequest{n == "mset" ? policies::WriteOp::kSet : policies::WriteOp::kDelete,
                             0, ctx_.loop->now_ms(), up != nullptr});
  if (up == nullptr) {
    auto txn = store.lock(key);
    cache::EntryView v;
    if (n == "exists") {
      multi_done(multi, txn->read(key, &v) ? 1 : 0, {});
      return true;
    }
    if (n == "mset") {
      txn->set(key, value, plan.cache_expire_at_ms);
      multi_done(multi, 0, {});
    } else {
      multi_done(multi, txn->erase(key) ? 1 : 0, {});
    }
    txn.reset();
    ctx_.seam->publish(key, ChangeOp::kInvalidate, ChangeSource::kNative);
    return true;
  }
  std::vector<std::string_view> cmd{n == "mset" ? std::string_view("SET") : spec.name, key};
  const std::string px = std::to_string(plan.cache_expire_at_ms);
  if (n == "mset") cmd.push_back(value);
  if (n == "mset" && plan.cache_expire_at_ms > 0) cmd.insert(cmd.end(), {"PXAT", px});
  if (n != "exists") store.invalidate(key);
  std::string k(key);
  const bool ok = up->call(cmd, key, [this, multi, k, n](const RedisReply& r) {
    if (n != "exists") {
      ctx_.store->invalidate(k);
      if (r.ok) ctx_.seam->publish(k, ChangeOp::kInvalidate, ChangeSource::kForwarded);
    }
    if (!r.ok) return multi_done(multi, 0, r.error);
    if (r.kind == protocol::ReplyKind::kError) return multi_done(multi, 0, r.raw);
    multi_done(multi, r.kind == protocol::ReplyKind::kInteger ? r.integer : 0, {});
  });
  if (!ok) multi_done(multi, 0, up->unavailable_error());
  return true;
}

// ---- reads ----

void Tiers::read(const PolicyEntry& e, std::string_view key, Waiter w) {
  if (!busy_.empty()) {
    std::string k(key);
    if (must_wait(k, true, false)) {
      enqueue(k, [this, pe = &e, k, w] { read(*pe, k, w); });
      return;
    }
  }
  const policies::Policy& p = e.policy;
  const int64_t now = ctx_.loop->now_ms();
  cache::Store& store = *ctx_.store;
  const bool l1 = use_l1(e, key);
  if (l1) {
    auto txn = store.lock(key);
    cache::EntryView v;
    if (txn->read(key, &v)) {
      bump(e.stats->l1_hits);
      const int64_t remaining = v.expire_at_ms == 0 ? -1 : v.expire_at_ms - now;
      reply_value(w, true, v.value, {});
      txn.reset();
      maybe_refresh(e, key, remaining);
      return;
    }
  }
  if (p.strategy == Strategy::kWriteBehind) {
    // A pending write is the newest value, whatever L2 or PostgreSQL still hold (pinning).
    policies::PendingWrite pw;
    if (shared_->write_behind->find(p.prefix, key, &pw)) {
      bump(e.stats->pending_hits);
      if (!pw.is_delete && l1) {
        const int64_t exp = p.ttl_ms > 0 ? now + static_cast<int64_t>(p.ttl_ms) : 0;
        store.lock(key)->set(key, pw.value, exp);
      }
      reply_value(w, !pw.is_delete, pw.value, {});
      return;
    }
  }
  if (p.negative_ttl_ms > 0 && shared_->negative.hit(key, now)) {
    bump(e.stats->negative_hits);
    reply_value(w, false, {}, {});
    return;
  }
  if (auto it = flights_.find(std::string(key)); it != flights_.end()) {
    it->second->waiters.push_back(w);
    if (it->second->pg_stage) bump(e.stats->pg_waits);
    return;
  }
  auto f = std::make_unique<Flight>();
  f->key = std::string(key);
  f->entry = &e;
  f->id = next_flight_++;
  f->lease = store.begin_fill(key);
  f->waiters.push_back(w);
  Flight* raw = f.get();
  busy_[f->key].reading = true;  // writes to PostgreSQL after this read wait for its result
  flights_.emplace(f->key, std::move(f));
  Upstream* up = ctx_.upstream;
  if (p.l2 && up != nullptr && up->available()) {
    read_l2(raw);
  } else {
    miss_to_pg(raw);  // counts a lease Redis's absence kept this read from taking
  }
}

void Tiers::read_l2(Flight* f) {
  Upstream* up = ctx_.upstream;
  const std::string key = f->key;
  std::string_view get[] = {"GET", key};
  std::string_view pttl[] = {"PTTL", key};
  // Both replies come back in order on one connection; the flight lives until PTTL's.
  bool ok = up->call(get, key, [this, key](const RedisReply& r) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    Flight& fl = *it->second;
    if (!r.ok || r.kind == protocol::ReplyKind::kError) {
      fl.l2_failed = true;
    } else if (r.kind == protocol::ReplyKind::kBulk) {
      fl.l2_value = true;
      fl.value.assign(r.payload);
    }
  });
  ok = ok && up->call(pttl, key, [this, key](const RedisReply& r) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    Flight& fl = *it->second;
    if (!fl.l2_value) {
      miss_to_pg(&fl);  // not in Redis (or Redis failed): PostgreSQL is the source
      return;
    }
    const int64_t pttl_ms = r.ok && r.kind == protocol::ReplyKind::kInteger ? r.integer : -3;
    serve_l2(&fl, std::move(fl.value), pttl_ms);
  });
  if (!ok) miss_to_pg(f);
}

void Tiers::serve_l2(Flight* f, std::string value, int64_t pttl_ms) {
  const int64_t now = ctx_.loop->now_ms();
  bump(f->entry->stats->l2_hits);
  if (use_l1(*f->entry, f->key) && pttl_ms >= -1) {
    const int64_t exp = pttl_ms >= 0 ? now + std::max<int64_t>(pttl_ms, 1) : 0;
    if (ctx_.store->complete_fill(f->key, f->lease, value, exp)) bump(f->entry->stats->fills);
  }
  const PolicyEntry& e = *f->entry;
  const std::string key = f->key;
  finish_read(key, true, value, {});
  maybe_refresh(e, key, pttl_ms >= 0 ? pttl_ms : -1);
}

void Tiers::read_pg(Flight* f) {
  end_lease_stage(f);
  bump(f->entry->stats->pg_waits, f->waiters.size());
  f->pg_stage = true;
  const std::string key = f->key;
  const uint64_t id = f->id;
  PgParam params[] = {{key, false, false}};
  pool_->exec(f->entry->sql.select, params, true, [this, key, id](PgResult&& r) {
    Flight* fl = live_flight(key, id);
    if (fl == nullptr) return;
    const policies::Policy& p = fl->entry->policy;
    const bool ok = r.status == PgResult::kOk;
    const bool found = ok && !r.rows.empty() && !r.rows[0].empty() && r.rows[0][0].has_value();
    const int64_t now = ctx_.loop->now_ms();
    if (found) {
      bump(fl->entry->stats->pg_hits);
      // No second look at the write-behind queue: a write queued while this read was out came
      // after it, and the read answers with the state before (the fill guard keeps that answer
      // out of the cache).
      const uint64_t version = r.rows[0].size() > 1 ? decode_version(r.rows[0][1]) : 0;
      const int64_t ttl = static_cast<int64_t>(p.ttl_ms);
      if (p.l2) l2_install(*fl->entry, key, *r.rows[0][0], version, ttl);
      if (use_l1(*fl->entry, key) &&
          ctx_.store->complete_fill(key, fl->lease, *r.rows[0][0], ttl > 0 ? now + ttl : 0)) {
        bump(fl->entry->stats->fills);
      }
    }
    // The stampede lease goes back after the install (one connection: Redis sees the value
    // first); with no row, as an "absent" mark valid until the key's next write.
    if (fl->holds_lease) release_lease(key, lease_token(id), ok && !found ? fl->lease_ver : "");
    if (!ok) {
      finish_read(key, false, {},
                  error_line("ERR strata: PostgreSQL read of '" + key + "' failed: " + r.error));
      return;
    }
    if (!found) {
      bump(fl->entry->stats->misses);
      if (p.negative_ttl_ms > 0) {
        shared_->negative.put(key, now + static_cast<int64_t>(p.negative_ttl_ms));
      }
      return finish_read(key, false, {}, {});
    }
    finish_read(key, true, *r.rows[0][0], {});
  });
}

void Tiers::finish_read(const std::string& key, bool found, std::string_view value,
                        std::string_view error) {
  auto it = flights_.find(key);
  if (it == flights_.end()) return;
  std::unique_ptr<Flight> f = std::move(it->second);
  flights_.erase(it);
  for (const Waiter& w : f->waiters) reply_value(w, found, value, error);
  settle_read(key);
}

void Tiers::reply_value(const Waiter& w, bool found, std::string_view value,
                        std::string_view error) {
  if (w.kind == ReadKind::kExists) {
    multi_done(w.multi, found ? 1 : 0, error);
    return;
  }
  if (w.kind == ReadKind::kRange) return range_part(w, found, value, error);
  ReplySink* c = sink_of(*ctx_.loop, w.client);
  if (c == nullptr) return;
  if (!error.empty()) {
    c->fail_reply(w.seq, error);
    return;
  }
  std::string bytes;
  protocol::ReplyWriter out(&bytes, c->resp_version());
  if (found) {
    out.bulk(value);
  } else {
    out.null_bulk();
  }
  if (w.part < 0) {
    c->complete_reply(w.seq, bytes);
  } else {
    c->complete_part(w.seq, static_cast<size_t>(w.part), bytes);
  }
}

// ---- refresh-ahead ----

void Tiers::maybe_refresh(const PolicyEntry& e, std::string_view key, int64_t remaining_ms) {
  const policies::Policy& p = e.policy;
  if (p.strategy != Strategy::kRefreshAhead || p.ttl_ms == 0 || remaining_ms < 0) return;
  const double left = static_cast<double>(p.ttl_ms) * (1.0 - p.refresh_point);
  if (static_cast<double>(remaining_ms) > left) return;
  if (!pool_->available() || !shared_->refreshing.try_begin(key)) return;
  refresh(&e, std::string(key));
}

// ---- per-key order ----

bool Tiers::must_wait(const std::string& key, bool is_read, bool waits_on_reads) {
  auto it = busy_.find(key);
  if (it == busy_.end()) return false;
  if (!is_read) yield_lease_wait(key);  // a write is never held up by a read's lease wait
  const KeyState& k = it->second;
  if (k.writes > 0 || !k.waiting.empty()) return true;
  return !is_read && waits_on_reads && k.reading;
}

void Tiers::enqueue(const std::string& key, std::move_only_function<void()> op) {
  busy_[key].waiting.push_back(std::move(op));
}

void Tiers::settle_write(const std::string& key) {
  if (auto it = busy_.find(key); it != busy_.end() && it->second.writes > 0) --it->second.writes;
  release_key(key);
}

void Tiers::settle_read(const std::string& key) {
  if (auto it = busy_.find(key); it != busy_.end()) it->second.reading = false;
  release_key(key);
}

// Runs what waited for the key, in order, until one of them has to wait again.
void Tiers::release_key(const std::string& key) {
  auto it = busy_.find(key);
  if (it == busy_.end()) return;
  if (it->second.writes > 0) return;
  std::deque<std::move_only_function<void()>> waiting = std::move(it->second.waiting);
  it->second.waiting.clear();
  while (!waiting.empty()) {
    std::move_only_function<void()> op = std::move(waiting.front());
    waiting.pop_front();
    op();  // may settle synchronously and re-enter release_key with an empty queue
    auto again = busy_.find(key);
    if (again != busy_.end() && (again->second.writes > 0 || !again->second.waiting.empty())) {
      for (auto& rest : waiting) again->second.waiting.push_back(std::move(rest));
      return;
    }
  }
  it = busy_.find(key);
  if (it != busy_.end() && it->second.writes == 0 && !it->second.reading &&
      it->second.waiting.empty()) {
    busy_.erase(it);
  }
}

// ---- multi-part replies ----

uint64_t Tiers::new_multi(ReplySink* c, uint32_t parts, bool reply_count) {
  Multi* mp = nullptr;
  const uint64_t id = multis_.take(&mp);
  Multi& m = *mp;
  m.client = c->sink_token();
  m.seq = c->reserve_reply();
  m.remaining = parts;
  m.reply_count = reply_count;
  return id;
}

void Tiers::multi_done(uint64_t id, int64_t count, std::string_view error) {
  Multi* found = multis_.find(id);
  if (found == nullptr) return;
  Multi& m = *found;
  m.count += count;
  if (!error.empty() && m.error.empty()) m.error = std::string(error);
  if (--m.remaining > 0) return;
  Multi done = std::move(m);
  multis_.retire(id);
  multis_.recycle(id);
  ReplySink* c = sink_of(*ctx_.loop, done.client);
  if (c == nullptr) return;
  if (!done.error.empty()) {
    c->fail_reply(done.seq, done.error);
    return;
  }
  std::string bytes;
  protocol::ReplyWriter out(&bytes, c->resp_version());
  if (done.reply_count) {
    out.integer(done.count);
  } else {
    out.ok();
  }
  c->complete_reply(done.seq, bytes);
}

}  // namespace strata::proxy
