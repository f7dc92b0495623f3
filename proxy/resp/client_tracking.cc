// CLIENT TRACKING served by strata, with Redis 7.0's semantics and replies: the default mode,
// BCAST with PREFIX, OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, REDIRECT (to a client subscribed
// to __redis__:invalidate, or any RESP3 client), RESP3 invalidation pushes, null invalidations
// on FLUSHALL/FLUSHDB, CLIENT TRACKINGINFO and CLIENT GETREDIR. The invalidations come from the
// change seam, so they cover every change strata knows of (docs/tracking.md).
//
// Two races are closed. An invalidation goes out behind every reply the client is still owed,
// so a read answered after a concurrent change is always followed by its invalidation (the key
// is remembered before the read is sent). And a REDIRECT target that goes away does not leave
// its clients silently stale: a RESP3 client gets a tracking-redir-broken push (as from Redis);
// a RESP2 client, which nothing can be pushed to, is disconnected, so that its library drops
// what it cached (Redis leaves it stale: redis#13082).
#include <algorithm>
#include <atomic>
#include <charconv>

#include "protocol/reply_writer.h"
#include "protocol/resp_numbers.h"
#include "proxy/loop/log.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/client_registry.h"
#include "proxy/resp/tracking_table.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kRedirectChannel = "__redis__:invalidate";

std::atomic<uint64_t> g_broken_redirect_closes{0};

// The keys part of an invalidation: an array of the keys, or for a flush the null of the
// tracking client's protocol (Redis sends its own client's null even to a redirect target).
void append_keys(std::string* out, const std::vector<std::string>& keys, bool flush,
                 int null_resp) {
  if (flush) {
    out->append(null_resp >= 3 ? "_\r\n" : "$-1\r\n");
    return;
  }
  protocol::ReplyWriter w(out, 2);
  w.array_header(keys.size());
  for (const std::string& k : keys) w.bulk(k);
}

// Tells `ids` (clients of any worker) about `changes`, each on its own worker's thread.
void tell_everywhere(uint32_t here, const std::vector<uint64_t>& ids, const KeyChanges& changes,
                     bool flush, bool bcast = false) {
  ClientRegistry& reg = ClientRegistry::instance();
  std::vector<std::pair<uint32_t, uint64_t>> elsewhere;
  for (uint64_t id : ids) {
    uint32_t w = 0;
    if (!reg.owner_of(id, &w)) continue;  // gone: its entries went with it
    if (w == here) {
      tell_tracking_client(w, id, changes, flush, bcast);
    } else {
      elsewhere.emplace_back(w, id);
    }
  }
  // One mailbox post per worker, in the order the clients were named.
  while (!elsewhere.empty()) {
    const uint32_t w = elsewhere.front().first;
    std::vector<uint64_t> batch;
    std::erase_if(elsewhere, [&](const auto& p) {
      if (p.first != w) return false;
      batch.push_back(p.second);
      return true;
    });
    reg.post(w, [w, batch = std::move(batch), changes, flush, bcast] {
      for (uint64_t id : batch) tell_tracking_client(w, id, changes, flush, bcast);
    });
  }
}

// On worker `here`: reader `reader`'s REDIRECT is broken (its target `target` is gone); it
// hears so on its own thread.
void tell_broken(uint32_t here, uint64_t reader, uint64_t target) {
  ClientRegistry& reg = ClientRegistry::instance();
  uint32_t w = 0;
  if (!reg.owner_of(reader, &w)) return;
  auto tell = [w, reader, target] {
    ClientConn* c = ClientRegistry::instance().local(reader, w);
    if (c != nullptr && !c->closed()) c->redirect_broken(target);
  };
  if (w == here) {
    tell();
  } else {
    reg.post(w, std::move(tell));
  }
}

