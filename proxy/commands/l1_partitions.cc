#include "proxy/commands/l1_partitions.h"

#include <cinttypes>
#include <cstdio>

namespace strata::proxy {
namespace {

// "lirs*3+s3fifo*1": which policy each shard runs now (adaptive shards switch on their own).
std::string live_text(const cache::PartitionStats& p) {
  std::string out;
  for (const auto& [name, shards] : p.live_policies) {
    if (!out.empty()) out += '+';
    out += name + "*" + std::to_string(shards);
  }
  return out.empty() ? "none" : out;
}

double hit_ratio(const cache::StoreStats& s) {
  const uint64_t reads = s.hits + s.misses;
  return reads == 0 ? 0.0 : static_cast<double>(s.hits) / static_cast<double>(reads);
}

std::string name_of(const cache::PartitionStats& p) {
  return p.prefix.empty() ? "(default)" : p.prefix;
}

}  // namespace

std::string partition_info_lines(const cache::Store& store) {
  if (store.config().partitions.empty()) return "";
  std::string out;
  char line[512];
  for (const cache::PartitionStats& p : store.partition_stats()) {
    snprintf(line, sizeof line,
             ",capacity=%" PRIu64 ",used=%" PRIu64 ",keys=%" PRIu64 ",hits=%" PRIu64
             ",misses=%" PRIu64 ",evictions=%" PRIu64 ",eviction=%s,live=%s,switches=%" PRIu64
             "\r\n",
             p.capacity_bytes, p.stats.used_bytes, p.stats.keys, p.stats.hits, p.stats.misses,
             p.stats.evictions, p.eviction.c_str(), live_text(p).c_str(), p.switches);
    out += "l1_partition:" + name_of(p) + line;
  }
  return out;
}

std::string partition_report(const cache::Store& store, std::string_view prefix) {
  std::string out;
  char line[512];
  for (const cache::PartitionStats& p : store.partition_stats()) {
    if (!prefix.empty() && p.prefix != prefix) continue;
    if (out.empty()) {
      out =
          "# L1 partitions (live: policy*shards now running; adaptive shards switch alone)\n"
          "partition,capacity_bytes,used_bytes,keys,hit_ratio,evictions,eviction,live,"
          "switches\n";
    }
    snprintf(line, sizeof line,
             ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.4f,%" PRIu64 ",%s,%s,%" PRIu64 "\n",
             p.capacity_bytes, p.stats.used_bytes, p.stats.keys, hit_ratio(p.stats),
             p.stats.evictions, p.eviction.c_str(), live_text(p).c_str(), p.switches);
    out += name_of(p) + line;
  }
  return out;
}

}  // namespace strata::proxy
