#include "proxy/server/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace strata::proxy {
namespace {

ParseOutcome parse(std::vector<std::string> args, Options* o, std::string* msg) {
  std::vector<char*> argv;
  static std::string prog = "strata";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), o, msg);
}

TEST(Options, Defaults) {
  Options o;
  std::string msg;
  ASSERT_EQ(parse({}, &o, &msg), ParseOutcome::kRun) << msg;
  EXPECT_EQ(o.bind, "127.0.0.1");
  EXPECT_EQ(o.port, 6380);
  EXPECT_GE(o.workers, 1u);
  EXPECT_EQ(o.eviction, "s3fifo");
  EXPECT_TRUE(o.upstream.empty());
}

TEST(Options, FlagsAndSuffixes) {
  Options o;
  std::string msg;
  ASSERT_EQ(parse({"--port", "7000", "--maxmemory", "64mb", "--workers=3", "--upstream",
                   "127.0.0.1:6379", "--l1-enabled", "false", "--eviction", "lru"},
                  &o, &msg),
            ParseOutcome::kRun)
      << msg;
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.maxmemory_bytes, 64ull << 20);
  EXPECT_EQ(o.workers, 3u);
  EXPECT_EQ(o.upstream, "127.0.0.1:6379");
  EXPECT_FALSE(o.l1_enabled);
  EXPECT_EQ(o.eviction, "lru");
}

TEST(Options, Errors) {
  Options o;
  std::string msg;
  EXPECT_EQ(parse({"--port", "70000"}, &o, &msg), ParseOutcome::kError);
  EXPECT_NE(msg.find("--port"), std::string::npos);
  Options o2;
  EXPECT_EQ(parse({"--nope", "1"}, &o2, &msg), ParseOutcome::kError);
  EXPECT_NE(msg.find("unknown flag --nope"), std::string::npos);
  Options o3;
  EXPECT_EQ(parse({"--eviction", "magic"}, &o3, &msg), ParseOutcome::kError);
  EXPECT_NE(msg.find("unknown eviction policy"), std::string::npos);
  Options o4;
  EXPECT_EQ(parse({"--maxmemory", "12parsecs"}, &o4, &msg), ParseOutcome::kError);
  Options o5;
  EXPECT_EQ(parse({"--help"}, &o5, &msg), ParseOutcome::kExit);
  EXPECT_NE(msg.find("--upstream"), std::string::npos);
}

TEST(Options, ConfigFileAndOverride) {
  char path[] = "/tmp/strata-opt-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "# comment\n[server]\nport = 7001\nmaxmemory_bytes = \"1gb\"\neviction = \"lru\"\n";
  }
  Options o;
  std::string msg;
  ASSERT_EQ(parse({"--config", path, "--port", "7002"}, &o, &msg), ParseOutcome::kRun) << msg;
  EXPECT_EQ(o.port, 7002);  // flags win
  EXPECT_EQ(o.maxmemory_bytes, 1ull << 30);
  EXPECT_EQ(o.eviction, "lru");
  {
    std::ofstream f(path);
    f << "[server]\nport = 7001\nbogus = 3\n";
  }
  Options o2;
  EXPECT_EQ(parse({"--config", path}, &o2, &msg), ParseOutcome::kError);
  EXPECT_NE(msg.find(std::string(path) + ":3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bogus"), std::string::npos) << msg;
  {
    std::ofstream f(path);
    f << "[server]\nport = \n";
  }
  Options o3;
  EXPECT_EQ(parse({"--config", path}, &o3, &msg), ParseOutcome::kError);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  std::remove(path);
}

}  // namespace
}  // namespace strata::proxy
