// One worker: one thread, one event loop (io_uring, or epoll where refused), its own listener
// on the shared port (SO_REUSEPORT), the client connections it accepted, and its own upstream
// connections. Connections never move between workers. The L1 store is shared (sharded locks).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/store.h"
#include "proxy/commands/command.h"
#include "proxy/loop/endpoint.h"
#include "proxy/loop/io_driver.h"
#include "proxy/server/options.h"
#include "proxy/loop/server_stats.h"

namespace strata::proxy {

class ClientConn;
class Upstream;

// What all workers share, read-mostly.
struct Shared {
  const Options* options;
  cache::Store* store;
  ServerStats* stats;
  int64_t start_ms;
  std::string io_description;               // of worker 0, for INFO
  class HitRateMonitor* hitrate = nullptr;  // null when sampling is off
  std::vector<class Worker*> workers;       // for INFO's sums of per-worker counters
  struct TierShared* tiers = nullptr;       // policies; with [postgres], the tiered path
};

class Worker final : public IoHandler {
 public:
  Worker(uint32_t index, Shared* shared);
  ~Worker() override;

  // Creates the event loop and the listener. False with *err on failure.
  bool init(std::string* err, std::string* driver_note);
  void run() noexcept;
  void request_stop();  // thread-safe

  // Registers an endpoint and returns its token.
  Token adopt(std::unique_ptr<Endpoint> e);
  Endpoint* lookup(Token t) const;
  void mark_dirty(Endpoint* e) { dirty_.push_back(e); }
  void release_later(Endpoint* e) { to_release_.push_back(e); }

  // Per-command counters live in the worker (no cache line shared between workers); INFO sums.
  void count_command() {
    commands_.store(commands_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void count_forwarded() {
    forwarded_.store(forwarded_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t commands() const { return commands_.load(std::memory_order_relaxed); }
  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  IoDriver& driver() { return *driver_; }
  int64_t now_ms() const { return now_ms_; }
  uint32_t index() const { return index_; }
  Shared& shared() { return *shared_; }
  const Options& options() const { return *shared_->options; }
  Upstream* upstream() { return upstream_.get(); }
  // The tiered path (PostgreSQL policies); null when no [postgres] is configured.
  class Tiers* tiers() { return tiers_.get(); }
  // A snapshot of server facts for INFO/HELLO.
  // full: also the parts that cost (INFO's hit-rate lines); else those keep their last value.
  const ServerView& server_view(bool refresh, bool full);
  const DriverFeatures& features() const { return driver_->features(); }

  // IoHandler.
  void on_accept(int fd) override;
  void on_recv(Token t, const char* data, long n) override;
  void on_sent(Token t, long res) override;
  void on_connected(Token t, int res) override;
  void on_tick() override;
  void on_wake() override;
  void on_wakeup() override { refresh_clock(); }
  void on_poll(Token t, int res) override;
  void on_file_done(Token t, long res) override;

 private:
  void flush_dirty();
  void release_closed();
  void refresh_clock();

  uint32_t index_;
  Shared* shared_;
  std::unique_ptr<IoDriver> driver_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  int64_t now_ms_ = 0;
  int64_t last_housekeeping_ms_ = 0;
  std::vector<std::unique_ptr<Endpoint>> slots_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_slots_;
  std::vector<Endpoint*> dirty_;
  std::vector<Endpoint*> to_release_;
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<class Tiers> tiers_;
  ServerView view_;
  std::string upstream_name_;
  alignas(64) std::atomic<uint64_t> commands_{0};  // written by this worker only
  std::atomic<uint64_t> forwarded_{0};
};

// Creates a listening socket with SO_REUSEPORT; -1 and *err on failure.
int make_listener(const std::string& bind, uint16_t port, std::string* err);

}  // namespace strata::proxy
