// Command-line options of `strata-bench load`, with every limit named and checked at start-up.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "bench/load_io.h"
#include "bench/load_keys.h"

namespace strata::bench {

inline constexpr int kConnectionsMax = 10000;
inline constexpr int kPipelineMax = 4096;
inline constexpr int kThreadsMax = 64;
inline constexpr int kRoundsMax = 1000;
inline constexpr uint32_t kValueBytesMax = 4u << 20;
// Zipf tables are uint32-indexed and keys are printed with kKeyDigits digits.
inline constexpr uint64_t kKeysMax = 1ull << 31;
inline constexpr int kKeyDigits = 12;  // "key:000000012345", like redis-benchmark -r
inline constexpr size_t kKeyPrefixMax = 256;
inline constexpr uint64_t kDefaultRequests = 100000;
// Each connection holds one batch of `pipeline` commands; these bound that memory.
inline constexpr uint64_t kBatchBytesMax = 64ull << 20;
inline constexpr uint64_t kSendBytesTotalMax = 2ull << 30;
inline constexpr uint64_t kCommandBytesOverhead = 64;  // RESP framing of GET/SET around key+value

struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 6380;
  int pid = 0;        // server process for CPU accounting via /proc; 0 = use INFO used_cpu_* if any
  std::string label;  // "A", "B"
  std::string name() const { return host + ":" + std::to_string(port); }
};

enum class OutputFormat : uint8_t { kText, kCsv, kJson };

struct LoadOptions {
  std::vector<Target> targets;  // one, or two for alternating A/B rounds
  int connections = 50;
  int pipeline = 1;
  uint64_t requests = 0;  // measured requests per run; 0 with duration_s = 0 -> default
  double duration_s = 0;  // measured seconds per run (takes precedence when set)
  uint64_t keys = 100000;
  KeyDistSpec dist{};
  uint32_t get_weight = 9;
  uint32_t set_weight = 1;
  uint32_t value_min = 100;
  uint32_t value_max = 100;
  std::string key_prefix = "key:";
  int threads = 1;
  double warmup_s = 0;
  int rounds = 1;
  OutputFormat format = OutputFormat::kText;
  bool prefill = false;  // SET every key once (sequentially) before measuring
  // GET and SET become LPOP and LPUSH (the ratio then weighs LPOP:LPUSH): list commands, e.g.
  // for a pass-through proxy's relayed path, with the same keys and values.
  bool list_ops = false;
  bool resp3 = false;    // each connection sends HELLO 3 first (replies in RESP3)
  // ... then CLIENT TRACKING ON (with --resp3; for read-only loads: invalidation pushes would
  // count as replies)
  bool tracking = false;
  bool progress = true;  // once-per-second progress line on stderr
  uint64_t seed = 1;
  // Replay a bench/trace.h spec (e.g. "scan:objects=100000,requests=1000000" or "csv:FILE")
  // instead of --dist; its ops and sizes, when present, override --ratio and --value-size.
  std::string trace_spec;
  bool value_size_given = false;
  IoKind io = IoKind::kAuto;  // --io auto|uring|epoll
};

// Trace sizes are clamped to this unless --value-size gives a range.
inline constexpr uint32_t kTraceValueBytesMax = 64 * 1024;

// Cross-option limits (batch memory); run again after a trace changed keys or value sizes.
std::expected<void, std::string> check_load_limits(const LoadOptions& options);

std::expected<LoadOptions, std::string> parse_load_options(int argc, char** argv);
std::string load_usage();

}  // namespace strata::bench
