// Every client connection of the process, by id, and a mailbox per worker: CLIENT LIST, KILL
// and UNBLOCK reach clients that other workers own. A client lives on one worker (its thread
// alone touches it); another worker asks that one to act, by posting work to its mailbox and
// waking its loop (Loop::wake; the worker runs the mailbox from LoopOwner::on_wake).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {

class ClientConn;

class ClientRegistry {
 public:
  static ClientRegistry& instance();

  // On the client's own worker: it connected / it is closing.
  void add(uint64_t id, Loop* loop, ClientConn* c);
  void remove(uint64_t id);
  // The worker (loop index) that owns client `id`; false if no such client.
  bool owner_of(uint64_t id, uint32_t* worker) const;
  // On worker w's thread: client `id` if w owns it, else null.
  ClientConn* local(uint64_t id, uint32_t w) const;
  // Workers that own at least one client (the only ones a request can concern).
  std::vector<uint32_t> workers() const;
  // On worker w's thread: its clients, in id order. Valid on that thread until it returns to
  // its loop (a client closing meanwhile stays readable, closed()).
  std::vector<ClientConn*> clients_of(uint32_t w) const;
  // Runs fn on worker w's thread soon. False (fn dropped) when w owns no client any more; once
  // accepted, fn runs even if w's last client goes meanwhile.
  bool post(uint32_t w, std::function<void()> fn);
  // On worker w's thread (LoopOwner::on_wake): runs what was posted to it.
  void run_posted(uint32_t w);

 private:
  struct Worker {
    Loop* loop = nullptr;
    size_t clients = 0;
    std::vector<std::function<void()>> inbox;
  };
  struct Entry {
    uint32_t worker;
    ClientConn* conn;
  };
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> clients_;
  std::vector<Worker> workers_;  // by loop index
};

}  // namespace strata::proxy
