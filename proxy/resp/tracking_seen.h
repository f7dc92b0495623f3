// Per worker, in front of the TrackingTable for reads answered from L1: which of its tracking
// clients read which L1 entry with the table holding their bit for the key. A repeated GET of a
// key a client tracks is then one bucket read, without the table's lock.
//
// Why per worker and by entry version: a per-client set is clients x keys bytes, past the CPU's
// caches with a few dozen clients; this is one bucket per key the worker's clients read,
// whoever read it. An L1 entry's version is unique in the Store to one write of one key, so a
// bucket holding the entry's version names that key exactly, without its bytes: a hash that
// collides finds another version there, never a wrong yes.
//
// A client's bit here is its bit in the TrackingTable (TrackingTable::acquire_bit), where the
// same bit in the key's slot says it read the key. The rule its users keep: a client's bit is
// set for a version only while the table has the client's bit for the key (note after the
// table's remember), and cleared when a change of the key reaches the client (forget), at a
// flush and at tracking OFF (forget_all), and before the bit is read by another client: a
// closed client's bit is left set (release), and cleared when the table gives the bit out again
// (claim: one walk clears every bit released since, so clients that close together cost one walk,
// not one each). Lossy otherwise: a bucket (one cache line) holds four versions, a table past
// one version per two buckets doubles and starts over; what it does not hold goes to the table.
// One thread (the worker's); no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cache/prefetch.h"

namespace strata::proxy {

class TrackingSeen {
 public:
  // Clients of one worker with a bit of their own (TrackingTable::kBitsPerWorker).
  static constexpr int kClientsMax = 64;
  static constexpr size_t kBucketsMin = 512;
  static constexpr size_t kBucketsMax = size_t{1} << 16;  // 4 MiB
  static constexpr int kWays = 4;

  TrackingSeen();

  // Starts loading the bucket of `hash`, so that its miss overlaps the L1 lookup's.
  void prefetch(uint64_t hash) const { cache::prefetch(&buckets_[hash & mask_]); }

  bool seen(int client, uint64_t hash, uint64_t version) const {
    if (version == 0) return false;
    const Bucket& b = buckets_[hash & mask_];
    for (const Way& w : b.way) {
      if (w.version == version) return (w.clients & (uint64_t{1} << client)) != 0;
    }
    return false;
  }
  // The client read the entry of `version` with the table holding its bit for the key (of
  // `hash`).
  void note(int client, uint64_t hash, uint64_t version);
  // A change of the key of `hash` reached the client.
  void forget(int client, uint64_t hash);
  // Every key (a flush, tracking OFF).
  void forget_all(int client);
  // The client closed: its bit is left as it is, until claim().
  void release(int client) { released_ |= uint64_t{1} << client; }
  // The bit is a new client's (TrackingTable::acquire_bit): clear, with every bit released since
  // if it was one of them.
  void claim(int client);

  size_t buckets() const { return mask_ + 1; }

 private:
  struct Way {
    uint64_t version = 0;  // 0: empty
    uint64_t clients = 0;  // bits of the clients that read this version
  };
  struct alignas(64) Bucket {
    Way way[kWays];  // newest first
  };
  void reset(size_t buckets);
  struct Free {
    size_t bytes;
    void operator()(Bucket* b) const;
  };

  std::unique_ptr<Bucket[], Free> buckets_{nullptr, Free{0}};
  size_t mask_ = 0;
  size_t used_ = 0;        // ways holding a version
  uint64_t released_ = 0;  // bits of closed clients, maybe still set in ways
};

}  // namespace strata::proxy
