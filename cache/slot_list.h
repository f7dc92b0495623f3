// Building blocks shared by the eviction policies: an intrusive doubly linked list threaded
// through a policy's own per-slot array (indices, not pointers, so the array may grow), the
// on-demand growth of that array, and an always-on check for contract violations by the owner.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cache/eviction_policy.h"

namespace strata::cache {

inline constexpr uint32_t kNil = UINT32_MAX;
// First allocation of a policy's slot array; later growth doubles.
inline constexpr size_t kSlotArrayInitial = 64;

[[noreturn]] inline void policy_check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: eviction policy contract violated: %s\n", file, line, what);
  std::abort();
}

// Cheap and always on: these only fire when the owner breaks the EvictionPolicy contract.
#define STRATA_POLICY_CHECK(cond)                                      \
  do {                                                                 \
    if (!(cond)) [[unlikely]]                                          \
      ::strata::cache::policy_check_failed(#cond, __FILE__, __LINE__); \
  } while (0)

// Makes nodes[id] addressable; growth doubles so inserts stay amortised O(1).
template <class Node>
inline void ensure_slot(std::vector<Node>& nodes, SlotId id, const Node& fill = Node{}) {
  if (id < nodes.size()) [[likely]]
    return;
  size_t want =
      std::max<size_t>({static_cast<size_t>(id) + 1, nodes.size() * 2, kSlotArrayInitial});
  nodes.resize(want, fill);
}

// A list over `Node`s that have uint32_t prev/next members. head is the newest end, tail the
// oldest. The list does not own the nodes; one array may hold several lists (one per segment).
class SlotList {
 public:
  uint32_t head() const { return head_; }
  uint32_t tail() const { return tail_; }
  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  template <class Node>
  void push_front(std::vector<Node>& nodes, uint32_t id) {
    Node& n = nodes[id];
    n.prev = kNil;
    n.next = head_;
    if (head_ != kNil) nodes[head_].prev = id;
    head_ = id;
    if (tail_ == kNil) tail_ = id;
    ++size_;
  }

  template <class Node>
  void push_back(std::vector<Node>& nodes, uint32_t id) {
    Node& n = nodes[id];
    n.next = kNil;
    n.prev = tail_;
    if (tail_ != kNil) nodes[tail_].next = id;
    tail_ = id;
    if (head_ == kNil) head_ = id;
    ++size_;
  }

  template <class Node>
  void remove(std::vector<Node>& nodes, uint32_t id) {
    Node& n = nodes[id];
    if (n.prev != kNil) {
      nodes[n.prev].next = n.next;
    } else {
      head_ = n.next;
    }
    if (n.next != kNil) {
      nodes[n.next].prev = n.prev;
    } else {
      tail_ = n.prev;
    }
    n.prev = n.next = kNil;
    --size_;
  }

  template <class Node>
  void move_to_front(std::vector<Node>& nodes, uint32_t id) {
    if (head_ == id) return;
    remove(nodes, id);
    push_front(nodes, id);
  }

 private:
  uint32_t head_ = kNil;
  uint32_t tail_ = kNil;
  uint32_t size_ = 0;
};

}  // namespace strata::cache
