// Per worker, in front of its tracking clients' TrackedKeys for reads answered from L1: which of
// them read which L1 entry while they had its key in their TrackedKeys. A repeated GET of a key
// a client tracks is then one bucket read, instead of a probe of that client's own set.
//
// Why per worker and by entry version: each client's set is clients x keys bytes, past the
// CPU's caches with a few dozen clients; this is one bucket per key the worker's clients read,
// whoever read it. An L1 entry's version is unique in the Store to one write of one key, so a
// bucket holding the entry's version names that key exactly, without its bytes: a hash that
// collides finds another version there, never a wrong yes.
//
// The rule its users keep: a client's bit is set for a version only while the key is in its
// TrackedKeys (note after the insert), and cleared when the key leaves it (forget on erase,
// forget_all on clear). Lossy otherwise: a bucket (one cache line) holds four versions, a table
// past one version per two buckets doubles and starts over; what it does not hold goes to
// TrackedKeys. One thread (the worker's); no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cache/prefetch.h"

namespace strata::proxy {

class TrackingSeen {
 public:
  // Clients of one worker with a bit of their own; more use TrackedKeys alone.
  static constexpr int kClientsMax = 64;
  static constexpr size_t kBucketsMin = 512;
  static constexpr size_t kBucketsMax = size_t{1} << 16;  // 4 MiB
  static constexpr int kWays = 4;

  TrackingSeen();

  // A client bit (0..kClientsMax-1) for a tracking client, or -1 when all are taken.
  int acquire();
  // The client's bit cleared everywhere and given back.
  void release(int client);

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
  // The client read the entry of `version` with its key (of `hash`) in its TrackedKeys.
  void note(int client, uint64_t hash, uint64_t version);
  // The key of `hash` left the client's TrackedKeys.
  void forget(int client, uint64_t hash);
  // Every key left the client's TrackedKeys.
  void forget_all(int client);

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

  std::unique_ptr<Bucket[]> buckets_;
  size_t mask_ = 0;
  size_t used_ = 0;  // ways holding a version
  uint64_t free_ = ~uint64_t{0};
};

}  // namespace strata::proxy
