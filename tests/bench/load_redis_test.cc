// Drives a real redis-server (started here on a free loopback port, in a temp dir, killed at
// the end) with small bounded loads and checks the counts the load generator reports.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/load.h"
#include "bench/load_info.h"
#include "bench/load_options.h"
#include "bench/load_runner.h"

extern char** environ;

namespace strata::bench {
namespace {

uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class RedisServer {
 public:
  bool start() {
    char tmpl[] = "/tmp/strata_load_test_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return false;
    dir_ = tmpl;
    port_ = free_port();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {
        "redis-server", "--port", port,    "--bind", "127.0.0.1", "--save",           "",
        "--appendonly", "no",     "--dir", dir_,     "--logfile", dir_ + "/redis.log"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = 0;
      return false;
    }
    Target t{"127.0.0.1", port_, 0, "A"};
    for (int i = 0; i < 100; ++i) {  // up to 5 s for the server to accept INFO
      if (fetch_info(t)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  ~RedisServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
  uint16_t port_ = 0;
  std::string dir_;
};

LoadOptions parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto o = parse_load_options(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(o.has_value()) << (o ? "" : o.error());
  return o.value_or(LoadOptions{});
}

struct CliRun {
  int rc;
  std::string out;
};

CliRun run_cli(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  const int rc = run_load(static_cast<int>(argv.size()), argv.data());
  return CliRun{rc, testing::internal::GetCapturedStdout()};
}

class LoadRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.start()) GTEST_SKIP() << "redis-server not available";
    port_ = std::to_string(server_.port());
  }
  // Parses "load --port <server> <args>" and runs one measured load against the server.
  std::expected<RunResult, std::string> run(std::vector<std::string> args) {
    args.insert(args.begin(), {"load", "--port", port_, "--no-progress"});
    const LoadOptions o = parse(args);
    const KeyGen keys(o.dist, o.keys, o.seed);
    return run_target(o, o.targets[0], keys, RunSettings{1, false});
  }
  RedisServer server_;
  std::string port_;
};

TEST_F(LoadRedisTest, BoundedRunCountsAndHitRatio) {
  LoadOptions o = parse({"load",   "--port",        port_,      "--requests",
                         "2000",   "--connections", "5",        "--pipeline",
                         "4",      "--keys",        "500",      "--ratio",
                         "9:1",    "--dist",        "zipf:0.9", "--value-size",
                         "10-200", "--no-progress", "--pid-a",  std::to_string(server_.pid())});
  ASSERT_TRUE(prefill_target(o, o.targets[0]).has_value());
  const KeyGen keys(o.dist, o.keys, o.seed);
  auto r = run_target(o, o.targets[0], keys, RunSettings{1, false});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->requests, 2000u);
  EXPECT_EQ(r->errors, 0u) << r->first_error;
  EXPECT_EQ(r->gets + r->sets, 2000u);
  EXPECT_EQ(r->latency_ns.count(), 2000u);
  EXPECT_NEAR(static_cast<double>(r->gets) / 2000.0, 0.9, 0.05);
  // Every key was prefilled: every GET hits, on both sides of the wire.
  EXPECT_EQ(r->get_hits, r->gets);
  ASSERT_TRUE(r->server_hits && r->server_misses);
  EXPECT_EQ(*r->server_hits + *r->server_misses, r->gets);
  EXPECT_DOUBLE_EQ(r->server_hit_ratio().value_or(-1), 1.0);
  EXPECT_FALSE(r->l1_hits.has_value());  // plain Redis has no L1
  EXPECT_GT(r->throughput(), 0);
  EXPECT_GT(r->latency_ns.percentile(50), 0u);
  EXPECT_LE(r->latency_ns.percentile(50), r->latency_ns.percentile(99.9));
  EXPECT_EQ(r->cpu_source, "proc");
}

TEST_F(LoadRedisTest, MissesOnEmptyKeyspace) {
  auto r = run({"--requests", "2000", "--connections", "3", "--ratio", "1:0", "--key-prefix",
                "absent:", "--dist", "uniform"});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->requests, 2000u);
  EXPECT_EQ(r->get_misses, 2000u);
  EXPECT_EQ(r->server_misses.value_or(0), 2000u);
  EXPECT_DOUBLE_EQ(r->server_hit_ratio().value_or(-1), 0.0);
}

TEST_F(LoadRedisTest, EpollBackendGivesTheSameCounts) {
  auto r = run({"--io", "epoll", "--requests", "2000", "--connections", "4", "--pipeline", "3",
                "--ratio", "1:1", "--value-size", "1-5000", "--dist", "uniform"});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->requests, 2000u);
  EXPECT_EQ(r->errors, 0u) << r->first_error;
  EXPECT_EQ(r->gets + r->sets, 2000u);
  EXPECT_EQ(r->server_hits.value_or(0) + r->server_misses.value_or(0), r->gets);
}

TEST_F(LoadRedisTest, DurationModeAndThreads) {
  auto r = run({"--duration", "0.3", "--warmup", "0.1", "--threads", "2", "--connections", "4",
                "--pipeline", "8"});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_GT(r->requests, 100u);
  EXPECT_EQ(r->errors, 0u);
  EXPECT_NEAR(r->elapsed_s, 0.3, 0.2);
}

TEST_F(LoadRedisTest, AlternatingTargetsViaCli) {
  const std::string target = "127.0.0.1:" + port_ + ",localhost:" + port_;
  const auto [rc, out] = run_cli({"load", "--target", target, "--requests", "500", "--rounds", "2",
                                  "--connections", "2", "--format", "json", "--no-progress"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("\"ratios_b_over_a\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"round\": 2"), std::string::npos) << out;
}

TEST_F(LoadRedisTest, TraceReplayUsesOpsAndSizes) {
  // set a, get a (hit), del a, get a (miss), get b (miss); cycled over 2000 requests.
  const std::string csv = "/tmp/strata_load_trace_" + port_ + ".csv";
  {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("a,300,set\na,300,get\na,1,del\na,1,get\nb,1,get\n", f);
    std::fclose(f);
  }
  const auto [rc, out] =
      run_cli({"load", "--port", port_, "--trace", "csv:" + csv, "--requests", "2000",
               "--connections", "1", "--pipeline", "5", "--format", "csv", "--no-progress"});
  std::remove(csv.c_str());
  EXPECT_EQ(rc, 0) << out;
  // One connection, batches of 5 aligned with the trace: exactly 400 of each line.
  // Columns: ...,gets,sets,client_hit_ratio,server_hits,server_misses,...
  EXPECT_NE(out.find(",1200,400,0.333333,400,800,"), std::string::npos) << out;
}

TEST(LoadRefused, ConnectErrorIsReported) {
  LoadOptions o =
      parse({"load", "--port", std::to_string(free_port()), "--requests", "10", "--no-progress"});
  const KeyGen keys(o.dist, o.keys, o.seed);
  auto r = run_target(o, o.targets[0], keys, RunSettings{1, false});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("connect"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace strata::bench
