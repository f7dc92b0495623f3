#include "bench/load_info.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/load_net.h"

namespace strata::bench {
namespace {

constexpr int kInfoTimeoutS = 5;
constexpr size_t kInfoBytesMax = 4 << 20;

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{}) return std::nullopt;
  return v;
}

std::optional<double> to_double(std::string_view s) {
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return std::nullopt;
  return v;
}

// Reads one bulk-string reply ("$<len>\r\n<bytes>\r\n") and returns its payload.
std::expected<std::string, std::string> read_bulk(int fd) {
  std::string buf;
  char chunk[16384];
  size_t header_end = std::string::npos;
  int64_t len = -1;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n");
      if (header_end != std::string::npos) {
        if (buf[0] != '$') return std::unexpected("INFO failed: " + buf.substr(0, header_end));
        len = std::strtoll(buf.c_str() + 1, nullptr, 10);
        if (len < 0 || static_cast<size_t>(len) > kInfoBytesMax) {
          return std::unexpected("INFO reply too large or null");
        }
      }
    }
    if (header_end != std::string::npos &&
        buf.size() >= header_end + 2 + static_cast<size_t>(len)) {
      return buf.substr(header_end + 2, static_cast<size_t>(len));
    }
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return std::unexpected(std::string("INFO recv: ") + std::strerror(errno));
    buf.append(chunk, static_cast<size_t>(n));
  }
}

// The CPU time of every thread of `pid` in ns (/proc/PID/task/*/schedstat, first field): the
// clock-tick resolution of /proc/PID/stat (10 ms) is too coarse for runs of a second or less.
std::optional<uint64_t> schedstat_ns(int pid) {
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  uint64_t total = 0;
  bool any = false;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "schedstat");
    uint64_t ns = 0;
    if (!(in >> ns)) continue;
    total += ns;
    any = true;
  }
  if (ec || !any) return std::nullopt;
  return total;
}

}  // namespace

ServerInfo parse_info(std::string_view text) {
  ServerInfo info;
  double cpu = 0;
  bool have_cpu = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 1);
    if (key == "keyspace_hits") {
      info.keyspace_hits = to_u64(value);
    } else if (key == "keyspace_misses") {
      info.keyspace_misses = to_u64(value);
    } else if (key == "l1_hits") {
      info.l1_hits = to_u64(value);
    } else if (key == "used_cpu_sys" || key == "used_cpu_user") {
      if (auto v = to_double(value)) {
        cpu += *v;
        have_cpu = true;
      }
    }
  }
  if (have_cpu) info.used_cpu_s = cpu;
  return info;
}

std::expected<ServerInfo, std::string> fetch_info(const Target& target) {
  std::string error;
  const int fd = connect_tcp(target, kInfoTimeoutS, error);
  if (fd < 0) return std::unexpected("INFO: " + error);
  static constexpr std::string_view kCommand = "*1\r\n$4\r\nINFO\r\n";
  std::expected<std::string, std::string> body;
  if (send(fd, kCommand.data(), kCommand.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kCommand.size())) {
    body = std::unexpected(std::string("INFO send: ") + std::strerror(errno));
  } else {
    body = read_bulk(fd);
  }
  close(fd);
  if (!body) return std::unexpected(body.error());
  return parse_info(*body);
}

std::optional<double> process_cpu_seconds(int pid) {
  if (auto ns = schedstat_ns(pid)) return static_cast<double>(*ns) / 1e9;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; fields after the last ')' are fixed.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // After ')': state(3) ppid(4) ... utime is field 14, stime field 15.
  for (int index = 3; index <= 15 && (fields >> field); ++index) {
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!fields) return std::nullopt;
  const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

}  // namespace strata::bench
