// CLIENT TRACKING served by strata: which of its clients to tell when a key changes. Keys read
// by clients in the default, OPTIN and OPTOUT modes, and the prefixes of BCAST clients, as
// Redis's tracking table (tracking.c) keeps them, but over strata's own clients and fed by the
// change seam, so a change from any source -- a write through strata, Redis's own tracking,
// PostgreSQL-backed prefixes, other instances -- reaches them.
//
// Process-wide: a client reads on its worker, a change may happen on another. One mutex; with
// no tracking client at all, callers test active() (one relaxed load) and skip everything.
//
// A key's readers are bits: each worker gives up to 64 of its tracking clients a bit of their
// own (acquire_bit), the same bit they have in the worker's TrackingSeen, and a key's slot
// holds one word of bits per worker whose clients read it (two inline, more beside). A first
// read of a key is then one slot, and a client keeps no list of the keys it read for the table
// to forget at its close: its bit is given back dead, cleared from every key by one sweep of
// the table before it is given out again (at once while the table is small; else when the
// worker has no free bit left or the table must make room, several closes at a time). A dead
// bit is nobody's meanwhile: not told, not counted. Clients past 64 on a worker are readers by
// id (a list beside the words), as every client was before.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
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

// A tracking client's settings, as the worker where a key changes needs them to send a
// redirected invalidation itself (client_tracking.cc: straight to the target, in the order of
// the changes). Mirrors the client's own TrackingState.
struct TrackingMode {
  bool on = false;  // tracking on (false: not a tracking client now)
  bool bcast = false;
  bool noloop = false;
  uint64_t redirect = 0;  // 0: none
  // With a REDIRECT: the client's count of changes told to its target whose keys its own worker
  // has not dropped from its records yet (ClientConn::forgets_pending).
  std::shared_ptr<std::atomic<uint32_t>> pending;
};

// Who reads a key: client `id` of worker `worker`, by its bit there (0..63), or by its id
// alone (bit -1: it has none).
struct TrackingReader {
  uint64_t id = 0;
  uint32_t worker = 0;
  int bit = -1;
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

  // Bits per worker (TrackingSeen's clients).
  static constexpr int kBitsPerWorker = 64;
  // Past this many slots, a closed client's bit is not swept out of the table at once (a walk
  // of 1 MiB) but with others' later.
  static constexpr size_t kSweepAtOnceSlots = size_t{1} << 14;

  // CLIENT TRACKING ON/OFF of a client (BCAST: with its prefixes, "" for every key; its
  // REDIRECT target and NOLOOP, for changed()'s modes).
  void enable(uint64_t client, bool bcast, const std::vector<std::string>& prefixes,
              uint64_t redirect = 0, bool noloop = false,
              std::shared_ptr<std::atomic<uint32_t>> pending = nullptr);
  // Tracking OFF: the client's keys stay until they change (as in Redis).
  void disable(uint64_t client);

  // A bit of worker `worker` for client `client` (0..kBitsPerWorker-1, clear in every key), or
  // -1 when all are taken: the client is then a reader by id. Held until closed().
  int acquire_bit(uint32_t worker, uint64_t client);
  // The client is gone: tracking off, its bit (if any) dead (nobody's; cleared from every key
  // before it is given out again), and, a reader by id, the keys `keys` lists forget it (a key
  // with no reader left goes). Nothing would be told to it anyway, and readers that only ever
  // pile up would make every later first read of their key walk them.
  void closed(const TrackingReader& who, const TrackedKeys& keys);
  void closed(uint64_t client, const TrackedKeys& keys) { closed(TrackingReader{client}, keys); }

  // A default/OPTIN/OPTOUT client read `key`. When that takes the table past its maximum,
  // other keys are forgotten to make room: they and their readers are appended to *evicted,
  // to be told as invalidated (their readers would otherwise never hear of a change).
  // known_absent (a reader by id): the caller knows the client is not among the key's readers
  // (its TrackedKeys lacked the key and holds all of its keys in the table), so the readers are
  // not searched.
  using Told = TrackingTold;
  void remember(std::string_view key, uint64_t client, std::vector<Told>* evicted,
                bool known_absent = false) {
    remember(key, cache::hash_key(key), TrackingReader{client}, evicted, known_absent);
  }
  // The same with hash == cache::hash_key(key), by bit or by id.
  void remember(std::string_view key, uint64_t hash, const TrackingReader& who,
                std::vector<Told>* evicted, bool known_absent = false);

