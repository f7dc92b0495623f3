#include "bench/sim.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <thread>
#include <type_traits>

#include "bench/belady.h"
#include "bench/sim_progress.h"
#include "cache/adaptive_policy.h"
#include "cache/lru_policy.h"
#include "cache/prefetch.h"
#include "cache/s3fifo_policy.h"

namespace strata::bench {

namespace {

// Progress is published every this many requests: rare enough to cost nothing, frequent enough
// for a smooth bar.
constexpr size_t kProgressChunk = 1 << 16;
// The owner loop prefetches in two stages, the second far enough behind the first for its loads
// to have landed: slot_of_[id] and hashes[id] for every request (ids are random over tables of
// many MB: without this the hash load alone was most of FIFO's time); then, for a likely miss
// (no slot yet), what the policy's insert will read for that hash (S3-FIFO's ghost index line,
// a third of its time). Branch-free: whether a request misses is as good as random.
constexpr size_t kSlotAhead = 16;
constexpr size_t kPolicyAhead = 8;

// The simulator's side of the eviction-policy contract: which object lives in which slot and
// how much of the capacity is used. Flat arrays indexed by the trace's dense ids.
// It also answers the policy's SlotInfo calls (sizes and hashes it holds anyway).
template <class Policy, bool kBytes, bool kOps>
class Replay final : public cache::SlotInfo {
 public:
  Replay(const Trace& trace, Policy& policy, uint64_t capacity, const SimRunOptions& options)
      : trace_(trace),
        policy_(policy),
        capacity_(capacity),
        options_(options),
        slot_of_(trace.objects, cache::kNoSlot) {
    policy_.set_slot_info(this);
  }

  uint64_t slot_size(cache::SlotId slot) const override { return kBytes ? charge_of_[slot] : 1; }
  uint64_t slot_hash(cache::SlotId slot) const override { return hash_of_[slot]; }
  void prefetch_slot(cache::SlotId slot) const override {
    cache::prefetch(&hash_of_[slot]);
    if (kBytes) cache::prefetch(&charge_of_[slot]);
  }

  void run(SimResult& r) {
    const size_t n = trace_.requests();
    const uint32_t* ids = trace_.ids.data();
    if (options_.hits) options_.hits->assign(n, 0);
    for (size_t begin = 0; begin < n; begin += kProgressChunk) {
      const size_t end = std::min(n, begin + kProgressChunk);
      for (size_t i = begin; i < end; ++i) {
        prefetch_ahead(ids, i, n);
        step(i, r);
      }
      if (options_.progress) options_.progress->fetch_add(end - begin, std::memory_order_relaxed);
    }
  }

 private:
  void prefetch_ahead(const uint32_t* ids, size_t i, size_t n) {
    if (i + kSlotAhead < n) {
      const uint32_t ahead = ids[i + kSlotAhead];
      cache::prefetch(&slot_of_[ahead]);
      cache::prefetch(&trace_.hashes[ahead]);
    }
    // Only the devirtualised loops: a virtual call per request costs more than it saves.
    if constexpr (!std::is_same_v<Policy, cache::EvictionPolicy>) {
      if (i + kPolicyAhead < n) {
        const uint32_t id = ids[i + kPolicyAhead];
        const uint64_t miss_mask = uint64_t{0} - (slot_of_[id] == cache::kNoSlot);
        policy_.prefetch_insert(trace_.hashes[id] & miss_mask);  // a hit prefetches hash 0's line
      }
    }
  }

  void step(size_t i, SimResult& r) {
    const uint32_t id = trace_.ids[i];
    const uint64_t size = trace_.size_at(i);
    const uint64_t charge = kBytes ? size : 1;
    const cache::SlotId slot = slot_of_[id];
    if constexpr (std::is_same_v<Policy, BeladyPolicy>) {
      policy_.set_next_access((*options_.next_access)[i]);
    }
    const Op op = kOps ? trace_.op_at(i) : Op::kGet;
    if (op == Op::kGet) {
      ++r.requests;
      r.bytes += size;
    }
    if (op == Op::kDel) {
      if (slot != cache::kNoSlot) {
        policy_.on_erase(slot);
        release(slot);
      }
      return;
    }
    if (op == Op::kSet && slot != cache::kNoSlot) {
      if (options_.hits) (*options_.hits)[i] = 1;
      overwrite(slot, charge);
      return;
    }
    if (slot != cache::kNoSlot) {
      if (options_.hits) (*options_.hits)[i] = 1;
      policy_.on_hit(slot);
      if (kBytes && charge_of_[slot] != charge) resize(slot, charge);
      return;
    }
    if (op == Op::kGet) {
      ++r.misses;
      r.miss_bytes += size;
    }
    // As the Store does: an object bigger than the whole cache is not offered to the policy at
    // all (inserting it would only flush everything else out).
    if (charge > capacity_) return;
    insert(id, charge);
  }