// On worker `here`: the invalidation of `keys` that reader `reader` redirects to `target`,
// handed to the target's worker (or appended here).
void send_redirected(uint32_t here, uint64_t reader, uint64_t target,
                     std::vector<std::string> keys) {
  ClientRegistry& reg = ClientRegistry::instance();
  uint32_t w = 0;
  if (!reg.owner_of(target, &w)) return tell_broken(here, reader, target);
  if (w == here) {
    ClientConn* t = reg.local(target, w);
    if (t == nullptr || t->closed() || !t->take_redirected(keys, false, 2)) {
      tell_broken(here, reader, target);
    }
    return;
  }
  reg.post(w, [w, reader, target, keys = std::move(keys)] {
    ClientConn* t = ClientRegistry::instance().local(target, w);
    if (t != nullptr && !t->closed() && t->take_redirected(keys, false, 2)) return;
    tell_broken(w, reader, target);  // the target left meanwhile
  });
}

// On worker `here`: reader `id` (of worker w) drops `changes`'s keys from its records, now or
// through w's mailbox; meanwhile its `pending` count says its records may name keys it no
// longer has in the table.
void forget_on_worker(uint32_t here, uint32_t w, uint64_t id, const KeyChanges& changes,
                      const std::shared_ptr<std::atomic<uint32_t>>& pending) {
  auto drop = [w, id, changes] {
    ClientConn* c = ClientRegistry::instance().local(id, w);
    if (c != nullptr && !c->closed()) c->forget_changed(changes);
  };
  if (w == here) return drop();
  if (pending == nullptr) {
    ClientRegistry::instance().post(w, std::move(drop));
    return;
  }
  pending->fetch_add(1);
  if (!ClientRegistry::instance().post(w, [drop, pending] {
        drop();
        pending->fetch_sub(1);
      })) {
    pending->fetch_sub(1);
  }
}

// Tells `ids` (readers of keys, or BCAST clients: bcast), with their settings `modes`, of
// `changes` (not a flush). A client that redirects is told from here, straight to its target:
// the invalidations of two clients that redirect to one connection then reach it in the order
// of their changes (through the readers' workers, one may take a hop more than the other and
// overtake it). Its own worker then drops the keys from its records, after the target may have
// told the client's library: until then a read of one of them goes to the table (pending), so
// that a value the library caches after the invalidation is the client's in the table again.
// Others are told on their workers (tell_everywhere).
void tell_readers(uint32_t here, const std::vector<uint64_t>& ids,
                  const std::vector<TrackingMode>& modes, const KeyChanges& changes, bool bcast) {
  std::vector<uint64_t> own;
  ClientRegistry& reg = ClientRegistry::instance();
  for (size_t i = 0; i < ids.size(); ++i) {
    const TrackingMode& m = modes[i];
    if (!m.on) continue;  // tracking off since: its keys go unanswered, as in Redis
    // Another mode than the message's (keys read before switching to BCAST): its own worker
    // drops the keys and tells nothing.
    if (m.redirect == 0 || m.bcast != bcast) {
      own.push_back(ids[i]);
      continue;
    }
    uint32_t w = 0;
    if (!reg.owner_of(ids[i], &w)) continue;  // gone: its entries went with it
    // Counted pending before the target can hear of it.
    if (!bcast) forget_on_worker(here, w, ids[i], changes, m.pending);
    std::vector<std::string> keys;
    for (const KeyChange& k : *changes) {
      if (m.noloop && k.writer != 0 && k.writer == ids[i]) continue;  // NOLOOP
      keys.push_back(k.key);
    }
    if (!keys.empty()) send_redirected(here, ids[i], m.redirect, std::move(keys));
  }
  tell_everywhere(here, own, changes, false, bcast);
}

KeyChanges one_change(std::string_view key, uint64_t writer) {
  return std::make_shared<const std::vector<KeyChange>>(
      std::vector<KeyChange>{KeyChange{std::string(key), writer}});
}

bool parse_id(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Redis's stringCheckPrefix: one of the two starts with the other.
bool overlap(std::string_view a, std::string_view b) {
  return a.size() <= b.size() ? b.starts_with(a) : a.starts_with(b);
}

}  // namespace

void tell_tracking_client(uint32_t worker, uint64_t id, const KeyChanges& changes, bool flush,
                          bool bcast) {
  ClientConn* c = ClientRegistry::instance().local(id, worker);
  if (c != nullptr && !c->closed()) c->tell_invalidated(changes, flush, bcast);
}

