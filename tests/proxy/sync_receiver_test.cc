// Loss detection on the sync bus: the receiver's state machine, fed deterministic and random
// loss, duplication and reordering of envelopes from several senders. A lost message must
// always make its partition drop (at once, or at the sender's next message or heartbeat on it);
// duplicates and old messages never apply; a sender's first message numbered 1 sets the
// baseline without a drop.
#include "proxy/sync/sync_receiver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>
#include <vector>

namespace strata::proxy {
namespace {

constexpr uint32_t kPartitions = 8;
constexpr int64_t kSilenceMs = 250;

bool dropped(const Drops& d, uint16_t p) {
  return d.all || std::find(d.partitions.begin(), d.partitions.end(), p) != d.partitions.end();
}

TEST(SyncReceiver, InOrderAppliesWithoutDrops) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  const SenderId s{1, 10, 0};
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    EXPECT_TRUE(rx.on_changes(s, 3, seq, 100, &d));
    EXPECT_TRUE(d.empty());
  }
  std::vector<uint64_t> hb(kPartitions, 0);
  hb[3] = 5;
  rx.on_heartbeat(s, hb, 120, &d);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(rx.stats().gaps, 0u);
}

TEST(SyncReceiver, GapDropsThePartitionOnce) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  const SenderId s{1, 10, 0};
  EXPECT_TRUE(rx.on_changes(s, 2, 1, 0, &d));
  EXPECT_TRUE(rx.on_changes(s, 2, 3, 0, &d));  // 2 lost
  EXPECT_TRUE(dropped(d, 2));
  EXPECT_FALSE(d.all);
  d.clear();
  EXPECT_TRUE(rx.on_changes(s, 2, 4, 0, &d));  // counting resumed: one loss, one drop
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(rx.stats().gaps, 1u);
}

TEST(SyncReceiver, DuplicatesAndOldMessagesAreRefused) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  const SenderId s{1, 10, 0};
  EXPECT_TRUE(rx.on_changes(s, 0, 1, 0, &d));
  EXPECT_TRUE(rx.on_changes(s, 0, 2, 0, &d));
  EXPECT_FALSE(rx.on_changes(s, 0, 2, 0, &d));
  EXPECT_FALSE(rx.on_changes(s, 0, 1, 0, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(rx.stats().duplicates, 2u);
}

TEST(SyncReceiver, HeartbeatRevealsALostLastMessage) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  const SenderId s{1, 10, 0};
  EXPECT_TRUE(rx.on_changes(s, 5, 1, 0, &d));
  std::vector<uint64_t> hb(kPartitions, 0);
  hb[5] = 2;  // message 2, the last of a burst, was lost: only the heartbeat can tell
  rx.on_heartbeat(s, hb, 100, &d);
  EXPECT_TRUE(dropped(d, 5));
  d.clear();
  rx.on_heartbeat(s, hb, 200, &d);  // the same heartbeat again: nothing new
  EXPECT_TRUE(d.empty());
}

TEST(SyncReceiver, FirstMessageSetsTheBaselineOnlyFromOne) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  EXPECT_TRUE(rx.on_changes({1, 10, 0}, 1, 1, 0, &d));
  EXPECT_TRUE(d.empty());  // a new sender starting at 1: no false staleness
  EXPECT_TRUE(rx.on_changes({2, 20, 0}, 1, 7, 0, &d));
  EXPECT_TRUE(dropped(d, 1));  // 1..6 from this sender were never seen
}

TEST(SyncReceiver, NewEpochDropsEverything) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  EXPECT_TRUE(rx.on_changes({1, 10, 0}, 1, 1, 0, &d));
  EXPECT_TRUE(rx.on_changes({1, 11, 0}, 1, 1, 0, &d));  // the origin restarted
  EXPECT_TRUE(d.all);
  EXPECT_EQ(rx.stats().new_epochs, 1u);
}

