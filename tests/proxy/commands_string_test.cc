// String commands on a manual clock: exact TTL arithmetic, expiry, and the reply bytes.
#include "cache/clock.h"
#include "commands_harness.h"
#include "gtest/gtest.h"

namespace strata::proxy {
namespace {

constexpr int64_t kStartMs = 1'700'000'000'000;

class StringCommandsTest : public ::testing::Test {
 protected:
  cache::ManualClock clock_{kStartMs};
  testing::CommandHarness h_{&clock_};
};

TEST_F(StringCommandsTest, GetSetRoundTrip) {
  EXPECT_EQ(h_.run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "hello"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"get", "k"}), "$5\r\nhello\r\n");
  EXPECT_EQ(h_.run({"SET", "k", std::string("a\0b", 3)}), "+OK\r\n");
  EXPECT_EQ(h_.run({"GET", "k"}), std::string("$3\r\na\0b\r\n", 9));
}

TEST_F(StringCommandsTest, SetExpiresOnTheClock) {
  EXPECT_EQ(h_.run({"SET", "k", "v", "PX", "1500"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":1500\r\n");
  EXPECT_EQ(h_.run({"TTL", "k"}), ":2\r\n");  // 1.5 s rounds to 2, as Redis
  clock_.advance_ms(1000);
  EXPECT_EQ(h_.run({"TTL", "k"}), ":1\r\n");  // 0.5 s rounds up
  clock_.advance_ms(1);
  EXPECT_EQ(h_.run({"TTL", "k"}), ":0\r\n");
  clock_.advance_ms(499);  // now == expiry: still there, as in Redis (expired means now > at)
  EXPECT_EQ(h_.run({"GET", "k"}), "$1\r\nv\r\n");
  clock_.advance_ms(1);
  EXPECT_EQ(h_.run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(h_.run({"TTL", "k"}), ":-2\r\n");
}

TEST_F(StringCommandsTest, SetAbsoluteTimes) {
  EXPECT_EQ(h_.run({"SET", "k", "v", "PXAT", std::to_string(kStartMs + 10)}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PEXPIRETIME", "k"}), ":" + std::to_string(kStartMs + 10) + "\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "EXAT", std::to_string(kStartMs / 1000 + 5)}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":5000\r\n");
  // A time already past: OK, and the key is gone.
  EXPECT_EQ(h_.run({"SET", "k", "v", "PXAT", std::to_string(kStartMs)}), "+OK\r\n");
  EXPECT_EQ(h_.run({"EXISTS", "k"}), ":0\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "GET", "PXAT", "1"}), "$-1\r\n");
}

TEST_F(StringCommandsTest, SetKeepTtlAndOverwrite) {
  h_.run({"SET", "k", "v", "EX", "100"});
  clock_.advance_ms(10'000);
  EXPECT_EQ(h_.run({"SET", "k", "w", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":90000\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "x"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":-1\r\n");
  EXPECT_EQ(h_.run({"SET", "new", "x", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "new"}), ":-1\r\n");
}

TEST_F(StringCommandsTest, SetConditionsAndGet) {
  EXPECT_EQ(h_.run({"SET", "k", "1", "XX"}), "$-1\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "1", "NX"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "2", "NX"}), "$-1\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "2", "XX", "GET"}), "$1\r\n1\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "3", "NX", "GET"}), "$1\r\n2\r\n");
  EXPECT_EQ(h_.run({"GET", "k"}), "$1\r\n2\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "EX", "1", "PX", "1"}), "-ERR syntax error\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "EX", "1x"}),
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(h_.run({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(h_.run({"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n");
}

TEST_F(StringCommandsTest, SetexFamily) {
  EXPECT_EQ(h_.run({"SETEX", "k", "10", "v"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":10000\r\n");
  EXPECT_EQ(h_.run({"PSETEX", "k", "10", "v"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":10\r\n");
  EXPECT_EQ(h_.run({"SETEX", "k", "0", "v"}), "-ERR invalid expire time in 'setex' command\r\n");
  EXPECT_EQ(h_.run({"PSETEX", "k", "-1", "v"}), "-ERR invalid expire time in 'psetex' command\r\n");
  EXPECT_EQ(h_.run({"SETNX", "k", "x"}), ":0\r\n");
  EXPECT_EQ(h_.run({"SETNX", "k2", "x"}), ":1\r\n");
}

TEST_F(StringCommandsTest, GetexChangesTtl) {
  EXPECT_EQ(h_.run({"GETEX", "k", "EX", "10"}), "$-1\r\n");
  h_.run({"SET", "k", "v"});
  EXPECT_EQ(h_.run({"GETEX", "k", "PX", "250"}), "$1\r\nv\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":250\r\n");
  EXPECT_EQ(h_.run({"GETEX", "k", "PERSIST"}), "$1\r\nv\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":-1\r\n");
  EXPECT_EQ(h_.run({"GETEX", "k", "EXAT", std::to_string(kStartMs / 1000 + 3)}), "$1\r\nv\r\n");
  EXPECT_EQ(h_.run({"PTTL", "k"}), ":3000\r\n");
  EXPECT_EQ(h_.run({"GETEX", "k", "PXAT", std::to_string(kStartMs)}), "$1\r\nv\r\n");
  EXPECT_EQ(h_.run({"GET", "k"}), "$-1\r\n");
  h_.run({"SET", "k", "v"});
  EXPECT_EQ(h_.run({"GETEX", "k", "EX", "0"}), "-ERR invalid expire time in 'getex' command\r\n");
  EXPECT_EQ(h_.run({"GETEX", "k", "KEEPTTL"}), "-ERR syntax error\r\n");
}

TEST_F(StringCommandsTest, GetsetGetdelDropTtl) {
  h_.run({"SET", "k", "old", "EX", "100"});
  EXPECT_EQ(h_.run({"GETSET", "k", "new"}), "$3\r\nold\r\n");
  EXPECT_EQ(h_.run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(h_.run({"GETDEL", "k"}), "$3\r\nnew\r\n");
  EXPECT_EQ(h_.run({"GETDEL", "k"}), "$-1\r\n");
}

TEST_F(StringCommandsTest, MultiKey) {
  EXPECT_EQ(h_.run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"MGET", "a", "x", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
  EXPECT_EQ(h_.run({"MSETNX", "c", "3", "a", "9"}), ":0\r\n");
  EXPECT_EQ(h_.run({"EXISTS", "c"}), ":0\r\n");
  EXPECT_EQ(h_.run({"MSETNX", "c", "3", "d", "4"}), ":1\r\n");
  EXPECT_EQ(h_.run({"MSET", "a"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(h_.run({"MSETNX", "a", "1", "b"}),
            "-ERR wrong number of arguments for 'msetnx' command\r\n");
}

TEST_F(StringCommandsTest, CountersKeepTtl) {
  h_.run({"SET", "n", "10", "PX", "5000"});
  EXPECT_EQ(h_.run({"INCRBY", "n", "5"}), ":15\r\n");
  EXPECT_EQ(h_.run({"PTTL", "n"}), ":5000\r\n");
  EXPECT_EQ(h_.run({"DECR", "n"}), ":14\r\n");
  EXPECT_EQ(h_.run({"INCRBYFLOAT", "n", "0.5"}), "$4\r\n14.5\r\n");
  EXPECT_EQ(h_.run({"PTTL", "n"}), ":5000\r\n");
  EXPECT_EQ(h_.run({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(h_.run({"INCRBYFLOAT", "x", "1e5000"}), "-ERR value is not a valid float\r\n");
  h_.run({"SET", "big", "9223372036854775807"});
  EXPECT_EQ(h_.run({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(h_.run({"DECRBY", "z", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  h_.run({"SET", "f", "1e4932"});  // near the long double maximum
  EXPECT_EQ(h_.run({"INCRBYFLOAT", "f", "1e4932"}),
            "-ERR increment would produce NaN or Infinity\r\n");
}

TEST_F(StringCommandsTest, RangesKeepTtl) {
  h_.run({"SET", "s", "abc", "PX", "700"});
  EXPECT_EQ(h_.run({"APPEND", "s", "def"}), ":6\r\n");
  EXPECT_EQ(h_.run({"SETRANGE", "s", "8", "X"}), ":9\r\n");
  EXPECT_EQ(h_.run({"GET", "s"}), std::string("$9\r\nabcdef\0\0X\r\n", 15));
  EXPECT_EQ(h_.run({"PTTL", "s"}), ":700\r\n");
  EXPECT_EQ(h_.run({"GETRANGE", "s", "-3", "-1"}), std::string("$3\r\n\0\0X\r\n", 9));
  EXPECT_EQ(h_.run({"STRLEN", "s"}), ":9\r\n");
  EXPECT_EQ(h_.run({"SETRANGE", "s", "536870912", "x"}),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
  EXPECT_EQ(h_.run({"SETRANGE", "s", "-1", "x"}), "-ERR offset is out of range\r\n");
}

TEST_F(StringCommandsTest, Resp3Nulls) {
  h_.client().resp_version = 3;
  EXPECT_EQ(h_.run({"GET", "nope"}), "_\r\n");
  EXPECT_EQ(h_.run({"MGET", "nope"}), "*1\r\n_\r\n");
  EXPECT_EQ(h_.run({"GETRANGE", "nope", "0", "1"}), "$0\r\n\r\n");
}

TEST_F(StringCommandsTest, ValueTooBigForL1IsRefused) {
  cache::StoreConfig config;
  config.maxmemory_bytes = 64 * 1024;
  config.shards = 1;
  testing::CommandHarness small(&clock_, config);
  EXPECT_EQ(small.run({"SET", "k", std::string(1 << 20, 'x')}),
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
  EXPECT_EQ(small.run({"SETRANGE", "k", "100000000", "x"}),
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
  EXPECT_EQ(small.run({"EXISTS", "k"}), ":0\r\n");
}

}  // namespace
}  // namespace strata::proxy
