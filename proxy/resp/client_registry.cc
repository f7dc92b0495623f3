#include "proxy/resp/client_registry.h"

#include <algorithm>

namespace strata::proxy {

ClientRegistry& ClientRegistry::instance() {
  static ClientRegistry registry;
  return registry;
}

void ClientRegistry::add(uint64_t id, Loop* loop, ClientConn* c) {
  std::lock_guard lock(mu_);
  const uint32_t w = loop->index();
  if (workers_.size() <= w) workers_.resize(w + 1);
  workers_[w].loop = loop;
  ++workers_[w].clients;
  clients_[id] = Entry{w, c};
}

void ClientRegistry::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Worker& w = workers_[it->second.worker];
  clients_.erase(it);
  // A worker without clients takes no more posts: its loop may stop (shutdown) and go away.
  // What was posted before still runs (it was woken for it): a sweep waits for its answer.
  if (--w.clients == 0) w.loop = nullptr;
}

bool ClientRegistry::owner_of(uint64_t id, uint32_t* worker) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  *worker = it->second.worker;
  return true;
}

ClientConn* ClientRegistry::local(uint64_t id, uint32_t w) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  return it != clients_.end() && it->second.worker == w ? it->second.conn : nullptr;
}

std::vector<uint32_t> ClientRegistry::workers() const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].clients > 0) out.push_back(i);
  }
  return out;
}

std::vector<ClientConn*> ClientRegistry::clients_of(uint32_t w) const {
  std::vector<std::pair<uint64_t, ClientConn*>> found;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : clients_) {
      if (e.worker == w) found.emplace_back(id, e.conn);
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<ClientConn*> out;
  out.reserve(found.size());
  for (const auto& f : found) out.push_back(f.second);
  return out;
}

bool ClientRegistry::post(uint32_t w, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (w >= workers_.size() || workers_[w].loop == nullptr) return false;
  workers_[w].inbox.push_back(std::move(fn));
  // Under the lock: the worker cannot drop its last client, stop and free its loop meanwhile.
  workers_[w].loop->wake();
  return true;
}

void ClientRegistry::run_posted(uint32_t w) {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(mu_);
    if (w >= workers_.size()) return;
    work.swap(workers_[w].inbox);
  }
  for (auto& fn : work) fn();
}

}  // namespace strata::proxy
