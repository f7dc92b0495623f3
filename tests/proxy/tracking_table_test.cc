// TrackingTable: which clients to tell when a key changes (CLIENT TRACKING served by strata).
#include "proxy/resp/tracking_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "cache/hash.h"
#include "proxy/resp/tracked_keys.h"

namespace strata::proxy {
namespace {

std::vector<uint64_t> readers_of(TrackingTable& t, std::string_view key) {
  std::vector<uint64_t> readers;
  std::vector<TrackingTable::PrefixHit> bcast;
  t.changed(key, &readers, &bcast);
  std::sort(readers.begin(), readers.end());
  return readers;
}

// Clients 1..kBitsPerWorker of `worker` take every bit it has (tracking on first when
// `enable`), in id order.
std::vector<TrackingReader> take_all_bits(TrackingTable& t, uint32_t worker, bool enable) {
  std::vector<TrackingReader> readers;
  for (uint64_t id = 1; id <= TrackingTable::kBitsPerWorker; ++id) {
    if (enable) t.enable(id, false, {});
    readers.push_back(TrackingReader{id, worker, t.acquire_bit(worker, id)});
  }
  return readers;
}

TEST(TrackingTableTest, ReadersAreToldOnceAndForgotten) {
  TrackingTable t;
  t.enable(1, false, {});
  t.enable(2, false, {});
  EXPECT_TRUE(t.active());
  std::vector<TrackingTold> evicted;
  t.remember("k", 1, &evicted);
  t.remember("k", 2, &evicted);
  t.remember("k", 1, &evicted);  // once per client
  t.remember("other", 2, &evicted);
  EXPECT_EQ(t.counts().keys, 2u);
  EXPECT_EQ(t.counts().items, 3u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(readers_of(t, "k").empty());
  EXPECT_TRUE(evicted.empty());
}

// A caller that knows the client is not a reader yet (its TrackedKeys lacked the key) skips the
// search; one that does not know still gets each client once.
TEST(TrackingTableTest, KnownAbsentReadersAreAppended) {
  TrackingTable t;
  std::vector<TrackingTold> evicted;
  t.remember("k", 1, &evicted, /*known_absent=*/true);
  t.remember("k", 2, &evicted, /*known_absent=*/true);
  t.remember("k", 1, &evicted);  // tracking was off once: searched
  EXPECT_EQ(t.counts().items, 2u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{1, 2}));
}

TEST(TrackingTableTest, PastMaxKeysTheEvictedAreNamedWithTheirReaders) {
  TrackingTable t;
  t.enable(7, false, {});
  std::vector<TrackingTold> evicted;
  t.set_max_keys(2, &evicted);
  t.remember("a", 7, &evicted);
  t.remember("b", 7, &evicted);
  EXPECT_TRUE(evicted.empty());
  t.remember("c", 7, &evicted);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].clients, std::vector<uint64_t>{7});
  EXPECT_EQ(t.counts().keys, 2u);
  EXPECT_EQ(t.counts().evicted, 1u);
  evicted.clear();
  t.set_max_keys(1, &evicted);
  EXPECT_EQ(evicted.size(), 1u);
  EXPECT_EQ(t.counts().keys, 1u);
}

TEST(TrackingTableTest, BcastPrefixesMatch) {
  TrackingTable t;
  t.enable(3, true, {"user:"});
  t.enable(4, true, {});
  std::vector<uint64_t> readers;
  std::vector<TrackingTable::PrefixHit> bcast;
  t.changed("user:1", &readers, &bcast);
  EXPECT_TRUE(readers.empty());
  EXPECT_EQ(bcast.size(), 2u);
  bcast.clear();
  t.changed("item:1", &readers, &bcast);
  ASSERT_EQ(bcast.size(), 1u);
  EXPECT_EQ(bcast[0].clients, std::vector<uint64_t>{4});
  t.disable(4);
  bcast.clear();
  t.changed("item:1", &readers, &bcast);
  EXPECT_TRUE(bcast.empty());
}

// Tracking OFF keeps a client's keys (as in Redis); a client that is gone leaves the keys it
// read, and a key nobody else read goes with it.
TEST(TrackingTableTest, AClosedClientLeavesItsKeys) {
  TrackingTable t;
  t.enable(1, false, {});
  t.enable(2, false, {});
  TrackedKeys mine(100);
  std::vector<TrackingTold> evicted;
  for (const char* k : {"shared", "only-mine"}) {
    mine.insert(k, cache::hash_key(k));
    t.remember(k, 1, &evicted);
  }
  t.remember("shared", 2, &evicted);
  mine.insert("changed-since", cache::hash_key("changed-since"));  // no longer in the table
  t.closed(1, mine);
  EXPECT_EQ(t.counts().clients, 1u);
  EXPECT_EQ(t.counts().keys, 1u);
  EXPECT_EQ(t.counts().items, 1u);
  EXPECT_EQ(readers_of(t, "shared"), std::vector<uint64_t>{2});

  t.remember("kept", 2, &evicted);
  t.disable(2);
  EXPECT_FALSE(t.active());
  EXPECT_EQ(readers_of(t, "kept"), std::vector<uint64_t>{2});
}

