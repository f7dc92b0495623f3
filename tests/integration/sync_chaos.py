#!/usr/bin/env python3
"""Chaos checker for sync over NATS: K strata instances in front of one redis-server and one
PostgreSQL, writers and readers through every instance, faults mixed in (nats-server killed and
restarted, nats-server SIGSTOPped then SIGCONTed, one strata kill -9'd and restarted), and every
read checked against the history of acknowledged writes.

The rule. Every value written encodes (writer id, counter). The checker keeps every write's
start time and acknowledgement time (end = infinity when its outcome is unknown: the reply never
came). A read that started at rs and returned the value of write V is STALE when some write W on
the same key started after V was acknowledged (start(W) > end(V): W is newer in real time,
whatever the versions say) and was itself acknowledged before rs - bound. A read of nothing is
stale when any write on the key was acknowledged before rs - bound. A read's staleness is
rs - (earliest ack of a write newer than its value), 0 if none was acknowledged before rs.

Keys (each written by exactly one writer thread, so the writes of a key are sequential):
  wt:<inst>:<n>   write-through, l2 = false (L1 + PostgreSQL): only NATS keeps it coherent;
                  written through <inst>, read through every instance
  up:<inst>:<n>   the same with sync = "update" (values installed in peers' L1)
  c:<inst>:<n>    cache strategy with Redis behind it, written through <inst>
  c:redis:<n>     the same prefix written straight to redis-server (Redis tracking covers it)
  off:<inst>:<n>  write-through, l2 = false, sync = "off": the control phase only; it must show
                  stale reads, proving the checker can see staleness
With --shared-keys every writer writes every key through its own instance instead (writes of a
key come through different instances: the last-writer-wins order of versions is then checked
against real time too).

CLI:  sync_chaos.py --seconds 60 --instances 3 --bound-ms 3750 [--no-faults] [--control-seconds 4]
Prints the report; exits 1 on a stale read. STRATA_BIN as for the integration tests.
The default bound is what the configuration promises: a half-open link is noticed by nats.c's
pings (ping_interval_ms x (max_pings_out + 1)), then L1 is trusted max_staleness_ms more; plus
two heartbeats and 250 ms of slack for scheduling on a loaded 2-core machine."""

import argparse
import bisect
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import global_int, info_policies, policy_block  # noqa: E402
from sync_cluster import (SyncCluster, kHeartbeatMs, kMaxPingsOut, kMaxStalenessMs,  # noqa: E402
                          kPingIntervalMs, sync_counters, sync_int)

kInf = float("inf")
kDefaultBoundMs = (kPingIntervalMs * (kMaxPingsOut + 1) + kMaxStalenessMs + 2 * kHeartbeatMs +
                   250)
kCallTimeoutS = 5.0


# ---------------------------------------------------------------- values and history


def encode_value(writer, counter):
    return f"{writer}#{counter}"


def decode_value(raw):
    """A GET reply's bytes -> (writer, counter), None for nil; ValueError for anything else."""
    if raw == b"$-1\r\n" or raw == b"_\r\n":
        return None
    if not raw.startswith(b"$"):
        raise ValueError(f"not a bulk reply: {raw[:60]!r}")
    body = raw.split(b"\r\n", 2)[1].decode()
    w, c = body.rsplit("#", 1)
    return w, int(c)


