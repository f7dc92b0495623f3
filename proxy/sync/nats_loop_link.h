// nats.c's connection driven by a worker's loop instead of its own reader thread (nats.c's
// event-loop mode: natsOptions_SetEventLoop). The home loop (worker 0's) watches the socket
// for readiness and calls natsConnection_ProcessReadEvent there, so a busy worker reads peers'
// messages with its client traffic and no thread is woken for them; writes are made by the
// thread that publishes (NatsBus::send_due calls after_publish) or, for what nats.c writes by
// itself (PINGs from its timer thread, PONGs, a reconnect's SUBs and buffered messages), by
// the home loop, woken for it.
//
// nats.c calls the callbacks below from any of its threads with its connection lock held:
// attach (the connecting thread, or its reconnect thread), read/write add or remove (whoever
// hit the error, published, or pinged), detach (close). They only record what nats.c wants
// and wake the home loop, which owns the watch (a NatsSocket endpoint per attached socket).
// A removed socket is closed by nats.c as soon as the callback returns: its watch is dropped
// on the home loop afterwards, by generation (io_uring's poll holds the old file, which
// nats.c shut down first, so the watch fires and is seen to be stale; epoll forgets a closed
// descriptor by itself).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {

class NatsLoopLink {
 public:
  NatsLoopLink() = default;
  NatsLoopLink(const NatsLoopLink&) = delete;
  NatsLoopLink& operator=(const NatsLoopLink&) = delete;

  // Before connecting: the loop that drives the socket (whose owner calls on_wake).
  void set_home(Loop* home) { home_ = home; }
  natsStatus install(natsOptions* opts);
  // Home loop thread: it was woken (attach, detach, or a write nats.c wants made).
  void on_wake();
  // Held by the publishing thread around its natsConnection_Publish calls: what nats.c buffered
  // is written by that thread when the scope ends (the home loop is woken only for a rest the
  // socket would not take). Not across shut().
  class Publishing {
   public:
    explicit Publishing(NatsLoopLink* link);
    ~Publishing();
    Publishing(const Publishing&) = delete;
    Publishing& operator=(const Publishing&) = delete;

   private:
    NatsLoopLink* link_;
  };
  // Before the connection is closed and destroyed: no call into it from the home loop after.
  void shut();

 private:
  class NatsSocket;
  static natsStatus on_attach(void** user, void* loop, natsConnection* nc, natsSock fd);
  static natsStatus on_read(void* user, bool add);
  static natsStatus on_write(void* user, bool add);
  static natsStatus on_detach(void* user);

  void on_ready(NatsSocket* s, int revents);  // home loop: the watch fired
  void sync_watch();                         // home loop: the watch matches what nats.c wants
  void write_now(natsConnection* nc);
  void write_pending(natsConnection* nc);
  void wake_home();

  Loop* home_ = nullptr;
  // What nats.c wants, set by its callbacks (any thread).
  std::mutex mu_;
  natsConnection* nc_ = nullptr;  // mu_: while attached
  int fd_ = -1;                   // mu_
  uint64_t gen_ = 0;              // mu_: bumped by every attach, remove and detach
  bool attached_ = false;         // mu_
  bool shut_ = false;             // mu_
  std::atomic<bool> want_write_{false};
  std::mutex write_mu_;  // one natsConnection_ProcessWriteEvent at a time (write_pending)
  // Held by the home loop while it calls into nats.c, so that shut() waits for it.
  std::mutex io_mu_;
  // Home loop only: the watch of the attached socket, and its generation.
  NatsSocket* watch_ = nullptr;
  uint64_t watch_gen_ = 0;
};

}  // namespace strata::proxy
