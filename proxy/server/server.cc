#include "proxy/server/server.h"

#include "proxy/changefeed/changefeed.h"

#include <pthread.h>
#include <signal.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "proxy/commands/hitrate_monitor.h"
#include "proxy/journal/journal.h"
#include "proxy/tiers/journal_filter.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/policy_registry.h"
#include "proxy/sync/nats_bus.h"
#include "proxy/sync/store_removals.h"
#include "proxy/tiers/tier_shared.h"
#include "proxy/ws/ws_front.h"
#include "proxy/ws/ws_hub.h"
#include "proxy/ws/ws_sessions.h"
#include <random>

namespace strata::proxy {

Server::Server(Options options) : options_(std::move(options)) {}

Server::~Server() { stop(); }

bool Server::start(std::string* err) {
  shared_.options = &options_;
  shared_.stats = &stats_;
  shared_.start_ms = clock_.now_ms();
  if (!start_policies(err)) return false;
  cache::StoreConfig sc;
  if (!store_config(&sc, err)) return false;
  // Standalone, every key lives in L1 alone; in front of Redis, only keys whose policy keeps
  // them out of it. Their expiries and evictions leave through the change seam.
  removals_ = std::make_unique<StoreRemovals>(options_.upstream.empty() ? nullptr
                                                                        : registry_.get());
  sc.removal_observer = removals_.get();
  store_ = std::make_unique<cache::Store>(sc, &clock_);
  shared_.store = store_.get();
  if (options_.hitrate_sample_shift > 0) {
    HitRateConfig hc;
    hc.sample_shift = options_.hitrate_sample_shift;
    hc.l1_capacity_bytes = sc.maxmemory_bytes;
    hc.live_policy = options_.eviction;
    for (const cache::PartitionConfig& p : sc.partitions) {
      hc.partitions.push_back({p.prefix, p.maxmemory_bytes, p.eviction});
    }
    hc.default_prefixes = sc.default_prefixes;
    hitrate_ = std::make_unique<HitRateMonitor>(hc);
    shared_.hitrate = hitrate_.get();
  }

  // Workers inherit a signal mask with the shutdown signals blocked; only wait_for_signal()
  // receives them. SIGPIPE is ignored: a peer that went away is an error on send, not a kill.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  // Each worker builds its event loop on its own thread: an io_uring ring set up with
  // SINGLE_ISSUER/DEFER_TASKRUN only accepts submissions from the thread that created it.
  struct InitResult {
    bool ok = false;
    std::string err;
    std::string note;
  };
  // Two steps: every worker initialises, then -- once the main thread has filled in what the
  // workers share (the I/O description INFO reports) -- all are released together. No worker
  // serves (or even listens) before then, so nothing shared is written while one reads it.
  std::vector<std::promise<InitResult>> ready(options_.workers);
  std::promise<bool> go;
  std::shared_future<bool> go_signal = go.get_future().share();
  if (!nats_.url.empty()) {
    sync_status_.policies = registry_.get();
    NatsBus::Setup setup{nats_, instance_, options_.workers};
    bus_ = std::make_unique<NatsBus>(std::move(setup), store_.get(), registry_.get(),
                                     &tiers_->versions, &sync_status_);
    shared_.bus = bus_.get();
    shared_.sync = &sync_status_;
  }
  if (!start_websocket(err)) return false;
  if (const policies::PostgresConfig& pg = registry_->current()->config.postgres; pg.changefeed) {
    changefeed_ = std::make_unique<Changefeed>(Changefeed::Setup{pg, instance_}, registry_.get());
    shared_.changefeed = changefeed_.get();
    tiers_->pg_writes = &changefeed_->own_writes();
  }
  for (uint32_t i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, &shared_));
    shared_.workers.push_back(workers_.back().get());
    if (bus_) bus_->attach_worker(i, &workers_.back()->loop());
  }
  // Worker 0 applies the change feed's transactions.
  if (changefeed_) changefeed_->attach_applier(&workers_[0]->loop());
  for (uint32_t i = 0; i < options_.workers; ++i) {
    Worker* raw = workers_[i].get();
    std::promise<InitResult>* p = &ready[i];
    threads_.emplace_back([raw, p, go_signal] {
      InitResult r;
      r.ok = raw->init(&r.err, &r.note);
      const bool ok = r.ok;
      p->set_value(std::move(r));
      if (ok && go_signal.get()) raw->run();
    });
  }
  bool all_ok = true;
  for (uint32_t i = 0; i < options_.workers; ++i) {
    InitResult r = ready[i].get_future().get();
    if (!r.ok && all_ok) {
      *err = r.err;
      all_ok = false;
    }
    if (r.ok && i == 0) {
      if (!workers_[0]->features().io_uring) {
        STRATA_LOG_WARN("io_uring unavailable (%s); falling back to epoll", r.note.c_str());
      }
      shared_.io_description = workers_[0]->features().describe();
    }
  }
  // The bus connects (or keeps trying in the background) before any worker serves.
  if (all_ok && bus_ && !bus_->start(err)) all_ok = false;
  if (all_ok && changefeed_) changefeed_->start();
  go.set_value(all_ok);
  if (!all_ok) {
    stop();
    return false;
  }
  running_ = true;
  STRATA_LOG_INFO("strata ready on %s:%u: %u worker(s), %s, L1 %s, eviction %s, %s",
                  options_.bind.c_str(), options_.port, options_.workers,
                  shared_.io_description.c_str(), options_.l1_enabled ? "on" : "off",
                  options_.eviction.c_str(),
                  options_.upstream.empty() ? "standalone (no upstream)"
                                            : ("upstream " + options_.upstream).c_str());
  return true;
}

