#include "bench/load_options.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace strata::bench {
namespace {

using Result = std::expected<LoadOptions, std::string>;

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

bool parse_int(std::string_view s, int min, int max, int& out) {
  uint64_t v = 0;
  if (!parse_u64(s, v) || v < static_cast<uint64_t>(min) || v > static_cast<uint64_t>(max)) {
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool parse_seconds(std::string_view s, double& out) {
  const std::string text(s);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0' && out >= 0 && out <= 86400;
}

bool parse_endpoint(std::string_view s, Target& out) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  int port = 0;
  if (!parse_int(s.substr(colon + 1), 1, 65535, port)) return false;
  out.host = std::string(s.substr(0, colon));
  out.port = static_cast<uint16_t>(port);
  return !out.host.empty();
}

bool parse_value_size(std::string_view s, uint32_t& min, uint32_t& max) {
  uint64_t a = 0, b = 0;
  const size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    if (!parse_u64(s, a)) return false;
    b = a;
  } else if (!parse_u64(s.substr(0, dash), a) || !parse_u64(s.substr(dash + 1), b)) {
    return false;
  }
  if (a > b || b > kValueBytesMax) return false;
  min = static_cast<uint32_t>(a);
  max = static_cast<uint32_t>(b);
  return true;
}

bool parse_ratio(std::string_view s, uint32_t& get, uint32_t& set) {
  const size_t colon = s.find(':');
  uint64_t g = 0, w = 0;
  if (colon == std::string_view::npos || !parse_u64(s.substr(0, colon), g) ||
      !parse_u64(s.substr(colon + 1), w) || g + w == 0 || g > 1000000 || w > 1000000) {
    return false;
  }
  get = static_cast<uint32_t>(g);
  set = static_cast<uint32_t>(w);
  return true;
}

// Applies one "--name value" pair; returns an error message or empty.
std::string apply(LoadOptions& o, std::string_view name, std::string_view v, std::string& host,
                  std::vector<int>& pids) {
  auto bad = [&] { return "invalid value for " + std::string(name) + ": " + std::string(v); };
  if (name == "--host") {
    host = std::string(v);
  } else if (name == "--port") {
    int port = 0;
    if (!parse_int(v, 1, 65535, port)) return bad();
    o.targets.push_back(Target{host, static_cast<uint16_t>(port), 0, ""});
  } else if (name == "--target") {
    for (size_t start = 0; start <= v.size();) {
      size_t comma = v.find(',', start);
      if (comma == std::string_view::npos) comma = v.size();
      Target t;
      if (!parse_endpoint(v.substr(start, comma - start), t)) return bad();
      o.targets.push_back(t);
      start = comma + 1;
    }
  } else if (name == "--pid-a" || name == "--pid-b") {
    int pid = 0;
    if (!parse_int(v, 1, 1 << 30, pid)) return bad();
    pids[name == "--pid-a" ? 0 : 1] = pid;
  } else if (name == "--connections" || name == "-c") {
    if (!parse_int(v, 1, kConnectionsMax, o.connections)) return bad();
  } else if (name == "--pipeline" || name == "-P") {
    if (!parse_int(v, 1, kPipelineMax, o.pipeline)) return bad();
  } else if (name == "--requests" || name == "-n") {
    if (!parse_u64(v, o.requests) || o.requests == 0) return bad();
  } else if (name == "--duration") {
    if (!parse_seconds(v, o.duration_s) || o.duration_s <= 0) return bad();
  } else if (name == "--keys") {
    if (!parse_u64(v, o.keys) || o.keys == 0 || o.keys > kKeysMax) return bad();
  } else if (name == "--dist") {
    if (!parse_key_dist(v, o.dist)) return bad();
  } else if (name == "--trace") {
    if (v.empty()) return bad();
    o.trace_spec = std::string(v);
  } else if (name == "--ratio") {
    if (!parse_ratio(v, o.get_weight, o.set_weight)) return bad();
  } else if (name == "--value-size" || name == "-d") {
    if (!parse_value_size(v, o.value_min, o.value_max)) return bad();
    o.value_size_given = true;
  } else if (name == "--key-prefix") {
    if (v.size() > kKeyPrefixMax) return bad();
    o.key_prefix = std::string(v);
  } else if (name == "--threads") {
    if (!parse_int(v, 1, kThreadsMax, o.threads)) return bad();
  } else if (name == "--warmup") {
    if (!parse_seconds(v, o.warmup_s)) return bad();
  } else if (name == "--rounds") {
    if (!parse_int(v, 1, kRoundsMax, o.rounds)) return bad();
  } else if (name == "--seed") {
    if (!parse_u64(v, o.seed)) return bad();
  } else if (name == "--io") {
    if (v == "auto")
      o.io = IoKind::kAuto;
    else if (v == "uring")
      o.io = IoKind::kUring;
    else if (v == "epoll")
      o.io = IoKind::kEpoll;
    else
      return bad();
  } else if (name == "--format") {
    if (v == "text")
      o.format = OutputFormat::kText;
    else if (v == "csv")
      o.format = OutputFormat::kCsv;
    else if (v == "json")
      o.format = OutputFormat::kJson;
    else
      return bad();
  } else {
    return "unknown option " + std::string(name);
  }
  return {};
}

}  // namespace

