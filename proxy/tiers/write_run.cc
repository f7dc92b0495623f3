// Runs a write plan: policies::plan_write() decides the steps of one key's write under its
// prefix's strategy, in stages, and what a failure of each step means; this file executes them
// (PostgreSQL, journal, queue, Redis, L1, the change seam, the reply) and reports each step's
// outcome back to policies::on_step_result(). No strategy is named here: the plan is the
// strategy.
#include <algorithm>

#include "cache/store.h"
#include "proxy/loop/log.h"
#include "proxy/tiers/tiers.h"
#include "proxy/tiers/tiers_internal.h"

namespace strata::proxy {

using policies::Next;
using policies::PlannedStep;
using policies::Step;

namespace {

std::string pg_error(const PgResult& r) {
  return error_line("ERR strata: PostgreSQL write failed: " + r.error);
}

}  // namespace

void Tiers::write(WriteReq req) {
  const policies::Policy& p = req.entry->policy;
  if (!busy_.empty()) {
    const bool to_postgres_first = p.strategy != policies::Strategy::kWriteBehind;
    if (must_wait(req.key, false, to_postgres_first)) {
      const std::string key = req.key;
      enqueue(key, [this, r = std::move(req)]() mutable { write(std::move(r)); });
      return;
    }
  }
  bump(req.entry->stats->writes);
  if (ctx_.sync != nullptr && ctx_.sync->refuse_write(req.key)) {
    // Cut off from the bus past max_staleness_ms: a write here could not reach the other
    // instances' L1s in time, so it is refused (fail closed) rather than left for them to miss.
    bump(req.entry->stats->write_errors);
    multi_done(req.multi, 0,
               error_line("ERR strata: the sync bus (NATS) is unreachable for longer than "
                          "max_staleness_ms; writes to synced prefixes are refused until it is "
                          "back"));
    return;
  }
  policies::WriteRequest wr;
  wr.op = req.append      ? policies::WriteOp::kAppend
          : req.is_delete ? policies::WriteOp::kDelete
                          : policies::WriteOp::kSet;
  wr.expire_at_ms = req.expire_at_ms;
  wr.now_ms = ctx_.loop->now_ms();
  wr.has_l2 = ctx_.upstream != nullptr;
  WriteRun* run = nullptr;
  const uint64_t id = runs_.take(&run);
  run->plan = policies::plan_write(p, wr);
  run->req = std::move(req);
  // Later commands on the key wait until a write that goes to PostgreSQL first has settled.
  run->holds_key = run->plan.ack_waits_for_postgres();
  if (run->holds_key) ++busy_[run->req.key].writes;
  next_stage(id, run);
}

// Issues every step of the next stage; the stage ends when each has reported: at once for a
// synchronous step, through step_done for the others.
void Tiers::next_stage(uint64_t id, WriteRun* run) {
  for (;;) {
    const auto steps = run->plan.view();
    if (run->next >= steps.size() || run->stopped) return finish_run(id, *run);
    const uint8_t stage = steps[run->next].stage;
    size_t end = run->next;
    while (end < steps.size() && steps[end].stage == stage) ++end;
    // Counted before issuing, plus one for this loop: a step may report at once, and the
    // stage must not end (and go on from a callback) before every step is issued.
    run->outstanding = static_cast<uint32_t>(end - run->next) + 1;
    const size_t first = run->next;
    run->next = end;
    for (size_t i = first; i < end; ++i) {
      if (start_step(id, *run, steps[i])) --run->outstanding;
    }
    if (--run->outstanding != 0) return;  // the last asynchronous report goes on
  }
}

void Tiers::report_step(WriteRun& run, const PlannedStep& s, bool ok, std::string_view error) {
  switch (policies::on_step_result(s, ok)) {
    case Next::kContinue:
      break;
    case Next::kRepairThenContinue:
      repair_l2(run.target());
      break;
    case Next::kContinueThenReplyError:
      if (run.error.empty()) run.error = std::string(error);
      break;
    case Next::kStopDropL1AndReplyError:
      ctx_.store->invalidate(run.target());
      [[fallthrough]];
    case Next::kStopAndReplyError:
      if (run.error.empty()) run.error = std::string(error);
      run.stopped = true;
      break;
  }
}

// An asynchronous step's report; the stage goes on once it was the last one outstanding.
void Tiers::step_done(uint64_t id, const PlannedStep& s, bool ok, std::string_view error) {
  WriteRun* run = run_of(id);
  if (run == nullptr) return;
  report_step(*run, s, ok, error);
  if (--run->outstanding == 0) next_stage(id, run);
}

uint64_t Tiers::run_version(WriteRun& run) {
  if (run.version == 0) run.version = shared_->versions.next();
  return run.version;
}

bool Tiers::start_step(uint64_t id, WriteRun& run, const PlannedStep& s) {
  const WriteReq& req = run.req;
  const std::string& key = run.target();  // an append's message once it has a position
  cache::Store& store = *ctx_.store;
  bool ok = true;
  std::string err;
  switch (s.step) {
    case Step::kDropNegative:
      shared_->negative.erase(key);
      break;
    case Step::kQueueRoom:
      if (!shared_->write_behind->has_room(*req.entry)) {
        if (ctx_.loop->now_ms() < run.plan.room_deadline_ms) {
          parked_.push_back(Parked{id, s});  // backpressure: reported as the queue drains
          return false;
        }
        ok = false;
        err = queue_full_error(req.entry->policy);
      }
      break;
    case Step::kL1Lease:
      run.lease = store.begin_fill(key);
      break;
    case Step::kPgWrite:
      pg_write_step(id, run, s);
      return false;
    case Step::kJournal:
      journal_step(id, run, s);
      return false;
    case Step::kEnqueueFlush: {
      policies::WriteView pw;
      pw.key = key;
      if (!req.is_delete) pw.value = req.value;
      pw.version = run_version(run);
      pw.is_delete = req.is_delete;
      pw.segment = run.segment;
      pw.enqueued_ms = ctx_.loop->now_ms();
      shared_->write_behind->push(*req.entry, pw);
      break;
    }
    case Step::kL2Set:
    case Step::kL2Invalidate:
      return l2_step(id, run, s);
    case Step::kL1Set:
      // Under the lease when the plan took one: a concurrent write or invalidation since means
      // the order between the two is unknown here, so the key is dropped for the next read.
      if (run.superseded) {
        run.installed = false;
      } else if (run.lease != 0) {
        run.installed = store.complete_fill(key, run.lease, req.value,
                                            run.plan.cache_expire_at_ms);
      } else {
        run.installed = store.lock(key)->set(key, req.value,
                                                 run.plan.cache_expire_at_ms) != 0;
      }
      if (!run.installed) store.invalidate(key);
      break;
    case Step::kL1Invalidate:
      if (req.is_delete && !run.plan.ack_waits_for_postgres()) {
        // A write-behind DEL counts the key if a tier or the queue has it.
        policies::PendingWrite pw;
        cache::EntryView v;
        if (shared_->write_behind->find(req.entry->policy.prefix, key, &pw) &&
            !pw.is_delete) {
          run.count = 1;
        }
        if (store.lock(key)->find(key, &v)) run.count = 1;
      }
      store.invalidate(key);
      break;
    case Step::kPublish:
      // A SET's value is the key's now wherever the plan puts it (write-around puts it nowhere
      // but PostgreSQL: the others hear an invalidation).
      publish_write(key, req.is_delete,
                    !req.is_delete && !run.superseded &&
                        (run.plan.contains(Step::kL1Set) || run.plan.contains(Step::kL2Set) ||
                         run.plan.contains(Step::kEnqueueFlush)),
                    req.value, run_version(run), run.plan.cache_expire_at_ms, req.entry->stats,
                    req.client);
      break;
    case Step::kAck:
      break;  // finish_run replies, after the stage
  }
  report_step(run, s, ok, err);
  return true;
}

void Tiers::pg_write_step(uint64_t id, WriteRun& run, const PlannedStep& s) {
  const WriteReq& req = run.req;
  const std::string ver = std::to_string(run_version(run));
  std::vector<PgParam> params;
  params.push_back({req.key, false, false});
  if (!req.is_delete) params.push_back({req.value, false, true});
  params.push_back({ver, false, false});
  const std::string expected =
      req.expected_version ? std::to_string(*req.expected_version) : std::string();
  if (req.expected_version && *req.expected_version != 0) params.push_back({expected, false, false});
  const std::string& sql = req.append ? req.entry->sql.append
                           : req.expected_version ? (*req.expected_version != 0
                                                       ? req.entry->sql.cas_update
                                                       : req.entry->sql.cas_create)
                           : req.is_delete ? req.entry->sql.remove_latest
                                           : req.entry->sql.upsert_latest;
  if (req.is_delete && !req.expected_version) params.pop_back();  // remove_latest: the key
  // No availability check: while connecting the pool holds the request (bounded, with the
  // connect timeout); when PostgreSQL is down it fails it with the reason. The views in params
  // point into the run, whose slot is not reused until it finishes.
  const bool cas = req.expected_version.has_value();
  const bool append = req.append;
  // An append's row is a key PostgreSQL names: nothing to recognize it by beforehand.
  PgWriteObserver* observer = append ? nullptr : shared_->pg_writes;
  if (observer != nullptr) observer->writing(req.key, run_version(run), req.value, req.is_delete);
  pool_->exec(sql, params, true, [this, id, s, cas, append, observer](PgResult&& r) {
    bool ok = r.status == PgResult::kOk;
    std::string err = ok ? std::string() : pg_error(r);
    if (!ok && observer != nullptr) {
      if (WriteRun* failed = run_of(id)) observer->failed(failed->req.key, run_version(*failed));
    }
    WriteRun* found = run_of(id);
    if (ok && found != nullptr) {
      WriteRun& run = *found;
      if (cas && r.rows.empty()) return cas_conflict(id, s);
      // The version PostgreSQL kept (its own + 1 where the row was newer): the tiers and
      // peers carry that one. An append's row: [message key, version].
      const size_t vcol = append ? 1 : 0;
      if (!r.rows.empty() && r.rows[0].size() > vcol) {
        const uint64_t kept = tiers_detail::decode_version(r.rows[0][vcol]);
        if (kept != 0) run.version = kept;
        shared_->versions.observe(kept);  // later writes here order after it
      }
      if (append) {
        const uint64_t pos = r.rows.empty() || !r.rows[0][0]
                                 ? 0
                                 : tiers_detail::append_position(run.req.key, *r.rows[0][0]);
        if (pos == 0) {
          ok = false;
          err = error_line("ERR strata: PostgreSQL gave no position for the append");
        } else {
          run.message_key = *r.rows[0][0];
          run.count = static_cast<int64_t>(pos);
        }
      } else {
        // CAS answers the new version; a plain write its rows affected.
        run.count = cas ? static_cast<int64_t>(run.version) : static_cast<int64_t>(r.affected);
        if (!cas && !run.req.is_delete && r.affected == 0) run.superseded = true;
      }
    }
    step_done(id, s, ok, err);
  });
}

// The row was not at the expected version: the write stops with the tiers as they were, and
// the error says which version the row holds now (read after the failed update: another write
// may already have moved it further, which the next CAS will find out).
void Tiers::cas_conflict(uint64_t id, const policies::PlannedStep& s) {
  const WriteRun* run = run_of(id);
  if (run == nullptr) return;
  const WriteReq& req = run->req;
  std::vector<PgParam> params{{req.key, false, false}};
  const uint64_t expected = *req.expected_version;
  pool_->exec(req.entry->sql.version_of, params, true,
              [this, id, s, expected](PgResult&& r) {
                uint64_t current = 0;
                if (r.status == PgResult::kOk && !r.rows.empty()) {
                  current = tiers_detail::decode_version(r.rows[0][0]);
                }
                step_done(id, s, false,
                          error_line("CONFLICT version is " + std::to_string(current) +
                                     ", not " + std::to_string(expected)));
              });
}

void Tiers::journal_step(uint64_t id, WriteRun& run, const PlannedStep& s) {
  const WriteReq& req = run.req;
  policies::JournalRecord rec;
  rec.op = req.is_delete ? policies::JournalRecord::kDel : policies::JournalRecord::kSet;
  rec.version = run_version(run);
  rec.key = req.key;
  rec.value = req.is_delete ? std::string_view() : std::string_view(req.value);
  run.segment = journal_->append(rec, [this, id, s](bool ok) {
    step_done(id, s, ok, ok ? std::string_view() : "-ERR strata: journal write failed\r\n");
  });
}

bool Tiers::l2_step(uint64_t id, WriteRun& run, const PlannedStep& s) {
  Upstream* up = ctx_.upstream;
  if (up == nullptr || !up->available()) {
    // Redis is away: reads fall through to PostgreSQL (or the pending queue) meanwhile; the
    // step's failure rule says what that means (repair once Redis is back).
    report_step(run, s, false, {});
    return true;
  }
  WriteReq l2 = run.req;
  l2.key = run.target();
  l2.is_delete = s.step == Step::kL2Invalidate || run.superseded;
  l2.expire_at_ms = run.plan.cache_expire_at_ms;
  const bool count_deleted = run.req.is_delete && !run.plan.ack_waits_for_postgres();
  l2_write(l2, run_version(run), [this, id, s, count_deleted](const RedisReply& r) {
    const bool failed = !r.ok || r.kind == protocol::ReplyKind::kError;
    if (!failed && count_deleted && r.kind == protocol::ReplyKind::kInteger && r.integer > 0) {
      if (WriteRun* r2 = run_of(id); r2 != nullptr) r2->count = 1;
    }
    step_done(id, s, !failed, {});
  });
  return false;
}

void Tiers::finish_run(uint64_t id, WriteRun& run) {
  // Late callbacks of this run find nothing from here on; the slot is reused only once the
  // reply and the key's waiters (which may start writes of their own) are done with it.
  runs_.retire(id);
  if (!run.error.empty()) bump(run.req.entry->stats->write_errors);
  multi_done(run.req.multi, run.error.empty() ? run.count : 0, run.error);
  if (run.holds_key) settle_write(run.req.key);
  run.req = WriteReq{};  // the key's and value's memory goes back now, not at the slot's reuse
  runs_.recycle(id);
}

// Write-behind writers waiting for queue room, in arrival order: each reports its room step
// once the queue has room or its wait is over.
void Tiers::retry_parked(int64_t now_ms) {
  size_t n = parked_.size();
  while (n-- > 0 && !parked_.empty()) {
    const Parked p = parked_.front();
    const WriteRun* found = run_of(p.run);
    if (found == nullptr) {
      parked_.pop_front();
      continue;
    }
    const WriteRun& run = *found;
    const bool room = shared_->write_behind->has_room(*run.req.entry);
    if (!room && now_ms < run.plan.room_deadline_ms) return;  // nobody behind it may overtake
    parked_.pop_front();
    step_done(p.run, p.step, room, room ? std::string() : queue_full_error(run.req.entry->policy));
  }
}

}  // namespace strata::proxy