void tell_evicted(uint32_t here, const std::vector<TrackingTold>& evicted) {
  std::vector<TrackingMode> modes;
  for (const TrackingTold& t : evicted) {
    modes.clear();
    TrackingTable::instance().modes_of(t.clients, &modes);
    tell_readers(here, t.clients, modes, one_change(t.key, 0), false);
  }
}

void TrackingNotifier::on_change(const ChangeEvent& e) {
  TrackingTable& table = TrackingTable::instance();
  // A flush empties the table even with nobody tracking (entries outlive tracking OFF).
  if (!table.active() && e.op != ChangeOp::kFlushAll) return;
  const uint32_t here = loop_->index();
  if (e.op == ChangeOp::kFlushAll) {
    readers_.clear();
    table.flushed(&readers_);
    tell_everywhere(here, readers_, std::make_shared<const std::vector<KeyChange>>(), true);
    return;
  }
  if (e.key.empty()) return;
  readers_.clear();
  modes_.clear();
  hits_.clear();
  table.changed(e.key, &readers_, &hits_, &modes_);
  if (!readers_.empty()) tell_readers(here, readers_, modes_, one_change(e.key, e.client), false);
  for (TrackingTable::PrefixHit& h : hits_) {
    for (size_t i = 0; i < h.clients.size(); ++i) {
      Batch& b = batches_[{h.clients[i], h.prefix}];
      b.mode = h.modes[i];
      b.keys.push_back(KeyChange{std::string(e.key), e.client});
      ++batched_;
    }
  }
  if (batched_ >= kBatchKeysMax) flush_batches();
}

void TrackingNotifier::flush_batches() {
  if (batches_.empty()) return;
  auto batches = std::move(batches_);
  batches_.clear();
  batched_ = 0;
  const uint32_t here = loop_->index();
  for (auto& [who, b] : batches) {
    tell_readers(here, {who.first}, {b.mode},
                 std::make_shared<const std::vector<KeyChange>>(std::move(b.keys)), true);
  }
}

void ClientConn::forget_changed(const KeyChanges& changes) {
  if (!tracking_.on) return;
  for (const KeyChange& k : *changes) forget_tracked(k.key);
}

void ClientConn::tell_invalidated(const KeyChanges& changes, bool flush, bool bcast) {
  if (!tracking_.on) return;  // switched off since: its old keys go unanswered, as in Redis
  if (flush) {
    forget_all_tracked();
  } else if (!bcast) {
    for (const KeyChange& k : *changes) forget_tracked(k.key);
  }
  // Keys it read before switching to BCAST are not told one by one (as in Redis); BCAST
  // batches reach only a client still in BCAST.
  if (!flush && tracking_.bcast != bcast) return;
  std::vector<std::string> keys;
  if (flush) {
    if (tracking_.flush_told) return;
    tracking_.flush_told = true;
  } else {
    for (const KeyChange& k : *changes) {
      // NOLOOP: not the changes its own commands made.
      if (tracking_.noloop && k.writer != 0 && k.writer == client_.id) continue;
      keys.push_back(k.key);
    }
    if (keys.empty()) return;
  }
  if (tracking_.redirect == 0) {
    if (client_.resp_version < 3) return;  // RESP2 without a target: nowhere to send it
    std::string msg = ">2\r\n$10\r\ninvalidate\r\n";
    append_keys(&msg, keys, flush, client_.resp_version);
    append_raw(msg);
    return;
  }
  ClientRegistry& reg = ClientRegistry::instance();
  uint32_t w = 0;
  const uint64_t target = tracking_.redirect;
  if (!reg.owner_of(target, &w)) return redirect_broken(target);
  const int null_resp = client_.resp_version;
  const uint32_t here = loop_->index();
  if (w == here) {
    ClientConn* t = reg.local(target, w);
    if (t == nullptr || t->closed() || !t->take_redirected(keys, flush, null_resp)) {
      redirect_broken(target);
    }
    return;
  }
  const uint64_t me = client_.id;
  reg.post(w, [w, target, keys = std::move(keys), flush, null_resp, here, me] {
    ClientRegistry& r = ClientRegistry::instance();
    ClientConn* t = r.local(target, w);
    if (t != nullptr && !t->closed() && t->take_redirected(keys, flush, null_resp)) return;
    // The target left meanwhile: the sender hears so on its own thread.
    r.post(here, [here, me, target] {
      ClientConn* c = ClientRegistry::instance().local(me, here);
      if (c != nullptr && !c->closed()) c->redirect_broken(target);
    });
  });
}

