#!/usr/bin/env python3
"""Write-behind crash test: sustained write-behind traffic (several client threads, many keys,
values "k=<key> seq=<n>", some DELs), `kill -9` of strata at a random moment 50-500 ms into the
traffic, restart on the same journal dir, STRATA FLUSH-BEHIND, then:

  - no acknowledged write lost: for every key PostgreSQL holds a value whose seq is >= the last
    acknowledged seq for that key (and <= the last one sent), or no row when that write was a DEL
    or a DEL followed it; GET through strata agrees;
  - a trigger logging every applied row (id serial, key, version, value) shows, per key, versions
    and seqs strictly increasing (per-key order kept, no replay re-applied an old version);
  - PostgreSQL away: every --pg-outage-every cycles PostgreSQL stops partway through the traffic
    and starts again after the kill, so acknowledged writes live only in the journal;
  - a torn tail: every --torn-every cycles part of a record header is appended to the newest
    segment after the kill (a crash mid-append); recovery ignores it;
  - replaying the journal twice changes nothing: every --replay-every cycles the journal dir as it
    was right after the kill is copied aside; after the normal restart + flush it is put back and
    replayed twice more (and, with --del-ratio 0, the copy from the previous replay cycle, now
    stale, once): the PostgreSQL table and the trigger log must be unchanged by every replay.

Run: STRATA_BIN=build/proxy/strata python3 tests/integration/crash_write_behind.py --cycles 1000
(test_crash.py runs 20 cycles in ctest). Prints "N passed, N failed"; exit 1 on any failure."""

import argparse
import collections
import os
import random
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import Conn, base_config, flush_behind, kOk, policy_block  # noqa: E402

kPrefix = "cr:"
kFlushTimeoutMs = 30000
kMaxFailuresShown = 30

kSchema = """
CREATE TABLE strata_kv(key text PRIMARY KEY, value bytea, version bigint, updated_at timestamptz);
CREATE TABLE crash_log(id bigserial PRIMARY KEY, key text, version bigint, value text);
CREATE FUNCTION crash_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO crash_log(key, version, value) VALUES (NEW.key, NEW.version,
                                                     convert_from(NEW.value, 'UTF8'));
  RETURN NEW;
END $$;
CREATE TRIGGER crash_log_trg AFTER INSERT OR UPDATE ON strata_kv
  FOR EACH ROW EXECUTE FUNCTION crash_log_fn();
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=1000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--keys", type=int, default=64, help="keys per thread")
    p.add_argument("--pipeline", type=int, default=8, help="SETs in flight per thread")
    p.add_argument("--kill-min-ms", type=int, default=50)
    p.add_argument("--kill-max-ms", type=int, default=500)
    p.add_argument("--replay-every", type=int, default=5)
    p.add_argument("--pg-outage-every", type=int, default=4,
                   help="every Nth cycle PostgreSQL stops during the traffic (0: never)")
    p.add_argument("--flush-interval-ms", type=int, default=50)
    p.add_argument("--fdatasync-interval-ms", type=int, default=0,
                   help="[journal] fdatasync_interval_ms: 0 syncs each group commit before its "
                        "OKs; N acknowledges from the page cache and syncs every N ms")
    p.add_argument("--torn-every", type=int, default=3,
                   help="every Nth cycle a torn record is appended to the journal after the kill")
    p.add_argument("--del-ratio", type=float, default=0.1, help="fraction of writes that are DEL")
    p.add_argument("--seed", type=int, default=None)
    return p.parse_args(argv)


def seq_of(value):
    """seq of a "k=<key> seq=<n>" value, or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        return int(value.rsplit("seq=", 1)[1])
    except (IndexError, ValueError):
        return None



def journal_end(data, seg_id):
    """Where the records of segment seg_id end in its file (the format of
    policies/journal_format.h; CRCs unchecked: strata wrote them)."""
    off, header = 0, 33
    while off + header <= len(data) and data[off:off + 4] == b"SJR2" and \
            int.from_bytes(data[off + 8:off + 16], "little") == seg_id:
        klen = int.from_bytes(data[off + 25:off + 29], "little")
        vlen = int.from_bytes(data[off + 29:off + 33], "little")
        off += header + klen + vlen
    return min(off, len(data))