TEST(SyncReceiver, SilenceAloneDropsNothing) {
  SyncReceiver rx(kPartitions, kSilenceMs);
  Drops d;
  const SenderId s{1, 10, 0};
  EXPECT_TRUE(rx.on_changes(s, 1, 1, 0, &d));
  EXPECT_TRUE(rx.on_tick(kSilenceMs, &d));
  EXPECT_TRUE(rx.on_tick(kSilenceMs + 1, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(rx.on_changes(s, 1, 2, 1000, &d));  // speaks again, nothing missed
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.returned);  // what it sends now may replay an outage
  EXPECT_EQ(rx.stats().silences, 1u);
}

// Trust: a sender vouches for L1 while its newest heartbeat is younger than stale_after_ms.
constexpr SyncTrustLimits kTrust{/*silence_ms=*/150, /*stale_after_ms=*/400,
                                 /*skew_max_ms=*/1000, /*gone_after_ms=*/5000};

struct Trust : ::testing::Test {
  SyncReceiver rx{kPartitions, kTrust};
  Drops d;
  const SenderId s{1, 10, 0};
  std::vector<uint64_t> hb = std::vector<uint64_t>(kPartitions, 0);
};

TEST_F(Trust, FalseSilenceRestoresTrustAtOnceWithoutADrop) {
  EXPECT_TRUE(rx.on_changes(s, 1, 1, 1000, &d));
  hb[1] = 1;
  rx.on_heartbeat(s, hb, 1000, &d, 1000);
  EXPECT_TRUE(rx.on_tick(1100, &d));
  // A heartbeat delayed by load: silent at 150 ms, untrusted once its horizon is 400 ms old.
  EXPECT_TRUE(rx.on_tick(1300, &d));
  EXPECT_EQ(rx.stats().silences, 1u);
  EXPECT_FALSE(rx.on_tick(1401, &d));
  EXPECT_EQ(rx.stats().untrusted, 1u);
  // The late heartbeats arrive with nothing missed: trusted at the next tick, nothing dropped.
  rx.on_heartbeat(s, hb, 1420, &d, 1050);
  rx.on_heartbeat(s, hb, 1421, &d, 1415);
  EXPECT_TRUE(rx.on_tick(1425, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(rx.stats().trust_restored, 1u);
  EXPECT_EQ(rx.stats().partition_drops, 0u);
}

TEST_F(Trust, AGapAfterSilenceStillDrops) {
  EXPECT_TRUE(rx.on_changes(s, 2, 1, 0, &d));
  EXPECT_FALSE(rx.on_tick(600, &d));
  hb[2] = 3;  // 2 and 3 went while it was silent to us
  rx.on_heartbeat(s, hb, 700, &d, 690);
  EXPECT_TRUE(dropped(d, 2));
  EXPECT_FALSE(d.all);
  EXPECT_TRUE(d.returned);  // what it sends now may replay its outage: install nothing
}

TEST_F(Trust, SlowLinkIsUntrustedWhileItDelivers) {
  // Heartbeats every 50 ms, each delivered 700 ms after it was sent: never silent, always old.
  int64_t now = 10'000;
  for (int i = 0; i < 40; ++i, now += 50) {
    rx.on_heartbeat(s, hb, now, &d, now - 700);
    rx.on_tick(now + 5, &d);
  }
  EXPECT_FALSE(rx.on_tick(now, &d));
  EXPECT_EQ(rx.stats().slow_links, 1u);
  EXPECT_EQ(rx.stats().silences, 0u);
  EXPECT_TRUE(d.empty());
  // 200 ms late is within the bound (with heartbeats every 50 ms: 250 at worst).
  for (int i = 0; i < 10; ++i, now += 50) rx.on_heartbeat(s, hb, now, &d, now - 200);
  EXPECT_TRUE(rx.on_tick(now, &d));
  ASSERT_EQ(rx.peers().size(), 1u);
  EXPECT_EQ(rx.peers()[0].delay_ms, 200);
  EXPECT_TRUE(rx.peers()[0].trusted);
}

TEST_F(Trust, ClockAheadPastTheSkewBoundIsUntrusted) {
  rx.on_heartbeat(s, hb, 10'000, &d, 10'900);  // 900 ms ahead: within the bound
  EXPECT_TRUE(rx.on_tick(10'001, &d));
  rx.on_heartbeat(s, hb, 10'050, &d, 11'100);  // 1050 ms ahead: its age is unknowable
  EXPECT_FALSE(rx.on_tick(10'051, &d));
  EXPECT_EQ(rx.stats().skewed_links, 1u);
}

TEST_F(Trust, LongSilenceDropsEverythingOnceAndStopsWaiting) {
  EXPECT_TRUE(rx.on_changes(s, 1, 1, 0, &d));
  EXPECT_FALSE(rx.on_tick(1000, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(rx.on_tick(5000, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(rx.on_tick(5001, &d));  // gone: everything dropped, L1 trusted again
  EXPECT_TRUE(d.all);
  EXPECT_EQ(rx.stats().long_silences, 1u);
  d.clear();
  EXPECT_TRUE(rx.on_tick(9000, &d));
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(rx.stats().trust_restored, 0u);
  // Back much later: it replays (returned) and is untrusted until a young heartbeat.
  EXPECT_TRUE(rx.on_changes(s, 1, 2, 9100, &d));
  EXPECT_TRUE(d.returned);
  EXPECT_FALSE(rx.on_tick(9101, &d));
  rx.on_heartbeat(s, hb, 9150, &d, 9149);
  EXPECT_TRUE(rx.on_tick(9151, &d));
}

TEST_F(Trust, FormatOneHeartbeatsVouchByArrival) {
  rx.on_heartbeat(s, hb, 10'000, &d);  // no send time
  EXPECT_TRUE(rx.on_tick(10'400, &d));
  EXPECT_FALSE(rx.on_tick(10'401, &d));
}

// Random runs: 3 senders, messages on random partitions, some lost, some duplicated, some
// delivered late; heartbeats after each burst. Every lost message's partition must be dropped
// no later than the heartbeat that follows it; applied messages are never applied twice.
TEST(SyncReceiver, RandomLossDuplicationAndReordering) {
  std::mt19937_64 rng(42);
  for (int run = 0; run < 200; ++run) {
    SyncReceiver rx(kPartitions, 1'000'000);
    struct Msg {
      SenderId s;
      uint16_t p;
      uint64_t seq;
    };
    std::vector<SenderId> senders = {{1, 100, 0}, {1, 100, 1}, {2, 200, 0}};
    std::vector<std::vector<uint64_t>> seq(senders.size(), std::vector<uint64_t>(kPartitions, 0));
    int64_t now = 0;
    for (int burst = 0; burst < 20; ++burst) {
      std::vector<Msg> sent;
      for (int i = 0; i < 30; ++i) {
        const size_t si = rng() % senders.size();
        const auto p = static_cast<uint16_t>(rng() % kPartitions);
        sent.push_back({senders[si], p, ++seq[si][p]});
      }
      // Loss, duplication, and reordering within one partition of one sender only by a late
      // duplicate (NATS keeps one publisher's order; a duplicate stands in for a replay).
      std::vector<Msg> delivered;
      std::vector<Msg> lost;
      for (const Msg& m : sent) {
        const uint64_t r = rng() % 100;
        if (r < 5) {
          lost.push_back(m);
          continue;
        }
        delivered.push_back(m);
        if (r < 10) delivered.push_back(m);  // a duplicate right away
      }
      if (!delivered.empty() && rng() % 2) delivered.push_back(delivered.front());  // a late one
      std::vector<std::pair<uint64_t, uint16_t>> drops_seen;  // (sender idx, partition)
      std::set<std::tuple<uint64_t, uint16_t, uint64_t>> applied;
      Drops d;
      auto note = [&](size_t si) {
        for (uint16_t p = 0; p < kPartitions; ++p) {
          if (dropped(d, p)) drops_seen.push_back({si, p});
        }
        d.clear();
      };
      for (const Msg& m : delivered) {
        const size_t si = static_cast<size_t>(
            std::find_if(senders.begin(), senders.end(),
                         [&](const SenderId& s) { return s.origin == m.s.origin && s.sender == m.s.sender; }) -
            senders.begin());
        if (rx.on_changes(m.s, m.p, m.seq, ++now, &d)) {
          const auto key = std::make_tuple(static_cast<uint64_t>(si), m.p, m.seq);
          ASSERT_TRUE(applied.insert(key).second) << "applied twice";
        }
        note(si);
      }
      for (size_t si = 0; si < senders.size(); ++si) {
        rx.on_heartbeat(senders[si], seq[si], ++now, &d);
        note(si);
      }
      for (const Msg& m : lost) {
        const size_t si = static_cast<size_t>(
            std::find_if(senders.begin(), senders.end(),
                         [&](const SenderId& s) { return s.origin == m.s.origin && s.sender == m.s.sender; }) -
            senders.begin());
        const bool found =
            std::find(drops_seen.begin(), drops_seen.end(), std::pair<uint64_t, uint16_t>(si, m.p)) !=
            drops_seen.end();
        ASSERT_TRUE(found) << "run " << run << " burst " << burst << ": a lost message on partition "
                           << m.p << " went unnoticed";
      }
    }
  }
}

}  // namespace
}  // namespace strata::proxy
