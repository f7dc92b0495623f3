#include "proxy/server/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "proxy/resp/client_conn.h"
#include "proxy/commands/hitrate_monitor.h"
#include "proxy/loop/log.h"
#include "proxy/loop/loop_clock.h"
#include "proxy/admin/policy_admin.h"
#include "proxy/tiers/tiers.h"
#include "proxy/redis/upstream.h"

namespace strata::proxy {
namespace {

constexpr int kHousekeepingEveryMs = 100;

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

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

Worker::Worker(uint32_t index, Shared* shared) : index_(index), shared_(shared) {}

Worker::~Worker() {
  // The tiers' PostgreSQL connections are endpoints in slots_: they close first.
  tiers_.reset();
  slots_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool Worker::init(std::string* err, std::string* driver_note) {
  const Options& o = options();
  refresh_clock();
  listen_fd_ = make_listener(o.bind, o.port, err);
  if (listen_fd_ < 0) return false;
  DriverOptions d;
  d.tick_ms = o.tick_ms;
  d.force_epoll = o.io == "epoll";
  driver_ = make_driver(d, this, driver_note);
  if (o.io == "uring" && !driver_->features().io_uring) {
    *err = "io_uring was required (--io uring) but refused: " + *driver_note;
    return false;
  }
  driver_->listen(listen_fd_);
  const bool tiered = shared_->tiers != nullptr && shared_->tiers->write_behind != nullptr;
  if (!o.upstream.empty()) {
    sockaddr_in addr{};
    if (!resolve_upstream(o.upstream, &addr, err)) return false;
    // The tiered path caches Redis's values in L1 whatever l1_enabled says.
    const bool tracking = o.upstream_tracking && (o.l1_enabled || tiered);
    upstream_ = std::make_unique<Upstream>(this, addr, o.upstream, tracking);
    upstream_->start();
  }
  if (tiered) {
    tiers_ = std::make_unique<Tiers>(this, shared_->tiers);
    if (!tiers_->init(err)) return false;
  }
  return true;
}

// Commands see the time the loop woke up at: a wait may have lasted up to a tick, so the time
// of the previous iteration would put TTLs given now (SET PX) that much early.
void Worker::refresh_clock() {
  now_ms_ = wall_ms();
  LoopClock::set_thread_now(now_ms_);
}

void Worker::run() noexcept {
  while (!stop_.load(std::memory_order_relaxed)) {
    driver_->run_once();
    refresh_clock();
    if (tiers_) tiers_->end_of_iteration(now_ms_);
    flush_dirty();
    release_closed();
  }
  // Shutdown: close every socket; a send still in flight is abandoned with the process.
  for (auto& e : slots_) {
    if (e != nullptr && !e->closed()) e->close();
  }
}

void Worker::request_stop() {
  stop_.store(true);
  if (driver_) driver_->wake();  // set before the thread starts running, never reset
}

Token Worker::adopt(std::unique_ptr<Endpoint> e) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    gens_.push_back(0);
  }
  gens_[slot] = (gens_[slot] + 1) & 0xffffff;
  e->token_ = Token{slot, gens_[slot]};
  e->last_drain_ms_ = now_ms_;
  slots_[slot] = std::move(e);
  return slots_[slot]->token_;
}

Endpoint* Worker::lookup(Token t) const {
  if (t.slot >= slots_.size() || gens_[t.slot] != t.gen) return nullptr;
  return slots_[t.slot].get();
}

void Worker::flush_dirty() {
  // flush() may not add to dirty_, but on_sent callbacks in a later iteration will.
  for (size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush();
  dirty_.clear();
}

void Worker::release_closed() {
  for (Endpoint* e : to_release_) {
    const Token t = e->token_;
    if (lookup(t) != e) continue;  // released twice
    slots_[t.slot].reset();
    free_slots_.push_back(t.slot);
  }
  to_release_.clear();
}

void Worker::on_accept(int fd) {
  ServerStats& st = *shared_->stats;
  if (st.connected_clients.load(std::memory_order_relaxed) >= options().maxclients) {
    static constexpr char kMsg[] = "-ERR max number of clients reached\r\n";
    [[maybe_unused]] ssize_t w = ::send(fd, kMsg, sizeof kMsg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    bump(st.rejected_connections);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bump(st.connected_clients);
  bump(st.total_connections);
  const uint64_t id = st.next_client_id.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_unique<ClientConn>(this, fd, id);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    conn->state().addr = std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
  }
  conn->state().laddr = options().bind + ":" + std::to_string(options().port);
  Token t = adopt(std::move(conn));
  driver_->start_recv(t, fd);
}

void Worker::on_recv(Token t, const char* data, long n) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_recv(data, n);
}

void Worker::on_sent(Token t, long res) {
  if (Endpoint* e = lookup(t); e != nullptr) e->on_sent(res);
}

void Worker::on_connected(Token t, int res) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_connected(res);
}

void Worker::on_poll(Token t, int res) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_poll(res);
}

void Worker::on_file_done(Token t, long res) {
  if (Endpoint* e = lookup(t); e != nullptr) e->on_file_done(res);
}

void Worker::on_tick() {
  refresh_clock();
  if (now_ms_ - last_housekeeping_ms_ < kHousekeepingEveryMs) return;
  last_housekeeping_ms_ = now_ms_;
  shared_->store->active_expire(options().active_expire_budget);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i] != nullptr && !slots_[i]->closed()) slots_[i]->on_tick(now_ms_);
  }
  if (upstream_) upstream_->on_tick(now_ms_);
  if (tiers_) tiers_->on_tick(now_ms_);
}

void Worker::on_wake() {}

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
  view_.protocol_errors = rd(st.protocol_errors);
  view_.output_limit_disconnects = rd(st.output_limit_disconnects);
  view_.idle_disconnects = rd(st.idle_disconnects);
  view_.io = shared_->io_description;
  if (full) view_.hitrate_info = shared_->hitrate != nullptr ? shared_->hitrate->info_lines() : "";
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
