// INFO: Redis 7.0's sections and field names (server, clients, memory, stats, replication, cpu,
// keyspace) filled from strata's own counters, plus a "# Strata" section for the L1 tier and
// the upstream. Clients and dashboards parse these by name, so names follow Redis exactly.
// In front of Redis, INFO is Redis's and only strata's own sections come from here
// (ClientConn::serve_info).
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "proxy/commands/commands.h"
#include "proxy/commands/l1_partitions.h"

namespace strata::proxy {
namespace {

enum Section : uint32_t {
  kServer = 1u << 0,
  kClients = 1u << 1,
  kMemory = 1u << 2,
  kStats = 1u << 3,
  kReplication = 1u << 4,
  kCpu = 1u << 5,
  kKeyspace = 1u << 6,
  kStrata = 1u << 7,
  kPolicies = 1u << 8,
  kSync = 1u << 9,
  kWebsocket = 1u << 10,
  kChangefeed = 1u << 11,
};
constexpr uint32_t kAllSections = 0xfff;

struct SectionName {
  std::string_view name;
  uint32_t bit;
};

constexpr SectionName kSectionNames[] = {
    {"server", kServer},     {"clients", kClients},         {"memory", kMemory},
    {"stats", kStats},       {"replication", kReplication}, {"cpu", kCpu},
    {"keyspace", kKeyspace}, {"strata", kStrata},           {"policies", kPolicies},
    {"sync", kSync},         {"websocket", kWebsocket},     {"changefeed", kChangefeed},
};

// INFO's argument list: "default", "all" and "everything" select every section strata has;
// unknown names select nothing (Redis answers an empty string for them).
uint32_t selected_sections(Args args) {
  if (args.size() == 1) return kAllSections;
  uint32_t bits = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    if (option_is(args[i], "default") || option_is(args[i], "all") ||
        option_is(args[i], "everything")) {
      bits |= kAllSections;
      continue;
    }
    for (const SectionName& s : kSectionNames) {
      if (option_is(args[i], s.name)) bits |= s.bit;
    }
  }
  return bits;
}

void appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
}

// Redis's bytesToHuman.
std::string bytes_to_human(uint64_t n) {
  char buf[64];
  const double d = static_cast<double>(n);
  if (n < 1024) {
    std::snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(n));
  } else if (n < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2fK", d / 1024);
  } else if (n < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2fM", d / (1024.0 * 1024));
  } else if (n < (1ull << 40)) {
    std::snprintf(buf, sizeof(buf), "%.2fG", d / (1024.0 * 1024 * 1024));
  } else if (n < (1ull << 50)) {
    std::snprintf(buf, sizeof(buf), "%.2fT", d / (1024.0 * 1024 * 1024 * 1024));
  } else if (n < (1ull << 60)) {
    std::snprintf(buf, sizeof(buf), "%.2fP", d / (1024.0 * 1024 * 1024 * 1024 * 1024));
  } else {
    std::snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(n));
  }
  return buf;
}

using ull = unsigned long long;

void server_section(const CommandContext& ctx, std::string* out) {
  const ServerView& s = *ctx.server;
  const int64_t uptime_s = s.start_ms > 0 ? (ctx.store->now_ms() - s.start_ms) / 1000 : 0;
  appendf(out, "# Server\r\nredis_version:%.*s\r\n", static_cast<int>(s.version.size()),
          s.version.data());
  out->append("redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:standalone\r\n");
  out->append("arch_bits:64\r\nmultiplexing_api:io_uring\r\n");
  appendf(out, "process_id:%lld\r\n", static_cast<long long>(getpid()));
  appendf(out, "tcp_port:%u\r\n", s.port);
  appendf(out, "uptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n",
          static_cast<long long>(uptime_s), static_cast<long long>(uptime_s / 86400));
  appendf(out, "io_threads_active:0\r\nworkers:%u\r\n", s.workers);
}

void clients_section(const CommandContext& ctx, std::string* out) {
  appendf(out, "# Clients\r\nconnected_clients:%llu\r\n",
          static_cast<ull>(ctx.server->connected_clients));
  out->append("cluster_connections:0\r\nblocked_clients:0\r\ntracking_clients:0\r\n");
}

void memory_section(const CommandContext& ctx, const cache::StoreStats& st, std::string* out) {
  const ServerView& s = *ctx.server;
  appendf(out, "# Memory\r\nused_memory:%llu\r\n", static_cast<ull>(st.used_bytes));
  out->append("used_memory_human:" + bytes_to_human(st.used_bytes) + "\r\n");
  appendf(out, "used_memory_rss:%llu\r\n", static_cast<ull>(s.used_memory_rss));
  out->append("used_memory_rss_human:" + bytes_to_human(s.used_memory_rss) + "\r\n");
  appendf(out, "maxmemory:%llu\r\n", static_cast<ull>(s.maxmemory_bytes));
  out->append("maxmemory_human:" + bytes_to_human(s.maxmemory_bytes) + "\r\n");
  out->append("maxmemory_policy:");
  out->append(s.eviction);
  out->append("\r\n");
}