void Server::wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload_policies();
      continue;
    }
    STRATA_LOG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
}

// The WebSocket channel: its stream (one per process, a new epoch per start), the sessions
// of optimistic writes, counters. Nothing without a port.
bool Server::start_websocket(std::string* err) {
  ws_config_ = registry_->current()->config.websocket;
  if (options_.ws_port != 0) ws_config_.port = options_.ws_port;
  if (ws_config_.port == 0) return true;
  if (ws_config_.port == options_.port) {
    *err = "[websocket] port " + std::to_string(ws_config_.port) +
           " is the RESP port too: give the WebSocket channel a port of its own";
    return false;
  }
  if (ws_config_.path.empty() || ws_config_.path[0] != '/') {
    *err = "[websocket] path '" + ws_config_.path + "' must start with '/'";
    return false;
  }
  std::random_device rd;
  const uint64_t epoch = (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(shared_.start_ms);
  ws_hub_ = std::make_unique<WsHub>(
      WsHub::Limits{ws_config_.history_events, ws_config_.history_ms}, epoch, options_.workers);
  ws_sessions_ = std::make_unique<WsSessions>(ws_config_.ops_remembered, ws_config_.history_ms);
  ws_counters_ = std::make_unique<WsCounters>();
  ws_shared_ = std::make_unique<WsShared>();
  ws_shared_->config = &ws_config_;
  ws_shared_->hub = ws_hub_.get();
  ws_shared_->sessions = ws_sessions_.get();
  ws_shared_->counters = ws_counters_.get();
  ws_shared_->instance = instance_;
  std::string_view list = ws_config_.public_read;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view p = list.substr(0, comma);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (!p.empty()) ws_shared_->public_read.emplace_back(p);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  shared_.ws = ws_shared_.get();
  return true;
}

// Host name and port: stable across restarts, distinct between instances on one host.
std::string Server::default_instance_name() const {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::snprintf(host, sizeof host, "strata");
  return std::string(host) + ":" + std::to_string(options_.port);
}

bool Server::start_policies(std::string* err) {
  policies::ConfigContext ctx;
  ctx.has_upstream = !options_.upstream.empty();
  ctx.has_nats = !options_.nats.empty();
  policies::PolicyConfig cfg;
  if (!options_.config_file.empty()) {
    auto parsed = policies::load_policy_file(options_.config_file, ctx);
    if (!parsed) {
      *err = parsed.error();
      return false;
    }
    cfg = std::move(*parsed);
  }
  nats_ = cfg.nats;
  if (!options_.nats.empty()) nats_.url = options_.nats;
  instance_ = !nats_.instance.empty() ? nats_.instance : default_instance_name();
  registry_ = std::make_unique<PolicyRegistry>(options_.config_file, ctx, cfg);
  registry_->set_nats(!nats_.url.empty());
  tiers_ = std::make_unique<TierShared>();
  tiers_->registry = registry_.get();
  tiers_->versions.set_tiebreak(HybridClock::tiebreak_of(instance_));
  tiers_->versions.set_offset_ms(options_.clock_offset_ms);
  shared_.tiers = tiers_.get();
  if (cfg.postgres.conninfo.empty()) return true;

  ledger_ = std::make_unique<JournalLedger>(cfg.journal.dir);
  tiers_->ledger = ledger_.get();
  tiers_->write_behind =
      std::make_unique<WriteBehindShared>(ledger_.get(), cfg.postgres.dead_letter_max);
  auto rec = recover_journal(ledger_.get());
  if (!rec) {
    *err = "journal: " + rec.error();
    return false;
  }
  tiers_->versions.seed(rec->max_version);
  if (!rec->writes.empty()) {
    const JournalFilterResult f =
        drop_applied_writes(cfg.postgres, *registry_->current(), &rec->writes, ledger_.get());
    if (!f.checked) {
      STRATA_LOG_WARN(
          "journal: PostgreSQL unreachable at start (%s): every recovered write is "
          "queued; superseded ones are dropped when flushed",
          f.note.c_str());
    } else if (f.dropped > 0) {
      STRATA_LOG_INFO(
          "journal: %zu recovered write(s) already in PostgreSQL at their version "
          "or newer, dropped",
          f.dropped);
    }
  }
  // Acknowledged writes the last run had not flushed: back in their queues (so reads see them
  // at once), flushed to PostgreSQL as usual; their segments are deleted once all are flushed.
  const PolicySnapshot* snap = registry_->current();
  for (RecoveredWrite& w : rec->writes) {
    policies::PendingWrite pw;
    pw.key = std::move(w.key);
    pw.value = std::move(w.value);
    pw.version = w.version;
    pw.is_delete = w.op == policies::JournalRecord::kDel;
    pw.segment = w.segment;
    pw.enqueued_ms = 0;  // due at once
    tiers_->write_behind->push(snap->match(pw.key), std::move(pw));
  }
  tiers_->write_behind->apply(*snap);
  if (rec->segments > 0) {
    STRATA_LOG_INFO(
        "journal %s: %llu segment(s), %llu record(s), %zu write(s) to replay into "
        "PostgreSQL%s",
        cfg.journal.dir.c_str(), static_cast<unsigned long long>(rec->segments),
        static_cast<unsigned long long>(rec->records), rec->writes.size(),
        rec->torn_bytes > 0 ? " (a torn tail was ignored)" : "");
  }
  return true;
}

// The L1 layout: the default partition gets maxmemory minus what prefixes with l1_bytes take.
bool Server::store_config(cache::StoreConfig* sc, std::string* err) const {
  sc->maxmemory_bytes = options_.maxmemory_bytes;
  sc->eviction = options_.eviction;
  sc->value_bytes_max = options_.bulk_bytes_max;
  const policies::PolicyConfig& cfg = registry_->current()->config;
  uint64_t partitioned = 0;
  for (const policies::Policy& p : cfg.policies) {
    if (p.l1_bytes == 0) continue;
    cache::PartitionConfig part;
    part.prefix = p.prefix;
    part.maxmemory_bytes = p.l1_bytes;
    part.eviction = p.eviction.empty() ? options_.eviction : p.eviction;
    part.shards = kPartitionShards;
    sc->partitions.push_back(std::move(part));
    partitioned += p.l1_bytes;
  }
  for (const policies::Policy& p : cfg.policies) {
    if (p.l1_bytes != 0) continue;
    for (const cache::PartitionConfig& part : sc->partitions) {
      if (p.prefix.size() > part.prefix.size() && p.prefix.starts_with(part.prefix)) {
        sc->default_prefixes.push_back(p.prefix);
        break;
      }
    }
  }
  if (options_.maxmemory_bytes != 0 && partitioned != 0) {
    if (partitioned >= options_.maxmemory_bytes) {
      *err = "the prefixes' l1_bytes add up to " + std::to_string(partitioned) +
             " bytes, not below maxmemory (" + std::to_string(options_.maxmemory_bytes) +
             " bytes): maxmemory is the whole L1, and keys without a partition need the rest";
      return false;
    }
    sc->maxmemory_bytes = options_.maxmemory_bytes - partitioned;
  }
  return true;
}

void Server::reload_policies() {
  auto r = registry_->reload();
  if (!r) {
    STRATA_LOG_WARN("SIGHUP: reload refused, running policies stay: %s", r.error().c_str());
    return;
  }
  if (tiers_->write_behind) tiers_->write_behind->apply(*registry_->current());
  STRATA_LOG_INFO("SIGHUP: policies reloaded from %s", options_.config_file.c_str());
}

// Shutdown: the workers keep running (serving and flushing) until the write-behind queues are
// empty or the deadline passes; what is left stays in the journal for the next start.
void Server::drain_write_behind() {
  if (!running_ || !tiers_ || !tiers_->write_behind) return;
  const uint32_t deadline_ms = registry_->current()->config.journal.shutdown_drain_ms;
  const size_t before = tiers_->write_behind->depth();
  if (before == 0) return;
  tiers_->draining.store(true);
  for (auto& w : workers_) w->loop().wake();
  const auto start = std::chrono::steady_clock::now();
  while (tiers_->write_behind->depth() > 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::milliseconds(deadline_ms)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const size_t left = tiers_->write_behind->depth();
  if (left == 0) {
    STRATA_LOG_INFO("write-behind: drained %zu pending write(s) into PostgreSQL", before);
  } else {
    STRATA_LOG_WARN(
        "write-behind: %zu write(s) not flushed after %u ms; they remain in the "
        "journal (%s, %llu live records) and are replayed at the next start",
        left, deadline_ms, ledger_->dir().c_str(),
        static_cast<unsigned long long>(ledger_->live_records()));
  }
}

void Server::stop() {
  drain_write_behind();
  // The bus and the change feed wake workers' loops: they stop before the workers do.
  if (changefeed_) changefeed_->stop();
  if (bus_) bus_->stop();
  for (auto& w : workers_) w->request_stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  workers_.clear();
}

}  // namespace strata::proxy