class History:
    """Writes and reads, recorded by many threads (each appends to its own list), checked at the
    end. Times are time.monotonic() seconds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writes = []  # lists of (key, writer, counter, start, end) per thread
        self.reads = []   # lists of (key, rs, re, value or None, reader)

    def writer_log(self):
        log = []
        with self.lock:
            self.writes.append(log)
        return log

    def reader_log(self):
        log = []
        with self.lock:
            self.reads.append(log)
        return log

    def check(self, bound_s, keys=None, keep_all=False):
        """Returns a Verdict over every read (of `keys` when given: a tuple of prefixes);
        keep_all: every read's (start, staleness s) in verdict.all."""
        by_key = {}
        index = {}
        n_writes = n_acked = 0
        for log in self.writes:
            for key, w, c, start, end in log:
                n_writes += 1
                index[(key, w, c)] = (start, end)
                if end != kInf:
                    n_acked += 1
                    by_key.setdefault(key, []).append((start, end))
        # Per key: acknowledged writes sorted by start, and the suffix minimum of their acks:
        # the earliest ack among writes that started after a given time.
        table = {}
        for key, ws in by_key.items():
            ws.sort()
            starts = [s for s, _ in ws]
            suffix_min = [kInf] * (len(ws) + 1)
            for i in range(len(ws) - 1, -1, -1):
                suffix_min[i] = min(ws[i][1], suffix_min[i + 1])
            table[key] = (starts, suffix_min)
        v = Verdict(bound_s, n_writes, n_acked)
        v.index = index
        v.by_key = by_key
        for log in self.reads:
            for key, rs, re, value, reader in log:
                if keys is not None and not key.startswith(keys):
                    continue
                v.reads += 1
                if value is None:
                    end_v = -kInf
                else:
                    rec = index.get((key, value[0], value[1]))
                    if rec is None:
                        v.unknown.append((key, value, reader, rs))
                        continue
                    end_v = rec[1]
                    if rec[0] > re:  # a value whose write started after the read ended
                        v.unknown.append((key, value, reader, rs))
                        continue
                starts, suffix_min = table.get(key, ([], [kInf]))
                first_newer_ack = suffix_min[bisect.bisect_right(starts, end_v)]
                staleness = rs - first_newer_ack
                if keep_all:
                    v.all.append((rs, max(staleness, 0.0), value))
                if staleness > 0:
                    v.lagging += 1
                    if staleness > 0.05:
                        v.slow.append((rs, staleness, key, value, reader))
                    v.max_staleness_s = max(v.max_staleness_s, staleness)
                    if staleness > bound_s:
                        v.stale.append((key, value, reader, rs, staleness))
        return v


class Verdict:
    def __init__(self, bound_s, writes, acked):
        self.bound_s = bound_s
        self.writes = writes
        self.acked = acked
        self.reads = 0
        self.lagging = 0      # reads that returned a superseded value (within the bound or not)
        self.max_staleness_s = 0.0
        self.stale = []       # (key, value, reader, read start, staleness s) past the bound
        self.slow = []        # (read start, staleness s, key, value, reader): reads > 50 ms stale
        self.all = []         # (read start, staleness s, value) of every read, with keep_all
        self.unknown = []     # values no write produced (or not yet started): never allowed

    def max_staleness_in(self, t_from, t_to=kInf):
        """Max staleness (s) of the reads that started in [t_from, t_to), and their count."""
        sel = [st for rs, st, _ in self.all if t_from <= rs < t_to]
        return (max(sel) if sel else 0.0), len(sel)

    def ok(self):
        return not self.stale and not self.unknown

    def timeline(self, t0, min_ms=50):
        """[(second of the run, lagging reads, max staleness ms)] for seconds where some read
        was more than min_ms stale."""
        out = {}
        for rs, st, _, _, _ in self.slow:
            if st * 1000 <= min_ms:
                continue
            cur = out.setdefault(int(rs - t0), [0, 0.0])
            cur[0] += 1
            cur[1] = max(cur[1], st)
        return [(b, n, mx * 1000) for b, (n, mx) in sorted(out.items())]

    def explain(self, t0, n=10, window=None):
        """Lines on the n stalest reads (within window=(from s, to s) of the run when given): the
        value read, its write, and the first newer acknowledged write."""
        lines = []
        picked = [r for r in self.slow if window is None or window[0] <= r[0] - t0 < window[1]]
        for rs, st, key, value, reader in sorted(picked, key=lambda r: -r[1])[:n]:
            rec = self.index.get((key, value[0], value[1])) if value else None
            ws = sorted(w for w in self.by_key.get(key, []) if rec is None or w[0] > rec[1])
            newer = min(ws, key=lambda w: w[1]) if ws else None
            lines.append(
                f"{key} read by {reader} at {rs - t0:.3f}s ({st * 1000:.0f} ms stale): got "
                f"{value}" + (f" written {rec[0] - t0:.3f}-{rec[1] - t0:.3f}s" if rec else "") +
                (f"; newer write {newer[0] - t0:.3f}-{newer[1] - t0:.3f}s" if newer else ""))
        return lines

    def stale_times(self, t0):
        """The read start times (s after t0) of the stale reads, grouped into 1 s buckets."""
        out = {}
        for _, _, _, rs, _ in self.stale:
            b = int(rs - t0)
            out[b] = out.get(b, 0) + 1
        return dict(sorted(out.items()))


