#include "proxy/server/options.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <limits>
#include <thread>
#include <variant>

#include "cache/eviction_policy.h"

namespace strata::proxy {
namespace {

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

template <class T>
bool parse_uint(const std::string& s, T* out) {
  uint64_t v;
  if (!parse_u64(s, &v) || v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
  *out = static_cast<T>(v);
  return true;
}

// One table drives flags and config keys, so both spell every setting the same way.
using Field = std::variant<std::string Options::*, uint16_t Options::*, uint32_t Options::*,
                           uint64_t Options::*, bool Options::*, int64_t Options::*>;
struct Setting {
  const char* name;
  const char* help;
  enum Kind { kString, kU16, kU32, kU64, kBytes, kBool, kI64 } kind;
  Field field;
};

#define S(field, kind, help) \
  Setting { #field, help, Setting::kind, &Options::field }
const Setting kSettings[] = {
    S(bind, kString, "address to listen on (default 127.0.0.1)"),
    S(port, kU16, "port to listen on (default 6380)"),
    S(workers, kU32, "worker threads, one event loop each (default: one per core)"),
    S(maxmemory_bytes, kBytes, "L1 memory limit, e.g. 256mb (default 0: unlimited)"),
    S(eviction, kString, "L1 eviction policy: s3fifo (default), lru, ..."),
    S(upstream, kString, "upstream Redis host:port (default: none, standalone)"),
    S(nats, kString, "NATS URL(s) for the sync bus, e.g. nats://127.0.0.1:4222 (overrides [nats] url)"),
    S(ws_port, kU16, "WebSocket channel port (overrides [websocket] port; default: the file's, 0 = off)"),
    S(clock_offset_ms, kI64, "added to the clock of write versions (tests of skewed instances; 0)"),
    S(requirepass, kString, "password clients must AUTH with (default: none)"),
    S(io, kString, "I/O backend: auto (default), uring, epoll"),
    S(l1_enabled, kBool, "serve from L1 (default true); false: pure pass-through"),
    S(maxclients, kU32, "max client connections (default 10000)"),
    S(idle_timeout_s, kU32, "close clients idle this long (default 0: never)"),
    S(bulk_bytes_max, kBytes, "max bulk string length (default 512mb)"),
    S(multibulk_count_max, kU64, "max arguments per command (default 2147483647, as Redis 7.0)"),
    S(query_buffer_bytes_max, kBytes, "max unparsed input per client (default 1gb)"),
    S(output_buffer_bytes_max, kBytes, "max pending output per client (default 1gb)"),
    S(output_pause_bytes, kBytes, "stop reading a client with this much output pending (1mb)"),
    S(output_stall_ms, kU32, "disconnect a client whose output does not drain (30000)"),
    S(pending_replies_max, kU32, "max replies waiting on upstream per client (4096)"),
    S(upstream_connections, kU32, "shared upstream connections per worker (default 2)"),
    S(upstream_connect_timeout_ms, kU32, "upstream connect timeout (default 1000)"),
    S(upstream_reply_timeout_ms, kU32, "upstream reply timeout (default 5000)"),
    S(upstream_backoff_max_ms, kU32, "max reconnect backoff (default 2000)"),
    S(upstream_pending_max, kU32, "max requests in flight per upstream connection (65536)"),
    S(upstream_tracking, kBool, "keep L1 coherent with others' writes via CLIENT TRACKING (true)"),
    S(fill_ttl_max_ms, kU64, "max lifetime in L1 of an upstream-filled entry (default 0: none)"),
    S(hitrate_sample_shift, kU32, "hit-rate monitor samples 1 key in 2^N (default 8; 0: off)"),
    S(tick_ms, kU32, "housekeeping tick (default 100)"),
    S(active_expire_budget, kU32, "keys checked for expiry per worker tick (default 200)"),
    S(verbose, kBool, "log more"),
};
#undef S

// Flags use dashes and short aliases; config keys use the field names.
struct Alias {
  const char* flag;
  const char* field;
};
const Alias kAliases[] = {{"maxmemory", "maxmemory_bytes"}, {"timeout", "idle_timeout_s"}};

const Setting* find_setting(std::string name) {
  for (char& c : name) c = c == '-' ? '_' : c;
  for (const Alias& a : kAliases) {
    if (name == a.flag) name = a.field;
  }
  for (const Setting& s : kSettings) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

bool parse_bool(const std::string& v, bool* out) {
  if (v == "yes" || v == "true" || v == "1" || v == "on") return *out = true, true;
  if (v == "no" || v == "false" || v == "0" || v == "off") return *out = false, true;
  return false;
}

bool assign(Options* o, const Setting& s, const std::string& v) {
  switch (s.kind) {
    case Setting::kString:
      o->*std::get<std::string Options::*>(s.field) = v;
      return true;
    case Setting::kU16:
      return parse_uint(v, &(o->*std::get<uint16_t Options::*>(s.field)));
    case Setting::kU32:
      return parse_uint(v, &(o->*std::get<uint32_t Options::*>(s.field)));
    case Setting::kU64:
      return parse_u64(v, &(o->*std::get<uint64_t Options::*>(s.field)));
    case Setting::kBytes:
      return parse_bytes(v, &(o->*std::get<uint64_t Options::*>(s.field)));
    case Setting::kBool:
      return parse_bool(v, &(o->*std::get<bool Options::*>(s.field)));
    case Setting::kI64: {
      int64_t& out = o->*std::get<int64_t Options::*>(s.field);
      const char* end = v.data() + v.size();
      auto [p, ec] = std::from_chars(v.data(), end, out);
      return ec == std::errc() && p == end;
    }
  }
  return false;
}

std::string load_config(const std::string& path, Options* o) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
  }
  for (auto&& [table_name, node] : root) {
    const toml::table* table = node.as_table();
    if (table_name.str() != "server" || table == nullptr) {
      // Other tables ([[policy]], [upstream.*]) belong to the policy layer.
      continue;
    }
    for (auto&& [key, value] : *table) {
      const std::string where = path + ":" + std::to_string(value.source().begin.line) +
                                ": [server] " + std::string(key.str());
      const Setting* s = find_setting(std::string(key.str()));
      if (s == nullptr) return where + ": unknown setting";
      std::string text;
      if (auto v = value.value<std::string>(); v && value.is_string()) {
        text = *v;
      } else if (auto i = value.value<int64_t>(); i && value.is_integer()) {
        if (*i < 0) return where + ": must not be negative";
        text = std::to_string(*i);
      } else if (auto b = value.value<bool>(); b && value.is_boolean()) {
        text = *b ? "true" : "false";
      } else {
        return where + ": expected a string, an integer or a boolean";
      }
      if (!assign(o, *s, text)) return where + ": invalid value '" + text + "'";
    }
  }
  return {};
}

}  // namespace

bool parse_bytes(const std::string& s, uint64_t* out) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  uint64_t n;
  if (i == 0 || !parse_u64(s.substr(0, i), &n)) return false;
  std::string unit = s.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  uint64_t mul = 1;
  if (unit.empty() || unit == "b") {
    mul = 1;
  } else if (unit == "k" || unit == "kb") {
    mul = 1024;
  } else if (unit == "m" || unit == "mb") {
    mul = 1024 * 1024;
  } else if (unit == "g" || unit == "gb") {
    mul = 1024ull * 1024 * 1024;
  } else {
    return false;
  }
  if (n > UINT64_MAX / mul) return false;
  *out = n * mul;
  return true;
}

std::string usage() {
  std::string u =
      "Usage: strata [--config FILE] [--flag value ...]\n"
      "strata: a Redis-compatible cache proxy with an in-process L1 tier.\n"
      "Without --upstream it serves the commands it implements from L1 alone.\n\nFlags:\n";
  for (const Setting& s : kSettings) {
    std::string flag = s.name;
    for (char& c : flag) c = c == '_' ? '-' : c;
    if (std::strcmp(s.name, "maxmemory_bytes") == 0) flag = "maxmemory";
    if (std::strcmp(s.name, "idle_timeout_s") == 0) flag = "timeout";
    u += "  --" + flag + std::string(flag.size() < 28 ? 28 - flag.size() : 1, ' ') + s.help + "\n";
  }
  u += "  --config FILE               TOML file; its [server] table takes the same names\n"
       "  --help                      this text\n";
  return u;
}

std::string validate(const Options& o) {
  if (o.port == 0) return "port must be 1..65535";
  if (o.io != "auto" && o.io != "uring" && o.io != "epoll")
    return "io must be auto, uring or epoll";
  if (o.eviction != "adaptive" && !cache::make_policy(o.eviction, {.capacity = 1})) {
    std::string names;
    for (auto n : cache::policy_names()) names += (names.empty() ? "" : ", ") + std::string(n);
    return "unknown eviction policy '" + o.eviction + "' (known: " + names + ")";
  }
  if (o.workers > 256) return "workers must be at most 256";
  if (o.maxclients == 0) return "maxclients must be at least 1";
  if (o.bulk_bytes_max < 1024) return "bulk-bytes-max must be at least 1024";
  if (o.query_buffer_bytes_max < o.bulk_bytes_max / 2 && o.query_buffer_bytes_max < (1ull << 20))
    return "query-buffer-bytes-max must be at least 1mb";
  if (o.output_pause_bytes > o.output_buffer_bytes_max)
    return "output-pause-bytes must not exceed output-buffer-bytes-max";
  if (o.upstream_connections == 0 || o.upstream_connections > 64)
    return "upstream-connections must be 1..64";
  if (o.tick_ms == 0 || o.tick_ms > 1000) return "tick-ms must be 1..1000";
  if (o.hitrate_sample_shift > 16) return "hitrate-sample-shift must be 0..16";
  if (!o.upstream.empty() && o.upstream.rfind(':') == std::string::npos)
    return "upstream must be host:port";
  if (!o.l1_enabled && o.upstream.empty()) return "l1-enabled false needs an upstream";
  return {};
}

ParseOutcome parse_options(int argc, char** argv, Options* out, std::string* message) {
  // The config file is read first so flags override it, wherever --config appears.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0) out->config_file = argv[i + 1];
  }
  if (!out->config_file.empty()) {
    if (std::string err = load_config(out->config_file, out); !err.empty()) {
      *message = err;
      return ParseOutcome::kError;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *message = usage();
      return ParseOutcome::kExit;
    }
    if (!arg.starts_with("--")) {
      *message = "unexpected argument '" + arg + "' (see --help)";
      return ParseOutcome::kError;
    }
    std::string name = arg.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (name == "config") {
      ++i;
      continue;
    } else {
      const Setting* s = find_setting(name);
      if (s != nullptr && s->kind == Setting::kBool &&
          (i + 1 >= argc || std::string(argv[i + 1]).starts_with("--"))) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        *message = "missing value for --" + name;
        return ParseOutcome::kError;
      }
    }
    const Setting* s = find_setting(name);
    if (s == nullptr) {
      *message = "unknown flag --" + name + " (see --help)";
      return ParseOutcome::kError;
    }
    if (!assign(out, *s, value)) {
      *message = "invalid value '" + value + "' for --" + name;
      return ParseOutcome::kError;
    }
  }
  if (out->workers == 0) out->workers = std::max(1u, std::thread::hardware_concurrency());
  if (std::string err = validate(*out); !err.empty()) {
    *message = err;
    return ParseOutcome::kError;
  }
  return ParseOutcome::kRun;
}

}  // namespace strata::proxy
