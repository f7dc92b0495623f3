// Differential test: the same command lines go to a real redis-server 7.0 (loopback, random
// port, throwaway dir) and to strata's native handlers; the raw reply bytes must be identical.
// Replies whose content Redis orders by hash (KEYS, SCAN) are compared as sorted sets, and a
// few time-dependent ones only by their type byte.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands_harness.h"
#include "gtest/gtest.h"
#include "protocol/reply_scanner.h"

namespace strata::proxy {
namespace {

using Line = std::vector<std::string>;

// How long the real server gets to start accepting connections.
constexpr auto kStartTimeout = std::chrono::seconds(10);

std::string encode(const Line& line) {
  std::string out = "*" + std::to_string(line.size()) + "\r\n";
  for (const std::string& a : line) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

class RawClient {
 public:
  bool connect_to(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::string call(const Line& line) {
    const std::string req = encode(line);
    size_t sent = 0;
    while (sent < req.size()) {
      const ssize_t n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return "<send failed>";
      sent += static_cast<size_t>(n);
    }
    protocol::ReplyScanner scanner;
    while (true) {
      if (!pending_.empty()) {
        const protocol::ScanStatus st = scanner.feed(pending_);
        if (st == protocol::ScanStatus::kDone) {
          std::string reply = pending_.substr(0, scanner.consumed());
          pending_.erase(0, scanner.consumed());
          return reply;
        }
        if (st == protocol::ScanStatus::kError) return "<bad reply>";
      }
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return "<closed>";
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A redis-server child process, killed and reaped on destruction.
class RedisServer {
 public:
  bool start(std::vector<std::string> extra = {}) {
    const char* bin = "/usr/bin/redis-server";
    if (::access(bin, X_OK) != 0) return false;
    char dir_template[] = "/tmp/strata-oracle-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return false;
    dir_ = dir_template;
    port_ = free_port();
    const std::string port = std::to_string(port_);
    std::vector<std::string> argv = {bin,      "--port",       port,
                                     "--bind", "127.0.0.1",    "--save",
                                     "",       "--appendonly", "no",
                                     "--dir",  dir_,           "--daemonize",
                                     "no",     "--logfile",    dir_ + "/redis.log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execv(bin, cargv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      RawClient probe;
      if (probe.connect_to(port_) && !probe.call({"ECHO", "up"}).starts_with("<")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
};

enum class Compare {
  kExact,
  kSortedArray,  // KEYS: same elements in any order
  kScan,         // SCAN: same cursor, same keys in any order
  kKind,         // only the reply type byte (time- or process-dependent replies)
};

struct Case {
  Line line;
  Compare compare = Compare::kExact;
};

// Splits a flat RESP array of bulk strings into its elements (enough for KEYS/SCAN replies).
std::vector<std::string> bulk_elements(std::string_view reply) {
  std::vector<std::string> out;
  size_t pos = reply.find("\r\n");
  if (pos == std::string_view::npos) return out;
  pos += 2;
  while (pos < reply.size()) {
    const size_t eol = reply.find("\r\n", pos);
    if (reply[pos] != '$') break;
    const size_t n = std::stoul(std::string(reply.substr(pos + 1, eol - pos - 1)));
    out.emplace_back(reply.substr(eol + 2, n));
    pos = eol + 2 + n + 2;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string describe(const Line& line) {
  std::string out;
  for (const std::string& a : line) out += "'" + printable(a) + "' ";
  return out;
}

}  // namespace
}  // namespace strata::proxy

#include "redis_oracle_cases.h"

namespace strata::proxy {
namespace {

class RedisOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.start()) GTEST_SKIP() << "redis-server 7.0 not available";
    ASSERT_TRUE(client_.connect_to(server_.port()));
    ASSERT_EQ(client_.call({"FLUSHALL"}), "+OK\r\n");
    // Align the client id so HELLO replies match byte for byte.
    const std::string id_reply = client_.call({"CLIENT", "ID"});
    harness_.client().id = std::stoull(id_reply.substr(1));
    // As a proxy strata lists every Redis command in COMMAND, as Redis itself does.
    harness_.server().mode = "proxy";
    // STRATA_ORACLE_PORT: compare against a running strata over TCP instead of the handlers
    // (the whole path: parser, dispatch, connection state, upstream). The id in its HELLO
    // replies is rewritten to Redis's, since the servers number their clients independently.
    if (const char* port = std::getenv("STRATA_ORACLE_PORT")) {
      remote_ = std::make_unique<RawClient>();
      ASSERT_TRUE(remote_->connect_to(static_cast<uint16_t>(std::atoi(port))));
      ASSERT_EQ(remote_->call({"FLUSHALL"}), "+OK\r\n");
      redis_id_ = id_reply.substr(1, id_reply.size() - 3);
    }
  }

  std::string run_strata(const Line& line) {
    if (remote_ == nullptr) return harness_.run(line);
    std::string reply = remote_->call(line);
    const std::string marker = "$2\r\nid\r\n:";
    const size_t at = reply.find(marker);
    if (at != std::string::npos) {
      const size_t digits = at + marker.size();
      reply.replace(digits, reply.find("\r\n", digits) - digits, redis_id_);
    }
    return reply;
  }

  // Runs every case on both sides; returns how many matched.
  int run_all(const std::vector<Case>& cases) {
    int matched = 0;
    for (const Case& c : cases) {
      const std::string expected = client_.call(c.line);
      const std::string actual = run_strata(c.line);
      bool same = false;
      switch (c.compare) {
        case Compare::kExact:
          same = expected == actual;
          break;
        case Compare::kSortedArray:
          same =
              expected.substr(0, expected.find("\r\n")) == actual.substr(0, actual.find("\r\n")) &&
              bulk_elements(expected) == bulk_elements(actual);
          break;
        case Compare::kScan: {
          // "*2\r\n$1\r\n0\r\n*N\r\n..." -- cursor line pair, then the key array.
          const size_t keys_at = expected.find('*', 4);
          const size_t keys_at_actual = actual.find('*', 4);
          same = keys_at != std::string::npos && keys_at_actual != std::string::npos &&
                 expected.substr(0, keys_at) == actual.substr(0, keys_at_actual) &&
                 bulk_elements(expected.substr(keys_at)) ==
                     bulk_elements(actual.substr(keys_at_actual));
          break;
        }
        case Compare::kKind:
          same = !expected.empty() && !actual.empty() && expected[0] == actual[0];
          break;
      }
      EXPECT_TRUE(same) << "command: " << describe(c.line) << "\n  redis:  " << printable(expected)
                        << "\n  strata: " << printable(actual);
      matched += same ? 1 : 0;
    }
    return matched;
  }

  RedisServer server_;
  RawClient client_;
  cache::SystemClock clock_;
  testing::CommandHarness harness_{&clock_};
  std::unique_ptr<RawClient> remote_;
  std::string redis_id_;  // digits of Redis's CLIENT ID for this connection
};

TEST_F(RedisOracleTest, RepliesAreByteIdentical) {
  const std::vector<Case> cases = oracle_cases();
  const int matched = run_all(cases);
  std::printf("oracle: %d of %zu command replies identical to redis-server\n", matched,
              cases.size());
}

// With requirepass set: only what an unauthenticated client may send (the dispatcher refuses
// the rest with NOAUTH before any handler runs), then the same after authenticating.
TEST(RedisOracleAuthTest, RequirepassRepliesAreByteIdentical) {
  RedisServer server;
  if (!server.start({"--requirepass", "s3cret"})) GTEST_SKIP() << "redis-server not available";
  RawClient redis;
  ASSERT_TRUE(redis.connect_to(server.port()));
  cache::SystemClock clock;
  testing::CommandHarness strata(&clock);
  strata.server().requirepass = "s3cret";
  strata.client().authenticated = false;
  const std::vector<Line> lines = {
      {"HELLO", "3"},
      {"HELLO"},
      {"AUTH", "bad"},
      {"AUTH", "default", "bad"},
      {"AUTH", "nobody", "s3cret"},
      {"AUTH", "a", "b", "c"},
      {"HELLO", "2", "AUTH", "default", "bad"},
      {"HELLO", "3", "AUTH", "nobody", "s3cret"},
      {"HELLO", "3", "AUTH", "default"},
      {"AUTH", "s3cret"},
      {"RESET"},
      {"AUTH", "default", "s3cret"},
      {"RESET"},
      {"HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "n1"},
      {"CLIENT", "GETNAME"},
      {"SET", "k", "v"},
      {"GET", "k"},
      {"AUTH", "s3cret"},
      {"AUTH", "wrong"},
      {"GET", "k"},
  };
  for (const Line& line : lines) {
    std::string expected = redis.call(line);
    std::string actual = strata.run(line);
    if (line[0] == "HELLO") {  // the two servers number their clients independently
      const std::string marker = "$2\r\nid\r\n:";
      for (std::string* r : {&expected, &actual}) {
        const size_t at = r->find(marker);
        if (at != std::string::npos) {
          r->replace(at + marker.size(), r->find("\r\n", at + marker.size()) - at - marker.size(),
                     "N");
        }
      }
    }
    EXPECT_EQ(printable(expected), printable(actual)) << describe(line);
  }
}

}  // namespace
}  // namespace strata::proxy
