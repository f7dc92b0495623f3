// CLIENT TRACKING served by strata: which of its clients to tell when a key changes. Keys read
// by clients in the default, OPTIN and OPTOUT modes, and the prefixes of BCAST clients, as
// Redis's tracking table (tracking.c) keeps them, but over strata's own clients and fed by the
// change seam, so a change from any source -- a write through strata, Redis's own tracking,
// PostgreSQL-backed prefixes, other instances -- reaches them.
//
// Process-wide: a client reads on its worker, a change may happen on another. One mutex; with
// no tracking client at all, callers test active() (one relaxed load) and skip everything.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/hash.h"
#include "proxy/resp/key_table.h"

namespace strata::proxy {

class TrackedKeys;

// Redis's tracking-table-max-keys default: past it, keys are evicted (their readers told).
constexpr size_t kTrackingKeysMaxDefault = 1'000'000;
constexpr size_t kTrackingPrefixesMax = 1024;   // BCAST prefixes of one client
constexpr size_t kTrackingPrefixBytesMax = 1024;
// Keys a client remembers having in the table (TrackedKeys: a read of one skips the table); past
// this, its reads of other keys go to the table each time.
constexpr size_t kTrackingRememberedMax = 100'000;

// A key the table forgot for room, and the clients that read it.
struct TrackingTold {
  std::string key;
  std::vector<uint64_t> clients;
};

class TrackingTable {
 public:
  static TrackingTable& instance();

  // True when some client has tracking on (else nothing needs recording or telling).
  bool active() const { return clients_.load(std::memory_order_relaxed) != 0; }
  // CONFIG SET tracking-table-max-keys: past the new maximum, keys are forgotten at once and
  // appended with their readers to *evicted (to be told as invalidated).
  void set_max_keys(size_t n, std::vector<TrackingTold>* evicted);
  size_t max_keys() const;

  // CLIENT TRACKING ON/OFF of a client (BCAST: with its prefixes, "" for every key).
  void enable(uint64_t client, bool bcast, const std::vector<std::string>& prefixes);
  // Tracking OFF: the client's keys stay until they change (as in Redis).
  void disable(uint64_t client);
  // The client is gone: tracking off, and the keys it lists forget it (a key with no reader
  // left goes). Nothing would be told to it anyway, and readers that only ever pile up would
  // make every later first read of their key walk them.
  void closed(uint64_t client, const TrackedKeys& keys);

  // A default/OPTIN/OPTOUT client read `key`. When that takes the table past its maximum,
  // other keys are forgotten to make room: they and their readers are appended to *evicted,
  // to be told as invalidated (their readers would otherwise never hear of a change).
  // known_absent: the caller knows the client is not among the key's readers (its TrackedKeys
  // lacked the key and holds all of its keys in the table), so the readers are not searched.
  using Told = TrackingTold;
  void remember(std::string_view key, uint64_t client, std::vector<Told>* evicted,
                bool known_absent = false) {
    remember(key, cache::hash_key(key), client, evicted, known_absent);
  }
  // The same with hash == cache::hash_key(key).
  void remember(std::string_view key, uint64_t hash, uint64_t client, std::vector<Told>* evicted,
                bool known_absent);

  // `key` changed: its readers, to tell now (each once; the table forgets them for the key),
  // and for each BCAST prefix it matches, that prefix and its clients (told in one message per
  // prefix and loop iteration, as Redis batches them).
  struct PrefixHit {
    std::string prefix;
    std::vector<uint64_t> clients;
  };
  void changed(std::string_view key, std::vector<uint64_t>* readers,
               std::vector<PrefixHit>* bcast);
  // Every key changed (FLUSHALL/FLUSHDB, lost tracking): every tracking client, the table
  // emptied.
  void flushed(std::vector<uint64_t>* clients);

  struct Counts {
    size_t keys = 0;
    size_t items = 0;  // (key, reader) pairs
    size_t clients = 0;
    size_t prefixes = 0;
    uint64_t evicted = 0;  // keys forgotten for room, over the process's life
  };
  Counts counts() const;

 private:
  mutable std::mutex mu_;
  std::atomic<size_t> clients_{0};
  size_t max_keys_ = kTrackingKeysMaxDefault;
  uint64_t evicted_ = 0;
  void evict_to(size_t n, std::vector<TrackingTold>* evicted);  // mu_ held
  void disable_locked(uint64_t client);
  // key -> its readers. A KeyTable: a client's first read of a key costs one cache line here,
  // besides its readers' (a node-based map: the bucket, the node and the key's allocation).
  KeyTable<std::vector<uint64_t>> keys_;
  std::unordered_set<uint64_t> tracking_;  // every client with tracking on
  // BCAST: prefix -> clients. Few prefixes in practice; each change walks them.
  std::unordered_map<std::string, std::vector<uint64_t>> prefixes_;
  void set_clients_locked();
};

}  // namespace strata::proxy