// Readers by bit: a worker's tracking clients get a bit each (up to 64; more are readers by
// id), a key's slot holds a word of them per worker.
TEST(TrackingTableTest, BitsPerWorkerThenIds) {
  TrackingTable t;
  std::vector<int> bits;
  for (uint64_t id = 1; id <= TrackingTable::kBitsPerWorker; ++id) {
    bits.push_back(t.acquire_bit(0, id));
    EXPECT_EQ(bits.back(), static_cast<int>(id - 1));
  }
  EXPECT_EQ(t.acquire_bit(0, 65), -1);  // all taken: a reader by id
  EXPECT_EQ(t.acquire_bit(1, 66), 0);   // another worker's bits are its own
  std::vector<TrackingTold> evicted;
  t.remember("k", cache::hash_key("k"), TrackingReader{64, 0, bits[63]}, &evicted);
  t.remember("k", cache::hash_key("k"), TrackingReader{64, 0, bits[63]}, &evicted);  // once
  t.remember("k", cache::hash_key("k"), TrackingReader{1, 0, bits[0]}, &evicted);
  t.remember("k", 65, &evicted);
  t.remember("k", cache::hash_key("k"), TrackingReader{66, 1, 0}, &evicted);
  EXPECT_EQ(t.counts().keys, 1u);
  EXPECT_EQ(t.counts().items, 4u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{1, 64, 65, 66}));
  EXPECT_EQ(t.counts().keys, 0u);
}

// A key read by clients of two workers (two words in its slot), and of more workers than the
// slot holds words for: each reader told once, by its own id.
TEST(TrackingTableTest, AKeyReadOnSeveralWorkers) {
  TrackingTable t;
  std::vector<TrackingTold> evicted;
  const uint64_t h = cache::hash_key("k");
  for (uint32_t w = 0; w < 2; ++w) {
    for (uint64_t n = 0; n < 3; ++n) {
      const uint64_t id = 100 * (w + 1) + n;
      const int bit = t.acquire_bit(w, id);
      ASSERT_EQ(bit, static_cast<int>(n));
      t.remember("k", h, TrackingReader{id, w, bit}, &evicted);
    }
  }
  EXPECT_EQ(t.counts().items, 6u);
  EXPECT_EQ(readers_of(t, "k"), (std::vector<uint64_t>{100, 101, 102, 200, 201, 202}));
  // Five workers' clients, one key: two words inline, three beside.
  std::vector<uint64_t> want;
  for (uint32_t w = 2; w < 7; ++w) {
    const uint64_t id = 1000 + w;
    const int bit = t.acquire_bit(w, id);
    t.remember("k", h, TrackingReader{id, w, bit}, &evicted);
    t.remember("k", h, TrackingReader{id, w, bit}, &evicted);
    want.push_back(id);
  }
  EXPECT_EQ(t.counts().items, 5u);
  EXPECT_EQ(readers_of(t, "k"), want);
  EXPECT_TRUE(readers_of(t, "k").empty());
}

// A closed client's bit is nobody's from its close on (not told, not counted), and is cleared
// from every key before another client of its worker gets it: the new holder is not told of
// the keys the last one read. A small table is swept at the close.
TEST(TrackingTableTest, AClosedClientsBitIsClearedBeforeReuse) {
  TrackingTable t;
  TrackedKeys none(100);
  std::vector<TrackingTold> evicted;
  const std::vector<TrackingReader> all = take_all_bits(t, 3, true);
  const TrackingReader gone = all[6];
  const TrackingReader stays = all[7];
  for (const char* k : {"mine", "shared"}) t.remember(k, cache::hash_key(k), gone, &evicted);
  t.remember("shared", cache::hash_key("shared"), stays, &evicted);
  EXPECT_EQ(t.counts().items, 3u);
  t.closed(gone, none);
  EXPECT_EQ(t.counts().keys, 1u);  // "mine" had no other reader: gone
  EXPECT_EQ(t.counts().items, 1u);
  EXPECT_EQ(t.counts().clients, TrackingTable::kBitsPerWorker - 1);
  // Its bit is the one free bit of the worker: the next client gets it, clean.
  EXPECT_EQ(t.acquire_bit(3, 99), gone.bit);
  EXPECT_EQ(t.acquire_bit(3, 100), -1);
  EXPECT_TRUE(readers_of(t, "mine").empty());
  EXPECT_EQ(readers_of(t, "shared"), std::vector<uint64_t>{8});
}