void stats_section(const CommandContext& ctx, const cache::StoreStats& st, std::string* out) {
  const ServerView& s = *ctx.server;
  appendf(out, "# Stats\r\ntotal_connections_received:%llu\r\n",
          static_cast<ull>(s.total_connections));
  appendf(out, "total_commands_processed:%llu\r\n", static_cast<ull>(s.total_commands));
  appendf(out, "rejected_connections:%llu\r\n", static_cast<ull>(s.rejected_connections));
  appendf(out, "expired_keys:%llu\r\nevicted_keys:%llu\r\n", static_cast<ull>(st.expired),
          static_cast<ull>(st.evictions));
  appendf(out, "keyspace_hits:%llu\r\nkeyspace_misses:%llu\r\n", static_cast<ull>(st.hits),
          static_cast<ull>(st.misses));
}

void replication_section(std::string* out) {
  out->append("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
  out->append("master_repl_offset:0\r\nrepl_backlog_active:0\r\n");
}

void cpu_section(std::string* out) {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  appendf(out, "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n",
          static_cast<long>(self.ru_stime.tv_sec), static_cast<long>(self.ru_stime.tv_usec),
          static_cast<long>(self.ru_utime.tv_sec), static_cast<long>(self.ru_utime.tv_usec));
}

void keyspace_section(const cache::StoreStats& st, std::string* out) {
  out->append("# Keyspace\r\n");
  // Redis lists a database only when it holds keys.
  if (st.keys > 0) {
    appendf(out, "db0:keys=%llu,expires=%llu,avg_ttl=0\r\n", static_cast<ull>(st.keys),
            static_cast<ull>(st.keys_with_ttl));
  }
}

void strata_section(const CommandContext& ctx, const cache::StoreStats& st, std::string* out) {
  const ServerView& s = *ctx.server;
  out->append("# Strata\r\nmode:");
  out->append(s.mode);
  appendf(out, "\r\nl1_hits:%llu\r\nl1_misses:%llu\r\n", static_cast<ull>(st.hits),
          static_cast<ull>(st.misses));
  appendf(out, "upstream_hits:%llu\r\nupstream_misses:%llu\r\nupstream_errors:%llu\r\n",
          static_cast<ull>(s.upstream_hits), static_cast<ull>(s.upstream_misses),
          static_cast<ull>(s.upstream_errors));
  out->append("upstream:");
  out->append(s.upstream);
  appendf(out, "\r\nupstream_up:%d\r\nupstream_pinned_total:%llu\r\n", s.upstream_up ? 1 : 0,
          static_cast<ull>(s.upstream_pinned_total));
  appendf(out, "l1_evictions:%llu\r\nl1_used_bytes:%llu\r\nl1_keys:%llu\r\n",
          static_cast<ull>(st.evictions), static_cast<ull>(st.used_bytes),
          static_cast<ull>(st.keys));
  appendf(out, "protocol_errors:%llu\r\noutput_limit_disconnects:%llu\r\nidle_disconnects:%llu\r\n",
          static_cast<ull>(s.protocol_errors), static_cast<ull>(s.output_limit_disconnects),
          static_cast<ull>(s.idle_disconnects));
  out->append("io:");
  out->append(s.io);
  out->append("\r\n");
  out->append(s.changes_info);
  out->append(partition_info_lines(*ctx.store));
  out->append(s.hitrate_info);
}

std::string info_text(CommandContext& ctx, uint32_t sections) {
  const cache::StoreStats st = ctx.store->stats();
  std::string text;
  auto begin = [&](uint32_t bit) {
    if (!(sections & bit)) return false;
    if (!text.empty()) text.append("\r\n");  // a blank line between sections, as Redis
    return true;
  };
  if (begin(kServer)) server_section(ctx, &text);
  if (begin(kClients)) clients_section(ctx, &text);
  if (begin(kMemory)) memory_section(ctx, st, &text);
  if (begin(kStats)) stats_section(ctx, st, &text);
  if (begin(kReplication)) replication_section(&text);
  if (begin(kCpu)) cpu_section(&text);
  if (begin(kKeyspace)) keyspace_section(st, &text);
  if (begin(kStrata)) strata_section(ctx, st, &text);
  if (!ctx.server->policies_info.empty() && begin(kPolicies)) {
    text.append("# Policies\r\n");
    text.append(ctx.server->policies_info);
  }
  if (!ctx.server->sync_info.empty() && begin(kSync)) {
    text.append("# Sync\r\n");
    text.append(ctx.server->sync_info);
  }
  if (!ctx.server->ws_info.empty() && begin(kWebsocket)) {
    text.append("# WebSocket\r\n");
    text.append(ctx.server->ws_info);
  }
  if (!ctx.server->changefeed_info.empty() && begin(kChangefeed)) {
    text.append("# Changefeed\r\n");
    text.append(ctx.server->changefeed_info);
  }
  return text;
}

}  // namespace

void cmd_info(CommandContext& ctx, Args args) {
  ctx.out->verbatim("txt", info_text(ctx, selected_sections(args)));
}

bool info_redis_args(Args args, std::vector<std::string_view>* redis_args) {
  redis_args->assign(1, args[0]);
  for (size_t i = 1; i < args.size(); ++i) {
    if (!option_is(args[i], "strata") && !option_is(args[i], "policies") &&
        !option_is(args[i], "sync") && !option_is(args[i], "websocket") &&
        !option_is(args[i], "changefeed")) {
      redis_args->push_back(args[i]);
    }
  }
  return args.size() == 1 || redis_args->size() > 1;
}

std::string info_own_sections(CommandContext& ctx, Args args) {
  return info_text(ctx, selected_sections(args) & (kStrata | kPolicies | kSync | kWebsocket | kChangefeed));
}

}  // namespace strata::proxy
