// Micro-benchmarks of the L1 store: GET and SET ns/op on 100k keys of 16-byte values at 1 and 2
// threads (baseline: a mutex-guarded std::unordered_map in the same run), and the memory overhead
// per entry for 1M small entries, as accounted (used_bytes) and as the process RSS grew, both
// right after filling and in steady state (full and evicting).
// Run: strata-micro --benchmark_filter=Store
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/store.h"

namespace {

using strata::cache::EntryView;
using strata::cache::ManualClock;
using strata::cache::Store;
using strata::cache::StoreConfig;

constexpr int kKeys = 100'000;
constexpr size_t kValueBytes = 16;
constexpr int kOverheadEntries = 1'000'000;
constexpr int kSteadyWrites = 3 * kOverheadEntries;
constexpr uint64_t kBigMaxmemoryBytes = 16ull << 30;  // policy on, never reached
// About 4x what 1M small entries need: policies that size themselves by capacity (W-TinyLFU's
// sketch) are measured at a realistic budget.
constexpr uint64_t kOverheadMaxmemoryBytes = 1ull << 30;

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    char buf[32];
    for (int i = 0; i < kKeys; ++i) {
      std::snprintf(buf, sizeof buf, "key:%07d", i);
      v.emplace_back(buf);
    }
    return v;
  }();
  return k;
}

struct Shared {
  ManualClock clock;
  std::unique_ptr<Store> store;
  std::mutex mu;
  std::unordered_map<std::string, std::string> baseline;
};

// One store shared by all benchmark threads, filled once.
Shared& shared() {
  static Shared* s = [] {
    auto* sh = new Shared;
    StoreConfig c;
    c.maxmemory_bytes = kBigMaxmemoryBytes;
    sh->store = std::make_unique<Store>(c, &sh->clock);
    const std::string value(kValueBytes, 'v');
    for (const auto& k : keys()) {
      sh->store->lock(k)->set(k, value, 0);
      sh->baseline.emplace(k, value);
    }
    return sh;
  }();
  return *s;
}

// Strided walk: a different key each op, no RNG in the loop, threads start apart.
size_t next_index(size_t i) { return (i + 7919) % kKeys; }

void BM_StoreGet(benchmark::State& state) {
  Store& store = *shared().store;
  size_t i = static_cast<size_t>(state.thread_index()) * (kKeys / 2);
  for (auto _ : state) {
    const std::string& k = keys()[i];
    auto txn = store.lock(k);
    EntryView v;
    benchmark::DoNotOptimize(txn->read(k, &v));
    i = next_index(i);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreGet)->Threads(1)->Threads(2)->UseRealTime();

void BM_StoreSet(benchmark::State& state) {
  Store& store = *shared().store;
  const std::string value(kValueBytes, 's');
  size_t i = static_cast<size_t>(state.thread_index()) * (kKeys / 2);
  for (auto _ : state) {
    const std::string& k = keys()[i];
    benchmark::DoNotOptimize(store.lock(k)->set(k, value, 0));
    i = next_index(i);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreSet)->Threads(1)->Threads(2)->UseRealTime();

void BM_BaselineMutexMapGet(benchmark::State& state) {
  Shared& sh = shared();
  size_t i = static_cast<size_t>(state.thread_index()) * (kKeys / 2);
  for (auto _ : state) {
    std::lock_guard<std::mutex> g(sh.mu);
    auto it = sh.baseline.find(keys()[i]);
    benchmark::DoNotOptimize(it);
    i = next_index(i);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineMutexMapGet)->Threads(1)->Threads(2)->UseRealTime();

uint64_t rss_bytes() {
  long pages_total = 0;
  long pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(f);
  return static_cast<uint64_t>(pages_resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Stores 1M small entries ("key:%07d" -> 8 bytes) into a fresh store and reports the bytes per
// entry beyond key and value: as charged (used_bytes) and as the process RSS grew.
//   Arg 0: policy -- 0 unbounded (no policy), 1 s3fifo, 2 lru, 3 wtinylfu.
//   Arg 1: 0 fill only (the policies' budget is never reached, so ghosts stay empty);
//          1 steady state: maxmemory holds about 1M entries and 3M distinct keys go through it,
//          so the cache is full, evicting, and S3-FIFO's ghost is at its steady-state size.
// Run one policy per process for the RSS figure (freed memory stays mapped for later runs):
//   strata-micro --benchmark_filter='Overhead/1/1'
void BM_StoreOverhead(benchmark::State& state) {
  static const char* kPolicies[] = {"none", "s3fifo", "lru", "wtinylfu"};
  const char* policy = kPolicies[state.range(0)];
  const bool steady = state.range(1) != 0;
  constexpr size_t kKeyLen = 11;  // "key:%07d"
  const char value[8] = {'v', 'a', 'l', 'u', 'e', '0', '0', '0'};
  for (auto _ : state) {
    ManualClock clock;
    StoreConfig c;
    if (state.range(0) != 0) {
      c.maxmemory_bytes = kOverheadMaxmemoryBytes;
      c.eviction = policy;
      if (steady) {
        const Store probe(c, &clock);  // the charge includes the policy's metadata
        c.maxmemory_bytes = kOverheadEntries * probe.charged_bytes(kKeyLen, sizeof value);
      }
    }
    const uint64_t rss_before = rss_bytes();
    auto store = std::make_unique<Store>(c, &clock);
    const int writes = steady ? kSteadyWrites : kOverheadEntries;
    char key[32];
    for (int i = 0; i < writes; ++i) {
      const int n = std::snprintf(key, sizeof key, "key:%07d", i);
      const std::string_view k(key, static_cast<size_t>(n));
      store->lock(k)->set(k, std::string_view(value, sizeof value), 0);
    }
    const uint64_t rss_after = rss_bytes();
    const auto st = store->stats();
    const double keys = static_cast<double>(st.keys);
    const double payload = keys * static_cast<double>(kKeyLen + sizeof value);
    state.counters["entries"] = keys;
    state.counters["overhead_bytes_per_entry"] =
        (static_cast<double>(st.used_bytes) - payload) / keys;
    state.counters["rss_bytes_per_entry"] = static_cast<double>(rss_after - rss_before) / keys;
    state.counters["rss_overhead_bytes_per_entry"] =
        (static_cast<double>(rss_after - rss_before) - payload) / keys;
    state.SetLabel(std::string(policy) + (steady ? " steady" : " fill"));
  }
}
BENCHMARK(BM_StoreOverhead)
    ->ArgsProduct({{0, 1, 2, 3}, {0}})
    ->ArgsProduct({{1, 2, 3}, {1}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
