// A FIFO on one power-of-two array that only grows: the per-request queues of a connection
// (reply slots, upstream requests awaiting replies) push at the back and pop at the front
// for every command, and std::deque allocates and frees a block every few elements doing so.
// Unlike std::deque, a push that grows the array moves the elements: references into the queue
// are valid only until the next push.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace strata::proxy {

template <class T>
class RingQueue {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T& front() { return buf_[head_]; }
  const T& front() const { return buf_[head_]; }
  T& back() { return buf_[(head_ + size_ - 1) & mask()]; }
  const T& back() const { return buf_[(head_ + size_ - 1) & mask()]; }
  T& operator[](size_t i) { return buf_[(head_ + i) & mask()]; }
  const T& operator[](size_t i) const { return buf_[(head_ + i) & mask()]; }

  T& push_back(T&& v) {
    if (size_ == buf_.size()) grow();
    T& slot = buf_[(head_ + size_) & mask()];
    slot = std::move(v);
    ++size_;
    return slot;
  }
  T& emplace_back() { return push_back(T{}); }

  // The element's resources are released now (a reset T stays in the array).
  void pop_front() {
    buf_[head_] = T{};
    head_ = (head_ + 1) & mask();
    if (--size_ == 0 && buf_.size() > kKeepCapacity) {
      std::vector<T>().swap(buf_);  // a burst is over: do not keep its array
      head_ = 0;
    }
  }

  void clear() {
    while (size_ > 0) pop_front();
    head_ = 0;
  }

 private:
  static constexpr size_t kInitialCapacity = 16;
  static constexpr size_t kKeepCapacity = 1024;

  size_t mask() const { return buf_.size() - 1; }

  void grow() {
    std::vector<T> bigger(buf_.empty() ? kInitialCapacity : buf_.size() * 2);
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move((*this)[i]);
    buf_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace strata::proxy
