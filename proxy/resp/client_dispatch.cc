// Command routing in front of an upstream Redis: which commands strata answers itself, which
// read or fill L1, which go upstream on a shared connection (invalidating the keys they write),
// which on a lane (slow commands, and those that must reach Redis at once) and which need a
// connection of their own.
#include <strings.h>

#include <charconv>

#include "cache/hash.h"
#include "cache/store.h"
#include "proxy/commands/commands.h"
#include "proxy/redis/upstream.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/tracking_seen.h"
#include "proxy/tiers/tier_shared.h"
#include "proxy/tiers/tiers.h"

namespace strata::proxy {
namespace {

bool parse_i64(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Commands about the client connection itself: strata answers them even in front of Redis.
bool is_connection_local(std::string_view name, Args args) {
  // RESET too: Redis holds no state for a client on a shared connection, and RESET there would
  // end the connection's tracking for everyone on it.
  if (name == "ping" || name == "echo" || name == "command" || name == "info" || name == "auth" ||
      name == "reset") {
    return true;
  }
  // L1 caches database 0; a client that selects another one talks to Redis directly.
  if (name == "select") return args.size() == 2 && args[1] == "0";
  // HELLO too: strata speaks either protocol on the client's side of every shared connection.
  return name == "hello";
}

// CLIENT subcommands that change how Redis treats this connection need one of their own; the
// others are strata's (client_admin.cc: serve_client; TRACKING & co.: client_tracking.cc).
bool is_stateful_client_subcommand(Args args) {
  if (args.size() < 2) return false;
  return iequals(args[1], "reply");
}

// XREAD and XREADGROUP block only with BLOCK (before STREAMS: after it come keys and ids).
bool blocks(const CommandSpec& spec, Args args) {
  if ((spec.flags & kBlocking) == 0) return false;
  if (spec.name != "xread" && spec.name != "xreadgroup") return true;
  for (size_t i = 1; i < args.size() && !iequals(args[i], "streams"); ++i) {
    if (iequals(args[i], "block")) return true;
  }
  return false;
}

bool needs_pinning(const CommandSpec& spec, Args args) {
  if ((spec.flags & (kPinning | kPubSub)) != 0 || blocks(spec, args)) return true;
  if (spec.name == "select") return true;  // SELECT n > 0: another keyspace than L1's
  if (spec.name == "client") return is_stateful_client_subcommand(args);
  return false;
}

}  // namespace

bool set_expiry(Args args, int64_t now_ms, int64_t* expire_at_ms, std::string_view* state_option) {
  *expire_at_ms = 0;
  *state_option = {};
  bool known = true;
  for (size_t i = 3; i < args.size(); ++i) {
    std::string_view a = args[i];
    const bool keeps = iequals(a, "GET") || iequals(a, "KEEPTTL");
    if (keeps || iequals(a, "NX") || iequals(a, "XX")) {
      if (state_option->empty()) *state_option = a;
      known = known && !keeps;
      continue;
    }
    if (i + 1 >= args.size()) return false;
    int64_t v;
    if (!parse_i64(args[i + 1], &v) || v <= 0) return false;
    if (iequals(a, "EX")) {
      if (v > INT64_MAX / 1000 - now_ms) return false;
      *expire_at_ms = now_ms + v * 1000;
    } else if (iequals(a, "PX")) {
      if (v > INT64_MAX - now_ms) return false;
      *expire_at_ms = now_ms + v;
    } else if (iequals(a, "EXAT")) {
      if (v > INT64_MAX / 1000) return false;
      *expire_at_ms = v * 1000;
    } else if (iequals(a, "PXAT")) {
      *expire_at_ms = v;
    } else {
      return false;
    }
    ++i;
  }
  return known;
}

void ClientConn::note_pinned_multi(const CommandSpec* spec) {
  if (spec == nullptr) return;
  if (spec->name == "multi") {
    pinned_multi_ = true;
  } else if (spec->name == "exec" || spec->name == "discard" || spec->name == "reset") {
    pinned_multi_ = false;
  }
}

bool ClientConn::execute_pinned(const CommandSpec* spec, Args args) {
  if (Tiers* t = ctx_->tiers; t != nullptr && spec != nullptr) {
    if (auto k = t->postgres_key(*spec, args)) {
      protocol::ReplyWriter(reply_target(), client_.resp_version)
          .error("ERR strata: key '" + std::string(*k) +
                 "' is under a PostgreSQL policy; it cannot be used on a connection pinned to "
                 "Redis (MULTI/WATCH, blocking commands, pub/sub, SELECT)");
      return true;
    }
  }
  if (spec != nullptr && (spec->name == "hello" || spec->name == "reset")) {
    mirror_client_state(*spec, args);
  }
  note_pinned_multi(spec);
  pinned_->send_command(this, args, spec);
  return true;
}

bool ClientConn::execute_proxied(const CommandSpec* spec, std::span<const std::string_view> args,
                                 std::string_view raw) {
  Upstream& up = *ctx_->upstream;
  if (spec != nullptr && spec->name == "info" && serve_info(args)) return true;
  if (spec != nullptr && spec->name == "ping" && Upstream::slow_in_flight() > 0 &&
      up.available()) {
    // Redis runs a slow command (a script, perhaps): PING is Redis's to answer then, -BUSY
    // once the script is past busy-reply-threshold, as to a client of its own.
    up.forward(this, reserve_reply(), args, raw, nullptr);
    return true;
  }
  if (spec != nullptr && is_connection_local(spec->name, args)) {
    run_local(spec, args);
    return kind_ == ClientStateKind::kReading;
  }
  if (spec != nullptr && needs_pinning(*spec, args)) {
    pinned_ = up.pin(this);
    if (pinned_ == nullptr) {
      protocol::ReplyWriter(reply_target(), client_.resp_version)
          .error("ERR cannot open a connection to upstream " + up.name());
      return true;
    }
    note_pinned_multi(spec);
    pinned_->send_command(this, args, spec);
    return true;
  }
  const Route route = spec != nullptr ? route_of(*spec, args) : Route::kShared;
  if (route == Route::kControl) {
    up.forward_lane(this, reserve_reply(), route, args, raw, nullptr);
    return true;
  }
  bool l1 = ctx_->limits.l1_enabled;
  if (spec != nullptr && spec->first_key > 0 && args.size() > 1 && ctx_->tier_shared != nullptr) {
    // Cache-only policies may keep a prefix out of a tier: decided by the command's first key.
    const PolicySnapshot* snap = ctx_->tier_shared->registry->current();
    if (snap->any_tier_off) {
      const policies::Policy& p = snap->match(args[static_cast<size_t>(spec->first_key)]).policy;
      if (!p.l2) {  // L1 only: strata answers as it does standalone
        remember_pending(args);
        run_local(spec, args);
        return kind_ == ClientStateKind::kReading;
      }
      if (!p.l1) l1 = false;  // Redis only: forwarded, nothing cached
    }
  }
  if (l1 && ctx_->sync != nullptr && spec != nullptr && spec->first_key > 0 &&
      args.size() > static_cast<size_t>(spec->first_key) &&
      ctx_->sync->l1_bypass(args[static_cast<size_t>(spec->first_key)])) {
    l1 = false;  // the sync bus is down past max_staleness_ms: Redis answers, L1 stays out
  }
  if (l1 && spec != nullptr && spec->name == "get" && args.size() == 2) {
    serve_get(args[1]);
    return true;
  }
  remember_pending(args);  // a GET that Redis answers (no L1 for it now)
  if (l1 && spec != nullptr && spec->name == "mget" && args.size() >= 2) {
    serve_mget(args.subspan(1));
    return true;
  }
  std::unique_ptr<WriteEffect> effect;
  if (l1 && spec != nullptr && (spec->flags & kWrite) != 0) effect = prepare_write(*spec, args);
  if (route == Route::kSlow) {
    // The client waited for its earlier replies (ClientConn kHeld) unless already on a lane.
    up.forward_lane(this, reserve_reply(), route, args, raw, std::move(effect));
  } else {
    up.forward(this, reserve_reply(), args, raw, std::move(effect));
  }
  if (spec != nullptr && (spec->flags & kWrite) != 0) policy_ttl_upstream(*spec, args);
  return true;
}

Upstream* ClientConn::upstream_or_reply() {
  Upstream* up = ctx_->upstream;
  if (up->available()) return up;
  bump(ctx_->stats->upstream_errors);
  reply_target()->append(up->unavailable_error());
  return nullptr;
}

void ClientConn::serve_get(std::string_view key) {
  cache::Store& store = *ctx_->store;
  const bool track = track_pending_;
  track_pending_ = false;
  TrackingSeen* seen = ctx_->tracking_seen;
  if (track && !seen_bit_asked_) tracking_reader();  // its bit, at its first tracked read
  const bool by_bit = track && seen_bit_ >= 0 && seen != nullptr;
  const uint64_t hash = cache::hash_key(key);  // for the Store and for tracking
  if (by_bit) seen->prefetch(hash);
  {
    auto txn = store.lock(key, hash);
    cache::EntryView v;
    if (txn->read(key, hash, &v)) {
      // Tracking: nothing to do if this client read this very entry with the table holding
      // its bit for the key. Else the key is remembered now, under the entry's shard lock and
      // before the reply is written: every change drops or rewrites the L1 entry under this
      // lock before it is published, so one that this read did not see is told to this client.
      if (by_bit) {
        if ((!seen->seen(seen_bit_, hash, v.version) || forgets_pending()) &&
            remember_l1_key(key, hash)) {
          seen->note(seen_bit_, hash, v.version);
        }
      } else if (track) {
        remember_key(key, hash);
      }
      protocol::ReplyWriter(reply_target(), client_.resp_version).bulk(v.value);
      return;
    }
  }
  if (track) remember_key(key, hash);  // before Redis is asked
  Upstream* up = upstream_or_reply();
  if (up != nullptr) up->fill(this, reserve_reply(), -1, key);
}

bool ClientConn::serve_info(Args args) {
  std::vector<std::string_view> redis_args;
  Upstream* up = ctx_->upstream;
  if (!info_redis_args(args, &redis_args) || !up->available()) return false;
  std::string own;
  {
    protocol::ReplyWriter w(&own, client_.resp_version);
    CommandContext ctx{ctx_->store, &w, &client_, &ctx_->host->server_view(true, true),
                       ctx_->hitrate};
    own = info_own_sections(ctx, args);
  }
  const uint64_t seq = reserve_reply();
  Loop* loop = loop_;
  const Token me = token();
  const int resp = client_.resp_version;
  auto done = [loop, me, seq, resp, own = std::move(own)](const RedisReply& r) {
    ReplySink* c = sink_of(*loop, me);
    if (c == nullptr) return;
    if (!r.ok) {
      c->fail_reply(seq, r.error);
      return;
    }
    if (r.kind != protocol::ReplyKind::kBulk) {
      c->complete_reply(seq, r.raw);
      return;
    }
    std::string text(r.payload);
    rewrite_tracking_info(&text);
    if (!own.empty()) text.append(text.empty() ? "" : "\r\n").append(own);
    std::string reply;
    protocol::ReplyWriter(&reply, resp).verbatim("txt", text);
    c->complete_reply(seq, reply);
  };
  if (!up->call_for(client_.id, redis_args, std::move(done))) {
    bump(ctx_->stats->upstream_errors);
    fail_reply(seq, up->unavailable_error());
  }
  return true;
}

void ClientConn::serve_mget(Args keys) {
  cache::Store& store = *ctx_->store;
  std::vector<int32_t> missing;
  std::vector<std::string> parts(keys.size());
  {
    auto txn = store.lock(keys);
    cache::EntryView v;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (txn->read(keys[i], &v)) {
        protocol::ReplyWriter(&parts[i], client_.resp_version).bulk(v.value);
      } else {
        missing.push_back(static_cast<int32_t>(i));
      }
    }
  }
  if (missing.empty()) {
    std::string* out = reply_target();
    protocol::ReplyWriter(out, client_.resp_version).array_header(keys.size());
    for (const std::string& p : parts) out->append(p);
    return;
  }
  Upstream* up = upstream_or_reply();
  if (up == nullptr) return;
  const uint64_t seq = reserve_array_reply(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!parts[i].empty()) complete_part(seq, i, parts[i]);
  }
  for (int32_t i : missing) up->fill(this, seq, i, keys[static_cast<size_t>(i)]);
}

