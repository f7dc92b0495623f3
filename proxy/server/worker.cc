#include "proxy/server/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "proxy/admin/policy_admin.h"
#include "proxy/changefeed/changefeed.h"
#include "proxy/changefeed/changefeed_applier.h"
#include "proxy/commands/hitrate_monitor.h"
#include "proxy/loop/log.h"
#include "proxy/redis/upstream.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/client_registry.h"
#include "proxy/resp/client_tracking.h"
#include "proxy/resp/tracking_seen.h"
#include "proxy/sync/nats_bus.h"
#include "proxy/sync/sync_publisher.h"
#include "proxy/tiers/tier_shared.h"
#include "proxy/tiers/tiers.h"
#include "proxy/ws/ws_front.h"

namespace strata::proxy {
namespace {

constexpr int kHousekeepingEveryMs = 100;

bool resolve_upstream(const std::string& host_port, sockaddr_in* out, std::string* err) {
  auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  std::string port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    *err = "cannot resolve upstream " + host_port + ": " + gai_strerror(rc);
    return false;
  }
  std::memcpy(out, res->ai_addr, sizeof *out);
  freeaddrinfo(res);
  return true;
}

}  // namespace

Worker::Worker(uint32_t index, Shared* shared)
    : index_(index), shared_(shared), loop_(index, this) {}

Worker::~Worker() {
  // The tiers' PostgreSQL connections are endpoints in the loop's slots: they close first.
  tiers_.reset();
  loop_.close_all();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (ws_listen_fd_ >= 0) ::close(ws_listen_fd_);
}

bool Worker::init(std::string* err, std::string* driver_note) {
  const Options& o = options();
  DriverOptions d;
  d.tick_ms = o.tick_ms;
  // Heartbeats go out from the tick: it must come at least twice per heartbeat interval.
  if (shared_->bus != nullptr) d.tick_ms = std::min(d.tick_ms, std::max(1u, shared_->bus->heartbeat_ms() / 2));
  d.force_epoll = o.io == "epoll";
  if (!loop_.init(d, o.io == "uring", err, driver_note)) return false;
  listen_fd_ = make_listener(o.bind, o.port, err);
  if (listen_fd_ < 0) return false;
  TierShared* ts = shared_->tiers;
  if (ts != nullptr) seam_.set_prefix_counters(ts->registry);
  const bool tiered = ts != nullptr && ts->write_behind != nullptr;
  if (!o.upstream.empty()) {
    sockaddr_in addr{};
    if (!resolve_upstream(o.upstream, &addr, err)) return false;
    UpstreamContext uc;
    uc.loop = &loop_;
    uc.store = shared_->store;
    uc.stats = shared_->stats;
    uc.seam = &seam_;
    uc.forwarded = &forwarded_;
    uc.config.connections = o.upstream_connections;
    uc.config.pending_max = o.upstream_pending_max;
    uc.config.reply_timeout_ms = o.upstream_reply_timeout_ms;
    uc.config.backoff_max_ms = o.upstream_backoff_max_ms;
    uc.config.output_buffer_bytes_max = o.output_buffer_bytes_max;
    uc.config.fill_ttl_max_ms = o.fill_ttl_max_ms;
    // The tiered path caches Redis's values in L1 whatever l1_enabled says.
    const bool tracking = o.upstream_tracking && (o.l1_enabled || tiered);
    upstream_ = std::make_unique<Upstream>(uc, addr, o.upstream, tracking);
    upstream_->start();
  }
  if (tiered) {
    TierContext tc;
    tc.loop = &loop_;
    tc.store = shared_->store;
    tc.upstream = upstream_.get();
    tc.shared = ts;
    tc.seam = &seam_;
    tc.sync = shared_->sync;
    tiers_ = std::make_unique<Tiers>(tc);
    if (!tiers_->init(err)) return false;
  }
  if (shared_->bus != nullptr) {
    publisher_ = std::make_unique<SyncPublisher>(shared_->bus, static_cast<uint16_t>(index_),
                                                 &seam_, ts->registry);
    if (upstream_) {
      publisher_->set_forget(
          [](void* up, std::string_view key) { static_cast<Upstream*>(up)->forget_flight(key); },
          upstream_.get());
    }
    seam_.subscribe(publisher_.get());
  }
  // Every change, whatever its source, may concern a client with CLIENT TRACKING on (one
  // relaxed load when none has it).
  tracking_ = std::make_unique<TrackingNotifier>(&loop_);
  seam_.subscribe(tracking_.get());
  if (shared_->ws != nullptr) {
    const policies::WebsocketConfig& wc = *shared_->ws->config;
    ws_listen_fd_ = make_listener(wc.bind, static_cast<uint16_t>(wc.port), err);
    if (ws_listen_fd_ < 0) return false;
    WsContext wctx;
    wctx.loop = &loop_;
    wctx.worker = index_;
    wctx.shared = shared_->ws;
    wctx.store = shared_->store;
    wctx.tiers = tiers_.get();
    wctx.tier_shared = ts;
    wctx.upstream = upstream_.get();
    wctx.stats = shared_->stats;
    ws_ = std::make_unique<WsFront>(wctx);
    seam_.subscribe(ws_.get());
  }
  if (shared_->changefeed != nullptr && index_ == 0) {
    ApplierContext ac;
    ac.loop = &loop_;
    ac.store = shared_->store;
    ac.upstream = upstream_.get();
    ac.seam = &seam_;
    ac.registry = ts->registry;
    ac.negative = &ts->negative;
    ac.clock = &ts->versions;
    changefeed_ = std::make_unique<ChangefeedApplier>(ac, shared_->changefeed);
    peer_writes_ = std::make_unique<PeerWriteRecorder>(&shared_->changefeed->own_writes());
    seam_.subscribe(peer_writes_.get());
  }
  tracking_seen_ = std::make_unique<TrackingSeen>();
  front_.tracking_seen = tracking_seen_.get();
  front_.loop = &loop_;
  front_.store = shared_->store;
  front_.stats = shared_->stats;
  front_.hitrate = shared_->hitrate;
  front_.upstream = upstream_.get();
  front_.tiers = tiers_.get();
  front_.tier_shared = ts;
  front_.seam = &seam_;
  front_.sync = upstream_ != nullptr ? shared_->sync : nullptr;  // standalone: L1 is all there is
  front_.host = this;
  front_.commands = &commands_;
  ClientLimits& l = front_.limits;
  l.bulk_bytes_max = o.bulk_bytes_max;
  l.multibulk_count_max = o.multibulk_count_max;
  l.query_buffer_bytes_max = o.query_buffer_bytes_max;
  l.output_buffer_bytes_max = o.output_buffer_bytes_max;
  l.output_pause_bytes = o.output_pause_bytes;
  l.output_stall_ms = o.output_stall_ms;
  l.pending_replies_max = o.pending_replies_max;
  l.idle_timeout_s = o.idle_timeout_s;
  l.auth_required = !o.requirepass.empty();
  l.l1_enabled = o.l1_enabled;
  return true;
}

