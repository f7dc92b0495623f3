// Command-line flags and the [server] table of the config file. Every limit is named here with
// its default, and checked against the others at start-up.
#pragma once

#include <cstdint>
#include <string>

namespace strata::proxy {

struct Options {
  std::string bind = "127.0.0.1";
  uint16_t port = 6380;
  uint32_t workers = 0;          // 0: one per core
  uint64_t maxmemory_bytes = 0;  // 0: no limit (like Redis)
  std::string eviction = "s3fifo";
  std::string upstream;  // host:port, empty: standalone
  std::string nats;      // NATS server URL(s) for the sync bus; overrides [nats] url
  uint16_t ws_port = 0;  // the WebSocket channel's port; overrides [websocket] port (0: the file's)
  int64_t clock_offset_ms = 0;  // added to the wall clock of versions (tests of skewed clocks)
  std::string config_file;
  std::string requirepass;
  std::string io = "auto";  // auto | uring | epoll
  bool l1_enabled = true;   // false: pass-through (every command goes upstream)

  // Limits.
  uint32_t maxclients = 10000;
  uint32_t idle_timeout_s = 0;                    // 0: never, as Redis's `timeout 0`
  uint64_t bulk_bytes_max = 512ull << 20;         // proto-max-bulk-len
  uint64_t multibulk_count_max = 2147483647;      // Redis 7.0 accepts up to INT_MAX
  uint64_t query_buffer_bytes_max = 1ull << 30;   // client-query-buffer-limit
  uint64_t output_buffer_bytes_max = 1ull << 30;  // hard limit: disconnect past it
  uint64_t output_pause_bytes = 1ull << 20;       // stop reading a client past this
  uint32_t output_stall_ms = 30'000;              // output pending, nothing drained: disconnect
  uint32_t pending_replies_max = 4096;            // replies waiting on the upstream, per client

  // Upstream.
  uint32_t upstream_connections = 2;  // shared pipelined connections per worker
  uint32_t upstream_connect_timeout_ms = 1000;
  uint32_t upstream_reply_timeout_ms = 5000;
  uint32_t upstream_backoff_max_ms = 2000;
  uint32_t upstream_pending_max = 65536;  // requests in flight per shared connection
  bool upstream_tracking = true;          // CLIENT TRACKING: see other clients' writes to Redis
  uint64_t fill_ttl_max_ms = 0;  // cap on how long an upstream-filled entry lives in L1; 0: none

  uint32_t hitrate_sample_shift = 8;  // hit-rate monitor samples 1 key in 2^N; 0: off
  uint32_t tick_ms = 100;
  uint32_t active_expire_budget = 200;  // keys checked per worker tick
  bool verbose = false;
};

enum class ParseOutcome { kRun, kExit, kError };

// Parses argv (and the config file it names). On kError, *message says what and where.
ParseOutcome parse_options(int argc, char** argv, Options* out, std::string* message);
std::string usage();
// Checks limits against each other; empty when fine.
std::string validate(const Options& o);
// "100mb", "1gb", "4096" -> bytes; false on bad input.
bool parse_bytes(const std::string& s, uint64_t* out);

}  // namespace strata::proxy
