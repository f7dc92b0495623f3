#include "proxy/sync/nats_loop_link.h"

#include <poll.h>

#include <memory>

#include "proxy/loop/endpoint.h"

namespace strata::proxy {
namespace {

// Set while this thread calls into nats.c for the link: a write nats.c asks for meanwhile is
// made by this thread right after, so the home loop is not woken for it.
thread_local bool tl_driving = false;

}  // namespace

// The watch of one attached socket on the home loop. nats.c owns the socket and closes it.
class NatsLoopLink::NatsSocket final : public Endpoint {
 public:
  NatsSocket(Loop* loop, int fd, NatsLoopLink* link) : Endpoint(loop, fd), link_(link) {}
  void on_recv(const char*, long) override {}
  void on_poll(int revents) override {
    armed_ = false;
    link_->on_ready(this, revents);
  }
  void arm(uint32_t events) {
    if (closed_ || (armed_ && armed_events_ == events)) return;
    if (armed_) loop_->driver().forget(token_, fd_);
    loop_->driver().poll(token_, fd_, events);
    armed_ = true;
    armed_events_ = events;
  }

 protected:
  void release_socket() override {
    if (armed_) loop_->driver().forget(token_, fd_);
    armed_ = false;
  }

 private:
  NatsLoopLink* link_;
  bool armed_ = false;
  uint32_t armed_events_ = 0;
};

natsStatus NatsLoopLink::install(natsOptions* opts) {
  return natsOptions_SetEventLoop(opts, this, &on_attach, &on_read, &on_write, &on_detach);
}

natsStatus NatsLoopLink::on_attach(void** user, void* loop, natsConnection* nc, natsSock fd) {
  auto* link = static_cast<NatsLoopLink*>(loop);
  *user = link;
  {
    std::lock_guard<std::mutex> g(link->mu_);
    link->nc_ = nc;
    link->fd_ = static_cast<int>(fd);
    link->attached_ = true;
    ++link->gen_;
  }
  link->wake_home();
  return NATS_OK;
}

// nats.c asks for reads from attach on; it removes them when the socket fails (and closes it
// right after this returns).
natsStatus NatsLoopLink::on_read(void* user, bool add) {
  auto* link = static_cast<NatsLoopLink*>(user);
  if (!add) {
    std::lock_guard<std::mutex> g(link->mu_);
    link->attached_ = false;
    ++link->gen_;
  }
  link->wake_home();
  return NATS_OK;
}

natsStatus NatsLoopLink::on_write(void* user, bool add) {
  auto* link = static_cast<NatsLoopLink*>(user);
  link->want_write_.store(add, std::memory_order_release);
  if (add && !tl_driving) link->wake_home();
  return NATS_OK;
}

natsStatus NatsLoopLink::on_detach(void* user) {
  auto* link = static_cast<NatsLoopLink*>(user);
  {
    std::lock_guard<std::mutex> g(link->mu_);
    link->attached_ = false;
    link->nc_ = nullptr;
    ++link->gen_;
  }
  link->wake_home();
  return NATS_OK;
}

void NatsLoopLink::wake_home() {
  if (home_ != nullptr) home_->wake();
}

void NatsLoopLink::on_wake() { sync_watch(); }

void NatsLoopLink::on_ready(NatsSocket* s, int revents) {
  if (s != watch_) return;  // an old socket's (closed by sync_watch)
  // A poll error reads too: nats.c's read then fails and it removes the socket.
  if (revents < 0 || (revents & ~POLLOUT) != 0) {
    std::lock_guard<std::mutex> io(io_mu_);
    natsConnection* nc = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!shut_ && attached_ && gen_ == watch_gen_) nc = nc_;
    }
    if (nc != nullptr) {
      tl_driving = true;
      natsConnection_ProcessReadEvent(nc);  // reads once, parses, our filter applies
      tl_driving = false;
    }
  }
  sync_watch();
}

void NatsLoopLink::sync_watch() {
  natsConnection* nc = nullptr;
  int fd = -1;
  uint64_t gen = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (attached_ && !shut_) nc = nc_;
    fd = fd_;
    gen = gen_;
  }
  if (watch_ != nullptr && watch_gen_ != gen) {
    watch_->close();
    watch_ = nullptr;
  }
  if (nc == nullptr) return;
  if (watch_ == nullptr) {
    auto s = std::make_unique<NatsSocket>(home_, fd, this);
    watch_ = s.get();
    watch_gen_ = gen;
    home_->adopt(std::move(s));
  }
  if (want_write_.load(std::memory_order_acquire)) write_now(nc);
  watch_->arm(POLLIN | (want_write_.load(std::memory_order_acquire) ? POLLOUT : 0));
}

void NatsLoopLink::write_now(natsConnection* nc) {
  std::lock_guard<std::mutex> io(io_mu_);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (shut_ || nc_ != nc) return;
  }
  write_pending(nc);  // as much as the socket takes; the rest on POLLOUT
}

// nats.c's write of an empty buffer counts as a closed socket (send() returning 0): two
// threads that both saw a write wanted must not both make it. want_write_ is cleared (under
// nats.c's lock) by the write that empties the buffer, so it is checked again under write_mu_.
void NatsLoopLink::write_pending(natsConnection* nc) {
  std::lock_guard<std::mutex> w(write_mu_);
  if (!want_write_.load(std::memory_order_acquire)) return;
  tl_driving = true;
  natsConnection_ProcessWriteEvent(nc);
  tl_driving = false;
}

NatsLoopLink::Publishing::Publishing(NatsLoopLink* link) : link_(link) { tl_driving = true; }

NatsLoopLink::Publishing::~Publishing() {
  tl_driving = false;
  if (!link_->want_write_.load(std::memory_order_acquire)) return;
  natsConnection* nc = nullptr;
  {
    std::lock_guard<std::mutex> g(link_->mu_);
    if (!link_->shut_ && link_->attached_) nc = link_->nc_;
  }
  if (nc != nullptr) link_->write_pending(nc);
  // A rest the socket would not take (or nothing attached yet): the home loop writes it.
  if (link_->want_write_.load(std::memory_order_acquire)) link_->wake_home();
}

void NatsLoopLink::shut() {
  std::lock_guard<std::mutex> io(io_mu_);
  std::lock_guard<std::mutex> g(mu_);
  shut_ = true;
}

}  // namespace strata::proxy