# ---------------------------------------------------------------- workers


class Worker(threading.Thread):
    """One client connection (reconnected after a failure) running op() until stopped."""

    def __init__(self, port, name, stop):
        super().__init__(daemon=True, name=name)
        self.port = port
        self.stop = stop
        self.client = None
        self.errors = 0

    def call(self, *args):
        try:
            if self.client is None:
                self.client = harness.Client(self.port, timeout=kCallTimeoutS)
            return self.client.call(*args)
        except (OSError, harness.ConnectionClosed, harness.ReplyError):
            self.errors += 1
            if self.client is not None:
                self.client.close()
            self.client = None
            return None

    def run(self):
        while not self.stop.is_set():
            if self.op() is False:
                time.sleep(0.05)  # the instance is away (killed): retry soon
        if self.client is not None:
            self.client.close()


class Writer(Worker):
    def __init__(self, port, wid, keys, log, stop, period_s, port_fn=None):
        super().__init__(port, f"writer-{wid}", stop)
        self.wid = wid
        self.keys = keys
        self.log = log
        self.period_s = period_s
        self.counter = 0
        self.port_fn = port_fn
        self.rng = random.Random(hash(wid) & 0xffff)

    def op(self):
        key = self.rng.choice(self.keys)
        self.counter += 1
        value = encode_value(self.wid, self.counter)
        start = time.monotonic()
        reply = self.call("SET", key, value)
        end = time.monotonic()
        ok = reply == b"+OK\r\n"
        self.log.append((key, self.wid, self.counter, start, end if ok else kInf))
        if self.period_s:
            time.sleep(self.period_s * (0.5 + self.rng.random()))
        return ok or reply is not None


class Reader(Worker):
    def __init__(self, port, rid, keys, log, stop, period_s):
        super().__init__(port, f"reader-{rid}", stop)
        self.rid = rid
        self.keys = keys
        self.log = log
        self.period_s = period_s
        self.rng = random.Random(hash(rid) & 0xffff)
        self.bad = []
        self.errors_replied = []  # (key, reply): strata said no (availability, not staleness)

    def op(self):
        key = self.rng.choice(self.keys)
        rs = time.monotonic()
        reply = self.call("GET", key)
        re = time.monotonic()
        if reply is None:
            return False
        if reply.startswith(b"-"):
            self.errors_replied.append((key, reply[:100]))
            return True
        try:
            value = decode_value(reply)
        except ValueError:
            self.bad.append((key, reply[:80]))
            return True
        self.log.append((key, rs, re, value, self.rid))
        if self.period_s:
            time.sleep(self.period_s)
        return True


# ---------------------------------------------------------------- the run


def policies():
    return [policy_block("wt:", "write-through", l2=False),
            policy_block("up:", "write-through", l2=False, sync="update"),
            policy_block("off:", "write-through", l2=False, sync="off"),
            policy_block("c:", "cache")]


