// Server-side counters for the load generator: INFO fields (hit ratio, CPU) over a plain
// blocking connection, and a process's CPU time from /proc/PID/stat.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "bench/load_options.h"

namespace strata::bench {

struct ServerInfo {
  std::optional<uint64_t> keyspace_hits;
  std::optional<uint64_t> keyspace_misses;
  std::optional<uint64_t> l1_hits;   // strata's memory-tier hits, when the target is strata
  std::optional<double> used_cpu_s;  // used_cpu_sys + used_cpu_user
};

// Parses the text of an INFO reply ("field:value\r\n" lines, "# Section" headers).
ServerInfo parse_info(std::string_view text);

std::expected<ServerInfo, std::string> fetch_info(const Target& target);

// The CPU time of `pid` (all of its threads) in seconds: from the threads' schedstat (ns), else
// utime + stime of /proc/PID/stat; nullopt if neither is readable.
std::optional<double> process_cpu_seconds(int pid);

}  // namespace strata::bench