void ClientConn::redirect_broken(uint64_t target) {
  if (!tracking_.on || tracking_.redirect != target) return;
  tracking_.broken_redirect = true;
  if (client_.resp_version >= 3) {
    std::string msg = ">2\r\n$21\r\ntracking-redir-broken\r\n:" + std::to_string(target) +
                      "\r\n";
    append_raw(msg);
    return;
  }
  // RESP2: nothing can tell it; cached values would stay stale for good. Disconnected, its
  // library reconnects with an empty cache.
  g_broken_redirect_closes.fetch_add(1, std::memory_order_relaxed);
  STRATA_LOG_INFO("client %llu: its CLIENT TRACKING REDIRECT target %llu is gone; closing "
                  "the connection so that it drops what it cached",
                  static_cast<unsigned long long>(client_.id),
                  static_cast<unsigned long long>(target));
  leave_tracking();
  close_after_reply();
}

bool ClientConn::take_redirected(const std::vector<std::string>& keys, bool flush,
                                 int null_resp) {
  if (kind_ == ClientStateKind::kDraining) return false;  // QUIT: it takes nothing more
  std::string msg;
  if (client_.resp_version >= 3) {
    msg = ">2\r\n$10\r\ninvalidate\r\n";
  } else if (pubsub()) {
    // Its subscription lives on its pinned connection, relayed whole message by whole message:
    // this one goes in between two of them.
    msg = "*3\r\n$7\r\nmessage\r\n$20\r\n";
    msg += kRedirectChannel;
    msg += "\r\n";
  } else {
    return true;  // RESP2 and not subscribed: Redis sends it nothing either
  }
  append_keys(&msg, keys, flush, null_resp);
  append_raw(msg);
  return true;
}

namespace {

constexpr std::string_view kTrackingMaxKeysName = "tracking-table-max-keys";

// CONFIG SET's value for tracking-table-max-keys, by Redis's rules (a size_t config from 0 to
// LONG_MAX): "" and the value, or the reason Redis gives for refusing it.
std::string_view parse_tracking_max_keys(std::string_view v, size_t* out) {
  int64_t n = 0;
  if (!protocol::detail::string_to_ll(v, &n)) return "argument couldn't be parsed into an integer";
  if (n < 0) return "argument must be between 0 and 9223372036854775807 inclusive";
  *out = static_cast<size_t>(n);
  return {};
}

}  // namespace

bool ClientConn::serve_tracking_config(Args args) {
  if (args.size() < 3) return false;
  const bool set = iequals(args[1], "set");
  if (!set && !iequals(args[1], "get")) return false;
  bool ours = false;
  bool others = false;
  size_t n = 0;
  std::string why;  // Redis's reason for refusing the command, as it words it
  if (set) {
    if (args.size() % 2 != 0) return false;  // Redis says why
    for (size_t i = 2; i < args.size(); i += 2) {
      if (!iequals(args[i], kTrackingMaxKeysName)) {
        others = true;
      } else if (ours) {
        if (why.empty()) why = "'" + std::string(args[i]) + "') - duplicate parameter";
      } else {
        ours = true;
        std::string_view bad = parse_tracking_max_keys(args[i + 1], &n);
        if (!bad.empty()) why = "'" + std::string(kTrackingMaxKeysName) + "') - " + std::string(bad);
      }
    }
  } else {
    ours = args.size() == 3 && iequals(args[2], kTrackingMaxKeysName);
  }
  if (!ours) return false;
  // strata cannot split a command that names other parameters too, and inside MULTI Redis
  // queues it: those go to Redis, and strata's table takes a valid limit as well.
  if (others || pinned_multi_) {
    if (set && why.empty()) apply_tracking_max_keys(n);
    return false;
  }
  protocol::ReplyWriter w(reply_target(), client_.resp_version);
  if (!set) {
    w.map_header(1);
    w.bulk(args[2]);  // as Redis: the name as the client spelt it
    w.bulk(std::to_string(TrackingTable::instance().max_keys()));
  } else if (!why.empty()) {
    w.error("ERR CONFIG SET failed (possibly related to argument " + why);
  } else {
    apply_tracking_max_keys(n);
    w.ok();
  }
  return true;
}