void Worker::run() noexcept {
  set_thread_seam(&seam_);
  // Clients are accepted only now: everything shared was prepared before any worker runs.
  // In front of Redis, once this worker's upstream is connected too (or after the connect
  // timeout): a client that connects at start waits in the listen backlog for a moment rather
  // than get "upstream unavailable (connecting)" for its first commands.
  loop_.refresh_clock();
  accept_deadline_ms_ = loop_.now_ms() + options().upstream_connect_timeout_ms;
  maybe_start_accepting(loop_.now_ms());
  loop_.run(stop_);
  set_thread_seam(nullptr);
}

void Worker::maybe_start_accepting(int64_t now_ms) {
  if (accepting_) return;
  if (upstream_ && !upstream_->available() && now_ms < accept_deadline_ms_) return;
  accepting_ = true;
  loop_.driver().listen(listen_fd_);                             // listener 0: RESP
  if (ws_listen_fd_ >= 0) loop_.driver().listen(ws_listen_fd_);  // listener 1: WebSocket
}

void Worker::request_stop() {
  stop_.store(true);
  loop_.wake();  // set before the thread starts running, never reset
}

void Worker::end_of_iteration(int64_t now_ms) {
  if (!accepting_) maybe_start_accepting(now_ms);
  if (tiers_) tiers_->end_of_iteration(now_ms);
  if (publisher_) publisher_->flush();  // this iteration's changes, one message per partition
  if (changefeed_) changefeed_->report();  // applied and published: may be confirmed now
  tracking_->flush_batches();           // BCAST clients: this iteration's keys per prefix
  if (ws_) ws_->deliver();              // this iteration's changes to WebSocket subscribers
}

// Peers' changes the bus queued without waking this loop (see NatsBus::fan_out_pending).
void Worker::start_of_iteration() {
  if (publisher_) publisher_->deliver_peer_events();
  if (changefeed_) changefeed_->take();
}

void Worker::on_wake() {
  if (publisher_) publisher_->deliver_peer_events();
  if (changefeed_) changefeed_->take();
  ClientRegistry::instance().run_posted(index_);  // CLIENT KILL/LIST/UNBLOCK from other workers
  if (ws_) ws_->deliver();  // another worker appended to the change stream
}

void Worker::on_accept(int fd, uint32_t listener) {
  if (listener == 1 && ws_) return ws_->on_accept(fd);
  ServerStats& st = *shared_->stats;
  if (!admit_accepted(fd, st.connected_clients.load(std::memory_order_relaxed),
                      options().maxclients, "-ERR max number of clients reached\r\n")) {
    bump(st.rejected_connections);
    return;
  }
  bump(st.connected_clients);
  bump(st.total_connections);
  const uint64_t id = st.next_client_id.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_unique<ClientConn>(&front_, fd, id);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    conn->state().addr = std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
  }
  conn->state().laddr = options().bind + ":" + std::to_string(options().port);
  Token t = loop_.adopt(std::move(conn));
  loop_.driver().start_recv(t, fd);
}