  // `key` changed: its readers, to tell now (each once; the table forgets them for the key),
  // and for each BCAST prefix it matches, that prefix and its clients (told in one message per
  // prefix and loop iteration, as Redis batches them).
  // modes (if not null) gets each reader's settings, in the order of *readers (a reader whose
  // tracking is off: on false), as PrefixHit::modes those of the prefix's clients.
  struct PrefixHit {
    std::string prefix;
    std::vector<uint64_t> clients;
    std::vector<TrackingMode> modes;  // with changed()'s modes
  };
  void changed(std::string_view key, std::vector<uint64_t>* readers, std::vector<PrefixHit>* bcast,
               std::vector<TrackingMode>* modes = nullptr);
  // The settings of clients `ids` now, in their order (on false: not tracking).
  void modes_of(const std::vector<uint64_t>& ids, std::vector<TrackingMode>* modes) const;
  // Every key changed (FLUSHALL/FLUSHDB, lost tracking): every tracking client, the table
  // emptied.
  void flushed(std::vector<uint64_t>* clients);

  struct Counts {
    size_t keys = 0;   // keys with a reader (dead bits are nobody)
    size_t items = 0;  // (key, reader) pairs
    size_t clients = 0;
    size_t prefixes = 0;
    uint64_t evicted = 0;  // keys forgotten for room, over the process's life
    uint64_t sweeps = 0;   // walks of the table clearing dead bits, over the process's life
  };
  Counts counts() const;

 private:
  // A key's readers: per worker whose clients read it, a word of their bits; clients without a
  // bit by id. The slot's value: 32 bytes, the key's slot one cache line.
  struct Readers {
    static constexpr int kInline = 2;
    uint64_t bits[kInline] = {};  // 0: the word is unused
    uint32_t worker[kInline] = {};
    struct More {
      std::vector<std::pair<uint32_t, uint64_t>> words;  // (worker, bits) past the inline two
      std::vector<uint64_t> ids;                         // readers without a bit
    };
    std::unique_ptr<More> more;  // null: none
  };
  // Per worker: its bits, those given back but maybe set in keys still, and their clients.
  struct WorkerBits {
    uint64_t free = ~uint64_t{0};
    uint64_t dead = 0;
    uint64_t ids[kBitsPerWorker] = {};
  };

  mutable std::mutex mu_;
  std::atomic<size_t> clients_{0};
  size_t max_keys_ = kTrackingKeysMaxDefault;
  uint64_t evicted_ = 0;
  uint64_t sweeps_ = 0;
  bool dead_ = false;  // some worker has dead bits
  // All mu_ held:
  void evict_to(size_t n, std::vector<TrackingTold>* evicted);
  void disable_locked(uint64_t client);
  // Clears the dead bits from every key (a key left with no reader goes); they are free again.
  void sweep_locked();
  // The live readers' ids appended to *ids.
  void ids_of(const Readers& r, std::vector<uint64_t>* ids) const;
  uint64_t live(uint32_t worker, uint64_t bits) const {
    return worker < workers_.size() ? bits & ~workers_[worker].dead : 0;
  }
  // key -> its readers. A KeyTable: a client's first read of a key costs one cache line here
  // (a node-based map: the bucket, the node and the key's allocation).
  KeyTable<Readers> keys_;
  std::vector<WorkerBits> workers_;  // by worker index, grown as they ask
  std::unordered_map<uint64_t, TrackingMode> tracking_;  // every client with tracking on
  TrackingMode mode_locked(uint64_t client) const {
    const auto it = tracking_.find(client);
    return it == tracking_.end() ? TrackingMode{} : it->second;
  }
  // BCAST: prefix -> clients. Few prefixes in practice; each change walks them.
  std::unordered_map<std::string, std::vector<uint64_t>> prefixes_;
  void set_clients_locked();
};

}  // namespace strata::proxy
