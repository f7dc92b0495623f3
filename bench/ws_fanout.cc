// strata-bench ws: the WebSocket channel under load. The subscribers are read by one thread
// (io_uring, or epoll: ws_recv.h), the writer is a thread of its own.
//   fan-out: N connections subscribe to one prefix; a RESP writer sets keys under it at a fixed
//            rate, each value the write's number; every delivery's latency is measured from
//            the write's acknowledgement (and from its send) to its receipt.
//   idle:    N connections open (each subscribed to one key of its own, or not), then nothing:
//            the server's resident memory per connection.
// strata's CPU per delivery comes from /proc/PID/stat (--pid), this process's from getrusage.
#include "bench/ws_fanout.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include "bench/hdr_histogram.h"
#include "bench/load_info.h"
#include "bench/ws_recv.h"
#include "protocol/ws_frame.h"

namespace strata::bench {
namespace {

using protocol::WsFrameDecoder;
using protocol::WsStatus;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Opts {
  uint16_t port = 6390;       // WebSocket
  uint16_t resp_port = 6380;  // RESP, for the writer
  std::string path = "/ws";
  std::string prefix = "bench:";
  uint32_t conns = 1000;
  uint32_t rate = 100;  // writes per second
  uint32_t keys = 100;
  double seconds = 10;
  int pid = 0;
  bool idle = false;
  bool subscribe_idle = true;
  bool recv_uring = true;  // the fan-out's receiving thread: io_uring, or epoll + recv
};

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Blocking handshake and subscription; the socket turns non-blocking afterwards.
bool open_ws(int fd, const Opts& o, std::string_view sub_json) {
  const std::string req = "GET " + o.path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
  if (!send_all(fd, req)) return false;
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    head.append(buf, static_cast<size_t>(n));
  }
  if (!head.starts_with("HTTP/1.1 101")) return false;
  if (!sub_json.empty()) {
    std::string frame;
    protocol::append_ws_frame_masked(&frame, protocol::WsOpcode::kText, sub_json, 0x12345678u);
    if (!send_all(fd, frame)) return false;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return true;
}

uint64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

double self_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int run_idle(const Opts& o) {
  if (o.pid == 0) {
    std::fprintf(stderr, "ws --idle needs --pid (the server's resident memory is the figure)\n");
    return 2;
  }
  const uint64_t before = rss_kb(o.pid);
  std::vector<int> fds;
  fds.reserve(o.conns);
  for (uint32_t i = 0; i < o.conns; ++i) {
    int fd = connect_to(o.port);
    const std::string sub = o.subscribe_idle ? "{\"t\":\"sub\",\"id\":1,\"key\":\"" + o.prefix +
                                                   "idle" + std::to_string(i) + "\"}"
                                             : "";
    if (fd < 0 || !open_ws(fd, o, sub)) {
      std::fprintf(stderr, "connection %u failed\n", i);
      return 1;
    }
    fds.push_back(fd);
  }
  // Let every subscription's snapshot go out, then read what came.
  usleep(1000 * 1000);
  char buf[4096];
  for (int fd : fds) {
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }
  usleep(500 * 1000);
  const uint64_t after = rss_kb(o.pid);
  std::printf("idle connections: %u (subscribed: %s)\n", o.conns, o.subscribe_idle ? "yes" : "no");
  std::printf("server RSS: %llu kB -> %llu kB: %.0f bytes per connection\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(after),
              (static_cast<double>(after) - static_cast<double>(before)) * 1024.0 / o.conns);
  for (int fd : fds) close(fd);
  return 0;
}

struct Conn {
  int fd = -1;
  WsFrameDecoder dec{protocol::WsLimits{}, protocol::WsRole::kClient};
  bool ready = false;  // its snapshot came
};

int run_fanout(const Opts& o) {
  std::vector<std::unique_ptr<Conn>> conns;
  const std::string sub = "{\"t\":\"sub\",\"id\":1,\"prefix\":\"" + o.prefix + "\"}";
  for (uint32_t i = 0; i < o.conns; ++i) {
    auto c = std::make_unique<Conn>();
    c->fd = connect_to(o.port);
    if (c->fd < 0 || !open_ws(c->fd, o, sub)) {
      std::fprintf(stderr, "connection %u failed\n", i);
      return 1;
    }
    conns.push_back(std::move(c));
  }
  int writer = connect_to(o.resp_port);
  if (writer < 0) {
    std::fprintf(stderr, "cannot connect to RESP port %u\n", o.resp_port);
    return 1;
  }
  std::vector<int> fds;
  for (const auto& c : conns) fds.push_back(c->fd);
  std::unique_ptr<WsReceiver> receiver;
  if (o.recv_uring) {
    std::string err;
    receiver = make_uring_receiver(fds, &err);
    if (!receiver) {
      std::fprintf(stderr, "ws: io_uring receiver refused (%s); use --recv epoll\n", err.c_str());
      return 1;
    }
  } else {
    receiver = make_epoll_receiver(fds);
  }

  const uint64_t total_writes = static_cast<uint64_t>(o.rate * o.seconds);
  // The writer runs on a thread of its own (one SET at a time, paced): its acks are timed
  // when they arrive, not when the receivers' loop gets to them.
  std::vector<std::atomic<int64_t>> sent_ns(total_writes + 1), acked_ns(total_writes + 1);
  std::atomic<uint64_t> writes_done{0}, acks_done{0}, errors_done{0};
  std::atomic<bool> go{false};
  HdrHistogram from_ack, from_send, acked;
  uint64_t deliveries = 0, ready = 0, early = 0;
  // Per write: its first and last receipt (how long one change takes to reach everyone).
  std::vector<int64_t> first_ns(total_writes + 1, 0), last_ns(total_writes + 1, 0);
  int64_t start_ns = 0;
  double cpu0 = 0, self0 = 0;
  const int64_t settle_deadline = now_ns() + 30'000'000'000LL;
  auto handle_payload = [&](std::string_view p, int64_t t, Conn& c) {
    if (!c.ready) {
      if (p.find("\"t\":\"snap\"") != std::string_view::npos &&
          p.find("\"last\":true") != std::string_view::npos) {
        c.ready = true;
        ++ready;
      }
      return;
    }
    const size_t v = p.find("\"v\":\"");
    if (p.find("\"t\":\"c\"") == std::string_view::npos || v == std::string_view::npos) return;
    const uint64_t idx = std::strtoull(p.data() + v + 5, nullptr, 10);
    if (idx == 0 || idx > total_writes) return;
    ++deliveries;
    if (first_ns[idx] == 0) first_ns[idx] = t;
    last_ns[idx] = t;
    from_send.record(static_cast<uint64_t>(std::max<int64_t>(0, t - sent_ns[idx].load())));
    const int64_t a = acked_ns[idx].load();
    if (a != 0) {
      from_ack.record(static_cast<uint64_t>(std::max<int64_t>(0, t - a)));
    } else {
      ++early;  // received before this process read the ack
      from_ack.record(0);
    }
  };
  std::thread writer_thread([&] {
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto start = std::chrono::steady_clock::now();
    char rb[256];
    for (uint64_t w = 1; w <= total_writes; ++w) {
      std::this_thread::sleep_until(start + std::chrono::nanoseconds(
                                                static_cast<int64_t>((w - 1) * 1e9 / o.rate)));
      const std::string key = o.prefix + std::to_string(w % o.keys);
      const std::string val = std::to_string(w);
      const std::string cmd = "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" +
                              key + "\r\n$" + std::to_string(val.size()) + "\r\n" + val + "\r\n";
      sent_ns[w].store(now_ns());
      writes_done.store(w);
      if (!send_all(writer, cmd)) break;
      std::string reply;
      while (reply.find('\n') == std::string::npos) {
        ssize_t r = recv(writer, rb, sizeof rb, 0);
        if (r <= 0) return;
        reply.append(rb, static_cast<size_t>(r));
      }
      acked_ns[w].store(now_ns());
      acked.record(static_cast<uint64_t>(acked_ns[w].load() - sent_ns[w].load()));
      if (reply[0] == '-') errors_done.fetch_add(1);
      acks_done.store(w);
    }
  });
  bool running = false;
  int64_t end_ns = 0;
  for (;;) {
    const int64_t t = now_ns();
    if (!running && ready == conns.size()) {
      running = true;
      start_ns = t;
      go.store(true);
      end_ns = t + static_cast<int64_t>(o.seconds * 1e9);
      cpu0 = o.pid != 0 ? process_cpu_seconds(o.pid).value_or(0) : 0;
      self0 = self_cpu_s();
    }
    if (!running && t > settle_deadline) {
      std::fprintf(stderr, "only %llu of %zu subscriptions got their snapshot in 30 s\n",
                   static_cast<unsigned long long>(ready), conns.size());
      return 1;
    }
    if (running && (t > end_ns + 2'000'000'000LL ||
                    (acks_done.load() == total_writes &&
                     deliveries == total_writes * conns.size()))) {
      break;
    }
    receiver->wait(1);
    const int64_t rt = now_ns();
    receiver->drain([&](size_t index, std::string_view in) {
      Conn& c = *conns[index];
      for (;;) {
        const WsStatus s = c.dec.feed(in);
        in.remove_prefix(c.dec.consumed());
        if (s == WsStatus::kMessage) handle_payload(c.dec.event().payload, rt, c);
        if (s == WsStatus::kNeedMore || s == WsStatus::kError || s == WsStatus::kClose) break;
      }
    });
  }
  const double elapsed = static_cast<double>(now_ns() - start_ns) / 1e9;
  const double cpu = o.pid != 0 ? process_cpu_seconds(o.pid).value_or(0) - cpu0 : 0;
  const double self = self_cpu_s() - self0;
  go.store(true);
  writer_thread.join();
  const uint64_t writes = writes_done.load(), acks = acks_done.load(), errors = errors_done.load();
  const uint64_t expected = writes * conns.size();
  std::printf(
      "subscribers %zu (read with %s), writes %llu (%u/s over %u keys), acks %llu, errors %llu\n",
      conns.size(), o.recv_uring ? "io_uring" : "epoll", static_cast<unsigned long long>(writes),
      o.rate, o.keys,
              static_cast<unsigned long long>(acks), static_cast<unsigned long long>(errors));
  std::printf("deliveries %llu of %llu (%.1f%%), %.0f/s\n",
              static_cast<unsigned long long>(deliveries),
              static_cast<unsigned long long>(expected),
              expected ? 100.0 * static_cast<double>(deliveries) / static_cast<double>(expected) : 0,
              static_cast<double>(deliveries) / elapsed);
  std::printf("latency ack->receipt: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%llu before the ack)\n",
              static_cast<double>(from_ack.percentile(50)) / 1e6,
              static_cast<double>(from_ack.percentile(99)) / 1e6,
              static_cast<double>(from_ack.max()) / 1e6, static_cast<unsigned long long>(early));
  std::printf("write send->ack: p50 %.2f ms, p99 %.2f ms\n",
              static_cast<double>(acked.percentile(50)) / 1e6,
              static_cast<double>(acked.percentile(99)) / 1e6);
  std::printf("latency send->receipt: p50 %.2f ms, p99 %.2f ms\n",
              static_cast<double>(from_send.percentile(50)) / 1e6,
              static_cast<double>(from_send.percentile(99)) / 1e6);
  HdrHistogram spread, to_all;
  for (uint64_t w = 1; w <= writes; ++w) {
    if (first_ns[w] == 0) continue;
    spread.record(static_cast<uint64_t>(last_ns[w] - first_ns[w]));
    to_all.record(static_cast<uint64_t>(std::max<int64_t>(0, last_ns[w] - sent_ns[w].load())));
  }
  std::printf("a write's last receipt, from its send: p50 %.2f ms, p99 %.2f ms; first->last "
              "receipt: p50 %.2f ms, p99 %.2f ms\n",
              static_cast<double>(to_all.percentile(50)) / 1e6,
              static_cast<double>(to_all.percentile(99)) / 1e6,
              static_cast<double>(spread.percentile(50)) / 1e6,
              static_cast<double>(spread.percentile(99)) / 1e6);
  if (o.pid != 0 && deliveries > 0) {
    std::printf("server CPU %.2f s: %.2f us per delivery\n", cpu,
                cpu * 1e6 / static_cast<double>(deliveries));
  }
  std::printf("load generator CPU %.2f s: %.2f us per delivery\n", self,
              deliveries ? self * 1e6 / static_cast<double>(deliveries) : 0);
  for (auto& c : conns) close(c->fd);
  close(writer);
  return deliveries == expected ? 0 : 3;
}

void usage(FILE* out) {
  std::fputs(
      "usage: strata-bench ws [options]\n"
      "  --port N          WebSocket port (6390)\n"
      "  --resp-port N     RESP port of the same strata, for the writer (6380)\n"
      "  --path P          WebSocket path (/ws)\n"
      "  --prefix P        key prefix, public_read on the server (bench:)\n"
      "  --conns N         connections (1000)\n"
      "  --rate N          writes per second (100)\n"
      "  --keys N          distinct keys written (100)\n"
      "  --seconds S       duration (10)\n"
      "  --pid PID         strata's pid: its CPU per delivery, its RSS per idle connection\n"
      "  --idle            open --conns connections and measure the server's RSS per connection\n"
      "  --no-subscribe    with --idle: connections subscribe to nothing\n"
      "  --recv uring|epoll  how the fan-out's receiving thread reads (uring: multishot recv,\n"
      "                    one io_uring_enter per batch; epoll: epoll_wait + recv per socket)\n",
      out);
}

}  // namespace

int run_ws(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--port") o.port = static_cast<uint16_t>(std::atoi(next()));
    else if (a == "--resp-port") o.resp_port = static_cast<uint16_t>(std::atoi(next()));
    else if (a == "--path") o.path = next();
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--conns") o.conns = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--rate") o.rate = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--keys") o.keys = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--seconds") o.seconds = std::atof(next());
    else if (a == "--pid") o.pid = std::atoi(next());
    else if (a == "--idle") o.idle = true;
    else if (a == "--no-subscribe") o.subscribe_idle = false;
    else if (a == "--recv") {
      const std::string v = next();
      if (v != "uring" && v != "epoll") {
        std::fprintf(stderr, "ws: --recv is uring or epoll\n");
        return 2;
      }
      o.recv_uring = v == "uring";
    }
    else if (a == "-h" || a == "--help") return usage(stdout), 0;
    else {
      std::fprintf(stderr, "ws: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (o.conns == 0 || o.rate == 0 || o.keys == 0 || o.seconds <= 0) {
    std::fprintf(stderr, "ws: --conns, --rate, --keys and --seconds must be positive\n");
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < o.conns + 64) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, o.conns + 64);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return o.idle ? run_idle(o) : run_fanout(o);
}

}  // namespace strata::bench