void Worker::on_tick(int64_t now_ms) {
  if (!accepting_) maybe_start_accepting(now_ms);
  if (publisher_) publisher_->on_tick(now_ms);
  if (now_ms - last_housekeeping_ms_ < kHousekeepingEveryMs) return;
  if (ws_) ws_->on_tick(now_ms);
  last_housekeeping_ms_ = now_ms;
  shared_->store->active_expire(options().active_expire_budget);
  loop_.tick_endpoints(now_ms);
  if (upstream_) upstream_->on_tick(now_ms);
  if (tiers_) tiers_->on_tick(now_ms);
  if (changefeed_) changefeed_->on_tick(now_ms);
}

// "changes_by_op:set=1,delete=0,..." and "changes_by_source:...": every worker's change seam.
std::string Worker::changes_info() const {
  std::array<uint64_t, kChangeOps> ops{};
  std::array<uint64_t, kChangeSources> sources{};
  for (const Worker* w : shared_->workers) {
    const ChangeCounts& c = w->seam_.counts();
    for (size_t i = 0; i < kChangeOps; ++i) ops[i] += c.by_op[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kChangeSources; ++i) {
      sources[i] += c.by_source[i].load(std::memory_order_relaxed);
    }
  }
  std::string out = "changes_by_op:";
  for (size_t i = 0; i < kChangeOps; ++i) {
    out += std::string(i ? "," : "") + std::string(change_op_name(static_cast<ChangeOp>(i))) +
           "=" + std::to_string(ops[i]);
  }
  out += "\r\nchanges_by_source:";
  for (size_t i = 0; i < kChangeSources; ++i) {
    out += std::string(i ? "," : "") +
           std::string(change_source_name(static_cast<ChangeSource>(i))) + "=" +
           std::to_string(sources[i]);
  }
  // CLIENT TRACKING served by strata (docs/tracking.md).
  const TrackingTable::Counts t = TrackingTable::instance().counts();
  out += "\r\ntracking_clients:" + std::to_string(t.clients) +
         "\r\ntracking_keys:" + std::to_string(t.keys) +
         "\r\ntracking_prefixes:" + std::to_string(t.prefixes) +
         "\r\ntracking_keys_evicted:" + std::to_string(t.evicted) +
         "\r\ntracking_redirect_broken_closes:" + std::to_string(tracking_broken_redirect_closes());
  return out + "\r\n";
}

const ServerView& Worker::server_view(bool refresh, bool full) {
  if (!refresh && view_.start_ms != 0) return view_;
  const Options& o = options();
  const ServerStats& st = *shared_->stats;
  auto rd = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  view_.mode = o.upstream.empty() ? "standalone" : "proxy";
  view_.upstream = o.upstream;
  view_.requirepass = o.requirepass;
  view_.eviction = o.eviction;
  view_.maxmemory_bytes = o.maxmemory_bytes;
  view_.start_ms = shared_->start_ms;
  view_.port = o.port;
  view_.workers = o.workers;
  view_.connected_clients = rd(st.connected_clients);
  view_.total_connections = rd(st.total_connections);
  view_.total_commands = 0;
  for (const Worker* w : shared_->workers) view_.total_commands += w->commands();
  view_.rejected_connections = rd(st.rejected_connections);
  view_.upstream_hits = rd(st.upstream_hits);
  view_.upstream_misses = rd(st.upstream_misses);
  view_.upstream_errors = rd(st.upstream_errors);
  view_.upstream_up = rd(st.upstream_ready_conns) > 0;
  view_.upstream_pinned_total = rd(st.upstream_pinned_total);
  view_.protocol_errors = rd(st.protocol_errors);
  view_.output_limit_disconnects = rd(st.output_limit_disconnects);
  view_.idle_disconnects = rd(st.idle_disconnects);
  view_.io = shared_->io_description;
  if (full) view_.hitrate_info = shared_->hitrate != nullptr ? shared_->hitrate->info_lines() : "";
  view_.changes_info = changes_info();
  if (full && shared_->bus != nullptr) view_.sync_info = shared_->bus->info_lines();
  if (full && shared_->ws != nullptr) view_.ws_info = ws_info_lines(*shared_->ws);
  if (full && shared_->changefeed != nullptr) view_.changefeed_info = shared_->changefeed->info_lines();
  if (full && shared_->tiers != nullptr) {
    view_.policies_info = policies_info(*shared_->tiers);
    if (tiers_) {
      view_.policies_info +=
          "pg_available:" + std::string(tiers_->pool().available() ? "1" : "0") + "\r\n";
    }
  }
  return view_;
}

}  // namespace strata::proxy
