#include "proxy/commands/hitrate_monitor.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "cache/eviction_policy.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kOther = "*";
// Sizes modelled when L1 is bounded: around the configured size, as multiples of it.
constexpr double kSizeFactors[] = {0.5, 1.0, 2.0};
// When L1 is unbounded there is no "current size": model these absolute sizes.
constexpr uint64_t kAbsoluteSizes[] = {64ull << 20, 256ull << 20, 1ull << 30};
// A shadow below this many bytes after scaling would model almost nothing.
constexpr uint64_t kShadowBytesMin = 4096;
// Entry size assumed for a read miss before any write of the prefix was sampled.
constexpr uint64_t kSizeGuess = 128;

std::string_view prefix_of(std::string_view key) {
  size_t colon = key.find(':');
  return colon == std::string_view::npos ? kOther : key.substr(0, colon + 1);
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30) && b % (1ull << 30) == 0) {
    snprintf(buf, sizeof buf, "%" PRIu64 "gb", b >> 30);
  } else if (b >= (1ull << 20)) {
    snprintf(buf, sizeof buf, "%.1fmb", static_cast<double>(b) / (1 << 20));
  } else {
    snprintf(buf, sizeof buf, "%" PRIu64 "kb", b >> 10);
  }
  return buf;
}

}  // namespace

// Sizes modelled for an L1 (partition) of `capacity` bytes.
std::vector<uint64_t> model_sizes(uint64_t capacity) {
  std::vector<uint64_t> sizes;
  if (capacity > 0) {
    for (double f : kSizeFactors)
      sizes.push_back(static_cast<uint64_t>(static_cast<double>(capacity) * f));
  } else {
    sizes.assign(std::begin(kAbsoluteSizes), std::end(kAbsoluteSizes));
  }
  return sizes;
}

struct HitRateMonitor::Group {
  std::string prefix;
  std::vector<uint64_t> sizes;  // full-scale L1 sizes the shadows model
  size_t current = 0;           // the column of the L1's real size (or the largest if unbounded)
  std::string live_policy;
  uint64_t sampled_reads = 0;
  uint64_t counted_reads = 0;  // time-sampled reads: x kReadCountEvery estimates all reads
  uint64_t sampled_writes = 0;
  uint64_t written_bytes = 0;  // charged bytes of sampled writes: their mean sizes read misses
  // sims[policy * sizes + size]
  std::vector<std::unique_ptr<cache::ShadowSim>> sims;
};

// One sampled key updates every shadow of its prefix, each in its own memory, which the rest of
// the server's traffic has evicted since the last sampled key: issue all their first loads
// together so the misses overlap.
void HitRateMonitor::prefetch_sims(const Group& g, uint64_t key_hash) {
  for (const auto& s : g.sims) s->prefetch(key_hash);
}

HitRateMonitor::HitRateMonitor(HitRateConfig config) : config_(std::move(config)) {
  for (const HitRatePartition& p : config_.partitions) routes_.set(p.prefix, &p);
  for (const std::string& p : config_.default_prefixes) routes_.set(p, nullptr);
}

HitRateMonitor::~HitRateMonitor() = default;

HitRateMonitor::Group* HitRateMonitor::group_for(std::string_view key) {
  // A routed prefix names its group; other keys are grouped up to their first ':'.
  const std::string_view routed = routes_.match_prefix(key);
  const std::string_view p = routed.empty() ? prefix_of(key) : routed;
  const HitRatePartition* partition = routes_.match(key);
  for (auto& g : groups_) {
    if (g->prefix == p) return g.get();
  }
  // Partitions always get their own group: they are few (bounded by the policy file).
  if (partition == nullptr && groups_.size() >= config_.prefixes_max && p != kOther) {
    return group_for("*");
  }
  return make_group(p, partition);
}

HitRateMonitor::Group* HitRateMonitor::make_group(std::string_view prefix,
                                                  const HitRatePartition* partition) {
  auto g = std::make_unique<Group>();
  g->prefix.assign(prefix);
  const uint64_t capacity = partition ? partition->capacity_bytes : config_.l1_capacity_bytes;
  g->sizes = model_sizes(capacity);
  g->current = capacity > 0 ? 1 : g->sizes.size() - 1;
  g->live_policy = partition ? partition->live_policy : config_.live_policy;
  for (std::string_view name : cache::policy_names()) {
    if (name == "adaptive") continue;
    for (uint64_t size : g->sizes) {
      uint64_t scaled = std::max(size >> config_.sample_shift, kShadowBytesMin);
      g->sims.push_back(std::make_unique<cache::ShadowSim>(name, scaled));
    }
  }
  groups_.push_back(std::move(g));
  return groups_.back().get();
}