void ClientConn::apply_tracking_max_keys(size_t n) {
  std::vector<TrackingTold> evicted;
  TrackingTable::instance().set_max_keys(n, &evicted);
  tell_evicted(loop_->index(), evicted);
}

void ClientConn::serve_tracking(std::string_view sub, Args args) {
  protocol::ReplyWriter w(reply_target(), client_.resp_version);
  if (name_is(sub, "getredir")) {
    w.integer(tracking_.on ? static_cast<int64_t>(tracking_.redirect) : -1);
    return;
  }
  if (name_is(sub, "trackinginfo")) {
    std::vector<std::string_view> flags;
    flags.push_back(tracking_.on ? "on" : "off");
    if (tracking_.bcast) flags.push_back("bcast");
    if (tracking_.optin) {
      flags.push_back("optin");
      if (tracking_.caching) flags.push_back("caching-yes");
    }
    if (tracking_.optout) {
      flags.push_back("optout");
      if (tracking_.caching) flags.push_back("caching-no");
    }
    if (tracking_.noloop) flags.push_back("noloop");
    if (tracking_.broken_redirect) flags.push_back("broken_redirect");
    w.map_header(3);
    w.bulk("flags");
    w.set_header(flags.size());
    for (std::string_view f : flags) w.bulk(f);
    w.bulk("redirect");
    w.integer(tracking_.on ? static_cast<int64_t>(tracking_.redirect) : -1);
    w.bulk("prefixes");
    std::vector<std::string> sorted = tracking_.prefixes;
    std::sort(sorted.begin(), sorted.end());
    w.array_header(sorted.size());
    for (const std::string& p : sorted) w.bulk(p);
    return;
  }
  if (name_is(sub, "caching")) {
    if (!tracking_.on || (!tracking_.optin && !tracking_.optout)) {
      w.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with "
              "OPTIN or OPTOUT mode enabled");
      return;
    }
    if (iequals(args[2], "yes")) {
      if (!tracking_.optin) {
        w.error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
        return;
      }
    } else if (iequals(args[2], "no")) {
      if (!tracking_.optout) {
        w.error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        return;
      }
    } else {
      w.error("ERR syntax error");
      return;
    }
    tracking_.caching = true;
    w.ok();
    return;
  }
  // CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
  bool bcast = false;
  bool optin = false;
  bool optout = false;
  bool noloop = false;
  int64_t redirect = 0;
  std::vector<std::string> prefixes;
  for (size_t j = 3; j < args.size(); ++j) {
    const bool more = j + 1 < args.size();
    const std::string_view opt = args[j];
    if (iequals(opt, "redirect") && more) {
      ++j;
      if (redirect != 0) {
        w.error("ERR A client can only redirect to a single other client");
        return;
      }
      if (!parse_id(args[j], &redirect)) {
        w.error("ERR value is not an integer or out of range");
        return;
      }
      uint32_t owner = 0;
      if (redirect <= 0 ||
          !ClientRegistry::instance().owner_of(static_cast<uint64_t>(redirect), &owner)) {
        w.error("ERR The client ID you want redirect to does not exist");
        return;
      }
    } else if (iequals(opt, "bcast")) {
      bcast = true;
    } else if (iequals(opt, "optin")) {
      optin = true;
    } else if (iequals(opt, "optout")) {
      optout = true;
    } else if (iequals(opt, "noloop")) {
      noloop = true;
    } else if (iequals(opt, "prefix") && more) {
      ++j;
      if (args[j].size() > kTrackingPrefixBytesMax ||
          prefixes.size() + tracking_.prefixes.size() >= kTrackingPrefixesMax) {
        w.error("ERR strata: at most " + std::to_string(kTrackingPrefixesMax) +
                " tracking prefixes per client, each at most " +
                std::to_string(kTrackingPrefixBytesMax) + " bytes");
        return;
      }
      prefixes.emplace_back(args[j]);
    } else {
      w.error("ERR syntax error");
      return;
    }
  }
  if (iequals(args[2], "off")) {
    if (tracking_.on) TrackingTable::instance().disable(client_.id);
    tracking_keys_kept_ = tracking_keys_kept_ || tracking_.on;
    tracking_ = TrackingState{};
    forget_all_tracked();  // its bit stays in the keys the table keeps, and with it
    w.ok();
    return;
  }
  if (!iequals(args[2], "on")) {
    w.error("ERR syntax error");
    return;
  }
  if (!bcast && !prefixes.empty()) {
    w.error("ERR PREFIX option requires BCAST mode to be enabled");
    return;
  }
  if (tracking_.on && tracking_.bcast != bcast) {
    w.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
            "and then re-enabling it with a different mode.");
    return;
  }
  if (bcast && (optin || optout)) {
    w.error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    return;
  }
  if (optin && optout) {
    w.error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    return;
  }
  if ((optin && tracking_.optout) || (optout && tracking_.optin)) {
    w.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
            "and then re-enabling it with a different mode.");
    return;
  }
  if (bcast) {
    for (size_t i = 0; i < prefixes.size(); ++i) {
      for (const std::string& held : tracking_.prefixes) {
        if (overlap(held, prefixes[i])) {
          w.error("ERR Prefix '" + prefixes[i] + "' overlaps with an existing prefix '" + held +
                  "'. Prefixes for a single client must not overlap.");
          return;
        }
      }
      for (size_t j = i + 1; j < prefixes.size(); ++j) {
        if (overlap(prefixes[i], prefixes[j])) {
          w.error("ERR Prefix '" + prefixes[i] + "' overlaps with another provided prefix '" +
                  prefixes[j] + "'. Prefixes for a single client must not overlap.");
          return;
        }
      }
    }
  }
  // As Redis's enableTracking: the mode flags are set anew, BCAST prefixes add up.
  tracking_.on = true;
  tracking_.bcast = bcast;
  tracking_.optin = optin;
  tracking_.optout = optout;
  tracking_.noloop = noloop;
  tracking_.broken_redirect = false;
  tracking_.redirect = static_cast<uint64_t>(redirect);
  if (bcast && prefixes.empty() && tracking_.prefixes.empty()) prefixes.emplace_back();
  for (std::string& p : prefixes) tracking_.prefixes.push_back(std::move(p));
  if (tracking_.redirect != 0 && forgets_pending_ == nullptr) {
    forgets_pending_ = std::make_shared<std::atomic<uint32_t>>(0);
  }
  TrackingTable::instance().enable(client_.id, bcast, tracking_.prefixes, tracking_.redirect,
                                   noloop, tracking_.redirect != 0 ? forgets_pending_ : nullptr);
  w.ok();
}

void rewrite_tracking_info(std::string* info) {
  const TrackingTable::Counts n = TrackingTable::instance().counts();
  const std::pair<std::string_view, size_t> fields[] = {{"tracking_clients:", n.clients},
                                                        {"tracking_total_keys:", n.keys},
                                                        {"tracking_total_items:", n.items},
                                                        {"tracking_total_prefixes:", n.prefixes}};
  for (const auto& [name, value] : fields) {
    size_t at = info->find(std::string("\r\n").append(name));
    if (at == std::string::npos) continue;
    at += 2 + name.size();
    const size_t end = info->find("\r\n", at);
    info->replace(at, (end == std::string::npos ? info->size() : end) - at, std::to_string(value));
  }
}

uint64_t tracking_broken_redirect_closes() {
  return g_broken_redirect_closes.load(std::memory_order_relaxed);
}

}  // namespace strata::proxy
