#include "policies/write_behind_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace strata::policies {
namespace {

using Released = std::vector<uint64_t>;

PendingWrite w(std::string key, uint64_t version, uint64_t segment, int64_t at_ms,
               std::string value = "v") {
  PendingWrite p;
  p.key = std::move(key);
  p.value = std::move(value);
  p.version = version;
  p.segment = segment;
  p.enqueued_ms = at_ms;
  return p;
}

std::vector<std::string> keys_of(const WriteBatch& b) {
  std::vector<std::string> k;
  for (const auto& p : b.writes) k.push_back(std::string(p.key));
  return k;
}

WriteBehindQueue::Limits limits(uint32_t interval, uint32_t batch, uint32_t depth) {
  return {.flush_interval_ms = interval, .max_batch = batch, .max_queue_depth = depth};
}

TEST(WriteBehindQueue, CoalescesWaitingWrites) {
  WriteBehindQueue q(limits(100, 10, 100));
  Released rel;
  q.push(w("a", 1, 11, 1000, "one"), &rel);
  q.push(w("b", 2, 11, 1001), &rel);
  q.push(w("a", 3, 12, 1005, "three"), &rel);
  EXPECT_EQ(rel, Released{11});  // a@1's segment
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_EQ(q.waiting(), 2u);
  ASSERT_TRUE(q.find("a"));
  EXPECT_EQ(q.find("a")->version, 3u);
  EXPECT_EQ(q.find("a")->value, "three");
  EXPECT_EQ(q.find("a")->enqueued_ms, 1000);  // dirty since the first write
  EXPECT_FALSE(q.find("zz"));
  EXPECT_EQ(q.bytes(), 1u + 5 + 1 + 1);
  EXPECT_EQ(q.oldest_enqueued_ms(), 1000);

  // An older (or equal, replayed) version is dropped, its segment released.
  rel.clear();
  q.push(w("a", 2, 13, 1006), &rel);
  q.push(w("a", 3, 14, 1006), &rel);
  EXPECT_EQ(rel, (Released{13, 14}));
  EXPECT_EQ(q.find("a")->version, 3u);

  // "a" keeps its place ahead of "b".
  WriteBatch batch;
  ASSERT_EQ(q.take_batch(2000, false, &batch), 2u);
  EXPECT_EQ(keys_of(batch), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(batch.writes[0].version, 3u);
  EXPECT_EQ(batch.writes[0].segment, 12u);
}

TEST(WriteBehindQueue, SegmentZeroAndNullReleasedAreFine) {
  WriteBehindQueue q(limits(100, 10, 100));
  Released rel;
  q.push(w("a", 1, 0, 0), &rel);
  q.push(w("a", 2, 0, 0), &rel);
  q.push(w("a", 3, 5, 0), nullptr);
  EXPECT_TRUE(rel.empty());
  EXPECT_EQ(q.find("a")->version, 3u);
}

TEST(WriteBehindQueue, DueByAgeCountOrForce) {
  WriteBehindQueue q(limits(100, 3, 100));
  WriteBatch batch;
  EXPECT_FALSE(q.due(0, true));  // nothing waits
  EXPECT_EQ(q.take_batch(0, true, &batch), 0u);
  q.push(w("a", 1, 1, 1000), nullptr);
  EXPECT_FALSE(q.due(1099, false));
  EXPECT_TRUE(q.due(1100, false));
  EXPECT_TRUE(q.due(1000, true));
  batch.writes.push_back(view_of(w("junk", 1, 1, 1)));
  EXPECT_EQ(q.take_batch(1050, false, &batch), 0u);
  EXPECT_TRUE(batch.writes.empty());  // cleared even when nothing is due
  q.push(w("b", 1, 1, 1001), nullptr);
  EXPECT_FALSE(q.due(1050, false));
  q.push(w("c", 1, 1, 1002), nullptr);
  EXPECT_TRUE(q.due(1050, false));  // max_batch writes wait
}

TEST(WriteBehindQueue, BatchesAreOldestFirstAndBounded) {
  WriteBehindQueue q(limits(0, 4, 100));
  for (int i = 0; i < 10; ++i) q.push(w("k" + std::to_string(i), 1, 1, 100 + i), nullptr);
  WriteBatch batch;
  ASSERT_EQ(q.take_batch(200, false, &batch), 4u);
  EXPECT_EQ(keys_of(batch), (std::vector<std::string>{"k0", "k1", "k2", "k3"}));
  EXPECT_EQ(q.waiting(), 6u);
  EXPECT_EQ(q.in_flight(), 4u);
  EXPECT_EQ(q.depth(), 10u);
  ASSERT_EQ(q.take_batch(200, false, &batch), 4u);
  EXPECT_EQ(keys_of(batch), (std::vector<std::string>{"k4", "k5", "k6", "k7"}));
  ASSERT_EQ(q.take_batch(200, false, &batch), 2u);
  EXPECT_EQ(q.take_batch(200, true, &batch), 0u);
  EXPECT_EQ(q.in_flight(), 10u);
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(WriteBehindQueue, InFlightKeyKeepsOneSuccessorAndOrder) {
  WriteBehindQueue q(limits(0, 10, 100));
  Released rel;
  q.push(w("a", 1, 1, 10), &rel);
  WriteBatch batch;
  ASSERT_EQ(q.take_batch(10, true, &batch), 1u);
  // While a@1 is in flight: a@2 then a@3 coalesce into one successor; a@1 stays in flight.
  q.push(w("a", 2, 2, 20), &rel);
  q.push(w("a", 3, 3, 30), &rel);
  EXPECT_EQ(rel, Released{2});
  EXPECT_EQ(q.depth(), 1u);
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_EQ(q.in_flight(), 1u);
  EXPECT_EQ(q.find("a")->version, 3u);  // the newest: the successor
  // An older write than the one in flight is dropped.
  rel.clear();
  q.push(w("a", 1, 9, 31), &rel);
  EXPECT_EQ(rel, Released{9});
  // The successor is not handed out while a@1 is in flight, nor does it make a batch due.
  EXPECT_FALSE(q.due(1000, true));
  EXPECT_EQ(q.take_batch(1000, true, &batch), 0u);
  q.push(w("b", 1, 4, 40), &rel);
  ASSERT_EQ(q.take_batch(1000, true, &batch), 1u);
  EXPECT_EQ(batch.writes[0].key, "b");
  // a@1 commits: its segment is released and a@3 becomes eligible.
  rel.clear();
  q.committed("a", 1, &rel);
  EXPECT_EQ(rel, Released{1});
  ASSERT_EQ(q.take_batch(1000, true, &batch), 1u);
  EXPECT_EQ(batch.writes[0].version, 3u);
  EXPECT_EQ(q.in_flight(), 2u);
}

TEST(WriteBehindQueue, InFlightOnlyNewerWriteBecomesSuccessorWithoutCoalescingTheFlight) {
  WriteBehindQueue q(limits(0, 10, 100));
  Released rel;
  q.push(w("a", 5, 1, 10), &rel);
  WriteBatch batch;
  q.take_batch(10, true, &batch);
  q.push(w("a", 6, 2, 11), &rel);
  EXPECT_TRUE(rel.empty());  // the write in flight is not released by a successor
  EXPECT_EQ(q.bytes(), 2u * 2);
}

TEST(WriteBehindQueue, FailedWaitsAgainAtTheFront) {
  WriteBehindQueue q(limits(0, 2, 100));
  for (int i = 0; i < 4; ++i) q.push(w("k" + std::to_string(i), 1, 1, 100 + i), nullptr);
  WriteBatch batch;
  ASSERT_EQ(q.take_batch(200, false, &batch), 2u);
  Released rel;
  q.failed("k1", 1, &rel);
  q.failed("k0", 1, &rel);
  EXPECT_TRUE(rel.empty());
  EXPECT_EQ(q.in_flight(), 0u);
  EXPECT_EQ(q.waiting(), 4u);
  ASSERT_EQ(q.take_batch(200, false, &batch), 2u);
  EXPECT_EQ(keys_of(batch), (std::vector<std::string>{"k0", "k1"}));
  EXPECT_EQ(q.oldest_enqueued_ms(), 100);
}

TEST(WriteBehindQueue, FailedSupersededIsDroppedAndSuccessorTakesItsPlace) {
  WriteBehindQueue q(limits(0, 1, 100));
  q.push(w("a", 1, 1, 100), nullptr);
  q.push(w("b", 1, 2, 200), nullptr);
  WriteBatch batch;
  ASSERT_EQ(q.take_batch(300, false, &batch), 1u);  // a@1
  q.push(w("a", 2, 3, 300), nullptr);
  Released rel;
  q.failed("a", 1, &rel);
  EXPECT_EQ(rel, Released{1});
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_EQ(q.waiting(), 2u);
  EXPECT_EQ(q.in_flight(), 0u);
  EXPECT_EQ(q.oldest_enqueued_ms(), 100);
  ASSERT_EQ(q.take_batch(300, false, &batch), 1u);
  EXPECT_EQ(batch.writes[0].key, "a");  // ahead of b, as the failed write was
  EXPECT_EQ(batch.writes[0].version, 2u);
}

TEST(WriteBehindQueue, RejectedLeavesQueueAndKeepsSegment) {
  WriteBehindQueue q(limits(0, 10, 100));
  q.push(w("a", 1, 7, 100), nullptr);
  q.push(w("b", 1, 8, 100), nullptr);
  WriteBatch batch;
  q.take_batch(100, true, &batch);
  q.push(w("b", 2, 9, 101), nullptr);
  auto r = q.rejected("a", 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->segment, 7u);
  EXPECT_FALSE(q.find("a"));
  EXPECT_FALSE(q.rejected("a", 1).has_value());  // no longer in flight
  EXPECT_FALSE(q.rejected("b", 2).has_value());  // waiting, not in flight
  auto rb = q.rejected("b", 1);
  ASSERT_TRUE(rb.has_value());
  EXPECT_EQ(q.find("b")->version, 2u);  // the successor is still pending
  ASSERT_EQ(q.take_batch(100, true, &batch), 1u);
  EXPECT_EQ(batch.writes[0].version, 2u);
}

TEST(WriteBehindQueue, StaleSettlementsAreIgnored) {
  WriteBehindQueue q(limits(0, 10, 100));
  Released rel;
  q.push(w("a", 1, 1, 100), &rel);
  q.committed("a", 1, &rel);  // waiting, not in flight
  q.failed("a", 1, &rel);
  q.committed("nope", 1, &rel);
  WriteBatch batch;
  q.take_batch(100, true, &batch);
  q.committed("a", 2, &rel);  // wrong version
  EXPECT_TRUE(rel.empty());
  EXPECT_EQ(q.depth(), 1u);
  EXPECT_EQ(q.in_flight(), 1u);
}

TEST(WriteBehindQueue, RoomAndLimits) {
  WriteBehindQueue q(limits(100, 10, 2));
  EXPECT_TRUE(q.has_room());
  q.push(w("a", 1, 1, 0), nullptr);
  q.push(w("b", 1, 1, 0), nullptr);
  EXPECT_FALSE(q.has_room());
  q.push(w("a", 2, 1, 0), nullptr);  // coalescing needs no room
  EXPECT_EQ(q.depth(), 2u);
  q.set_limits(limits(100, 10, 3));
  EXPECT_EQ(q.limits().max_queue_depth, 3u);
  EXPECT_TRUE(q.has_room());
  WriteBatch batch;
  q.take_batch(0, true, &batch);
  EXPECT_TRUE(q.has_room());
  q.push(w("c", 1, 1, 0), nullptr);
  EXPECT_FALSE(q.has_room());  // in-flight keys count toward depth
  q.committed("a", 2, nullptr);
  EXPECT_TRUE(q.has_room());
}

TEST(WriteBehindQueue, EmptiesCompletely) {
  WriteBehindQueue q(limits(0, 10, 100));
  q.push(w("a", 1, 1, 100, "xyz"), nullptr);
  WriteBatch batch;
  q.take_batch(100, true, &batch);
  q.push(w("a", 2, 2, 150, "xy"), nullptr);
  Released rel;
  q.committed("a", 1, &rel);
  q.take_batch(200, true, &batch);
  q.committed("a", 2, &rel);
  EXPECT_EQ(rel, (Released{1, 2}));
  EXPECT_EQ(q.depth(), 0u);
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(q.in_flight(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.oldest_enqueued_ms(), 0);
  EXPECT_FALSE(q.find("a"));
}

TEST(WriteBehindQueue, MoveTransfersTheQueue) {
  WriteBehindQueue a(limits(0, 10, 100));
  a.push(w("k", 1, 1, 0), nullptr);
  WriteBehindQueue b(std::move(a));
  EXPECT_EQ(b.depth(), 1u);
  WriteBehindQueue c(limits(0, 1, 1));
  c = std::move(b);
  EXPECT_EQ(c.find("k")->version, 1u);
}

// Against a simple model: every segment pushed is released exactly once (or handed to the
// dead-letter list), per-key flushes happen in increasing version order, bytes add up, and
// a key is never in flight twice.
TEST(WriteBehindQueue, RandomizedAgainstModel) {
  std::mt19937 rng(12345);
  WriteBehindQueue q(limits(5, 7, 1000));
  std::map<std::string, uint64_t> last_flushed;  // key -> highest version handed out
  std::map<std::string, uint64_t> newest;        // key -> newest version pushed
  std::vector<PendingWrite> flying;
  uint64_t next_segment = 1, version = 0;
  std::map<uint64_t, int> live;  // segment -> held
  Released rel;
  int64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    now += rng() % 3;
    const int op = rng() % 10;
    if (op < 5) {
      const std::string key = "k" + std::to_string(rng() % 20);
      // Sometimes an older version arrives (a replay).
      const uint64_t v = (rng() % 8 == 0 && version > 3) ? version - 3 : ++version;
      const uint64_t seg = next_segment++;
      live[seg] = 1;
      q.push(w(key, v, seg, now, std::string(rng() % 5, 'x')), &rel);
      newest[key] = std::max(newest[key], v);
    } else if (op < 7) {
      WriteBatch batch;
      q.take_batch(now, rng() % 4 == 0, &batch);
      EXPECT_LE(batch.writes.size(), 7u);
      for (auto& v : batch.writes) {
        PendingWrite p = v.to_owned();
        for (const auto& f : flying) ASSERT_NE(f.key, p.key) << "key in flight twice";
        ASSERT_GT(p.version, last_flushed[p.key]) << "per-key order broken";
        last_flushed[p.key] = p.version;
        flying.push_back(p);
      }
    } else if (!flying.empty()) {
      const size_t i = rng() % flying.size();
      PendingWrite p = flying[i];
      flying.erase(flying.begin() + static_cast<long>(i));
      if (op == 7 || op == 8) {
        q.committed(p.key, p.version, &rel);
      } else if (rng() % 2 == 0) {
        q.failed(p.key, p.version, &rel);
        last_flushed[p.key] = p.version - 1;  // may be handed out again
      } else {
        auto r = q.rejected(p.key, p.version);
        ASSERT_TRUE(r.has_value());
        rel.push_back(r->segment);  // as if dropped from the dead-letter list
      }
    }
    for (uint64_t s : rel) {
      ASSERT_EQ(live.count(s), 1u) << "segment released twice or never pushed: " << s;
      live.erase(s);
    }
    rel.clear();
    ASSERT_EQ(q.in_flight(), flying.size());
    ASSERT_EQ(live.size(), q.waiting() + q.in_flight());
  }
  // Drain everything: all segments come back, the queue ends empty.
  while (q.depth() > 0) {
    WriteBatch batch;
    q.take_batch(now, true, &batch);
    for (auto& f : flying) q.committed(f.key, f.version, &rel);
    flying.clear();
    for (auto& v : batch.writes) flying.push_back(v.to_owned());
  }
  for (uint64_t s : rel) live.erase(s);
  EXPECT_TRUE(live.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

// The queue as it was first written (ordered maps by sequence number), kept as the reference
// the lean queue must agree with, operation by operation.
class ReferenceQueue {
 public:
  explicit ReferenceQueue(WriteBehindQueue::Limits l) : limits_(l) {}
  void push(PendingWrite w, Released* rel) {
    auto it = keys_.find(w.key);
    if (it == keys_.end()) {
      const uint64_t seq = next_seq_++;
      Node& n = keys_[w.key];
      held_[seq] = w.enqueued_ms;
      n.wait = std::move(w);
      n.wait_seq = seq;
      ready_[seq] = &n;
      return;
    }
    Node& n = it->second;
    if (n.wait) {
      if (w.version <= n.wait->version) return rel_push(w.segment, rel);
      rel_push(n.wait->segment, rel);
      w.enqueued_ms = n.wait->enqueued_ms;
      n.wait = std::move(w);
      return;
    }
    if (w.version <= n.flight->version) return rel_push(w.segment, rel);
    const uint64_t seq = next_seq_++;
    held_[seq] = w.enqueued_ms;
    n.wait = std::move(w);
    n.wait_seq = seq;
  }
  const PendingWrite* find(const std::string& key) const {
    auto it = keys_.find(key);
    if (it == keys_.end()) return nullptr;
    return it->second.wait ? &*it->second.wait : &*it->second.flight;
  }
  std::vector<PendingWrite> take(int64_t now, bool force) {
    std::vector<PendingWrite> out;
    if (ready_.empty()) return out;
    const bool due = force || ready_.size() >= limits_.max_batch ||
                     now - ready_.begin()->second->wait->enqueued_ms >=
                         static_cast<int64_t>(limits_.flush_interval_ms);
    if (!due) return out;
    while (!ready_.empty() && out.size() < std::max<uint32_t>(1, limits_.max_batch)) {
      auto first = ready_.begin();
      Node& n = *first->second;
      n.flight_seq = first->first;
      ready_.erase(first);
      n.flight = std::move(n.wait);
      n.wait.reset();
      out.push_back(*n.flight);
    }
    return out;
  }
  void settle(const std::string& key, uint64_t version, int how, Released* rel) {
    auto it = keys_.find(key);
    if (it == keys_.end() || !it->second.flight || it->second.flight->version != version) return;
    Node& n = it->second;
    if (how == 1 && n.wait) {  // failed, superseded
      rel_push(n.flight->segment, rel);
      held_.erase(n.wait_seq);
      held_.erase(n.flight_seq);
      n.wait_seq = n.flight_seq;
      n.wait->enqueued_ms = n.flight->enqueued_ms;
      held_[n.wait_seq] = n.wait->enqueued_ms;
      n.flight.reset();
      ready_[n.wait_seq] = &n;
      return;
    }
    if (how == 1) {  // failed
      n.wait = std::move(n.flight);
      n.flight.reset();
      n.wait_seq = n.flight_seq;
      ready_[n.wait_seq] = &n;
      return;
    }
    if (how == 0) rel_push(n.flight->segment, rel);  // committed (2: rejected)
    held_.erase(n.flight_seq);
    n.flight.reset();
    if (n.wait) {
      ready_[n.wait_seq] = &n;
    } else {
      keys_.erase(it);
    }
  }
  size_t depth() const { return keys_.size(); }
  int64_t oldest() const { return held_.empty() ? 0 : held_.begin()->second; }

 private:
  struct Node {
    std::optional<PendingWrite> flight, wait;
    uint64_t flight_seq = 0, wait_seq = 0;
  };
  static void rel_push(uint64_t seg, Released* rel) {
    if (seg != 0) rel->push_back(seg);
  }
  WriteBehindQueue::Limits limits_;
  std::unordered_map<std::string, Node> keys_;
  std::map<uint64_t, Node*> ready_;
  std::map<uint64_t, int64_t> held_;
  uint64_t next_seq_ = 1;
};

// Many keys (the table grows, shrinks and shifts slots on deletion), values whose size changes
// (rewritten in place or moved), failures putting writes back in the middle: every batch, every
// released segment and every lookup equal the reference queue's.
TEST(WriteBehindQueue, AgreesWithReferenceQueue) {
  for (uint32_t keys : {7u, 300u, 5000u}) {
    std::mt19937 rng(keys);
    const auto l = limits(3, 1 + keys / 20, 100000);
    WriteBehindQueue q(l);
    ReferenceQueue ref(l);
    std::vector<PendingWrite> flying;
    uint64_t version = 0, seg = 0;
    int64_t now = 0;
    for (int step = 0; step < 40000; ++step) {
      now += rng() % 2;
      const unsigned op = rng() % 16;
      Released rel, ref_rel;
      if (op < 9) {
        const std::string key = "key:" + std::to_string(rng() % keys);
        const uint64_t v = (rng() % 10 == 0 && version > 5) ? version - 5 : ++version;
        PendingWrite p = w(key, v, ++seg, now, std::string(rng() % 70, 'a' + rng() % 26));
        p.is_delete = rng() % 13 == 0;
        if (p.is_delete) p.value.clear();
        q.push(p, &rel);
        ref.push(p, &ref_rel);
      } else if (op < 12) {
        const bool force = rng() % 5 == 0;
        WriteBatch batch;
        q.take_batch(now, force, &batch);
        std::vector<PendingWrite> want = ref.take(now, force);
        ASSERT_EQ(batch.writes.size(), want.size()) << "step " << step;
        for (size_t i = 0; i < want.size(); ++i) {
          const WriteView& got = batch.writes[i];
          ASSERT_EQ(got.key, want[i].key) << "step " << step << " row " << i;
          ASSERT_EQ(got.value, want[i].value);
          ASSERT_EQ(got.version, want[i].version);
          ASSERT_EQ(got.segment, want[i].segment);
          ASSERT_EQ(got.is_delete, want[i].is_delete);
          ASSERT_EQ(got.enqueued_ms, want[i].enqueued_ms);
          flying.push_back(got.to_owned());
        }
      } else if (!flying.empty()) {
        const size_t i = rng() % flying.size();
        const PendingWrite p = flying[i];
        flying.erase(flying.begin() + static_cast<long>(i));
        const int how = op < 14 ? 0 : op == 14 ? 1 : 2;
        if (how == 0) q.committed(p.key, p.version, &rel);
        if (how == 1) q.failed(p.key, p.version, &rel);
        if (how == 2) {
          ASSERT_TRUE(q.rejected(p.key, p.version).has_value());
        }
        ref.settle(p.key, p.version, how, &ref_rel);
      }
      ASSERT_EQ(rel, ref_rel) << "step " << step;
      ASSERT_EQ(q.depth(), ref.depth()) << "step " << step;
      ASSERT_EQ(q.oldest_enqueued_ms(), ref.oldest()) << "step " << step;
      if (step % 7 == 0) {
        const std::string key = "key:" + std::to_string(rng() % keys);
        const PendingWrite* want = ref.find(key);
        const auto got = q.find(key);
        ASSERT_EQ(got.has_value(), want != nullptr) << key;
        if (want != nullptr) {
          EXPECT_EQ(got->value, want->value);
          EXPECT_EQ(got->version, want->version);
        }
      }
    }
  }
}

TEST(DeadLetterList, BoundedOldestEvicted) {
  DeadLetterList d(2);
  Released rel;
  d.add({w("a", 1, 10, 0), "23505 duplicate", 5}, &rel);
  d.add({w("b", 1, 11, 0), "22P02 bad", 6}, &rel);
  EXPECT_TRUE(rel.empty());
  d.add({w("a", 2, 12, 0), "23505 duplicate", 7}, &rel);
  EXPECT_EQ(rel, Released{10});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.items().front().write.key, "b");
  EXPECT_EQ(d.items().back().error, "23505 duplicate");
}

TEST(DeadLetterList, TakeByKeyAndAll) {
  DeadLetterList d(10);
  d.add({w("a", 1, 1, 0), "e", 1}, nullptr);
  d.add({w("b", 1, 2, 0), "e", 2}, nullptr);
  d.add({w("a", 2, 3, 0), "e", 3}, nullptr);
  auto a = d.take("a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].write.version, 1u);
  EXPECT_EQ(a[1].write.version, 2u);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_TRUE(d.take("zz").empty());
  d.add({w("c", 1, 4, 0), "e", 4}, nullptr);
  auto all = d.take("");
  EXPECT_EQ(all.size(), 2u);
  EXPECT_EQ(d.size(), 0u);
}

}  // namespace
}  // namespace strata::policies
