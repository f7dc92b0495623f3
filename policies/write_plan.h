// The write strategies as decisions: for one key's SET or DEL under a prefix's Policy, the steps
// the proxy runs, in stages, what the client's acknowledgement stands for, and what a failure of
// each step means. Pure and cheap, as it runs per write: no I/O, no clock (now is an argument),
// no allocation (the plan is a fixed array), no exceptions. README.md has the table of strategies
// ("The write plan") and where each Policy field acts.
//
// Stages run in order. A stage's steps are issued in the listed order (kEnqueueFlush needs the
// segment kJournal wrote to) and may be in flight together; the next stage starts once each of
// them has reported. kAck is alone in the last stage, so the reply waits for every other step.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "policies/policy.h"

namespace strata::policies {

// kAppend (conflict = append): the key is a stream; PostgreSQL assigns the message the stream's
// next position, and the message, a key of its own, is what the later steps write.
enum class WriteOp : uint8_t { kSet, kDelete, kAppend };

struct WriteRequest {
  WriteOp op = WriteOp::kSet;
  int64_t expire_at_ms = 0;  // absolute expiry the command gave (EX/PX/EXAT/PXAT, SETEX); 0: none
  int64_t now_ms = 0;
  bool has_l2 = false;  // an upstream Redis is configured (policy.l2 means nothing without one)
};

enum class Step : uint8_t {
  kDropNegative,  // forget a cached "not in PostgreSQL" answer for the key
  kQueueRoom,     // write-behind: wait for room in the prefix's queue, until room_deadline_ms
  // Fence L1 for the key: of this write and a fill racing with it only the first to complete
  // installs, and if that was the fill, the write drops the key (their order is unknown).
  kL1Lease,
  kPgWrite,       // version-guarded upsert (SET) or delete (DEL) in PostgreSQL; waits for commit
  kJournal,       // append to the write-behind journal (a tombstone for DEL); waits for its commit
  kEnqueueFlush,  // queue for the batched asynchronous PostgreSQL flush
  // Redis. PostgreSQL strategies: the version-guarded script (a DEL records the version). Cache:
  // the client's own command, forwarded.
  kL2Set,
  kL2Invalidate,
  // Under the lease when the plan took one. Where the value cannot go in (lease broken by a
  // concurrent write, value past L1's limits, no memory) the key is dropped instead; that is a
  // failure only where L1 is the write's one tier (cache without L2).
  kL1Set,
  kL1Invalidate,  // drop the key and any lease on it
  kPublish,  // a change event (key, op, version, a SET's value) to the proxy's change-event seam
  kAck,      // reply to the client
};

enum class OnFailure : uint8_t {
  kNotApplicable,  // the step cannot fail (local memory)
  // Reply the error; no later step runs. The tiers keep what earlier steps left: before a
  // PostgreSQL write nothing touched them (its L1 lease lapses unused).
  kFailLeaveTiers,
  // Reply Redis's error, run no later step, drop the key from L1: Redis may have applied it.
  kFailDropL1,
  // The client hears an error, yet what is done stays done and the later steps run: the value is
  // live in L1 and queued for PostgreSQL (the journal failed).
  kFailReply,
  // Record the key for L2 repair (invalidated once Redis is back); the write still succeeds.
  kRepairAndGoOn,
};

struct PlannedStep {
  Step step = Step::kAck;
  uint8_t stage = 0;
  OnFailure on_failure = OnFailure::kNotApplicable;
  bool operator==(const PlannedStep&) const = default;
};

constexpr size_t kWritePlanStepsMax = 10;  // the longest plan (write-behind SET) has 8

struct WritePlan {
  std::array<PlannedStep, kWritePlanStepsMax> steps{};
  uint8_t count = 0;
  // What the cache tiers get: the command's own expiry, else now + policy.ttl_ms when that is
  // > 0, else 0 (none). 0 for DEL.
  int64_t cache_expire_at_ms = 0;
  int64_t room_deadline_ms = 0;  // write-behind: kQueueRoom gives up then; else 0
  // The step the acknowledgement stands for: once OK is sent, the write is kept there
  // (kPgWrite, kJournal, or for cache the Redis or L1 step).
  Step ack_point = Step::kAck;

  std::span<const PlannedStep> view() const { return {steps.data(), count}; }
  bool ack_waits_for_postgres() const { return ack_point == Step::kPgWrite; }
  bool contains(Step s) const;
};

WritePlan plan_write(const Policy& p, const WriteRequest& r);

// After a step reports: what the proxy does next.
enum class Next : uint8_t {
  kContinue,
  kRepairThenContinue,       // queue the key for L2 repair, then go on
  kContinueThenReplyError,   // run the remaining steps; kAck replies the error instead of OK
  kStopAndReplyError,        // run nothing more; reply the error
  kStopDropL1AndReplyError,  // drop the key from L1, run nothing more, reply the error
};
// A step that cannot fail changes nothing by reporting a failure (kContinue).
Next on_step_result(const PlannedStep& s, bool ok);

std::string_view step_name(Step s);  // "pg-write", "l1-lease", ... for tests, logs and docs
std::string_view on_failure_name(OnFailure f);  // "", "stop", "drop-l1", "reply", "repair"

}  // namespace strata::policies