void HitRateMonitor::read(std::string_view key, uint64_t key_hash, uint64_t size) {
  std::lock_guard lock(mu_);
  Group* g = group_for(key);
  ++g->sampled_reads;
  if (size == 0) size = g->sampled_writes > 0 ? g->written_bytes / g->sampled_writes : kSizeGuess;
  prefetch_sims(*g, key_hash);
  for (auto& s : g->sims) s->access(key_hash, size);
}

void HitRateMonitor::count_read(std::string_view key) {
  std::lock_guard lock(mu_);
  ++group_for(key)->counted_reads;
}

// SHARDS-adj: misses over the reads the sample should have seen (rate x estimated total), once
// enough reads were counted to estimate the total; the plain sampled ratio before that.
double HitRateMonitor::estimate(const Group& g, const cache::ShadowSim& s) const {
  const cache::ShadowCounts c = s.total();
  if (g.counted_reads < kCountedReadsMin) return c.miss_ratio();
  const double expected = static_cast<double>(g.counted_reads) * kReadCountEvery /
                          static_cast<double>(uint64_t{1} << config_.sample_shift);
  return std::min(1.0, static_cast<double>(c.misses) / expected);
}

void HitRateMonitor::write(std::string_view key, uint64_t key_hash, uint64_t size) {
  std::lock_guard lock(mu_);
  Group* g = group_for(key);
  ++g->sampled_writes;
  g->written_bytes += size;
  prefetch_sims(*g, key_hash);
  for (auto& s : g->sims) s->write(key_hash, size);
}

void HitRateMonitor::erase(std::string_view key, uint64_t key_hash) {
  std::lock_guard lock(mu_);
  Group* g = group_for(key);
  for (auto& s : g->sims) s->erase(key_hash);
}

void HitRateMonitor::describe(const Group& g, std::string* out) const {
  char line[256];
  snprintf(line, sizeof line,
           "# prefix %s  (1 key in %u sampled; %" PRIu64 " sampled reads of ~%" PRIu64 ", %" PRIu64
           " sampled writes; live policy %s)\n",
           g.prefix.c_str(), 1u << config_.sample_shift, g.sampled_reads,
           g.counted_reads * kReadCountEvery, g.sampled_writes, g.live_policy.c_str());
  out->append(line);
  out->append("policy");
  for (uint64_t s : g.sizes) {
    snprintf(line, sizeof line, ",%s", human_bytes(s).c_str());
    out->append(line);
  }
  out->append("\n");
  const size_t n = g.sizes.size();
  for (size_t p = 0; p * n < g.sims.size(); ++p) {
    out->append(g.sims[p * n]->policy_name());
    for (size_t i = 0; i < n; ++i) {
      snprintf(line, sizeof line, ",%.4f", estimate(g, *g.sims[p * n + i]));
      out->append(line);
    }
    out->append("\n");
  }
}

std::string HitRateMonitor::report(std::string_view prefix) const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& g : groups_) {
    if (prefix.empty() || g->prefix == prefix) describe(*g, &out);
  }
  return out;
}

std::string HitRateMonitor::info_lines() const {
  std::lock_guard lock(mu_);
  std::string out;
  char line[256];
  for (const auto& g : groups_) {
    const size_t n = g->sizes.size();
    const size_t col = g->current;
    const cache::ShadowSim* best = nullptr;
    const cache::ShadowSim* live = nullptr;
    for (size_t p = 0; p * n < g->sims.size(); ++p) {
      const cache::ShadowSim* s = g->sims[p * n + col].get();
      if (best == nullptr || estimate(*g, *s) < estimate(*g, *best)) best = s;
      if (s->policy_name() == g->live_policy) live = s;
    }
    if (best == nullptr) continue;
    snprintf(line, sizeof line,
             "hitrate_prefix:%s,sampled_reads=%" PRIu64
             ",best_policy=%s,best_miss_ratio=%.4f,live_miss_ratio=%.4f,at=%s\r\n",
             g->prefix.c_str(), g->sampled_reads, best->policy_name().c_str(), estimate(*g, *best),
             live ? estimate(*g, *live) : -1.0, human_bytes(g->sizes[col]).c_str());
    out.append(line);
  }
  return out;
}

}  // namespace strata::proxy
