// CLIENT in front of strata's own clients: one identity. CLIENT ID is strata's id, so INFO,
// LIST, KILL and UNBLOCK are strata's too, over every client of every worker; none of them
// reaches Redis's view of strata's own connections. A client lives on one worker: LIST, KILL
// and UNBLOCK sweep the workers through the ClientRegistry (each acts on its own clients on its
// own thread), and the caller's reply slot is completed once all have answered. A client
// blocked through strata is blocked on its pinned connection: CLIENT UNBLOCK goes to Redis with
// that connection's id, at once (a lane). PAUSE/UNPAUSE are Redis's, sent at once on a lane.
// TRACKING, TRACKINGINFO, CACHING and REPLY keep their way (a pinned connection).
#include <memory>
#include <mutex>

#include "proxy/commands/commands.h"
#include "proxy/redis/upstream.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/client_registry.h"

namespace strata::proxy {
namespace {

// A sweep in progress: parts still out, what they found so far, and where the answer goes.
struct Sweep {
  std::mutex mu;
  size_t remaining = 0;
  SweepResult all;
  Loop* origin_loop = nullptr;  // used on the origin's thread only
  uint32_t origin_worker = 0;
  Token origin;
  std::function<void(ClientConn& self, SweepResult& all)> finish;
};

// Runs fn on worker `to`'s thread: now when that is the calling one (`from`), else posted to
// it (dropped if that worker owns no client any more: whoever waited there is gone).
void run_on(uint32_t from, uint32_t to, std::function<void()> fn) {
  if (from == to) {
    fn();
  } else {
    ClientRegistry::instance().post(to, std::move(fn));
  }
}

// Merges one worker's part; the last part hands the sweep to the origin's thread.
void part_done(const std::shared_ptr<Sweep>& job, SweepResult r, uint32_t on_worker) {
  bool last;
  {
    std::lock_guard lock(job->mu);
    for (auto& l : r.lines) job->all.lines.push_back(std::move(l));
    job->all.count += r.count;
    job->all.self = job->all.self || r.self;
    last = --job->remaining == 0;
  }
  if (!last) return;
  run_on(on_worker, job->origin_worker, [job] {
    ReplySink* s = sink_of(*job->origin_loop, job->origin);
    if (s != nullptr) job->finish(*static_cast<ClientConn*>(s), job->all);
  });
}

// A filter that outlives the command line it was parsed from.
struct OwnedFilter {
  ClientFilter f;
  std::string addr;
  std::string laddr;
};

std::shared_ptr<OwnedFilter> own(const ClientFilter& f) {
  auto o = std::make_shared<OwnedFilter>();
  o->f = f;
  o->addr.assign(f.addr);
  o->laddr.assign(f.laddr);
  o->f.addr = o->addr;
  o->f.laddr = o->laddr;
  return o;
}

// Runs parse, which replies an error for a bad line, into a scratch buffer: an error goes out
// as the command's reply and false is returned.
template <class Parse>
bool parse_or_reply(ClientConn& c, Parse&& parse) {
  std::string err;
  protocol::ReplyWriter w(&err, c.resp_version());
  if (parse(w)) return true;
  c.reply_target()->append(err);
  return false;
}

}  // namespace

void ClientConn::sweep(std::function<SweepResult(const std::vector<ClientConn*>&)> part,
                       std::function<void(ClientConn& self, SweepResult& all)> finish) {
  ClientRegistry& reg = ClientRegistry::instance();
  auto job = std::make_shared<Sweep>();
  job->origin_loop = loop_;
  job->origin_worker = loop_->index();
  job->origin = token();
  job->finish = std::move(finish);
  const std::vector<uint32_t> workers = reg.workers();
  job->remaining = workers.size();
  for (uint32_t w : workers) {
    if (w == job->origin_worker) continue;  // this worker's part runs last, here
    auto run = [job, part, w] { part_done(job, part(ClientRegistry::instance().clients_of(w)), w); };
    if (!reg.post(w, std::move(run))) part_done(job, SweepResult{}, job->origin_worker);
  }
  part_done(job, part(reg.clients_of(job->origin_worker)), job->origin_worker);
}

ClientInfoFields ClientConn::info_fields(int64_t now_ms) const {
  ClientInfoFields f;
  f.client = &client_;
  f.fd = fd_;
  f.now_ms = now_ms;
  f.last_interaction_ms = last_active_ms_;
  f.closing = kind_ == ClientStateKind::kDraining || client_.close_after_reply;
  f.qbuf = request_bytes_;
  f.argv_mem = argv_bytes_;
  if (pinned_ != nullptr) {
    f.upstream_flags = pinned_->list_flags();
    f.multi = pinned_->multi_count();
  }
  if (cmd_spec_ != nullptr) {
    f.cmd = cmd_container_ ? (cmd_full_.empty() ? std::string_view("NULL") : cmd_full_)
                           : cmd_spec_->name;
  }
  return f;
}

bool ClientConn::pubsub() const {
  return pinned_ != nullptr && pinned_->list_flags().find('P') != std::string::npos;
}

void ClientConn::close_after_reply() {
  set_state(ClientStateKind::kDraining);
  maybe_finish_draining();
}

void ClientConn::note_command(const CommandSpec* spec, Args args) {
  if (spec != cmd_spec_) {
    cmd_spec_ = spec;
    cmd_container_ = spec != nullptr && is_container_command(*spec);
  }
  if (!cmd_container_) return;
  // Redis's lastcmd is the subcommand ("client|list"), none for an unknown one.
  cmd_full_.clear();
  if (args.size() < 2 || subcommand_arity(*spec, args[1]) == 0) return;
  cmd_full_.assign(spec->name).push_back('|');
  for (char c : args[1]) cmd_full_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
}

bool ClientConn::must_hold(const CommandSpec&) const {
  return ctx_->upstream != nullptr && pinned_ == nullptr && !slots_.empty() &&
         !ctx_->upstream->bound(client_.id);
}

bool ClientConn::serve_client(const CommandSpec& spec, Args args, std::string_view raw) {
  if (args.size() < 2) return false;
  const std::string_view sub = args[1];
  // The caller's own CLIENT LIST/INFO line shows this command in its buffers, as Redis's does
  // (its part of a sweep runs now, on this thread).
  request_bytes_ = raw.size();
  argv_bytes_ = 0;
  for (std::string_view a : args) argv_bytes_ += a.size();
  struct Reset {
    ClientConn* c;
    ~Reset() { c->request_bytes_ = c->argv_bytes_ = 0; }
  } reset{this};
  if (pinned_ != nullptr && !pinned_->plain()) {
    // Inside MULTI Redis queues the command, subscribed (RESP2) it refuses it: Redis answers.
    // Not CLIENT KILL: Redis would run it (at EXEC, or subscribed in RESP3, or after MONITOR)
    // among its own clients, strata's connections included.
    if (!name_is(sub, "kill")) return false;
    protocol::ReplyWriter(reply_target(), client_.resp_version)
        .error("ERR strata: CLIENT KILL cannot run inside MULTI or on a subscribed connection");
    return true;
  }
  const int arity = subcommand_arity(spec, sub);
  const auto argc = static_cast<int>(args.size());
  if (arity == 0 || (arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
    run_local(&spec, args);  // Redis's error for the line
    return true;
  }
  if (name_is(sub, "reply")) return false;
  if (name_is(sub, "tracking") || name_is(sub, "trackinginfo") || name_is(sub, "caching") ||
      name_is(sub, "getredir")) {
    serve_tracking(sub, args);  // strata's own, fed by its change seam (client_tracking.cc)
    return true;
  }
  if (name_is(sub, "pause") || name_is(sub, "unpause")) {
    if (ctx_->upstream == nullptr) return false;  // standalone: cmd_client's answer
    ctx_->upstream->forward_lane(this, reserve_reply(), Route::kControl, args, {}, nullptr);
    return true;
  }
  if (name_is(sub, "info")) {
    std::string line = client_info_line(info_fields(loop_->now_ms()));
    protocol::ReplyWriter(reply_target(), client_.resp_version).verbatim("txt", line);
  } else if (name_is(sub, "list")) {
    client_list(args);
  } else if (name_is(sub, "kill")) {
    client_kill(args);
  } else if (name_is(sub, "unblock")) {
    client_unblock(args);
  } else {
    run_local(&spec, args);  // ID, GETNAME, SETNAME, NO-EVICT, GETREDIR, HELP
    // The name goes on to the pinned connection too, as pin() gives it a name set before.
    if (pinned_ != nullptr && name_is(sub, "setname") && client_.name == args[2]) {
      pinned_->send_quiet(args);
    }
  }
  return true;
}

void ClientConn::mirror_client_state(const CommandSpec& spec, Args args) {
  // Redis answers this HELLO or RESET (the client is pinned); what it changes of the client is
  // strata's too (CLIENT GETNAME, CLIENT LIST). Strata's handler runs on a copy of the client's
  // state, its reply dropped. The protocol follows Redis's HELLO reply (PinnedUpstream).
  ClientState copy = client_;
  std::string reply;
  protocol::ReplyWriter w(&reply, client_.resp_version);
  const ServerView& view = ctx_->host->server_view(true, false);
  CommandContext ctx{ctx_->store, &w, &copy, &view, ctx_->hitrate};
  run_native(spec, ctx, args);
  if (reply.starts_with('-')) return;
  client_.name = copy.name;
  if (spec.name == "reset") {
    client_.resp_version = copy.resp_version;
    client_.authenticated = copy.authenticated;
  }
}

void ClientConn::client_list(Args args) {
  ClientFilter parsed;
  if (!parse_or_reply(*this, [&](auto& w) { return parse_client_list(w, args, &parsed); })) return;
  auto f = own(parsed);
  const uint64_t seq = reserve_reply();
  const int64_t now = loop_->now_ms();
  sweep(
      [f, now](const std::vector<ClientConn*>& clients) {
        SweepResult r;
        for (const ClientConn* c : clients) {
          if (c->closed()) continue;
          const int8_t type = c->pubsub() ? ClientFilter::kPubSub : ClientFilter::kNormal;
          if (f->f.type != ClientFilter::kAnyType && f->f.type != type) continue;
          if (f->f.list_ids && std::find(f->f.ids.begin(), f->f.ids.end(),
                                         static_cast<int64_t>(c->client_.id)) == f->f.ids.end()) {
            continue;
          }
          r.lines.emplace_back(c->client_.id, client_info_line(c->info_fields(now)));
        }
        return r;
      },
      [f, seq](ClientConn& self, SweepResult& all) {
        std::sort(all.lines.begin(), all.lines.end());
        std::string text;
        if (f->f.list_ids) {  // in the order asked, as often as asked
          for (int64_t id : f->f.ids) {
            auto it = std::lower_bound(all.lines.begin(), all.lines.end(),
                                       std::pair<uint64_t, std::string>(id, {}));
            if (it != all.lines.end() && it->first == static_cast<uint64_t>(id)) {
              text += it->second;
            }
          }
        } else {
          for (const auto& l : all.lines) text += l.second;
        }
        std::string reply;
        protocol::ReplyWriter(&reply, self.client_.resp_version).verbatim("txt", text);
        self.complete_reply(seq, reply);
      });
}

void ClientConn::client_kill(Args args) {
  ClientFilter parsed;
  if (!parse_or_reply(*this, [&](auto& w) { return parse_client_kill(w, args, &parsed); })) return;
  auto f = own(parsed);
  const uint64_t seq = reserve_reply();
  const uint64_t me = client_.id;
  const int64_t now = loop_->now_ms();
  sweep(
      [f, me, now](const std::vector<ClientConn*>& clients) {
        SweepResult r;
        for (ClientConn* c : clients) {
          if (c->closed() || !client_selected(f->f, c->client_, c->pubsub(), now, me)) continue;
          ++r.count;
          if (c->client_.id == me) {
            r.self = true;  // closes after its reply
          } else {
            c->close();  // as Redis's freeClient: at once, output not yet sent dropped
          }
        }
        return r;
      },
      [f, seq](ClientConn& self, SweepResult& all) {
        std::string reply;
        protocol::ReplyWriter w(&reply, self.client_.resp_version);
        reply_client_kill(w, f->f, all.count);
        self.complete_reply(seq, reply);
        if (all.self) self.close_after_reply();
      });
}

void ClientConn::client_unblock(Args args) {
  int64_t id = 0;
  if (!parse_or_reply(*this, [&](auto& w) { return parse_client_unblock(w, args, &id); })) return;
  uint32_t owner = 0;
  // Standalone nothing blocks; in front of Redis, only a client with a pinned connection can
  // be blocked (in Redis, on that connection).
  if (ctx_->upstream == nullptr || id <= 0 ||
      !ClientRegistry::instance().owner_of(static_cast<uint64_t>(id), &owner)) {
    protocol::ReplyWriter(reply_target(), client_.resp_version).integer(0);
    return;
  }
  const std::string reason = args.size() == 4 ? std::string(args[3]) : std::string();
  const uint64_t seq = reserve_reply();
  const uint32_t origin = loop_->index();
  Loop* loop = loop_;
  const Token me = token();
  // On the target's worker: Redis's id for its pinned connection (0: none), once known; then
  // back here to send CLIENT UNBLOCK for it.
  auto answer = [owner, origin, loop, me, seq, reason](int64_t redis_id) {
    run_on(owner, origin, [loop, me, seq, reason, redis_id] {
      if (ReplySink* s = sink_of(*loop, me)) {
        static_cast<ClientConn*>(s)->unblock_upstream(seq, reason, redis_id);
      }
    });
  };
  run_on(origin, owner, [owner, id, answer] {
    for (ClientConn* c : ClientRegistry::instance().clients_of(owner)) {
      if (!c->closed() && c->client_.id == static_cast<uint64_t>(id)) {
        if (c->pinned_ != nullptr) {
          // The reply to its CLIENT ID may still be on its way (pinned a moment ago).
          c->pinned_->when_redis_id(answer);
          return;
        }
        break;
      }
    }
    answer(0);
  });
}

void ClientConn::unblock_upstream(uint64_t seq, const std::string& reason, int64_t redis_id) {
  if (redis_id == 0) {
    complete_reply(seq, ":0\r\n");
    return;
  }
  const std::string rid = std::to_string(redis_id);
  std::vector<std::string_view> cmd = {"CLIENT", "UNBLOCK", rid};
  if (!reason.empty()) cmd.push_back(reason);
  Loop* loop = loop_;
  const Token me = token();
  auto relay = [loop, me, seq](const RedisReply& r) {
    ReplySink* s = sink_of(*loop, me);
    if (s == nullptr) return;
    if (r.ok) {
      s->complete_reply(seq, r.raw);
    } else {
      s->fail_reply(seq, r.error);
    }
  };
  Upstream* up = ctx_->upstream;
  if (!up->call_control(cmd, std::move(relay))) fail_reply(seq, up->unavailable_error());
}

}  // namespace strata::proxy