class Chaos:
    def __init__(self, instances=3, keys_per_writer=40, writers_per_instance=2,
                 readers_per_instance=2, write_period_ms=4, read_period_ms=0, shared_keys=False,
                 out=print):
        self.names = [chr(ord("A") + i) for i in range(instances)]
        self.keys_per_writer = keys_per_writer
        self.writers_per_instance = writers_per_instance
        self.readers_per_instance = readers_per_instance
        self.write_period_s = write_period_ms / 1000.0
        self.read_period_s = read_period_ms / 1000.0
        self.shared_keys = shared_keys
        self.out = out
        self.cluster = None
        self.events = []          # (t since start, what)
        self.counters_lost = {}   # counters of instances before they were killed, summed in

    def log(self, what):
        t = time.monotonic() - self.t0
        self.events.append((t, what))
        self.out(f"  [{t:6.2f}s] {what}", flush=True)

    def start(self):
        self.cluster = SyncCluster(self.names, policies(), tag="chaos").start()
        if not self.cluster.wait_connected(timeout=20):
            raise RuntimeError("instances did not connect to NATS")
        return self

    # ---- faults

    def fault_plan(self, seconds):
        """(at s, name, fn) spread over the run: each fault's effects end before the next."""
        c = self.cluster
        victim = self.names[1 % len(self.names)]

        def nats_kill():
            self.log("fault: nats-server killed (SIGKILL)")
            c.nats.kill()

        def nats_restart():
            c.restart_nats()
            self.log("fault: nats-server restarted")

        def nats_stop():
            self.log("fault: nats-server SIGSTOP (half-open for every instance)")
            os.kill(c.nats.pid, signal.SIGSTOP)

        def nats_cont():
            os.kill(c.nats.pid, signal.SIGCONT)
            self.log("fault: nats-server SIGCONT")

        def strata_kill():
            self.counters_lost[victim] = _add(self.counters_lost.get(victim, {}),
                                              sync_counters(c.conn(victim)))
            self.log(f"fault: strata {victim} kill -9")
            c.srv[victim].srv.kill()

        def strata_restart():
            harness.restart_now(c.srv[victim].srv)
            c.conns[victim].close()
            self.log(f"fault: strata {victim} restarted")

        # The NATS outage is kept short (2 s, still well past max_staleness_ms): in update mode
        # the instances' reconnect buffers replay the outage's changes and peers install those
        # old values (test_sync_faults.py's (g)), a staleness as long as the outage.
        f = seconds / 60.0  # the plan is laid out for 60 s and scaled
        return [(8 * f, nats_kill), (8 * f + 2, nats_restart),
                (21 * f, nats_stop), (21 * f + 5, nats_cont),
                (36 * f + 2, strata_kill), (36 * f + 2.5, strata_restart)]

    # ---- phases

    def workload(self, seconds, prefixes, faults, history):
        c = self.cluster
        stop = threading.Event()
        threads = []
        all_keys = []
        for name in self.names:
            port = c.srv[name].port
            for w in range(self.writers_per_instance):
                wid = f"{name}{w}"
                for prefix in prefixes:
                    if self.shared_keys:
                        keys = [f"{prefix}all:{n}" for n in range(self.keys_per_writer)]
                    else:
                        keys = [f"{prefix}{wid}:{n}" for n in range(self.keys_per_writer)]
                    all_keys += keys
                    threads.append(Writer(port, f"{wid}{prefix}", keys, history.writer_log(),
                                          stop, self.write_period_s))
        if "c:" in prefixes and c.redis is not None:
            keys = [f"c:redis:{n}" for n in range(self.keys_per_writer)]
            all_keys += keys
            threads.append(Writer(c.redis.port, "redis", keys, history.writer_log(), stop,
                                  self.write_period_s))
        all_keys = sorted(set(all_keys))
        readers = []
        for name in self.names:
            for r in range(self.readers_per_instance):
                readers.append(Reader(c.srv[name].port, f"{name}r{r}", all_keys,
                                      history.reader_log(), stop, self.read_period_s))
        threads += readers
        for t in threads:
            t.start()
        start = time.monotonic()
        for at, fn in sorted(faults, key=lambda x: x[0]):
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            fn()
        rest = start + seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        stop.set()
        for t in threads:
            t.join(kCallTimeoutS + 5)
        bad = [b for r in readers for b in r.bad]
        self.error_replies = [e for r in readers for e in r.errors_replied]
        return sum(t.errors for t in threads), bad

    def totals(self):
        total = dict(self.counters_lost and _sum(self.counters_lost.values()) or {})
        per = {}
        for name in self.names:
            cur = sync_counters(self.cluster.conn(name))
            per[name] = _add(cur, self.counters_lost.get(name, {}))
            total = _add(total, cur)
        return total, per

    def l1_hits(self, prefix):
        """L1 hits of a PostgreSQL-backed prefix (INFO # Policies), summed over the instances;
        for "c:" (plain cache, counted globally) every L1 hit of the instances."""
        n = 0
        for name in self.names:
            conn = self.cluster.conn(name)
            if prefix == "c:":
                n += global_int(conn, "l1_hits") or 0
                continue
            pol = info_policies(conn).get(prefix, {})
            try:
                n += int(pol.get("l1_hits", "0"))
            except ValueError:
                pass
        return n

    def run(self, seconds, bound_ms, faults=True, control_seconds=4.0):
        self.t0 = time.monotonic()
        self.log(f"{len(self.names)} instances {', '.join(self.names)}; "
                 f"{seconds:.0f} s of traffic; bound {bound_ms} ms")
        history = self.history = History()
        hits0 = {p: self.l1_hits(p) for p in ("wt:", "up:", "c:")}
        plan = self.fault_plan(seconds) if faults else []
        main_t0 = time.monotonic()
        errors, bad = self.workload(seconds, ["wt:", "up:", "c:"], plan, history)
        error_replies = self.error_replies
        self.log("traffic stopped; checking")
        self.cluster.wait_connected(timeout=15)
        total, per = self.totals()
        hits = {p: self.l1_hits(p) - hits0[p] for p in hits0}
        verdict = history.check(bound_ms / 1000.0)
        per_prefix = {p: history.check(bound_ms / 1000.0, keys=(p,))
                      for p in ("wt:", "up:", "c:")}
        control = None
        if control_seconds > 0:
            # Longer than the bound: a stale value must be able to outlive it.
            control_seconds = max(control_seconds, bound_ms / 1000.0 + 2)
            self.log(f"control: {control_seconds:.0f} s on off: (sync off), no faults")
            ch = History()
            self.workload(control_seconds, ["off:"], [], ch)
            control = ch.check(bound_ms / 1000.0)
        report = Report(self, verdict, per_prefix, control, total, per, hits, errors, bad,
                        main_t0)
        report.error_replies = error_replies
        return report


