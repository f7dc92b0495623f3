#include "policies/write_plan.h"

#include <cstdlib>
#include <iterator>
#include <limits>

namespace strata::policies {
namespace {

constexpr int64_t kTimeMax = std::numeric_limits<int64_t>::max();

// now + d, saturating: a ten-year TTL on a clock near its end must not wrap into the past.
int64_t after_ms(int64_t now_ms, uint64_t d_ms) {
  if (d_ms > static_cast<uint64_t>(kTimeMax)) return kTimeMax;
  const auto d = static_cast<int64_t>(d_ms);
  return now_ms > kTimeMax - d ? kTimeMax : now_ms + d;
}

// Appends steps to a plan, stage by stage.
class PlanBuilder {
 public:
  explicit PlanBuilder(WritePlan* plan) : plan_(plan) {}
  // `s` opens the next stage.
  void then(Step s, OnFailure f = OnFailure::kNotApplicable) {
    if (plan_->count > 0) ++stage_;
    with(s, f);
  }
  // `s` joins the current stage, issued after the steps already in it.
  void with(Step s, OnFailure f = OnFailure::kNotApplicable) {
    if (plan_->count >= kWritePlanStepsMax) std::abort();  // a plan longer than its array: a bug
    plan_->steps[plan_->count++] = PlannedStep{s, stage_, f};
  }
  // `s`, opening a stage, is what the acknowledgement stands for.
  void then_ack_point(Step s, OnFailure f) {
    then(s, f);
    plan_->ack_point = s;
  }

 private:
  WritePlan* plan_;
  uint8_t stage_ = 0;
};

// write-through, refresh-ahead and write-around: PostgreSQL commits first, then the cache tiers
// take the value (`install`) or drop the key. The lease, not an invalidation, keeps the tiers as
// they were if PostgreSQL refuses the write.
void plan_postgres_first(bool install, bool l1, bool l2, PlanBuilder* b) {
  b->then(Step::kDropNegative);
  if (install && l1) b->with(Step::kL1Lease);
  b->then_ack_point(Step::kPgWrite, OnFailure::kFailLeaveTiers);
  // PostgreSQL has committed: a Redis failure must not turn the reply into an error.
  if (l2) b->then(install ? Step::kL2Set : Step::kL2Invalidate, OnFailure::kRepairAndGoOn);
  b->then(install && l1 ? Step::kL1Set : Step::kL1Invalidate);
}

// write-behind: room in the queue first (a full queue fails the write before anything changed),
// then L1, then journal + queue + L2 together; PostgreSQL later, in batches.
void plan_behind(bool set, bool l1, bool l2, PlanBuilder* b) {
  b->then(Step::kDropNegative);
  b->with(Step::kQueueRoom, OnFailure::kFailLeaveTiers);
  b->then(set && l1 ? Step::kL1Set : Step::kL1Invalidate);
  b->then_ack_point(Step::kJournal, OnFailure::kFailReply);
  b->with(Step::kEnqueueFlush);
  if (l2) b->with(set ? Step::kL2Set : Step::kL2Invalidate, OnFailure::kRepairAndGoOn);
}

// cache: no PostgreSQL. With Redis, the client's command is forwarded; L1 is invalidated before
// (no reader sees the old value once the write is on its way) and filled under a lease after.
// Without Redis (or with l2 off) L1 alone holds the key, whatever l1 says: the tier of last
// resort.
void plan_cache(bool set, bool l1, bool l2, PlanBuilder* b) {
  if (!l2) {
    b->then_ack_point(set ? Step::kL1Set : Step::kL1Invalidate,
                      set ? OnFailure::kFailLeaveTiers : OnFailure::kNotApplicable);
    return;
  }
  if (l1) {
    b->then(Step::kL1Invalidate);
    if (set) b->with(Step::kL1Lease);
  }
  b->then_ack_point(set ? Step::kL2Set : Step::kL2Invalidate, OnFailure::kFailDropL1);
  b->then(set && l1 ? Step::kL1Set : Step::kL1Invalidate);
}

}  // namespace

bool WritePlan::contains(Step s) const {
  for (const PlannedStep& p : view()) {
    if (p.step == s) return true;
  }
  return false;
}

WritePlan plan_write(const Policy& p, const WriteRequest& r) {
  WritePlan plan;
  const bool set = r.op != WriteOp::kDelete;
  const bool l2 = p.l2 && r.has_l2;
  if (set) {
    plan.cache_expire_at_ms = r.expire_at_ms > 0 ? r.expire_at_ms
                              : p.ttl_ms > 0     ? after_ms(r.now_ms, p.ttl_ms)
                                                 : 0;
  }
  PlanBuilder b(&plan);
  if (r.op == WriteOp::kAppend) {
    // The message's key exists once PostgreSQL has assigned its position: no lease (nobody
    // can have filled it before), and no step before that one. The policy file allows
    // conflict = append only with a strategy that writes PostgreSQL first.
    const bool install = p.strategy != Strategy::kWriteAround;
    b.then_ack_point(Step::kPgWrite, OnFailure::kFailLeaveTiers);
    if (l2) b.then(install ? Step::kL2Set : Step::kL2Invalidate, OnFailure::kRepairAndGoOn);
    b.then(install && p.l1 ? Step::kL1Set : Step::kL1Invalidate);
    b.then(Step::kPublish);
    b.then(Step::kAck);
    return plan;
  }
  switch (p.strategy) {
    case Strategy::kWriteThrough:
    case Strategy::kRefreshAhead:
      plan_postgres_first(set, p.l1, l2, &b);
      break;
    case Strategy::kWriteAround:
      plan_postgres_first(false, p.l1, l2, &b);
      break;
    case Strategy::kWriteBehind:
      plan.room_deadline_ms = after_ms(r.now_ms, p.queue_wait_ms);
      plan_behind(set, p.l1, l2, &b);
      break;
    case Strategy::kCache:
      plan_cache(set, p.l1, l2, &b);
      break;
  }
  b.then(Step::kPublish);
  b.then(Step::kAck);
  return plan;
}

Next on_step_result(const PlannedStep& s, bool ok) {
  if (ok) return Next::kContinue;
  switch (s.on_failure) {
    case OnFailure::kNotApplicable:
      return Next::kContinue;
    case OnFailure::kFailLeaveTiers:
      return Next::kStopAndReplyError;
    case OnFailure::kFailDropL1:
      return Next::kStopDropL1AndReplyError;
    case OnFailure::kFailReply:
      return Next::kContinueThenReplyError;
    case OnFailure::kRepairAndGoOn:
      return Next::kRepairThenContinue;
  }
  return Next::kStopAndReplyError;
}

std::string_view step_name(Step s) {
  constexpr std::string_view kNames[] = {
      "drop-negative", "queue-room",    "l1-lease", "pg-write",      "journal", "enqueue-flush",
      "l2-set",        "l2-invalidate", "l1-set",   "l1-invalidate", "publish", "ack"};
  static_assert(std::size(kNames) == static_cast<size_t>(Step::kAck) + 1);
  const auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string_view on_failure_name(OnFailure f) {
  constexpr std::string_view kNames[] = {"", "stop", "drop-l1", "reply", "repair"};
  static_assert(std::size(kNames) == static_cast<size_t>(OnFailure::kRepairAndGoOn) + 1);
  const auto i = static_cast<size_t>(f);
  return i < std::size(kNames) ? kNames[i] : "?";
}

}  // namespace strata::policies