// Past kSweepAtOnceSlots the table is not walked at each close: the bit is dead until the
// worker runs out of free bits (one walk, for every close since) or the table must make room.
TEST(TrackingTableTest, ABigTableSweepsDeadBitsLater) {
  TrackingTable t;
  TrackedKeys none(100);
  std::vector<TrackingTold> evicted;
  const std::vector<TrackingReader> readers = take_all_bits(t, 0, false);
  const size_t n = TrackingTable::kSweepAtOnceSlots;  // keys: twice the slots' half
  for (size_t i = 0; i < n; ++i) {
    const std::string k = "k" + std::to_string(i);
    t.remember(k, cache::hash_key(k), readers[i % 2], &evicted);  // clients 1 and 2
  }
  t.remember("k0", cache::hash_key("k0"), readers[2], &evicted);  // client 3 too
  t.closed(readers[0], none);
  t.closed(readers[3], none);  // read nothing
  EXPECT_EQ(t.counts().sweeps, 0u);
  EXPECT_EQ(t.counts().keys, n / 2 + 1);  // the dead bit counts for nothing
  EXPECT_EQ(t.counts().items, n / 2 + 1);
  EXPECT_TRUE(readers_of(t, "k2").empty());  // client 1's: not told
  EXPECT_EQ(readers_of(t, "k0"), std::vector<uint64_t>{3});
  // Both bits come back after one sweep, which drops the keys only client 1 read.
  const int a = t.acquire_bit(0, 201);
  const int b = t.acquire_bit(0, 202);
  EXPECT_EQ(t.counts().sweeps, 1u);
  EXPECT_EQ((std::vector<int>{std::min(a, b), std::max(a, b)}),
            (std::vector<int>{readers[0].bit, readers[3].bit}));
  EXPECT_EQ(t.counts().keys, n / 2);
  std::vector<uint64_t> readers_left;
  for (size_t i = 0; i < n; ++i) {
    const std::string k = "k" + std::to_string(i);
    std::vector<uint64_t> r = readers_of(t, k);
    readers_left.insert(readers_left.end(), r.begin(), r.end());
  }
  EXPECT_EQ(readers_left, std::vector<uint64_t>(n / 2, 2));  // client 2's keys, each told once
}

// Past tracking-table-max-keys, readers by bit are named by their ids; keys that only dead bits
// hold go first (nobody to tell), before a live key is forgotten.
TEST(TrackingTableTest, EvictionPastTheMaxNamesReadersByBit) {
  TrackingTable t;
  TrackedKeys none(100);
  std::vector<TrackingTold> evicted;
  const TrackingReader a{1, 0, t.acquire_bit(0, 1)};
  const TrackingReader b{2, 1, t.acquire_bit(1, 2)};
  const TrackingReader c{3, 0, t.acquire_bit(0, 3)};
  t.set_max_keys(3, &evicted);
  t.remember("x", cache::hash_key("x"), a, &evicted);
  t.remember("x", cache::hash_key("x"), b, &evicted);
  t.remember("x", 4, &evicted);  // a reader by id
  t.remember("y", cache::hash_key("y"), a, &evicted);
  t.remember("z", cache::hash_key("z"), c, &evicted);
  EXPECT_TRUE(evicted.empty());
  t.remember("w", cache::hash_key("w"), c, &evicted);
  ASSERT_EQ(evicted.size(), 1u);
  std::sort(evicted[0].clients.begin(), evicted[0].clients.end());
  const std::map<std::string, std::vector<uint64_t>> want = {
      {"x", {1, 2, 4}}, {"y", {1}}, {"z", {3}}};
  ASSERT_TRUE(want.contains(evicted[0].key));
  EXPECT_EQ(evicted[0].clients, want.at(evicted[0].key));
  EXPECT_EQ(t.counts().keys, 3u);
  EXPECT_EQ(t.counts().evicted, 1u);
  // Client 3 closes (its keys z and w, if z is still there, only its): room without a victim.
  evicted.clear();
  t.closed(c, none);
  t.remember("v", cache::hash_key("v"), a, &evicted);
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(t.counts().evicted, 1u);
  EXPECT_LE(t.counts().keys, 3u);
  EXPECT_EQ(readers_of(t, "v"), std::vector<uint64_t>{1});
}