def _add(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _sum(dicts):
    out = {}
    for d in dicts:
        out = _add(out, d)
    return out


class Report:
    def __init__(self, chaos, verdict, per_prefix, control, total, per, hits, errors, bad, t0):
        self.chaos = chaos
        self.verdict = verdict
        self.per_prefix = per_prefix
        self.control = control
        self.total = total
        self.per = per
        self.hits = hits
        self.errors = errors
        self.bad = bad
        self.t0 = t0
        self.explain = 0

    def ok(self):
        return self.verdict.ok() and not self.bad

    def throughput_holes(self):
        """Seconds of the run where the reads finished fell under 20% of the median (clients
        waiting on strata), and the slowest GET (s, at s of the run)."""
        per = {}
        slowest = (0.0, 0.0)
        for log in self.chaos.history.reads:
            for _, rs, re, _, _ in log:
                b = int(re - self.t0)
                per[b] = per.get(b, 0) + 1
                if re - rs > slowest[0]:
                    slowest = (re - rs, rs - self.t0)
        if not per:
            return [], slowest
        counts = sorted(per.values())
        median = counts[len(counts) // 2]
        last = max(per)
        return [b for b in range(last) if per.get(b, 0) < 0.2 * median], slowest

    def print(self, out=print):
        v = self.verdict
        out("")
        out(f"sync chaos: {len(self.chaos.names)} instances, bound {v.bound_s * 1000:.0f} ms")
        out(f"  writes            {v.writes} ({v.acked} acknowledged, "
            f"{v.writes - v.acked} outcome unknown)")
        out(f"  reads checked     {v.reads}")
        out(f"  lagging reads     {v.lagging} (a superseded value, within the bound or not); "
            f"max staleness {v.max_staleness_s * 1000:.0f} ms")
        out(f"  STALE READS       {len(v.stale)} (past the bound)")
        out(f"  unknown values    {len(v.unknown)}; malformed replies {len(self.bad)}; "
            f"client errors (reconnected) {self.errors}; error replies to GET "
            f"{len(self.error_replies)}")
        kinds = {}
        for _, reply in self.error_replies:
            kinds[reply] = kinds.get(reply, 0) + 1
        for reply, n in sorted(kinds.items(), key=lambda x: -x[1])[:3]:
            out(f"    {n} x {reply!r}")
        out("  per prefix:       " + "; ".join(
            f"{p} reads {x.reads} lagging {x.lagging} stale {len(x.stale)} "
            f"max {x.max_staleness_s * 1000:.0f} ms l1_hits {self.hits.get(p, 0)}"
            f"{' (all prefixes)' if p == 'c:' else ''}"
            for p, x in self.per_prefix.items()))
        t = self.total
        out(f"  gaps detected     {t.get('sync_gaps', 0)}; partitions dropped "
            f"{t.get('sync_partition_drops', 0)}; keys dropped {t.get('sync_keys_dropped', 0)}")
        out(f"  silences {t.get('sync_silences', 0)}, new epochs {t.get('sync_new_epochs', 0)}, "
            f"reconnects {t.get('sync_reconnects', 0)}, degraded episodes "
            f"{t.get('sync_degraded_episodes', 0)}, publish failures "
            f"{t.get('sync_publish_failures', 0)}, nats drops {t.get('sync_nats_dropped', 0)}, "
            f"applied events {t.get('sync_applied_events', 0)}")
        for name, c in self.per.items():
            out(f"    {name}: gaps {c.get('sync_gaps', 0)} partition_drops "
                f"{c.get('sync_partition_drops', 0)} silences {c.get('sync_silences', 0)} "
                f"new_epochs {c.get('sync_new_epochs', 0)} reconnects "
                f"{c.get('sync_reconnects', 0)} degraded {c.get('sync_degraded_episodes', 0)}")
        if v.stale:
            out(f"  stale reads by second of the run: {v.stale_times(self.t0)}")
            for key, value, reader, rs, st in sorted(v.stale, key=lambda s: -s[4])[:8]:
                out(f"    {key} read by {reader} at {rs - self.t0:.2f}s returned {value}: "
                    f"{st * 1000:.0f} ms stale")
        holes, slowest = self.throughput_holes()
        out(f"  slowest GET {slowest[0] * 1000:.0f} ms (at {slowest[1]:.1f}s); seconds with "
            f"under 20% of the median reads: {holes or 'none'}")
        tl = v.timeline(self.t0)
        if tl:
            out("  seconds of the run with reads > 50 ms stale (second: such reads, max staleness):")
            out("    " + "; ".join(f"{b}s: {n}, {mx:.0f} ms" for b, n, mx in tl))
        for b, _, _ in (tl if self.explain else []):
            for line in v.explain(self.t0, n=self.explain, window=(b, b + 1)):
                out(f"    [{b}s] " + line)
        for u in v.unknown[:5]:
            out(f"    unknown value {u}")
        for key, reply in self.bad[:5]:
            out(f"    malformed reply to GET {key}: {reply!r}")
        if self.control is not None:
            cv = self.control
            out(f"  control (sync off): reads {cv.reads}, writes {cv.acked}, stale reads "
                f"{len(cv.stale)}, max staleness {cv.max_staleness_s * 1000:.0f} ms "
                f"(must be > 0: the checker sees staleness)")
        out(f"  verdict: {'PASS' if self.ok() else 'FAIL'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--bound-ms", type=int, default=kDefaultBoundMs)
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--shared-keys", action="store_true",
                    help="every writer writes every key (through its own instance)")
    ap.add_argument("--control-seconds", type=float, default=4.0)
    ap.add_argument("--keys-per-writer", type=int, default=40)
    ap.add_argument("--write-period-ms", type=float, default=4)
    ap.add_argument("--explain", type=int, default=0,
                    help="print the N stalest reads with their writes")
    a = ap.parse_args(argv)
    chaos = Chaos(instances=a.instances, keys_per_writer=a.keys_per_writer,
                  shared_keys=a.shared_keys, write_period_ms=a.write_period_ms).start()
    report = chaos.run(a.seconds, a.bound_ms, faults=not a.no_faults,
                       control_seconds=a.control_seconds)
    report.explain = a.explain
    report.print()
    failed = not report.ok() or (report.control is not None and not report.control.stale)
    code = harness.finish(failed)
    return code


if __name__ == "__main__":
    sys.exit(main())
