// Keyspace commands on a manual clock: EXPIRE options against exact TTLs, KEYS/SCAN over many
// keys, DBSIZE and FLUSHALL.
#include <set>
#include <string>

#include "cache/clock.h"
#include "commands_harness.h"
#include "gtest/gtest.h"

namespace strata::proxy {
namespace {

constexpr int64_t kStartMs = 1'700'000'000'000;

class KeyspaceCommandsTest : public ::testing::Test {
 protected:
  cache::ManualClock clock_{kStartMs};
  testing::CommandHarness h_{&clock_};
};

TEST_F(KeyspaceCommandsTest, ExpireOptions) {
  h_.run({"SET", "k", "v"});
  EXPECT_EQ(h_.run({"EXPIRE", "k", "10", "XX"}), ":0\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "10", "GT"}), ":0\r\n");  // no TTL counts as infinite
  EXPECT_EQ(h_.run({"EXPIRE", "k", "10", "LT"}), ":1\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "10", "NX"}), ":0\r\n");
  EXPECT_EQ(h_.run({"PEXPIRE", "k", "10000", "GT"}), ":0\r\n");  // equal is not greater
  EXPECT_EQ(h_.run({"PEXPIRE", "k", "10001", "GT"}), ":1\r\n");
  EXPECT_EQ(h_.run({"PEXPIRE", "k", "10001", "LT"}), ":0\r\n");
  EXPECT_EQ(h_.run({"PEXPIRE", "k", "9999", "LT", "XX"}), ":1\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":9999\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "1", "NX", "LT"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "1", "GT", "LT"}),
            "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "1", std::string("BAD\0X", 5)}),
            "-ERR Unsupported option BAD\r\n");
}

TEST_F(KeyspaceCommandsTest, ExpireAtAndPastTimes) {
  h_.run({"SET", "k", "v"});
  EXPECT_EQ(h_.run({"EXPIREAT", "k", std::to_string(kStartMs / 1000 + 100)}), ":1\r\n");
  EXPECT_EQ(h_.run({"TTL", "k"}), ":100\r\n");
  EXPECT_EQ(h_.run({"EXPIRETIME", "k"}), ":" + std::to_string(kStartMs / 1000 + 100) + "\r\n");
  EXPECT_EQ(h_.run({"PEXPIREAT", "k", std::to_string(kStartMs)}), ":1\r\n");
  EXPECT_EQ(h_.run({"EXISTS", "k"}), ":0\r\n");
  h_.run({"SET", "k", "v"});
  EXPECT_EQ(h_.run({"EXPIRE", "k", "-1"}), ":1\r\n");
  EXPECT_EQ(h_.run({"TYPE", "k"}), "+none\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "k", "9223372036854775807"}),
            "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(h_.run({"PEXPIRE", "k", "9223372036854775807"}),
            "-ERR invalid expire time in 'pexpire' command\r\n");
}

TEST_F(KeyspaceCommandsTest, TtlRoundingAndPersist) {
  h_.run({"SET", "k", "v", "PX", "2499"});
  EXPECT_EQ(h_.run({"TTL", "k"}), ":2\r\n");
  h_.run({"SET", "k", "v", "PX", "2500"});
  EXPECT_EQ(h_.run({"TTL", "k"}), ":3\r\n");
  EXPECT_EQ(h_.run({"PERSIST", "k"}), ":1\r\n");
  EXPECT_EQ(h_.run({"PERSIST", "k"}), ":0\r\n");
  EXPECT_EQ(h_.run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(h_.run({"EXPIRETIME", "k"}), ":-1\r\n");
  EXPECT_EQ(h_.run({"PEXPIRETIME", "nope"}), ":-2\r\n");
}

TEST_F(KeyspaceCommandsTest, DelExistsCountDuplicates) {
  h_.run({"MSET", "a", "1", "b", "2"});
  EXPECT_EQ(h_.run({"EXISTS", "a", "a", "b", "c"}), ":3\r\n");
  EXPECT_EQ(h_.run({"DEL", "a", "a", "c"}), ":1\r\n");
  EXPECT_EQ(h_.run({"UNLINK", "b"}), ":1\r\n");
  EXPECT_EQ(h_.run({"DBSIZE"}), ":0\r\n");
}

std::set<std::string> scan_all(testing::CommandHarness& h, const std::string& count,
                               const std::vector<std::string>& extra) {
  std::set<std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    std::vector<std::string> line = {"SCAN", cursor, "COUNT", count};
    line.insert(line.end(), extra.begin(), extra.end());
    const std::string reply = h.run(line);
    // *2\r\n$N\r\n<cursor>\r\n*M\r\n($L\r\n<key>\r\n)*
    size_t pos = reply.find("\r\n", 4) + 2;
    const size_t cursor_end = reply.find("\r\n", pos);
    cursor = reply.substr(pos, cursor_end - pos);
    pos = reply.find("\r\n", cursor_end + 2) + 2;
    while (pos < reply.size()) {
      const size_t eol = reply.find("\r\n", pos);
      const size_t n = std::stoul(reply.substr(pos + 1, eol - pos - 1));
      seen.insert(reply.substr(eol + 2, n));
      pos = eol + 2 + n + 2;
    }
    ++rounds;
  } while (cursor != "0" && rounds < 100000);
  return seen;
}

TEST_F(KeyspaceCommandsTest, ScanVisitsEveryKeyAndFilters) {
  for (int i = 0; i < 2000; ++i) {
    h_.run({"SET", "key:" + std::to_string(i), "v"});
  }
  h_.run({"SET", "other", "v"});
  EXPECT_EQ(scan_all(h_, "7", {}).size(), 2001u);
  EXPECT_EQ(scan_all(h_, "100", {"MATCH", "key:1??"}).size(), 100u);
  EXPECT_EQ(scan_all(h_, "100", {"MATCH", "other", "TYPE", "string"}).size(), 1u);
  EXPECT_EQ(scan_all(h_, "100", {"TYPE", "list"}).size(), 0u);
  EXPECT_EQ(h_.run({"DBSIZE"}), ":2001\r\n");
  const std::string keys = h_.run({"KEYS", "key:19?9"});
  EXPECT_EQ(keys.substr(0, 5), "*10\r\n");
  EXPECT_EQ(h_.run({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"KEYS", "*"}), "*0\r\n");
  EXPECT_EQ(h_.run({"SCAN", "0"}), "*2\r\n$1\r\n0\r\n*0\r\n");
}

TEST_F(KeyspaceCommandsTest, ExpiredKeysAreInvisible) {
  h_.run({"SET", "a", "1", "PX", "10"});
  h_.run({"SET", "b", "1"});
  clock_.advance_ms(11);
  EXPECT_EQ(h_.run({"KEYS", "*"}), "*1\r\n$1\r\nb\r\n");
  EXPECT_EQ(h_.run({"EXISTS", "a"}), ":0\r\n");
  EXPECT_EQ(h_.run({"EXPIRE", "a", "10"}), ":0\r\n");
  EXPECT_EQ(h_.run({"PERSIST", "a"}), ":0\r\n");
}

TEST_F(KeyspaceCommandsTest, Errors) {
  EXPECT_EQ(h_.run({"SCAN", "abc"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(h_.run({"SCAN", "0", "COUNT", "0"}), "-ERR syntax error\r\n");
  EXPECT_EQ(h_.run({"FLUSHALL", "NOW"}), "-ERR syntax error\r\n");
  EXPECT_EQ(h_.run({"TTL"}), "-ERR wrong number of arguments for 'ttl' command\r\n");
  EXPECT_EQ(h_.run({"KEYS"}), "-ERR wrong number of arguments for 'keys' command\r\n");
}

}  // namespace
}  // namespace strata::proxy