class State:
    """Per-key last sent / last acknowledged seq. Each key belongs to one thread, which alone
    writes its entries."""

    def __init__(self, threads, keys_per_thread):
        self.keys = [[f"{kPrefix}{t}:{i}" for i in range(keys_per_thread)] for t in range(threads)]
        self.all_keys = [k for ks in self.keys for k in ks]
        self.sent = {k: 0 for k in self.all_keys}
        self.acked = {k: 0 for k in self.all_keys}  # seq of the last acknowledged SET or DEL
        self.acked_del = {k: False for k in self.all_keys}  # that write was a DEL
        self.del_sent = {k: 0 for k in self.all_keys}  # seq of the last DEL sent
        self.acks = 0
        self.bad_replies = []
        self.lock = threading.Lock()


def writer(port, keys, state, pipeline, rng, stop, del_ratio):
    try:
        c = harness.Client(port, timeout=10)
    except OSError:
        return
    inflight = collections.deque()
    acks = 0
    try:
        while not stop.is_set():
            while len(inflight) < pipeline:
                k = rng.choice(keys)
                state.sent[k] += 1
                seq = state.sent[k]
                is_del = rng.random() < del_ratio
                if is_del:
                    state.del_sent[k] = seq
                    c.send(harness.encode("DEL", k))
                else:
                    c.send(harness.encode("SET", k, f"k={k} seq={seq}"))
                inflight.append((k, seq, is_del))
            reply = c.read_reply()
            k, seq, is_del = inflight.popleft()
            if reply == kOk or (is_del and reply in (b":0\r\n", b":1\r\n")):
                if seq > state.acked[k]:
                    state.acked[k], state.acked_del[k] = seq, is_del
                acks += 1
            else:
                with state.lock:
                    state.bad_replies.append((k, seq, reply[:200]))
    except (OSError, harness.ConnectionClosed, harness.ReplyError):
        pass  # strata was killed: whatever is in flight is unacknowledged
    finally:
        c.close()
        with state.lock:
            state.acks += acks


class LogChecker:
    """Reads the trigger log incrementally; per key, versions and seqs must strictly increase."""

    def __init__(self, pg):
        self.pg = pg
        self.last_id = 0
        self.last = {}  # key -> (version, seq)
        self.rows = 0

    def check(self, fail):
        rows = self.pg.rows(f"SELECT id, key, version, value FROM crash_log WHERE id > "
                            f"{self.last_id} ORDER BY id")
        for rid, key, version, value in rows:
            rid, version, seq = int(rid), int(version), seq_of(value)
            prev = self.last.get(key)
            # A NULL value is a write-behind DEL's tombstone: its version must still grow; the
            # next SET's seq is compared with the last SET's.
            tombstone = not value
            if prev is not None and not (version > prev[0] and
                                         (tombstone or (seq is not None and seq > prev[1]))):
                fail(f"log id {rid}: key {key} applied version {version} seq {seq} after "
                     f"version {prev[0]} seq {prev[1]}")
            self.last[key] = (version, prev[1] if tombstone and prev else
                              (seq if seq is not None else -1))
            self.last_id = rid
        self.rows += len(rows)
        return len(rows)


def snapshot(pg):
    table = pg.sql("SELECT key, version, encode(value, 'hex') FROM strata_kv ORDER BY key")
    log_max = pg.sql("SELECT coalesce(max(id), 0) FROM crash_log")
    return table, log_max