  void insert(uint32_t id, uint64_t charge) {
    cache::SlotId slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<cache::SlotId>(id_of_.size());
      id_of_.push_back(0);
      hash_of_.push_back(0);
      if (kBytes) charge_of_.push_back(0);
    }
    id_of_[slot] = id;
    hash_of_[slot] = trace_.hashes[id];
    if (kBytes) charge_of_[slot] = static_cast<uint32_t>(charge);
    slot_of_[id] = slot;
    used_ += charge;
    policy_.on_insert(slot, trace_.hashes[id], charge);
    evict_over_capacity();
  }

  // A write to a resident key, as Store::set does it: a replacement the policy sees as a resize
  // (not a hit); a value too big for the cache drops the key instead.
  void overwrite(cache::SlotId slot, uint64_t charge) {
    if (charge > capacity_) {
      policy_.on_erase(slot);
      release(slot);
      return;
    }
    const uint64_t old = kBytes ? charge_of_[slot] : 1;
    if (old == charge) return;  // the Store overwrites in place and tells the policy nothing
    policy_.on_resize(slot, old, charge);
    used_ = used_ - old + charge;
    if (kBytes) charge_of_[slot] = static_cast<uint32_t>(charge);
    evict_over_capacity();
  }

  void resize(cache::SlotId slot, uint64_t charge) {
    policy_.on_resize(slot, charge_of_[slot], charge);
    used_ = used_ - charge_of_[slot] + charge;
    charge_of_[slot] = static_cast<uint32_t>(charge);
    evict_over_capacity();
  }

  void evict_over_capacity() {
    while (used_ > capacity_) {
      const cache::SlotId victim = policy_.evict();
      if (victim == cache::kNoSlot) std::abort();  // policy lost track of resident entries
      release(victim);
      // release() reads id_of_[victim], a random slot: load the likely next one's early.
      const cache::SlotId next = policy_.victim_hint();
      if (next < id_of_.size()) cache::prefetch(&id_of_[next]);
    }
  }

  void release(cache::SlotId slot) {
    slot_of_[id_of_[slot]] = cache::kNoSlot;
    used_ -= kBytes ? charge_of_[slot] : 1;
    free_.push_back(slot);
  }

  const Trace& trace_;
  Policy& policy_;
  const uint64_t capacity_;
  const SimRunOptions& options_;
  std::vector<cache::SlotId> slot_of_;  // per object id
  std::vector<uint32_t> id_of_;         // per slot
  // Per slot: the key hash, for the policy's SlotInfo calls (a copy: hashes[id_of_[slot]] would
  // be two dependent random loads on the eviction path).
  std::vector<uint64_t> hash_of_;
  std::vector<uint32_t> charge_of_;  // per slot, bytes mode only
  std::vector<cache::SlotId> free_;
  uint64_t used_ = 0;
};

template <class Policy, bool kBytes>
void replay_with(const Trace& trace, Policy& policy, uint64_t capacity,
                 const SimRunOptions& options, SimResult& r) {
  if (trace.ops.empty()) {
    Replay<Policy, kBytes, false>(trace, policy, capacity, options).run(r);
  } else {
    Replay<Policy, kBytes, true>(trace, policy, capacity, options).run(r);
  }
}

template <class Policy>
void replay(const Trace& trace, Policy& policy, const CacheSize& size, const SimRunOptions& options,
            SimResult& r) {
  if (size.unit == SizeUnit::kBytes) {
    replay_with<Policy, true>(trace, policy, size.capacity, options, r);
  } else {
    replay_with<Policy, false>(trace, policy, size.capacity, options, r);
  }
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// "live=arc switches=3 rate=1/16 est: lru=0.5970 s3fifo=0.4951 ..." for the report.
std::string adaptive_notes(const cache::AdaptivePolicy& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "live=%.*s switches=%llu rate=1/%.0f est:",
                static_cast<int>(p.live_policy().size()), p.live_policy().data(),
                static_cast<unsigned long long>(p.switches()),
                p.sample_rate() > 0 ? 1 / p.sample_rate() : 0.0);
  std::string out = buf;
  for (const auto& e : p.shadow_estimates()) {
    std::snprintf(buf, sizeof buf, " %s=%.4f", e.policy.c_str(), e.miss_ratio);
    out += buf;
  }
  return out;
}

}  // namespace

