#include "proxy/ws/ws_hub.h"

#include <gtest/gtest.h>

#include <thread>

#include "proxy/ws/ws_sessions.h"

namespace strata::proxy {
namespace {

TEST(WsHub, AppendsOnlyWhatSomeoneWants) {
  WsHub hub({100, 60000}, 0xabc);
  EXPECT_EQ(hub.append("k", false, "v", 1, 0), nullptr);
  hub.add_interest("user:", true);
  hub.add_interest("k", false);
  EXPECT_EQ(hub.append("other", false, "v", 1, 0), nullptr);
  WsChangePtr a = hub.append("k", false, "v", 7, 0);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->seq, 1u);
  WsChangePtr b = hub.append("user:1", true, {}, 8, 0);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->seq, 2u);
  EXPECT_EQ(a->json, R"({"t":"c","k":"k","op":"set","v":"v","ver":"7","pos":"0000000000000abc.1"})");
  // The frame is the JSON with a text frame's header: FIN + text, unmasked length.
  EXPECT_EQ(static_cast<uint8_t>(a->frame[0]), 0x81);
  EXPECT_EQ(static_cast<size_t>(a->frame[1]), a->json.size());
  EXPECT_EQ(a->frame.substr(2), a->json);
  EXPECT_EQ(hub.head(), 2u);
}

TEST(WsHub, DroppedInterestLingersForHistory) {
  WsHub hub({100, 1000}, 1);
  hub.add_interest("k", false);
  hub.drop_interest("k", false, 5000);
  hub.expire_interest(5500);
  EXPECT_TRUE(hub.interested("k"));  // a client reconnecting within history_ms resumes
  hub.expire_interest(6001);
  EXPECT_FALSE(hub.interested("k"));
  // Two subscribers: one leaving keeps the interest without lingering.
  hub.add_interest("p:", true);
  hub.add_interest("p:", true);
  hub.drop_interest("p:", true, 0);
  hub.expire_interest(1'000'000);
  EXPECT_TRUE(hub.interested("p:x"));
  EXPECT_FALSE(hub.interested("p"));
}

TEST(WsHub, ReadsWhatHistoryHolds) {
  WsHub hub({3, 1000}, 1);
  hub.add_interest("", true);
  for (int i = 0; i < 5; ++i) hub.append("k" + std::to_string(i), false, "v", 1, 100);
  std::vector<WsChangePtr> out;
  EXPECT_TRUE(hub.read(2, 5, &out));  // 3, 4, 5: the three kept
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]->seq, 3u);
  EXPECT_EQ(out[2]->seq, 5u);
  EXPECT_FALSE(hub.read(1, 5, &out));  // 2 is gone
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(hub.read(4, 4, &out));
  EXPECT_TRUE(out.empty());
  // By age: everything older than history_ms goes at the next append.
  hub.append("late", false, "v", 1, 2000);
  EXPECT_EQ(hub.oldest(), 6u);
  EXPECT_FALSE(hub.read(4, 6, &out));
}

TEST(WsHub, Positions) {
  WsHub hub({3, 1000}, 0xfeed);
  uint64_t seq = 0;
  EXPECT_TRUE(hub.own_position(hub.position(42), &seq));
  EXPECT_EQ(seq, 42u);
  EXPECT_FALSE(hub.own_position("000000000000beef.42", &seq));  // another epoch
  EXPECT_FALSE(hub.own_position("feed", &seq));
  EXPECT_FALSE(hub.own_position("feed.", &seq));
  EXPECT_FALSE(hub.own_position(".1", &seq));
  EXPECT_FALSE(hub.own_position("feed.1x", &seq));
  EXPECT_TRUE(hub.own_position("feed.7", &seq));
}

TEST(WsHub, ConcurrentAppendersGetConsecutivePositions) {
  WsHub hub({100000, 60000}, 1);
  hub.add_interest("", true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&hub, t] {
      for (int i = 0; i < 2000; ++i) hub.append("t" + std::to_string(t), false, "v", i, 0);
    });
  }
  for (auto& th : threads) th.join();
  std::vector<WsChangePtr> out;
  ASSERT_TRUE(hub.read(0, hub.head(), &out));
  ASSERT_EQ(out.size(), 8000u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i]->seq, i + 1);
}

TEST(WsSessions, ResentOpsGetTheFirstAnswer) {
  WsSessions s(2, 1000);
  std::string ans;
  EXPECT_EQ(s.begin("alice/x", 1, 0, &ans), WsSessions::Seen::kNew);
  EXPECT_EQ(s.begin("alice/x", 1, 0, &ans), WsSessions::Seen::kPending);
  EXPECT_FALSE(s.lookup("alice/x", 1, &ans));
  s.answer("alice/x", 1, "A1", 0);
  EXPECT_EQ(s.begin("alice/x", 1, 0, &ans), WsSessions::Seen::kAnswered);
  EXPECT_EQ(ans, "A1");
  EXPECT_EQ(s.begin("bob/x", 1, 0, &ans), WsSessions::Seen::kNew);  // sessions are separate
  EXPECT_EQ(s.begin("alice/x", 2, 0, &ans), WsSessions::Seen::kNew);
  EXPECT_EQ(s.begin("alice/x", 3, 0, &ans), WsSessions::Seen::kNew);
  // Two remembered: op 1 is forgotten, and numbers never go back.
  EXPECT_EQ(s.begin("alice/x", 1, 0, &ans), WsSessions::Seen::kForgotten);
  s.expire(500);
  EXPECT_EQ(s.size(), 2u);
  s.expire(1001);
  EXPECT_EQ(s.size(), 0u);
}

}  // namespace
}  // namespace strata::proxy