std::unique_ptr<WriteEffect> ClientConn::prepare_write(const CommandSpec& spec, Args args) {
  cache::Store& store = *ctx_->store;
  Upstream& up = *ctx_->upstream;
  auto effect = std::make_unique<WriteEffect>();
  effect->client = client_.id;
  if (spec.name == "flushall" || spec.name == "flushdb") {
    store.flush_all();
    effect->kind = WriteEffect::kFlushAll;
    return effect;
  }
  std::vector<std::string_view> keys;
  command_keys(spec, args, &keys);
  // Invalidate first: no reader may see the old value once the write is on its way, and no
  // fill started before it may install that old value later.
  for (std::string_view k : keys) {
    store.invalidate(k);
    up.forget_flight(k);
  }
  const int64_t now = loop_->now_ms();
  std::string_view n = spec.name;
  std::vector<std::string_view> values;
  int64_t expire = 0;
  bool install = false;
  std::string_view state_option;
  if (n == "set" && args.size() >= 3 && set_expiry(args, now, &expire, &state_option)) {
    install = true;
    values.push_back(args[2]);
  } else if ((n == "setex" || n == "psetex") && args.size() == 4) {
    int64_t v;
    if (parse_i64(args[2], &v) && v > 0 && v < INT64_MAX / 1000 - now) {
      install = true;
      expire = now + (n == "setex" ? v * 1000 : v);
      values.push_back(args[3]);
    }
  } else if (n == "mset" && args.size() >= 3 && args.size() % 2 == 1) {
    install = true;
    for (size_t i = 2; i < args.size(); i += 2) values.push_back(args[i]);
  }
  if (install && values.size() == keys.size()) {
    effect->kind = WriteEffect::kInstall;
    // Without a TTL of its own the value gets its policy's (Redis gets it by PEXPIRE ... NX).
    effect->expire_at_ms = expire != 0 || keys.empty() ? expire : cache_expiry(keys[0]);
    for (size_t i = 0; i < keys.size(); ++i) {
      effect->keys.emplace_back(keys[i]);
      effect->values.emplace_back(values[i]);
      effect->leases.push_back(store.begin_fill(keys[i]));
    }
    return effect;
  }
  effect->kind = WriteEffect::kInvalidate;
  for (std::string_view k : keys) effect->keys.emplace_back(k);
  return effect;
}

}  // namespace strata::proxy
