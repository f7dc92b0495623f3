#include "proxy/server.h"

#include <pthread.h>
#include <signal.h>

#include <future>

#include "proxy/hitrate_monitor.h"
#include "proxy/log.h"

namespace strata::proxy {

Server::Server(Options options) : options_(std::move(options)) {}

Server::~Server() { stop(); }

bool Server::start(std::string* err) {
  cache::StoreConfig sc;
  sc.maxmemory_bytes = options_.maxmemory_bytes;
  sc.eviction = options_.eviction;
  sc.value_bytes_max = options_.bulk_bytes_max;
  store_ = std::make_unique<cache::Store>(sc, &clock_);
  shared_.options = &options_;
  shared_.store = store_.get();
  shared_.stats = &stats_;
  shared_.start_ms = clock_.now_ms();
  if (options_.hitrate_sample_shift > 0) {
    HitRateConfig hc;
    hc.sample_shift = options_.hitrate_sample_shift;
    hc.l1_capacity_bytes = options_.maxmemory_bytes;
    hc.live_policy = options_.eviction;
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
  std::vector<std::promise<InitResult>> ready(options_.workers);
  for (uint32_t i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, &shared_));
    shared_.workers.push_back(workers_.back().get());
  }
  for (uint32_t i = 0; i < options_.workers; ++i) {
    Worker* raw = workers_[i].get();
    std::promise<InitResult>* p = &ready[i];
    threads_.emplace_back([raw, p] {
      InitResult r;
      r.ok = raw->init(&r.err, &r.note);
      const bool ok = r.ok;
      p->set_value(std::move(r));
      if (ok) raw->run();
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
  if (!all_ok) {
    stop();
    return false;
  }
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
      STRATA_LOG_INFO("SIGHUP: no policy file to reload yet");
      continue;
    }
    STRATA_LOG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
}

void Server::stop() {
  for (auto& w : workers_) w->request_stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  workers_.clear();
}

}  // namespace strata::proxy
