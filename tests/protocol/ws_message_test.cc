#include "protocol/utf8.h"
#include "protocol/ws_message.h"

#include <gtest/gtest.h>

namespace strata::protocol {
namespace {

WsClientMessage parse_ok(std::string_view text) {
  WsClientMessage m;
  auto err = parse_ws_client_message(text, 1024, &m);
  EXPECT_FALSE(err.has_value()) << text << ": " << (err ? err->message : "");
  return m;
}

std::string parse_error(std::string_view text) {
  WsClientMessage m;
  auto err = parse_ws_client_message(text, 16, &m);
  EXPECT_TRUE(err.has_value()) << text;
  return err ? err->message : "";
}

TEST(WsMessage, ParsesEveryType) {
  EXPECT_EQ(parse_ok(R"({"t":"ping"})").type, WsClientType::kPing);
  WsClientMessage a = parse_ok(R"({"t":"auth","token":"abc"})");
  EXPECT_EQ(a.type, WsClientType::kAuth);
  EXPECT_EQ(a.token, "abc");
  WsClientMessage s = parse_ok(R"({"t":"sub","id":7,"prefix":"chat:","since":"ab.3"})");
  EXPECT_EQ(s.type, WsClientType::kSub);
  EXPECT_EQ(s.id, 7);
  EXPECT_TRUE(s.is_prefix);
  EXPECT_EQ(s.key, "chat:");
  EXPECT_EQ(s.since, "ab.3");
  WsClientMessage k = parse_ok(R"({"t":"sub","id":1,"key":"user:1"})");
  EXPECT_FALSE(k.is_prefix);
  EXPECT_EQ(parse_ok(R"({"t":"unsub","id":9})").id, 9);
  WsClientMessage w = parse_ok(R"({"t":"set","op":3,"key":"k","v":"é","ver":"0","ttl_ms":500})");
  EXPECT_EQ(w.type, WsClientType::kSet);
  EXPECT_EQ(w.op, 3);
  EXPECT_EQ(w.value, "é");
  ASSERT_TRUE(w.expected_version.has_value());
  EXPECT_EQ(*w.expected_version, 0u);
  EXPECT_EQ(w.ttl_ms, 500u);
  WsClientMessage b = parse_ok(R"({"t":"set","op":4,"key":"k","v64":"AP8="})");
  EXPECT_EQ(b.value, std::string("\x00\xff", 2));
  EXPECT_FALSE(b.expected_version.has_value());
  WsClientMessage d = parse_ok(R"({"t":"del","op":5,"key":"k","ver":"12345678901234567890"})");
  EXPECT_EQ(d.type, WsClientType::kDel);
  EXPECT_EQ(*d.expected_version, 12345678901234567890ull);
  WsClientMessage ap = parse_ok(R"({"t":"append","op":6,"stream":"room","v":"hi"})");
  EXPECT_EQ(ap.type, WsClientType::kAppend);
  EXPECT_EQ(ap.key, "room");
}

TEST(WsMessage, RefusesMalformed) {
  EXPECT_NE(parse_error("not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("[1]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(R"({"x":1})").find("no type"), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"nope"})").find("unknown message type"), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"sub","id":0,"key":"k"})").find("\"id\""), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"sub","id":1.5,"key":"k"})").find("\"id\""), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"sub","id":1})").find("exactly one"), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"sub","id":1,"key":"a","prefix":"b"})").find("exactly one"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","key":"k","v":"x"})").find("\"op\""), std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"","v":"x"})").find("\"key\""),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"k"})").find("exactly one"), std::string::npos);
  // value_bytes_max is 16 here.
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"k","v":"01234567890123456"})")
                .find("at most 16"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"k","v64":"!!!!"})").find("base64"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"k","v":"x","ver":"-1"})").find("\"ver\""),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"set","op":1,"key":"k","v":"x","ttl_ms":0})").find("ttl_ms"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"t":"ping","a":[[[[[1]]]]]})").find("nested"), std::string::npos);
  // A valid op number is reported with an error about another field.
  WsClientMessage m;
  auto err = parse_ws_client_message(R"({"t":"set","op":42,"key":7})", 16, &m);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->op, 42);
}

TEST(WsMessage, ComposesChangesAndAnswers) {
  EXPECT_EQ(compose_ws_change("k\"1", false, "v\n", 12, "ff.3"),
            R"({"t":"c","k":"k\"1","op":"set","v":"v\n","ver":"12","pos":"ff.3"})");
  EXPECT_EQ(compose_ws_change("k", true, "", 13, "ff.4"),
            R"({"t":"c","k":"k","op":"del","ver":"13","pos":"ff.4"})");
  EXPECT_EQ(compose_ws_change("k", false, std::string("\xff", 1), 1, "a.1"),
            R"({"t":"c","k":"k","op":"set","v64":"/w==","ver":"1","pos":"a.1"})");
  EXPECT_EQ(ws_change_merged(compose_ws_change("k", true, "", 1, "a.1")),
            R"({"t":"c","k":"k","op":"del","ver":"1","pos":"a.1","merged":true})");
  std::vector<WsSnapItem> items{{"a", "1", 5}, {"b", "2", 6}};
  EXPECT_EQ(compose_ws_snap(3, items, true, false),
            R"({"t":"snap","id":3,"items":[{"k":"a","v":"1","ver":"5"},{"k":"b","v":"2","ver":"6"}],"last":true,"truncated":false})");
  EXPECT_EQ(compose_ws_ack(2, 9, "a.7", "", 0), R"({"t":"ack","op":2,"ver":"9","pos":"a.7"})");
  EXPECT_EQ(compose_ws_ack(2, 9, "a.7", "room:4", 4),
            R"({"t":"ack","op":2,"ver":"9","pos":"a.7","key":"room:4","position":"4"})");
  std::string cur = "old";
  EXPECT_EQ(compose_ws_nack(5, "conflict", "version mismatch", 8, &cur),
            R"({"t":"nack","op":5,"reason":"conflict","message":"version mismatch","ver":"8","v":"old"})");
  EXPECT_EQ(compose_ws_nack(5, "conflict", "absent", 0, nullptr),
            R"({"t":"nack","op":5,"reason":"conflict","message":"absent","ver":"0","v":null})");
  EXPECT_EQ(compose_ws_subscribed(1, "a.2", true),
            R"({"t":"subscribed","id":1,"pos":"a.2","resumed":true})");
  EXPECT_EQ(compose_ws_error("denied", "no", 4), R"({"t":"error","code":"denied","message":"no","id":4})");
}

TEST(WsMessage, Utf8Validation) {
  EXPECT_TRUE(utf8_valid("héllo €𝄞"));
  EXPECT_FALSE(utf8_valid("\xc0\xaf"));          // overlong
  EXPECT_FALSE(utf8_valid("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(utf8_valid("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(utf8_valid("\xe2\x82"));          // truncated
}

}  // namespace
}  // namespace strata::protocol
