#include "bench/load_options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::bench {
namespace {

std::expected<LoadOptions, std::string> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "load");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_load_options(static_cast<int>(argv.size()), argv.data());
}

TEST(LoadOptions, Defaults) {
  auto o = parse({});
  ASSERT_TRUE(o) << o.error();
  ASSERT_EQ(o->targets.size(), 1u);
  EXPECT_EQ(o->targets[0].name(), "127.0.0.1:6380");
  EXPECT_EQ(o->connections, 50);
  EXPECT_EQ(o->pipeline, 1);
  EXPECT_EQ(o->requests, kDefaultRequests);
  EXPECT_EQ(o->dist.dist, KeyDist::kZipf);
}

TEST(LoadOptions, TwoTargetsAndPids) {
  auto o = parse({"--target", "127.0.0.1:7000,localhost:7001", "--pid-a", "10", "--pid-b=11",
                  "--ratio", "3:1", "--value-size", "64-1024", "--duration", "2.5", "-P", "16"});
  ASSERT_TRUE(o) << o.error();
  ASSERT_EQ(o->targets.size(), 2u);
  EXPECT_EQ(o->targets[1].name(), "localhost:7001");
  EXPECT_EQ(o->targets[0].label, "A");
  EXPECT_EQ(o->targets[1].pid, 11);
  EXPECT_EQ(o->get_weight, 3u);
  EXPECT_EQ(o->value_min, 64u);
  EXPECT_EQ(o->value_max, 1024u);
  EXPECT_DOUBLE_EQ(o->duration_s, 2.5);
  EXPECT_EQ(o->requests, 0u);  // duration takes precedence
  EXPECT_EQ(o->pipeline, 16);
}

TEST(LoadOptions, HostThenPorts) {
  auto o = parse({"--host", "::1", "--port", "1", "--port", "2"});
  ASSERT_TRUE(o) << o.error();
  ASSERT_EQ(o->targets.size(), 2u);
  EXPECT_EQ(o->targets[1].host, "::1");
  EXPECT_EQ(o->targets[1].port, 2);
}

TEST(LoadOptions, RejectsBadValuesAndLimits) {
  EXPECT_FALSE(parse({"--connections", "0"}));
  EXPECT_FALSE(parse({"--ratio", "0:0"}));
  EXPECT_FALSE(parse({"--value-size", "10-5"}));
  EXPECT_FALSE(parse({"--dist", "pareto"}));
  EXPECT_FALSE(parse({"--target", "a:1,b:2,c:3"}));
  EXPECT_FALSE(parse({"--bogus", "1"}));
  EXPECT_FALSE(parse({"--port"}));
  EXPECT_FALSE(parse({"--pipeline", "4096", "--value-size", "1000000"}));  // batch too large
}

}  // namespace
}  // namespace strata::bench