std::string load_usage() {
  return "usage: strata-bench load [options]\n"
         "  --target H:P[,H:P]   target(s); two = alternating A/B rounds (default 127.0.0.1:6380)\n"
         "  --host H --port N    same, --port repeatable (uses the last --host)\n"
         "  --pid-a PID --pid-b PID  server pids for CPU time per request (/proc)\n"
         "  --connections N (50) --pipeline N (1) --threads N (1, one io_uring each)\n"
         "  --resp3              every connection sends HELLO 3 first (RESP3 replies)\n"
         "  --tracking           ... then CLIENT TRACKING ON (needs --resp3 and --ratio N:0)\n"
         "  --requests N (100000) | --duration S    measured load per run\n"
         "  --warmup S (0) --rounds K (1)\n"
         "  --keys N (100000) --dist zipf[:ALPHA]|uniform|sequential (zipf:1)\n"
         "  --ratio GET:SET (9:1) --value-size N|MIN-MAX (100) --key-prefix S (key:)\n"
         "  --trace SPEC         replay a trace spec of `strata-bench sim` (zipf:..., scan:...,\n"
         "                       csv:FILE, oracle:FILE) instead of --dist; cycles; uses the\n"
         "                       trace's ops (get/set/del) and sizes when it has them\n"
         "  --prefill            SET every key once before measuring\n"
         "  --list               LPOP and LPUSH instead of GET and SET (--ratio LPOP:LPUSH)\n"
         "  --format text|csv|json --no-progress --seed N\n"
         "  --io auto|uring|epoll (auto: io_uring, epoll where io_uring is refused)\n";
}

std::expected<void, std::string> check_load_limits(const LoadOptions& o) {
  const uint64_t batch_bytes = static_cast<uint64_t>(o.pipeline) *
                               (o.value_max + o.key_prefix.size() + kCommandBytesOverhead);
  if (batch_bytes > kBatchBytesMax) {
    return std::unexpected("--pipeline x --value-size exceeds " +
                           std::to_string(kBatchBytesMax >> 20) + " MiB per connection");
  }
  if (batch_bytes * static_cast<uint64_t>(o.connections) > kSendBytesTotalMax) {
    return std::unexpected("--connections x --pipeline x --value-size exceeds " +
                           std::to_string(kSendBytesTotalMax >> 20) + " MiB of send buffers");
  }
  if (o.keys > kKeysMax) return std::unexpected("more keys than " + std::to_string(kKeysMax));
  return {};
}

std::expected<LoadOptions, std::string> parse_load_options(int argc, char** argv) {
  LoadOptions o;
  std::string host = "127.0.0.1";
  std::vector<int> pids(2, 0);
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    if (name == "--help" || name == "-h") return std::unexpected(load_usage());
    if (name == "--prefill") {
      o.prefill = true;
      continue;
    }
    if (name == "--list") {
      o.list_ops = true;
      continue;
    }
    if (name == "--tracking") {
      o.tracking = true;
      continue;
    }
    if (name == "--resp3") {
      o.resp3 = true;
      continue;
    }
    if (name == "--no-progress") {
      o.progress = false;
      continue;
    }
    std::string_view value;
    const size_t eq = name.find('=');
    if (name.starts_with("--") && eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return std::unexpected("missing value for " + std::string(name));
    }
    if (std::string err = apply(o, name, value, host, pids); !err.empty()) {
      return std::unexpected(err);
    }
  }
  if (o.targets.empty()) o.targets.push_back(Target{});
  if (o.targets.size() > 2) return std::unexpected("at most two targets (A and B)");
  if (o.tracking && (!o.resp3 || o.set_weight != 0 || o.list_ops)) {
    return std::unexpected("--tracking needs --resp3 and a read-only load (--ratio N:0): "
                           "invalidation pushes would count as replies");
  }
  for (size_t t = 0; t < o.targets.size(); ++t) {
    o.targets[t].label = t == 0 ? "A" : "B";
    o.targets[t].pid = pids[t];
  }
  if (o.requests == 0 && o.duration_s == 0) o.requests = kDefaultRequests;
  if (o.duration_s > 0) o.requests = 0;
  if (o.threads > o.connections) o.threads = o.connections;
  if (auto ok = check_load_limits(o); !ok) return std::unexpected(ok.error());
  return o;
}

}  // namespace strata::bench