class Crash:
    def __init__(self, args, chk):
        self.args = args
        self.rng = random.Random(args.seed)
        self.chk = chk
        self.failures_shown = 0
        self.pg = harness.start_postgres("pg-crash")
        self.pg.sql(kSchema)
        self.state = State(args.threads, args.keys)
        self.log = LogChecker(self.pg)
        policy = policy_block(kPrefix, "write-behind", flush_interval_ms=args.flush_interval_ms,
                              max_batch=256)
        self.srv = harness.start_strata_config(
            base_config(self.pg, [policy], shutdown_drain_ms=2000,
                        journal_extra=f"fdatasync_interval_ms = {args.fdatasync_interval_ms}\n"),
            tag="strata-crash")
        self.journal = os.path.join(self.srv.tmpdir, "journal")
        self.prev_copy = None
        self.cycles_with_acks = 0
        self.torn = 0

    def fail(self, what):
        self.chk.ok(False, what)

    def restart(self):
        harness.restart_now(self.srv.srv)

    def traffic_then_kill(self, pg_outage):
        """Traffic, then kill -9 at a random moment; with pg_outage PostgreSQL stops (fast
        shutdown: committed rows stay) partway, so the queue backs up and only the journal holds
        the acknowledged writes, and starts again after the kill."""
        stop = threading.Event()
        threads = [threading.Thread(target=writer, daemon=True, args=(
            self.srv.port, self.state.keys[t], self.state, self.args.pipeline,
            random.Random(self.rng.random()), stop, self.args.del_ratio))
            for t in range(self.args.threads)]
        acks0 = self.state.acks
        for t in threads:
            t.start()
        run_s = self.rng.uniform(self.args.kill_min_ms, self.args.kill_max_ms) / 1000
        if pg_outage:
            time.sleep(run_s * 0.3)
            self.pg.stop("fast")
            time.sleep(run_s * 0.7)
        else:
            time.sleep(run_s)
        self.srv.kill(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(15)
        if pg_outage:
            self.pg.start()
        return self.state.acks - acks0

    def tear_tail(self, cycle):
        """A crash mid-write leaves part of a record after a segment's last one: write the first
        25 bytes of a record header (magic, crc, segment id, op, version) there, in the newest
        segment (pre-allocated: zeros or a recycled file's old records follow). Recovery must
        ignore it (kTorn), not refuse to start."""
        try:
            segs = sorted(f for f in os.listdir(self.journal)
                          if f.startswith("seg-") and f.endswith(".log"))
        except OSError:
            segs = []
        if not segs:
            return
        path = os.path.join(self.journal, segs[-1])
        seg_id = int(segs[-1][4:20])
        with open(path, "rb") as f:
            data = f.read()
        end = journal_end(data, seg_id)
        frag = b"SJR2" + bytes(self.rng.getrandbits(8) for _ in range(4)) + \
            seg_id.to_bytes(8, "little") + b"\x01" + (1 << 62).to_bytes(8, "little")
        with open(path, "r+b") as f:
            f.seek(end)
            f.write(frag)
        self.torn += 1

    def state_allows(self, k, seq):
        """May key k hold the write `seq` (None: absent) after the restart? It must be the last
        acknowledged write or a later one: absent only if that write was a DEL or a DEL was
        sent after it; a value only if its seq is >= the acknowledged seq."""
        acked = self.state.acked[k]
        if seq is None:
            return acked == 0 or self.state.acked_del[k] or self.state.del_sent[k] > acked
        return seq >= acked

    def verify(self, cycle):
        """After restart + FLUSH-BEHIND: nothing acknowledged is lost."""
        rows = dict(self.pg.rows(f"SELECT key, convert_from(value, 'UTF8') FROM strata_kv "
                                 f"WHERE key LIKE '{kPrefix}%'"))
        lost, future = [], []
        for k in self.state.all_keys:
            seq = seq_of(rows.get(k))
            if not self.state_allows(k, seq):
                lost.append((k, self.state.acked[k], self.state.acked_del[k], seq))
            if seq is not None and seq > self.state.sent[k]:
                future.append((k, self.state.sent[k], seq))
        self.chk.ok(not lost, f"cycle {cycle}: no acknowledged write lost",
                    f"{len(lost)} keys behind their last ack (key, acked seq, a DEL, seq in PG):"
                    f" {lost[:5]}")
        self.chk.ok(not future, f"cycle {cycle}: PG holds only values that were sent", future[:5])
        c = Conn(self.srv.port)
        got = c.value("MGET", *self.state.all_keys)
        c.close()
        behind = [(k, self.state.acked[k], seq_of(v)) for k, v in zip(self.state.all_keys,
                                                                       got or [])
                  if not self.state_allows(k, seq_of(v))]
        self.chk.ok(isinstance(got, list) and not behind, f"cycle {cycle}: GET after restart "
                    "returns the last acknowledged write or newer", behind[:5] or got)
        n = self.log.check(self.fail)
        return n, len(lost)

    def flush(self, cycle, what):
        c = Conn(self.srv.port)
        reply = flush_behind(c, kFlushTimeoutMs)
        c.close()
        self.chk.eq(reply, kOk, f"cycle {cycle}: FLUSH-BEHIND {what}")

    def replay(self, cycle, copy, what):
        """Restarts strata on `copy` of an old journal: PG and the log must not change."""
        before = snapshot(self.pg)
        self.srv.kill(signal.SIGKILL)
        shutil.rmtree(self.journal, ignore_errors=True)
        shutil.copytree(copy, self.journal)
        self.restart()
        self.flush(cycle, f"after {what}")
        after = snapshot(self.pg)
        self.chk.ok(after[0] == before[0], f"cycle {cycle}: {what} leaves strata_kv unchanged",
                    _diff(before[0], after[0]))
        self.chk.eq(after[1], before[1], f"cycle {cycle}: {what} applies no row (trigger log)")

    def cycle(self, n):
        t0 = time.monotonic()
        outage = bool(self.args.pg_outage_every) and n % self.args.pg_outage_every == 0
        acks = self.traffic_then_kill(outage)
        copy = None
        if self.args.replay_every and n % self.args.replay_every == 0:
            if self.chk.ok(os.path.isdir(self.journal), f"cycle {n}: journal dir {self.journal} "
                           "exists after the kill"):
                copy = os.path.join(self.srv.tmpdir, f"journal-copy-{n}")
                shutil.copytree(self.journal, copy)
        if self.args.torn_every and n % self.args.torn_every == 0:
            self.tear_tail(n)
        self.restart()
        self.flush(n, "after restart")
        rows, lost = self.verify(n)
        if copy:
            self.replay(n, copy, "replaying the journal again")
            self.replay(n, copy, "replaying the journal a third time")
            if self.prev_copy and not self.args.del_ratio:
                # With DELs an older journal's SET of a since-deleted key would come back (the
                # DELETE left no version to guard against): a real replay never sees a journal
                # older than PostgreSQL, so this stronger check runs without DELs only.
                self.replay(n, self.prev_copy, "replaying an older journal")
                shutil.rmtree(self.prev_copy, ignore_errors=True)
            self.prev_copy = copy
        if acks > 0:
            self.cycles_with_acks += 1
        print(f"cycle {n}: {acks} acks{' (PostgreSQL stopped mid-traffic)' if outage else ''}, "
              f"{rows} rows applied, {lost} lost, "
              f"{time.monotonic() - t0:.2f}s", flush=True)

    def run(self):
        bad0 = 0
        for n in range(1, self.args.cycles + 1):
            self.cycle(n)
            if len(self.state.bad_replies) > bad0:
                self.chk.ok(False, f"cycle {n}: SET replies other than +OK",
                            self.state.bad_replies[bad0:bad0 + 3])
                bad0 = len(self.state.bad_replies)
        # A kill 50 ms in may come before the first group commit on a loaded machine; most
        # cycles must see acknowledged traffic or the test proves nothing.
        self.chk.ok(self.cycles_with_acks >= 0.8 * self.args.cycles,
                    "most cycles had acknowledged traffic",
                    f"{self.cycles_with_acks} of {self.args.cycles}")
        total = sum(self.state.acked.values())
        print(f"{self.args.cycles} cycles ({self.torn} with a torn journal tail), "
              f"{self.state.acks} acknowledged writes, "
              f"{self.log.rows} rows applied, max seq sum {total}")


def _diff(a, b):
    la, lb = a.split("\n"), b.split("\n")
    sa, sb = set(la), set(lb)
    return f"removed {sorted(sa - sb)[:3]}, added {sorted(sb - sa)[:3]}"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print(f"crash_write_behind: seed {args.seed}, {args.cycles} cycles", flush=True)
    chk = harness.Checks()
    t0 = time.monotonic()
    try:
        crash = Crash(args, chk)
        crash.run()
    except Exception as e:
        import traceback
        traceback.print_exc()
        chk.ok(False, "crash test", f"{type(e).__name__}: {e}")
    print(f"took {time.monotonic() - t0:.1f}s")
    code = harness.finish(chk.failed)
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
