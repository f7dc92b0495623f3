// The command table: lookups, flags and key positions the dispatcher relies on.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/commands/command.h"
#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

std::vector<std::string_view> keys_of(std::vector<std::string_view> line) {
  const CommandSpec* spec = find_command(line[0]);
  EXPECT_NE(spec, nullptr) << line[0];
  std::vector<std::string_view> keys;
  if (spec != nullptr) command_keys(*spec, line, &keys);
  return keys;
}

using Keys = std::vector<std::string_view>;

TEST(CommandTable, LookupIgnoresCase) {
  ASSERT_NE(find_command("get"), nullptr);
  EXPECT_EQ(find_command("GeT"), find_command("get"));
  EXPECT_EQ(find_command("GET")->arity, 2);
  EXPECT_EQ(find_command("getx"), nullptr);
  EXPECT_EQ(find_command(""), nullptr);
  EXPECT_EQ(find_command("ge"), nullptr);
  for (const CommandSpec& spec : all_commands()) {
    std::string upper(spec.name);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(find_command(upper), &spec) << spec.name;
  }
}

TEST(CommandTable, FlagsFollowRedis) {
  EXPECT_TRUE(find_command("set")->flags & kWrite);
  EXPECT_TRUE(find_command("get")->flags & kReadOnly);
  EXPECT_TRUE(find_command("blpop")->flags & kBlocking);
  EXPECT_TRUE(find_command("xread")->flags & kBlocking);
  EXPECT_TRUE(find_command("multi")->flags & kPinning);
  EXPECT_TRUE(find_command("watch")->flags & kPinning);
  EXPECT_TRUE(find_command("subscribe")->flags & kPubSub);
  EXPECT_TRUE(find_command("subscribe")->flags & kPinning);
  EXPECT_TRUE(find_command("eval")->flags & kWrite);
  EXPECT_TRUE(find_command("eval")->flags & kMovableKeys);
  EXPECT_TRUE(find_command("hello")->flags & kNoAuth);
  EXPECT_TRUE(find_command("flushall")->flags & kWrite);
  EXPECT_TRUE(is_container_command(*find_command("client")));
  EXPECT_FALSE(is_container_command(*find_command("get")));
  EXPECT_NE(find_command("get")->native, nullptr);
  EXPECT_EQ(find_command("hset")->native, nullptr);
}

TEST(CommandTable, KeyPositions) {
  EXPECT_EQ(keys_of({"GET", "a"}), (Keys{"a"}));
  EXPECT_EQ(keys_of({"MSET", "a", "1", "b", "2"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"DEL", "a", "b", "c"}), (Keys{"a", "b", "c"}));
  EXPECT_EQ(keys_of({"BLPOP", "a", "b", "0"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"RENAME", "a", "b"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"PING"}), Keys{});
  EXPECT_EQ(keys_of({"EVAL", "s", "2", "a", "b", "arg"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"EVAL", "s", "5", "a"}), Keys{});
  EXPECT_EQ(keys_of({"FCALL", "f", "1", "a"}), (Keys{"a"}));
  EXPECT_EQ(keys_of({"ZUNIONSTORE", "d", "2", "a", "b"}), (Keys{"d", "a", "b"}));
  EXPECT_EQ(keys_of({"ZUNION", "2", "a", "b", "WITHSCORES"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"BLMPOP", "0", "2", "a", "b", "LEFT"}), (Keys{"a", "b"}));
  EXPECT_EQ(keys_of({"SORT", "k", "BY", "w_*", "STORE", "dst"}), (Keys{"k", "dst"}));
  EXPECT_EQ(keys_of({"SORT_RO", "k", "STORE", "dst"}), (Keys{"k"}));
  EXPECT_EQ(keys_of({"GEORADIUS", "g", "0", "0", "1", "km", "STOREDIST", "d"}), (Keys{"g", "d"}));
  // Redis's test suite (unit/sort.tcl): the last STORE is the key written; GET/BY/LIMIT
  // arguments are not options (sortGetKeys), so strata must invalidate that key.
  EXPECT_EQ(keys_of({"SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def"}),
            (Keys{"abc", "def"}));
  EXPECT_EQ(keys_of({"SORT", "k", "GET", "store", "BY", "store", "LIMIT", "0", "store"}),
            (Keys{"k"}));
  EXPECT_EQ(keys_of({"GEORADIUS", "g", "0", "0", "1", "km", "STORE", "a", "STOREDIST", "b"}),
            (Keys{"g", "a", "b"}));
  EXPECT_EQ(keys_of({"GEORADIUS", "g", "0", "0", "1", "km", "STOREDIST", "a", "STORE", "b"}),
            (Keys{"g", "b", "a"}));
  EXPECT_EQ(keys_of({"GEORADIUS", "g", "0", "0", "1", "km", "STORE", "a", "STORE", "b"}),
            (Keys{"g", "a", "b"}));  // Redis writes b; its key specs name a
  EXPECT_EQ(keys_of({"GEORADIUSBYMEMBER", "g", "store", "1", "km", "STORE", "d"}),
            (Keys{"g", "d"}));
  EXPECT_EQ(keys_of({"XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"}), (Keys{"s1", "s2"}));
  EXPECT_EQ(keys_of({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}), (Keys{"s"}));
  EXPECT_EQ(keys_of({"MIGRATE", "h", "1", "k", "0", "10"}), (Keys{"k"}));
  EXPECT_EQ(keys_of({"MIGRATE", "h", "1", "", "0", "10", "KEYS", "a", "b"}), (Keys{"a", "b"}));
}

TEST(CommandTable, OptionsMatchLikeStrcasecmp) {
  EXPECT_TRUE(option_is("NX", "nx"));
  EXPECT_TRUE(option_is(std::string_view("nX\0junk", 7), "nx"));
  EXPECT_FALSE(option_is("NXX", "nx"));
  EXPECT_TRUE(name_is("SetName", "setname"));
  EXPECT_FALSE(name_is(std::string_view("id\0x", 4), "id"));
}

TEST(CommandTable, SubcommandArity) {
  EXPECT_EQ(subcommand_arity(*find_command("config"), "GET"), -3);
  EXPECT_EQ(subcommand_arity(*find_command("config"), "set"), -4);
  EXPECT_EQ(subcommand_arity(*find_command("client"), "setname"), 3);
  EXPECT_EQ(subcommand_arity(*find_command("object"), "encoding"), 3);
  EXPECT_EQ(subcommand_arity(*find_command("config"), "nope"), 0);
  EXPECT_EQ(subcommand_arity(*find_command("config"), ""), 0);
  EXPECT_EQ(subcommand_arity(*find_command("get"), "x"), 0);
}

TEST(CommandTable, Arity) {
  EXPECT_TRUE(arity_ok(*find_command("get"), 2));
  EXPECT_FALSE(arity_ok(*find_command("get"), 3));
  EXPECT_TRUE(arity_ok(*find_command("set"), 5));
  EXPECT_FALSE(arity_ok(*find_command("set"), 2));
}

TEST(CommandTable, UnknownCommandEchoIsBounded) {
  std::string out;
  protocol::ReplyWriter w(&out);
  const std::string long_arg(300, 'x');
  std::vector<std::string_view> args = {"nope", long_arg, "more"};
  reply_unknown_command(w, args);
  EXPECT_EQ(out, "-ERR unknown command 'nope', with args beginning with: '" +
                     std::string(128, 'x') + "' \r\n");
}

}  // namespace
}  // namespace strata::proxy