std::expected<CacheSize, std::string> parse_cache_size(std::string_view text, const Trace& trace,
                                                       const WorkingSet& ws) {
  CacheSize size{std::string(text), SizeUnit::kObjects, 0};
  std::string_view num = text;
  double scale = 1;
  bool percent = false;
  auto ends_with = [&](std::string_view suffix) {
    if (num.size() <= suffix.size()) return false;
    std::string tail(num.substr(num.size() - suffix.size()));
    for (auto& c : tail) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (tail != suffix) return false;
    num.remove_suffix(suffix.size());
    return true;
  };
  if (ends_with("%")) {
    percent = true;
  } else if (ends_with("GB") || ends_with("GIB")) {
    size.unit = SizeUnit::kBytes, scale = 1024.0 * 1024 * 1024;
  } else if (ends_with("MB") || ends_with("MIB")) {
    size.unit = SizeUnit::kBytes, scale = 1024.0 * 1024;
  } else if (ends_with("KB") || ends_with("KIB")) {
    size.unit = SizeUnit::kBytes, scale = 1024.0;
  } else if (ends_with("B")) {
    size.unit = SizeUnit::kBytes;
  } else if (ends_with("K")) {
    scale = 1e3;
  } else if (ends_with("M")) {
    scale = 1e6;
  }
  double value = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
  if (ec != std::errc() || end != num.data() + num.size() || !(value > 0)) {
    return std::unexpected("bad cache size '" + std::string(text) +
                           "' (objects: 1000, 10k; bytes: 64MB, 1GB; working set: 1%)");
  }
  if (percent) {
    if (value > 100) return std::unexpected("cache size '" + std::string(text) + "' above 100%");
    size.unit = trace.sized() ? SizeUnit::kBytes : SizeUnit::kObjects;
    const double whole = double(trace.sized() ? ws.bytes : ws.objects);
    size.capacity = static_cast<uint64_t>(std::llround(whole * value / 100));
  } else {
    size.capacity = static_cast<uint64_t>(std::llround(value * scale));
  }
  if (size.unit == SizeUnit::kBytes && !trace.sized()) {
    return std::unexpected("cache size '" + std::string(text) +
                           "' is in bytes but the trace has unit sizes (give objects or %)");
  }
  if (size.capacity == 0) {
    return std::unexpected("cache size '" + std::string(text) + "' rounds to 0");
  }
  return size;
}

std::unique_ptr<cache::EvictionPolicy> make_sim_policy(std::string_view name, uint64_t capacity) {
  if (name == "belady") return std::make_unique<BeladyPolicy>();
  auto p = cache::make_policy(name, cache::PolicyParams{.capacity = capacity});
  if (!p && name == "adaptive") {  // until the factory registers it
    p = std::make_unique<cache::AdaptivePolicy>(cache::PolicyParams{.capacity = capacity});
  }
  return p;
}

std::vector<std::string> sim_policy_names() {
  std::vector<std::string> names;
  for (std::string_view n : cache::policy_names()) names.emplace_back(n);
  names.emplace_back("belady");
  if (std::find(names.begin(), names.end(), "adaptive") == names.end()) {
    names.emplace_back("adaptive");
  }
  return names;
}

SimResult simulate(const Trace& trace, cache::EvictionPolicy& policy, const CacheSize& size,
                   const SimRunOptions& options) {
  SimResult r;
  r.policy = std::string(policy.name());
  r.size = size;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  if (auto* belady = dynamic_cast<BeladyPolicy*>(&policy)) {
    if (options.next_access == nullptr) std::abort();  // caller forgot next_accesses()
    replay(trace, *belady, size, options, r);
  } else if (auto* s3fifo = dynamic_cast<cache::S3FifoPolicy*>(&policy)) {
    // The headline policies get a loop of their own: through the final class the calls are
    // direct and inlinable instead of virtual.
    replay(trace, *s3fifo, size, options, r);
  } else if (auto* lru = dynamic_cast<cache::LruPolicy*>(&policy)) {
    replay(trace, *lru, size, options, r);
  } else {
    replay(trace, policy, size, options, r);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (const auto* adaptive = dynamic_cast<const cache::AdaptivePolicy*>(&policy)) {
    r.notes = adaptive_notes(*adaptive);
  }
  return r;
}

std::expected<std::vector<SimResult>, std::string> run_sims(
    const Trace& trace, const std::vector<std::string>& policies,
    const std::vector<CacheSize>& sizes, const SimOptions& options) {
  bool need_next = false;
  for (const auto& p : policies) {
    if (!make_sim_policy(p, 1)) {
      std::string known;
      for (const auto& n : sim_policy_names()) known += (known.empty() ? "" : ", ") + n;
      return std::unexpected("unknown policy '" + p + "' (known: " + known + ")");
    }
    need_next |= p == "belady";
  }
  std::vector<uint32_t> next;
  if (need_next) next = next_accesses(trace);

  const size_t jobs = policies.size() * sizes.size();
  std::vector<SimResult> results(jobs);
  std::atomic<size_t> next_job{0};
  std::atomic<uint64_t> done{0};
  auto worker = [&] {
    for (size_t j; (j = next_job.fetch_add(1)) < jobs;) {
      const std::string& name = policies[j / sizes.size()];
      const CacheSize& size = sizes[j % sizes.size()];
      auto policy = make_sim_policy(name, size.capacity);
      SimRunOptions run{.next_access = need_next ? &next : nullptr, .progress = &done};
      results[j] = simulate(trace, *policy, size, run);
      results[j].policy = name;  // the name asked for, even if the policy reports an alias
    }
  };
  const unsigned threads = std::max(1u, std::min<unsigned>(options.threads, jobs));
  ProgressBar bar(options.progress, uint64_t(jobs) * trace.requests(), &done);
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  pool.clear();  // joins
  bar.finish();
  return results;
}

}  // namespace strata::bench
