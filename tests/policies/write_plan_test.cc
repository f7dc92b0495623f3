// plan_write / on_step_result: each strategy's steps, stages, ack point, TTL and failure
// handling as tables; no servers, no clock. A plan is written "a, b > c[stop] > ...": `>`
// separates stages, `,` steps of one stage, [x] is the step's OnFailure (on_failure_name).
#include "policies/write_plan.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <vector>

// Allocations counted while `g_counting` is set: plan_write must make none. Only operator new is
// replaced: libstdc++'s operator delete frees with std::free, which matches the malloc here.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocations{0};
}  // namespace

// Sanitizer builds keep their own operator new (theirs checks that delete matches it): the
// count is a release-build check.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;
void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
#endif

namespace strata::policies {
namespace {

constexpr Strategy kAll[] = {Strategy::kCache, Strategy::kWriteThrough, Strategy::kWriteBehind,
                             Strategy::kWriteAround, Strategy::kRefreshAhead};

Policy policy(Strategy s, bool l1, bool l2, uint64_t ttl_ms = 0) {
  Policy p;
  p.prefix = "p:";
  p.strategy = s;
  p.l1 = l1;
  p.l2 = l2;
  p.ttl_ms = ttl_ms;
  return p;
}

WriteRequest request(WriteOp op, bool has_l2 = true, int64_t expire_at_ms = 0,
                     int64_t now_ms = 1000) {
  return WriteRequest{.op = op, .expire_at_ms = expire_at_ms, .now_ms = now_ms, .has_l2 = has_l2};
}

std::string render(const WritePlan& plan) {
  std::string out;
  for (size_t i = 0; i < plan.count; ++i) {
    const PlannedStep& s = plan.steps[i];
    if (i > 0) out += s.stage == plan.steps[i - 1].stage ? ", " : " > ";
    out += step_name(s.step);
    if (s.on_failure != OnFailure::kNotApplicable) {
      out += "[" + std::string(on_failure_name(s.on_failure)) + "]";
    }
  }
  return out;
}

// ---- the steps of each strategy ----

struct PlanRow {
  const char* name;
  Strategy strategy;
  WriteOp op;
  bool l1;
  bool l2;
  const char* plan;
  Step ack_point;
};

constexpr auto kSet = WriteOp::kSet;
constexpr auto kDel = WriteOp::kDelete;
constexpr auto kApp = WriteOp::kAppend;
constexpr auto kWt = Strategy::kWriteThrough;
constexpr auto kWa = Strategy::kWriteAround;
constexpr auto kWb = Strategy::kWriteBehind;
constexpr auto kCache = Strategy::kCache;

// A PostgreSQL write that leaves the cache tiers to the next read: DEL, and write-around's SET.
constexpr const char* kPgThenDropL2 =
    "drop-negative > pg-write[stop] > l2-invalidate[repair] > l1-invalidate > publish > ack";
constexpr const char* kPgThenDrop =
    "drop-negative > pg-write[stop] > l1-invalidate > publish > ack";
// write-behind without L1 or L2 to fill: L1 dropped, the journal and the queue hold the write.
constexpr const char* kBehindDrop =
    "drop-negative, queue-room[stop] > l1-invalidate > journal[reply], enqueue-flush > publish > "
    "ack";

const PlanRow kPlans[] = {
    {"wt set l1 l2", kWt, kSet, true, true,
     "drop-negative, l1-lease > pg-write[stop] > l2-set[repair] > l1-set > publish > ack",
     Step::kPgWrite},
    {"wt set l1", kWt, kSet, true, false,
     "drop-negative, l1-lease > pg-write[stop] > l1-set > publish > ack", Step::kPgWrite},
    {"wt set l2", kWt, kSet, false, true,
     "drop-negative > pg-write[stop] > l2-set[repair] > l1-invalidate > publish > ack",
     Step::kPgWrite},
    {"wt set none", kWt, kSet, false, false, kPgThenDrop, Step::kPgWrite},
    {"wt del l1 l2", kWt, kDel, true, true, kPgThenDropL2, Step::kPgWrite},
    {"wt del l1", kWt, kDel, true, false, kPgThenDrop, Step::kPgWrite},
    {"wt del l2", kWt, kDel, false, true, kPgThenDropL2, Step::kPgWrite},
    {"wt del none", kWt, kDel, false, false, kPgThenDrop, Step::kPgWrite},
    // write-around: SET invalidates as DEL does; the next read fills.
    {"wa set l1 l2", kWa, kSet, true, true, kPgThenDropL2, Step::kPgWrite},
    {"wa set l1", kWa, kSet, true, false, kPgThenDrop, Step::kPgWrite},
    {"wa set l2", kWa, kSet, false, true, kPgThenDropL2, Step::kPgWrite},
    {"wa set none", kWa, kSet, false, false, kPgThenDrop, Step::kPgWrite},
    {"wa del l1 l2", kWa, kDel, true, true, kPgThenDropL2, Step::kPgWrite},
    {"wa del none", kWa, kDel, false, false, kPgThenDrop, Step::kPgWrite},
    {"wb set l1 l2", kWb, kSet, true, true,
     "drop-negative, queue-room[stop] > l1-set > journal[reply], enqueue-flush, l2-set[repair] > "
     "publish > ack",
     Step::kJournal},
    {"wb set l1", kWb, kSet, true, false,
     "drop-negative, queue-room[stop] > l1-set > journal[reply], enqueue-flush > publish > ack",
     Step::kJournal},
    {"wb set l2", kWb, kSet, false, true,
     "drop-negative, queue-room[stop] > l1-invalidate > journal[reply], enqueue-flush, "
     "l2-set[repair] > publish > ack",
     Step::kJournal},
    {"wb set none", kWb, kSet, false, false, kBehindDrop, Step::kJournal},
    {"wb del l1 l2", kWb, kDel, true, true,
     "drop-negative, queue-room[stop] > l1-invalidate > journal[reply], enqueue-flush, "
     "l2-invalidate[repair] > publish > ack",
     Step::kJournal},
    {"wb del l1", kWb, kDel, true, false, kBehindDrop, Step::kJournal},
    {"wb del l2", kWb, kDel, false, true,
     "drop-negative, queue-room[stop] > l1-invalidate > journal[reply], enqueue-flush, "
     "l2-invalidate[repair] > publish > ack",
     Step::kJournal},
    {"wb del none", kWb, kDel, false, false, kBehindDrop, Step::kJournal},
    // cache: Redis answers for the write when it holds the prefix; else L1 does.
    {"cache set l1 l2", kCache, kSet, true, true,
     "l1-invalidate, l1-lease > l2-set[drop-l1] > l1-set > publish > ack", Step::kL2Set},
    {"cache set l1", kCache, kSet, true, false, "l1-set[stop] > publish > ack", Step::kL1Set},
    {"cache set l2", kCache, kSet, false, true, "l2-set[drop-l1] > l1-invalidate > publish > ack",
     Step::kL2Set},
    {"cache set none: L1 as the tier of last resort", kCache, kSet, false, false,
     "l1-set[stop] > publish > ack", Step::kL1Set},
    {"cache del l1 l2", kCache, kDel, true, true,
     "l1-invalidate > l2-invalidate[drop-l1] > l1-invalidate > publish > ack", Step::kL2Invalidate},
    {"cache del l1", kCache, kDel, true, false, "l1-invalidate > publish > ack",
     Step::kL1Invalidate},
    {"cache del l2", kCache, kDel, false, true,
     "l2-invalidate[drop-l1] > l1-invalidate > publish > ack", Step::kL2Invalidate},
    {"cache del none", kCache, kDel, false, false, "l1-invalidate > publish > ack",
     Step::kL1Invalidate},
    // conflict = append: PostgreSQL assigns the position first; only then is there a message
    // key, which nothing can have filled (no lease) or cached as absent (no negative cache).
    {"wt append l1 l2", kWt, kApp, true, true,
     "pg-write[stop] > l2-set[repair] > l1-set > publish > ack", Step::kPgWrite},
    {"wt append l1", kWt, kApp, true, false, "pg-write[stop] > l1-set > publish > ack",
     Step::kPgWrite},
    {"wt append l2", kWt, kApp, false, true,
     "pg-write[stop] > l2-set[repair] > l1-invalidate > publish > ack", Step::kPgWrite},
    {"wa append l1 l2", kWa, kApp, true, true,
     "pg-write[stop] > l2-invalidate[repair] > l1-invalidate > publish > ack", Step::kPgWrite},
};

TEST(WritePlan, StepsOfEachStrategy) {
  for (const PlanRow& row : kPlans) {
    SCOPED_TRACE(row.name);
    const WritePlan plan = plan_write(policy(row.strategy, row.l1, row.l2), request(row.op));
    EXPECT_EQ(render(plan), row.plan);
    EXPECT_EQ(step_name(plan.ack_point), step_name(row.ack_point));
    EXPECT_EQ(plan.ack_waits_for_postgres(), row.ack_point == Step::kPgWrite);
  }
}

// refresh-ahead writes as write-through; l2 = true without an upstream is l2 = false.
TEST(WritePlan, RefreshAheadAndMissingUpstreamAddNothing) {
  for (Strategy s : kAll) {
    for (WriteOp op : {kSet, kDel}) {
      for (bool l1 : {false, true}) {
        SCOPED_TRACE(std::string(strategy_name(s)) + (op == kSet ? " set" : " del") +
                     (l1 ? " l1" : ""));
        EXPECT_EQ(render(plan_write(policy(s, l1, true), request(op, false))),
                  render(plan_write(policy(s, l1, false), request(op, true))));
        if (s != Strategy::kWriteThrough) continue;
        for (bool l2 : {false, true}) {
          EXPECT_EQ(render(plan_write(policy(Strategy::kRefreshAhead, l1, l2), request(op))),
                    render(plan_write(policy(s, l1, l2), request(op))));
        }
      }
    }
  }
}

// Every combination: stages start at 0 and grow by one, kAck is alone in the last, every change
// is published, and the ack point is in the plan.
TEST(WritePlan, ShapeHoldsForEveryCombination) {
  for (Strategy s : kAll) {
    for (WriteOp op : {kSet, kDel}) {
      for (int tiers = 0; tiers < 8; ++tiers) {
        const WritePlan plan = plan_write(policy(s, tiers & 1, tiers & 2), request(op, tiers & 4));
        SCOPED_TRACE(render(plan));
        ASSERT_GE(plan.count, 3u);
        ASSERT_LE(plan.count, kWritePlanStepsMax);
        EXPECT_EQ(plan.steps[0].stage, 0);
        for (size_t i = 1; i < plan.count; ++i) {
          const int grow = plan.steps[i].stage - plan.steps[i - 1].stage;
          EXPECT_TRUE(grow == 0 || grow == 1) << i;
        }
        const PlannedStep& last = plan.steps[plan.count - 1];
        EXPECT_EQ(last.step, Step::kAck);
        EXPECT_NE(plan.steps[plan.count - 2].stage, last.stage);
        EXPECT_EQ(plan.steps[plan.count - 2].step, Step::kPublish);
        EXPECT_TRUE(plan.contains(plan.ack_point));
        EXPECT_EQ(plan.contains(Step::kPgWrite),
                  s != Strategy::kCache && s != Strategy::kWriteBehind);
      }
    }
  }
}

// ---- failures ----

// What a proxy following the plan does when `failing` reports a failure: the steps it issued
// (a stage's steps are all issued before any of them reports; kAck left out) and the reply.
struct Outcome {
  std::string ran;
  std::string reply;  // "ok" or "error"
  bool repaired = false;
  bool dropped_l1 = false;
};

Outcome run(const WritePlan& plan, Step failing) {
  Outcome out;
  bool reply_error = false;
  size_t i = 0;
  while (i < plan.count) {
    size_t end = i;
    while (end < plan.count && plan.steps[end].stage == plan.steps[i].stage) ++end;
    for (size_t j = i; j < end; ++j) {
      if (plan.steps[j].step == Step::kAck) {
        out.reply = reply_error ? "error" : "ok";
        return out;
      }
      out.ran += (out.ran.empty() ? "" : ", ") + std::string(step_name(plan.steps[j].step));
    }
    for (size_t j = i; j < end; ++j) {
      switch (on_step_result(plan.steps[j], plan.steps[j].step != failing)) {
        case Next::kContinue:
          break;
        case Next::kRepairThenContinue:
          out.repaired = true;
          break;
        case Next::kContinueThenReplyError:
          reply_error = true;
          break;
        case Next::kStopDropL1AndReplyError:
          out.dropped_l1 = true;
          [[fallthrough]];
        case Next::kStopAndReplyError:
          out.reply = "error";
          return out;
      }
    }
    i = end;
  }
  return out;
}

struct FailRow {
  const char* name;
  Strategy strategy;
  WriteOp op;
  bool l1;
  bool l2;
  Step failing;
  Next next;
  const char* ran;  // the steps issued, the failing one included
  const char* reply;
  const char* effect;  // "", "repair" or "drop-l1"
};

const FailRow kFailures[] = {
    {"wt: PostgreSQL refuses, the tiers stay as they were", kWt, kSet, true, true, Step::kPgWrite,
     Next::kStopAndReplyError, "drop-negative, l1-lease, pg-write", "error", ""},
    {"wt: Redis fails after the commit", kWt, kSet, true, true, Step::kL2Set,
     Next::kRepairThenContinue, "drop-negative, l1-lease, pg-write, l2-set, l1-set, publish", "ok",
     "repair"},
    {"wt del: PostgreSQL refuses", kWt, kDel, true, true, Step::kPgWrite, Next::kStopAndReplyError,
     "drop-negative, pg-write", "error", ""},
    {"wt del: Redis fails", kWt, kDel, true, true, Step::kL2Invalidate, Next::kRepairThenContinue,
     "drop-negative, pg-write, l2-invalidate, l1-invalidate, publish", "ok", "repair"},
    {"ra: PostgreSQL refuses", Strategy::kRefreshAhead, kSet, true, false, Step::kPgWrite,
     Next::kStopAndReplyError, "drop-negative, l1-lease, pg-write", "error", ""},
    {"wa: PostgreSQL refuses", kWa, kSet, false, true, Step::kPgWrite, Next::kStopAndReplyError,
     "drop-negative, pg-write", "error", ""},
    {"wa: Redis fails", kWa, kSet, true, true, Step::kL2Invalidate, Next::kRepairThenContinue,
     "drop-negative, pg-write, l2-invalidate, l1-invalidate, publish", "ok", "repair"},
    {"wb: queue full past queue_wait_ms, nothing changed", kWb, kSet, true, true, Step::kQueueRoom,
     Next::kStopAndReplyError, "drop-negative, queue-room", "error", ""},
    {"wb: journal fails, the value stays live and is published", kWb, kSet, true, true,
     Step::kJournal, Next::kContinueThenReplyError,
     "drop-negative, queue-room, l1-set, journal, enqueue-flush, l2-set, publish", "error", ""},
    {"wb: Redis fails", kWb, kSet, true, true, Step::kL2Set, Next::kRepairThenContinue,
     "drop-negative, queue-room, l1-set, journal, enqueue-flush, l2-set, publish", "ok", "repair"},
    {"wb del: journal fails", kWb, kDel, false, false, Step::kJournal,
     Next::kContinueThenReplyError,
     "drop-negative, queue-room, l1-invalidate, journal, enqueue-flush, publish", "error", ""},
    {"cache: Redis refuses the SET, L1 must not get the value", kCache, kSet, true, true,
     Step::kL2Set, Next::kStopDropL1AndReplyError, "l1-invalidate, l1-lease, l2-set", "error",
     "drop-l1"},
    {"cache l2 only: Redis refuses", kCache, kSet, false, true, Step::kL2Set,
     Next::kStopDropL1AndReplyError, "l2-set", "error", "drop-l1"},
    {"cache del: Redis refuses", kCache, kDel, true, true, Step::kL2Invalidate,
     Next::kStopDropL1AndReplyError, "l1-invalidate, l2-invalidate", "error", "drop-l1"},
    {"cache l1 only: out of memory", kCache, kSet, true, false, Step::kL1Set,
     Next::kStopAndReplyError, "l1-set", "error", ""},
    {"wt: a step that cannot fail changes nothing", kWt, kSet, true, true, Step::kL1Set,
     Next::kContinue, "drop-negative, l1-lease, pg-write, l2-set, l1-set, publish", "ok", ""},
};

TEST(WritePlan, FailureOfEachStep) {
  for (const FailRow& row : kFailures) {
    SCOPED_TRACE(row.name);
    const WritePlan plan = plan_write(policy(row.strategy, row.l1, row.l2), request(row.op));
    const PlannedStep* failing = nullptr;
    for (const PlannedStep& s : plan.view()) {
      if (s.step == row.failing) failing = &s;
    }
    ASSERT_NE(failing, nullptr) << render(plan);
    EXPECT_EQ(on_step_result(*failing, true), Next::kContinue);
    EXPECT_EQ(on_step_result(*failing, false), row.next);
    const Outcome got = run(plan, row.failing);
    EXPECT_EQ(got.ran, row.ran);
    EXPECT_EQ(got.reply, row.reply);
    EXPECT_EQ(got.repaired, std::string_view(row.effect) == "repair");
    EXPECT_EQ(got.dropped_l1, std::string_view(row.effect) == "drop-l1");
  }
}

TEST(WritePlan, OnStepResultForEachFailureKind) {
  const std::pair<OnFailure, Next> want[] = {
      {OnFailure::kNotApplicable, Next::kContinue},
      {OnFailure::kFailLeaveTiers, Next::kStopAndReplyError},
      {OnFailure::kFailDropL1, Next::kStopDropL1AndReplyError},
      {OnFailure::kFailReply, Next::kContinueThenReplyError},
      {OnFailure::kRepairAndGoOn, Next::kRepairThenContinue},
  };
  for (const auto& [f, next] : want) {
    const PlannedStep s{Step::kPgWrite, 0, f};
    EXPECT_EQ(on_step_result(s, true), Next::kContinue) << on_failure_name(f);
    EXPECT_EQ(on_step_result(s, false), next) << on_failure_name(f);
  }
}

// ---- TTL and deadlines ----

struct TtlRow {
  const char* name;
  WriteOp op;
  uint64_t ttl_ms;
  int64_t command_expire_at_ms;
  int64_t now_ms;
  int64_t want;
};

constexpr int64_t kFar = std::numeric_limits<int64_t>::max();

const TtlRow kTtls[] = {
    {"the command's own expiry wins", kSet, 1000, 50'000, 10'000, 50'000},
    {"else now + ttl_ms", kSet, 1000, 0, 10'000, 11'000},
    {"else none", kSet, 0, 0, 10'000, 0},
    {"the command's expiry without ttl_ms", kSet, 0, 50'000, 10'000, 50'000},
    {"DEL has none", kDel, 1000, 0, 10'000, 0},
    {"saturates at the clock's end", kSet, 1000, 0, kFar - 10, kFar},
};

// Every strategy, cache included (its SET under ttl_ms = 1000 used to get no TTL).
TEST(WritePlan, CacheExpiryForEveryStrategy) {
  for (Strategy s : kAll) {
    for (const TtlRow& row : kTtls) {
      SCOPED_TRACE(std::string(strategy_name(s)) + ": " + row.name);
      const WritePlan plan =
          plan_write(policy(s, true, true, row.ttl_ms),
                     request(row.op, true, row.command_expire_at_ms, row.now_ms));
      EXPECT_EQ(plan.cache_expire_at_ms, row.want);
    }
  }
}

TEST(WritePlan, QueueRoomDeadlineOnlyForWriteBehind) {
  for (Strategy s : kAll) {
    Policy p = policy(s, true, true);
    p.queue_wait_ms = 2000;
    const int64_t want = s == Strategy::kWriteBehind ? 12'000 : 0;
    EXPECT_EQ(plan_write(p, request(kSet, true, 0, 10'000)).room_deadline_ms, want)
        << strategy_name(s);
  }
}

TEST(WritePlan, PlanningDoesNotAllocate) {
  if (!kCountsAllocations) GTEST_SKIP() << "allocations are counted in the release build";
  // The counter works: a direct call to operator new inside the scope is seen.
  g_allocations = 0;
  g_counting = true;
  void* probe = ::operator new(16);
  g_counting = false;
  ::operator delete(probe);
  ASSERT_EQ(g_allocations.load(), 1u);

  std::vector<std::pair<Policy, WriteRequest>> inputs;
  for (Strategy s : kAll) {
    for (int bits = 0; bits < 16; ++bits) {
      inputs.emplace_back(policy(s, bits & 1, bits & 2, 1000),
                          request(bits & 4 ? kDel : kSet, bits & 8, 0, 10'000));
    }
  }
  uint64_t sink = 0;
  g_allocations = 0;
  g_counting = true;
  for (int round = 0; round < 1000; ++round) {
    for (const auto& [p, r] : inputs) {
      const WritePlan plan = plan_write(p, r);
      sink += plan.count + static_cast<uint64_t>(on_step_result(plan.steps[0], round % 2 == 0));
      sink += step_name(plan.ack_point).size();
    }
  }
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u);
  EXPECT_GT(sink, 0u);
}

}  // namespace
}  // namespace strata::policies