// Workers on threads, as in strata: each reads keys for its clients, closes clients and gives
// their bits to new ones, while another thread changes keys. A worker's own keys name exactly
// the clients of it that read them since their last change (a reused bit never names the last
// holder, nor the new holder for the last one's reads); a change never names a client whose
// close had returned before it began. The table is big enough that closes are swept later.
TEST(TrackingTableTest, WorkersOnThreads) {
  TrackingTable t;
  std::vector<TrackingTold> evicted;
  const TrackingReader filler{1'000'000, 99, t.acquire_bit(99, 1'000'000)};
  for (size_t i = 0; i < TrackingTable::kSweepAtOnceSlots; ++i) {
    const std::string k = "f" + std::to_string(i);
    t.remember(k, cache::hash_key(k), filler, &evicted);
  }
  constexpr int kWorkers = 3;
  constexpr int kClients = 70;  // past 64: some are readers by id
  constexpr uint64_t kIdsPerWorker = 2048;
  // closed_at[id]: the count of closes when the client's close had returned (0: open).
  std::vector<std::atomic<uint64_t>> closed_at(kWorkers * kIdsPerWorker);
  std::atomic<uint64_t> closes{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread changer([&] {
    uint64_t n = 0;
    std::vector<uint64_t> readers;
    std::vector<TrackingTable::PrefixHit> bcast;
    while (!stop.load()) {
      const std::string k = "s" + std::to_string(n++ % 50);
      const uint64_t before = closes.load();
      readers.clear();
      t.changed(k, &readers, &bcast);
      for (uint64_t id : readers) {
        if (id >= closed_at.size()) {
          failures.fetch_add(1);
          continue;
        }
        const uint64_t at = closed_at[id].load();
        if (at != 0 && at <= before) failures.fetch_add(1);
      }
    }
  });
  std::vector<std::thread> workers;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      uint64_t next_id = w * kIdsPerWorker + 1;
      std::vector<TrackingReader> clients;
      std::map<uint64_t, TrackedKeys> keys_of;  // readers by id list their keys, for closed()
      std::vector<TrackingTold> ev;
      auto open = [&] {
        const uint64_t id = next_id++;
        keys_of.emplace(id, TrackedKeys(1000));
        return TrackingReader{id, w, t.acquire_bit(w, id)};
      };
      auto remember = [&](const std::string& k, const TrackingReader& who) {
        t.remember(k, cache::hash_key(k), who, &ev);
        keys_of.at(who.id).insert(k, cache::hash_key(k));
      };
      for (int c = 0; c < kClients; ++c) clients.push_back(open());
      std::map<std::string, std::vector<uint64_t>> mine;  // own key -> readers since its change
      for (int op = 0; op < 8000; ++op) {
        const size_t c = rng() % clients.size();
        const int what = static_cast<int>(rng() % 40);
        if (what < 16) {
          remember("s" + std::to_string(rng() % 50), clients[c]);
        } else if (what < 32) {
          const std::string k = "w" + std::to_string(w) + ":" + std::to_string(rng() % 20);
          remember(k, clients[c]);
          std::vector<uint64_t>& r = mine[k];
          if (std::find(r.begin(), r.end(), clients[c].id) == r.end()) r.push_back(clients[c].id);
        } else if (what < 39) {
          const std::string k = "w" + std::to_string(w) + ":" + std::to_string(rng() % 20);
          std::vector<uint64_t> want = mine[k];
          std::sort(want.begin(), want.end());
          if (readers_of(t, k) != want) failures.fetch_add(1);
          mine.erase(k);
        } else {
          t.closed(clients[c], keys_of.at(clients[c].id));
          closed_at[clients[c].id].store(closes.fetch_add(1) + 1);
          keys_of.erase(clients[c].id);
          for (auto& [k, r] : mine) std::erase(r, clients[c].id);
          clients[c] = open();
        }
      }
    });
  }
  for (std::thread& th : workers) th.join();
  stop.store(true);
  changer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(t.counts().sweeps, 0u);
  EXPECT_TRUE(evicted.empty());
}

TEST(TrackingTableTest, FlushEmptiesAndNamesEveryTrackingClient) {
  TrackingTable t;
  t.enable(5, false, {});
  t.enable(6, true, {});
  std::vector<TrackingTold> evicted;
  t.remember("a", 5, &evicted);
  std::vector<uint64_t> clients;
  t.flushed(&clients);
  std::sort(clients.begin(), clients.end());
  EXPECT_EQ(clients, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(t.counts().keys, 0u);
}

}  // namespace
}  // namespace strata::proxy
