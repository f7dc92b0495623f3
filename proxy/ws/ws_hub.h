// The WebSocket channel's change stream, one per process: every change of a key some
// connection subscribes to (or did, within history_ms) gets the next position, is serialized
// once into the frame every subscriber is sent, and stays in a bounded history for resumes.
// Workers append from their change seams and read what is new since their cursor; the stream
// and the interest set are shared, under one mutex each (a worker takes a batch per loop
// iteration, not an entry at a time).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace strata::proxy {

class Loop;

struct WsChange {
  uint64_t seq = 0;
  int64_t at_ms = 0;
  uint64_t version = 0;
  bool is_delete = false;
  std::string key;
  std::string json;   // {"t":"c",...}, for the merged form of a slow client
  std::string frame;  // the WebSocket frame of `json`: the same bytes for every subscriber
};
using WsChangePtr = std::shared_ptr<const WsChange>;

class WsHub {
 public:
  struct Limits {
    uint32_t history_events = 100000;
    uint32_t history_ms = 120000;
  };
  // `workers`: the readers (one per worker), fixed before any runs.
  WsHub(Limits limits, uint64_t epoch, uint32_t workers = 1);

  uint64_t epoch() const { return epoch_; }
  // "<epoch in hex>.<seq>"
  std::string position(uint64_t seq) const;
  std::string epoch_text() const;
  // The seq of a position of this stream; false when it is malformed or of another epoch.
  bool own_position(std::string_view pos, uint64_t* seq) const;

  // Interest: the keys and prefixes connections subscribe to. Dropped interest lingers for
  // history_ms, so a client that reconnects in time finds its changes in the history.
  void add_interest(std::string_view s, bool prefix);
  void drop_interest(std::string_view s, bool prefix, int64_t now_ms);
  bool interested(std::string_view key) const;
  void expire_interest(int64_t now_ms);

  // Appends a change (its frame composed here); null when nobody is interested in the key.
  WsChangePtr append(std::string_view key, bool is_delete, std::string_view value,
                     uint64_t version, int64_t now_ms);
  uint64_t head() const { return head_.load(std::memory_order_acquire); }
  // The changes with seq in (after, upto], in order. False when the history no longer holds
  // seq after + 1 (those changes are lost to this reader): *out is then empty.
  bool read(uint64_t after, uint64_t upto, std::vector<WsChangePtr>* out) const;
  uint64_t oldest() const;  // seq of the oldest change held (head + 1 when none)

  // FLUSHALL (every key changed): each worker's subscriptions start over from a snapshot.
  void bump_flush() { flush_gen_.fetch_add(1, std::memory_order_acq_rel); }
  uint64_t flush_gen() const { return flush_gen_.load(std::memory_order_acquire); }

  // Workers with connections are woken when another worker appends.
  void attach(uint32_t worker, Loop* loop);
  void set_cursor(uint32_t worker, uint64_t seq, bool has_connections);
  void wake_others(uint32_t from);

  struct Stats {
    uint64_t changes = 0;
    uint64_t history = 0;
    uint64_t interest_keys = 0;
    uint64_t interest_prefixes = 0;
  };
  Stats stats() const;

 private:
  struct Interest {
    uint32_t count = 0;
    int64_t linger_until_ms = 0;
  };
  void trim(int64_t now_ms);  // mu_ held

  Limits limits_;
  uint64_t epoch_;
  mutable std::mutex mu_;
  std::deque<WsChangePtr> history_;
  std::atomic<uint64_t> head_{0};
  std::atomic<uint64_t> changes_{0};
  std::atomic<uint64_t> flush_gen_{0};

  mutable std::mutex interest_mu_;
  std::atomic<size_t> interest_entries_{0};  // keys + prefixes, lingering ones too
  std::map<std::string, Interest, std::less<>> keys_;
  std::map<std::string, Interest, std::less<>> prefixes_;
  std::multiset<size_t> prefix_lengths_;

  struct Reader {
    std::atomic<Loop*> loop{nullptr};
    std::atomic<uint64_t> cursor{0};
    std::atomic<bool> active{false};
  };
  std::vector<std::unique_ptr<Reader>> readers_;
  std::mutex readers_mu_;
};

}  // namespace strata::proxy
