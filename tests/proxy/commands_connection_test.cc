// Connection and server commands: HELLO/AUTH with and without requirepass, QUIT, RESET,
// CLIENT, INFO and COMMAND as strata answers them in standalone and proxy modes.
#include <string>

#include "cache/clock.h"
#include "commands_harness.h"
#include "gtest/gtest.h"
#include "proxy/commands/command.h"

namespace strata::proxy {
namespace {

class ConnectionCommandsTest : public ::testing::Test {
 protected:
  cache::ManualClock clock_{1'700'000'000'000};
  testing::CommandHarness h_{&clock_};
};

const std::string kHello2 =
    "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n"
    "$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$7\r\nmodules\r\n*0\r\n";

TEST_F(ConnectionCommandsTest, HelloSwitchesProtocol) {
  EXPECT_EQ(h_.run({"HELLO"}), kHello2);
  const std::string hello3 = h_.run({"HELLO", "3", "SETNAME", "app"});
  EXPECT_EQ(hello3.substr(0, 4), "%7\r\n");
  EXPECT_NE(hello3.find("$5\r\nproto\r\n:3\r\n"), std::string::npos);
  EXPECT_EQ(h_.client().resp_version, 3);
  EXPECT_EQ(h_.client().name, "app");
  EXPECT_EQ(h_.run({"GET", "nope"}), "_\r\n");
  EXPECT_EQ(h_.run({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(h_.client().resp_version, 3);
  EXPECT_EQ(h_.run({"RESET"}), "+RESET\r\n");
  EXPECT_EQ(h_.client().resp_version, 2);
  EXPECT_EQ(h_.client().name, "");
}

TEST_F(ConnectionCommandsTest, AuthWithoutPassword) {
  EXPECT_EQ(h_.run({"AUTH", "pw"}),
            "-ERR AUTH <password> called without any password configured for the default "
            "user. Are you sure your configuration is correct?\r\n");
  EXPECT_EQ(h_.run({"AUTH", "default", "whatever"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"AUTH", "alice", "pw"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
}

TEST_F(ConnectionCommandsTest, AuthWithRequirepass) {
  h_.server().requirepass = "s3cret";
  h_.client().authenticated = false;
  EXPECT_EQ(h_.run({"HELLO", "3"}).substr(0, 7), "-NOAUTH");
  EXPECT_EQ(h_.client().resp_version, 2);
  EXPECT_EQ(h_.run({"AUTH", "wrong"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_FALSE(h_.client().authenticated);
  EXPECT_EQ(h_.run({"AUTH", "s3cret"}), "+OK\r\n");
  EXPECT_TRUE(h_.client().authenticated);
  EXPECT_EQ(h_.run({"RESET"}), "+RESET\r\n");
  EXPECT_FALSE(h_.client().authenticated);
  EXPECT_EQ(h_.run({"HELLO", "2", "AUTH", "default", "nope"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(h_.run({"HELLO", "2", "AUTH", "default", "s3cret"}), kHello2);
  EXPECT_TRUE(h_.client().authenticated);
  EXPECT_EQ(h_.run({"AUTH", "default", "s3cret"}), "+OK\r\n");
}

TEST_F(ConnectionCommandsTest, QuitAndSelect) {
  EXPECT_EQ(h_.run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_FALSE(h_.client().close_after_reply);
  EXPECT_EQ(h_.run({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(h_.client().close_after_reply);
}

TEST_F(ConnectionCommandsTest, ClientSubcommands) {
  EXPECT_EQ(h_.run({"CLIENT", "ID"}), ":7\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "SETNAME", "worker-1"}), "+OK\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "GETNAME"}), "$8\r\nworker-1\r\n");
  const std::string info = h_.run({"CLIENT", "INFO"});
  EXPECT_NE(info.find("id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:6380 fd=0 name=worker-1 age="),
            std::string::npos);
  EXPECT_NE(info.find(" cmd=client|info user=default redir=-1 resp=2\n\r\n"), std::string::npos);
  const std::string list = h_.run({"CLIENT", "LIST", "ID", "7", "8"});
  EXPECT_NE(list.find("cmd=client|list"), std::string::npos);
  EXPECT_EQ(h_.run({"CLIENT", "LIST", "ID", "8"}), "$0\r\n\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "SETINFO", "lib-name", "x"}),
            "-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "GETNAME", "x"}),
            "-ERR wrong number of arguments for 'client|getname' command\r\n");
  // Outside a front, CLIENT KILL/LIST/UNBLOCK see the calling connection alone.
  EXPECT_EQ(h_.run({"CLIENT", "KILL", "1.2.3.4:5"}), "-ERR No such client\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "KILL", "ID", "8"}), ":0\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "KILL", "ID", "7"}), ":0\r\n");  // SKIPME yes
  EXPECT_FALSE(h_.client().close_after_reply);
  EXPECT_EQ(h_.run({"CLIENT", "KILL", "ID", "0"}),
            "-ERR client-id should be greater than 0\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "UNBLOCK", "7"}), ":0\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "LIST", "ID", "-1"}), "$0\r\n\r\n");
  EXPECT_EQ(h_.run({"CLIENT", "NO-EVICT", "on"}), "+OK\r\n");
  EXPECT_NE(h_.run({"CLIENT", "INFO"}).find(" flags=e "), std::string::npos);
  EXPECT_EQ(h_.run({"CLIENT", "KILL", "ID", "7", "SKIPME", "no"}), ":1\r\n");
  EXPECT_TRUE(h_.client().close_after_reply);
  h_.client().close_after_reply = false;
  h_.client().resp_version = 3;
  EXPECT_EQ(h_.run({"CLIENT", "INFO"}).substr(0, 1), "=");
}

TEST_F(ConnectionCommandsTest, UnknownCommands) {
  EXPECT_EQ(h_.run({"FOO", "a", "b"}),
            "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(h_.run({"FOO"}), "-ERR unknown command 'FOO', with args beginning with: \r\n");
  EXPECT_EQ(h_.run({"CONFIG", "BLAH"}), "-ERR unknown subcommand 'BLAH'. Try CONFIG HELP.\r\n");
  // Not native: forwarded in proxy mode, refused standalone by the dispatcher.
  const CommandSpec* hset = find_command("HSET");
  ASSERT_NE(hset, nullptr);
  EXPECT_EQ(hset->native, nullptr);
}

TEST_F(ConnectionCommandsTest, InfoSections) {
  h_.run({"SET", "a", "1", "EX", "10"});
  h_.run({"SET", "b", "1"});
  h_.server().upstream = "127.0.0.1:6379";
  h_.server().maxmemory_bytes = 64ull << 20;
  h_.server().eviction = "s3fifo";
  const std::string all = h_.run({"INFO"});
  EXPECT_EQ(all.substr(0, 1), "$");
  for (const char* field : {"# Server\r\nredis_version:7.0.15\r\n",
                            "redis_mode:standalone\r\n",
                            "process_id:",
                            "tcp_port:6380\r\n",
                            "uptime_in_seconds:",
                            "# Clients\r\nconnected_clients:0\r\n",
                            "# Memory\r\nused_memory:",
                            "used_memory_human:",
                            "maxmemory:67108864\r\n",
                            "maxmemory_human:64.00M\r\n",
                            "maxmemory_policy:s3fifo\r\n",
                            "total_connections_received:0\r\n",
                            "total_commands_processed:0\r\n",
                            "keyspace_hits:",
                            "keyspace_misses:",
                            "evicted_keys:0\r\n",
                            "expired_keys:0\r\n",
                            "# Replication\r\nrole:master\r\n",
                            "# CPU\r\nused_cpu_sys:",
                            "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n",
                            "# Strata\r\n",
                            "l1_hits:",
                            "l1_misses:",
                            "upstream_hits:0\r\n",
                            "upstream_errors:0\r\n",
                            "upstream:127.0.0.1:6379\r\n",
                            "upstream_up:0\r\n",
                            "l1_evictions:0\r\n",
                            "l1_used_bytes:",
                            "protocol_errors:0\r\n",
                            "output_limit_disconnects:0\r\n"}) {
    EXPECT_NE(all.find(field), std::string::npos) << field;
  }
  const std::string two = h_.run({"INFO", "keyspace", "REPLICATION"});
  EXPECT_EQ(two,
            "$139\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
            "master_repl_offset:0\r\nrepl_backlog_active:0\r\n\r\n# Keyspace\r\n"
            "db0:keys=2,expires=1,avg_ttl=0\r\n\r\n");
  EXPECT_EQ(h_.run({"INFO", "nosuch"}), "$0\r\n\r\n");
  h_.run({"FLUSHALL"});
  EXPECT_EQ(h_.run({"INFO", "keyspace"}), "$12\r\n# Keyspace\r\n\r\n");
}

TEST_F(ConnectionCommandsTest, CommandListsWhatIsServed) {
  size_t natives = 0;
  for (const CommandSpec& spec : all_commands()) natives += spec.native != nullptr ? 1 : 0;
  EXPECT_EQ(h_.run({"COMMAND", "COUNT"}), ":" + std::to_string(natives) + "\r\n");
  EXPECT_EQ(h_.run({"COMMAND", "INFO", "hset"}), "*1\r\n$-1\r\n");
  h_.server().mode = "proxy";
  EXPECT_EQ(h_.run({"COMMAND", "COUNT"}), ":" + std::to_string(all_commands().size()) + "\r\n");
  EXPECT_EQ(h_.run({"COMMAND", "INFO", "hset"}).substr(0, 17), "*1\r\n*10\r\n$4\r\nhset");
  const std::string all = h_.run({"COMMAND"});
  EXPECT_EQ(all.substr(0, all.find('\r')), "*" + std::to_string(all_commands().size()));
  h_.client().resp_version = 3;
  const std::string get3 = h_.run({"COMMAND", "INFO", "get"});
  EXPECT_EQ(get3.substr(0, 37), "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n");
  EXPECT_EQ(h_.run({"COMMAND", "DOCS", "get"}), "%0\r\n");
}

}  // namespace
}  // namespace strata::proxy
