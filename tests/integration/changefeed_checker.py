#!/usr/bin/env python3
"""Stale-read checker for PostgreSQL's change feed: writers change strata_kv directly in SQL (as
an admin tool or another service would), readers GET the same keys through two strata instances
A and B (one of them reads the feed and tells the other over NATS), and every read is checked
against the history of acknowledged commits.

Keys. Three prefixes, one per tier set: "cf:" L1 + L2 with sync = "invalidate" (the default with
[nats]), "cu:" L1 + L2 with sync = "update", "cn:" L1 only (l2 = false). Each has keys_per_prefix
keys in strata_kv, created by SQL before the readers start. Each key belongs to exactly one
writer, so its changes commit in a known order: its states are numbered 0, 1, 2, ... and state
n's value is "<key>#n" (or no row: a DELETE); the key in the value catches a reply meant for
another key. At the end every key's row in PostgreSQL must be its last state (the checker's
own model checked).

Writers (one psql session each, fed through stdin; an operation's acknowledgement is the moment
psql reports it executed): UPDATE of one key, the version column left as it was or bumped;
sometimes a transaction of several keys; a DELETE, later an INSERT of the key again (version
NULL, i.e. the column's default, or a small number); a rolled-back UPDATE (its value must never
be read); and, a few percent of the time (strata_writes), a SET or DEL through strata itself (A or
B), so strata's own writes and the feed's recognition of them are mixed in. An operation whose
outcome is unknown (no acknowledgement) retires its key from writing. Half of the SQL changes
are read back at once through a random instance (a read-through while the feed may not have
applied the change yet: it must not leave the old value cached anywhere).

Readers (several per instance, each with its own connection): GET of a random key; the time
just before the GET is sent is the read's time.

The rule. A read that returned state n of a key at time rs is STALE when state n + 1 of that key
was acknowledged more than bound before rs (acknowledgements of a key are in state order, so
n + 1's is the earliest of the newer ones); its staleness is rs minus that acknowledgement. A nil
read is taken as the newest DELETE state sent before the read ended. A value no commit produced
(a rolled-back one, a state not yet sent, a nil where no DELETE was sent) is UNKNOWN: never
allowed. A change is CHECKED when some read was sent more than bound after its acknowledgement
and before the next state's acknowledgement + bound (the read had to return it or newer).
Timing errs towards passing: a read's time is taken before it is sent, a commit's after psql
answered, so scheduling delays of the checker itself never make a read look staler than it was.

CLI:  changefeed_checker.py [--seconds 60] [--bound-ms B] [--no-changefeed] [--explain N]
      [--trace] (keeps every read: each stale key's reads per instance over time)
Prints the report; exits 1 on a stale or unknown read, on too little traffic (it cannot pass
vacuously), or on an instance gone. --no-changefeed is the negative control: both instances run
with changefeed = false, so changes made in SQL reach no cache and the checker must report stale
reads (it then exits 1 too). STRATA_BIN as for the integration tests.

The default bound, kDefaultBoundMs, is ~1000x the feed's lag on an idle machine (p50 ~0.4 ms,
p99 ~1.3 ms from commit to applied): room for a 2-core machine shared with PostgreSQL, redis-server,
nats-server, two strata and this checker. Sanitizer builds (detected from the binary, or the
sanitizer's options in the environment) get kSanitizerBoundMs and lower traffic minimums."""

import argparse
import bisect
import collections
import mmap
import os
import random
import sys
import threading
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, info_policies, policy_block, q  # noqa: E402

kDefaultBoundMs = 1000
kSanitizerBoundMs = 4000
kSlot = "strata_cf_check"
kInf = float("inf")
kCallTimeoutS = 10.0
kCheckDelayS = 2.0  # a read is checked this long after it ended: every commit before it recorded
kFollowReads = 0.5  # of the writers' SQL changes, read back at once through a random instance

# (prefix, what it is): the tiers under test.
kPrefixes = (("cf:", "L1+L2 invalidate"), ("cu:", "L1+L2 update"), ("cn:", "L1 only"))

# How each state of a key was made (KeyHistory.how), for the report.
kHow = {"0": "created", "u": "UPDATE, version untouched", "v": "UPDATE, version + 1",
        "t": "UPDATE in a transaction, version untouched",
        "T": "UPDATE in a transaction, version + 1", "d": "DELETE",
        "i": "INSERT, version NULL", "j": "INSERT, version 1", "k": "INSERT, version n",
        "S": "SET through strata", "D": "DEL through strata"}

# Traffic minimums per second of the run (release build; sanitizer builds divide them by
# kSanitizerSlowdown): below them the run proves too little and fails.
kMinChangesPerS = 40
kMinReadsPerS = 150
kMinCheckedShare = 0.25   # of the changes, checked by a read
kMinL1Share = 0.1         # of each prefix's reads, served from L1
kSanitizerSlowdown = 5


# ---------------------------------------------------------------- setup


def sanitizer_build(binary=None):
    """True for a strata built with ASan/UBSan or TSan: its binary carries the runtime's entry
    points (or the sanitizer's options are in the environment, as the sanitizer passes set)."""
    if os.environ.get("ASAN_OPTIONS") or os.environ.get("TSAN_OPTIONS"):
        return True
    binary = binary or harness.strata_bin()
    try:
        with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return any(m.find(mark) >= 0 for mark in (b"__asan_init", b"__tsan_init",
                                                       b"__ubsan_handle"))
    except (OSError, ValueError):
        return False


def default_bound_ms():
    return kSanitizerBoundMs if sanitizer_build() else kDefaultBoundMs


def policies():
    return [policy_block("cf:", "write-through"),
            policy_block("cn:", "write-through", l2=False),
            policy_block("cu:", "write-through", sync="update")]


def config(pg, nats, instance, changefeed=True, slot=kSlot, extra_policies=()):
    """A and B's policy file: [nats] (50 ms heartbeats), [postgres] with the change feed on slot
    `slot` (or off), the three prefixes and `extra_policies`."""
    nats_table = (f'[nats]\nurl = "{harness_nats.url(nats)}"\ninstance = "{instance}"\n'
                  "heartbeat_ms = 50\nmax_staleness_ms = 400\nreconnect_wait_ms = 100\n\n")
    pg_extra = (f"changefeed = {'true' if changefeed else 'false'}\n"
                f'changefeed_slot = "{slot}"\nchangefeed_publication = "{slot}"\n'
                "changefeed_status_interval_ms = 200\nchangefeed_takeover_ms = 200\n")
    return nats_table + base_config(pg, policies() + list(extra_policies),
                                    journal_dir=f"journal-{instance}", postgres_extra=pg_extra)


kSchema = """
CREATE TABLE IF NOT EXISTS strata_kv(key text PRIMARY KEY, value bytea, version bigint,
                                     updated_at timestamptz);
"""


def start_cluster(changefeed=True):
    """PostgreSQL (synchronous_commit = on: the feed hears of a commit when it is acknowledged),
    nats-server, redis-server, strata A and B: (pg, [servers], {"A": port, "B": port})."""
    pg = harness_pg.start_postgres("pg-cfck", settings=("synchronous_commit=on",))
    pg.sql(kSchema)
    nats = harness_nats.start_nats("nats-cfck")
    redis = harness.start_redis("redis-cfck")
    sa, sb, a, b = harness_nats.start_pair(
        lambda p, n, i: config(p, n, i, changefeed=changefeed), pg, nats, redis)
    a.close()
    b.close()
    return pg, [pg, nats, redis, sa, sb], {"A": sa.port, "B": sb.port}


def info_changefeed(conn):
    """INFO changefeed as {name: text}; {} when the instance does not answer."""
    v = conn.value("INFO", "changefeed")
    if not isinstance(v, bytes):
        return {}
    out = {}
    for line in v.decode("utf-8", "replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, val = line.split(":", 1)
            out[k] = val.strip()
    return out


def wait_reader(conns, timeout=20):
    """The name of the instance reading the feed, once one does; None after timeout."""
    found = []

    def one():
        found[:] = [n for n, c in conns.items()
                    if info_changefeed(c).get("changefeed_state") == "reading"]
        return len(found) == 1
    harness.wait_for(one, timeout=timeout)
    return found[0] if len(found) == 1 else None


# ---------------------------------------------------------------- history


class KeyHistory:
    """One key's states, appended by its writer only: when each was sent and acknowledged
    (inf until then, or forever when the outcome is unknown), and which are DELETEs."""

    __slots__ = ("starts", "acks", "deletes", "how", "via", "present", "retired")

    def __init__(self, t):
        self.starts = array("d", [t])
        self.acks = array("d", [t])
        self.deletes = []
        self.how = bytearray(b"0")  # per state, how it was made: kHow's letters
        self.via = {}               # state -> the instance a strata write went through
        self.present = True
        self.retired = False

    def begin(self, t, how):
        """A new state made by `how` (a kHow letter), sent at t; its number."""
        n = len(self.starts)
        delete = how in b"dD"
        if delete:
            self.deletes.append(n)
        self.starts.append(t)
        self.acks.append(kInf)
        self.how.append(how)
        self.present = not delete
        return n


class Stats:
    """Counts for one slice of the reads (a prefix, or everything)."""

    def __init__(self):
        self.reads = 0
        self.lagging = 0         # an older value, within the bound
        self.stale = 0           # past the bound
        self.max_staleness = 0.0
        self.nil = 0

    def add(self, staleness, bound_s, nil):
        self.reads += 1
        self.nil += nil
        if staleness > 0:
            self.max_staleness = max(self.max_staleness, staleness)
            if staleness > bound_s:
                self.stale += 1
            else:
                self.lagging += 1


class Checker:
    """Checks reads against the histories, a batch at a time (reads older than kCheckDelayS, so
    every commit acknowledged before them is recorded)."""

    def __init__(self, histories, bound_s, trace=False):
        self.h = histories
        self.bound_s = bound_s
        self.trace = {} if trace else None  # key -> [(rs, reader, got)] with --trace
        self.total = Stats()
        self.per_prefix = {p: Stats() for p, _ in kPrefixes}
        self.per_instance = {}
        self.checked = set()     # (key, state) a read had to return (or newer)
        self.stale = []          # (staleness, key, reader, rs, got state, next state)
        self.unknown = []        # (key, reader, reply, rs)
        self.errors = []         # (key, reader, reply): error replies (availability, not age)

    def check(self, key, rs, re, got, reader):
        """got: the state number of a value, -1 for nil, bytes for anything else."""
        h = self.h[key]
        if self.trace is not None:
            self.trace.setdefault(key, []).append((rs, reader, got))
        if isinstance(got, bytes):
            if got.startswith(b"-") or got.startswith(b"<"):
                self.errors.append((key, reader, got[:120]))
            else:
                self.unknown.append((key, reader, got[:120], rs))
            return
        if got < 0:
            n = next((d for d in reversed(h.deletes) if h.starts[d] <= re), None)
        else:
            n = got if got < len(h.starts) and got not in h.deletes and h.starts[got] <= re \
                else None
        if n is None:
            self.unknown.append((key, reader, b"nil" if got < 0 else str(got).encode(), rs))
            return
        # The newest state acknowledged more than bound before the read: it had to be returned.
        must = bisect.bisect_left(h.acks, rs - self.bound_s) - 1
        if must >= 1:
            self.checked.add((key, must))
        staleness = 0.0
        if n + 1 < len(h.acks) and h.acks[n + 1] < rs:
            staleness = rs - h.acks[n + 1]
        for s in (self.total, self.per_prefix[key[:3]],
                  self.per_instance.setdefault(reader[0], Stats())):
            s.add(staleness, self.bound_s, got < 0)
        if staleness > self.bound_s:
            self.stale.append((staleness, key, reader, rs, n, n + 1))

    def drain(self, logs, upto):
        for log in logs:
            while log and log[0][2] < upto:
                self.check(*log.popleft())


# ---------------------------------------------------------------- workers


class Worker(threading.Thread):
    """A thread over `keys` until `stop`, pausing period_s between operations, logging its reads
    into `log` (a deque the checker drains)."""

    def __init__(self, name, keys, log, stop, period_s, seed):
        super().__init__(daemon=True, name=name)
        self.keys = keys
        self.log = log
        self.stop = stop
        self.period_s = period_s
        self.rng = random.Random(seed)


class Writer(Worker):
    """One psql session changing its own keys; a few strata writes among them."""

    def __init__(self, pg, wid, keys, hist, ports, stop, period_s, strata_writes, seed, log):
        super().__init__(f"writer-{wid}", keys, log, stop, period_s, seed)
        self.wid = wid
        self.pg = pg
        self.h = hist
        self.ports = ports
        self.strata_writes = strata_writes
        self.ops = collections.Counter()
        self.failures = []
        self.conns = {}

    def run(self):
        sess = self.pg.session()
        try:
            while not self.stop.is_set():
                self.op(sess)
                if self.period_s:
                    time.sleep(self.period_s * (0.5 + self.rng.random()))
        except harness_pg.SqlError as e:  # the session is gone: its keys stop changing
            self.failures.append(str(e)[:300])
        finally:
            sess.close()
            for c in self.conns.values():
                c.close()

    def live_keys(self):
        return [k for k in self.keys if not self.h[k].retired]

    def sql(self, sess, kind, changes, statements):
        """Runs statements making `changes` [(key, kHow letter)] in one acknowledged step."""
        t0 = time.monotonic()
        ns = [(k, self.h[k].begin(t0, how)) for k, how in changes]
        sess.run(statements)
        t1 = time.monotonic()
        for k, n in ns:
            self.h[k].acks[n] = t1
        self.ops[kind] += 1
        if self.rng.random() < kFollowReads:
            self.follow(self.rng.choice(ns)[0])

    def follow(self, key):
        """A GET of a key just changed, through a random instance (checked like any read): a
        read-through while the feed has not yet applied the change."""
        name = self.rng.choice(sorted(self.ports))
        c = self.conn(name)
        rs = time.monotonic()
        reply = c.call("GET", key)
        self.log.append((key, rs, time.monotonic(), decode(key, reply), f"{name}~w{self.wid}"))

    def conn(self, name):
        return self.conns.setdefault(name, harness.Conn(self.ports[name], timeout=kCallTimeoutS))

    def op(self, sess):
        live = self.live_keys()
        if not live:
            self.stop.wait(0.1)
            return
        r = self.rng.random()
        key = self.rng.choice(live)
        h = self.h[key]
        n = len(h.starts)
        if r < self.strata_writes:
            return self.strata_op(key)
        if not h.present:
            how, version = self.rng.choice(((ord("i"), "NULL"), (ord("j"), "1"),
                                            (ord("k"), str(n))))
            return self.sql(sess, "insert", [(key, how)],
                            f"INSERT INTO strata_kv(key, value, version, updated_at) VALUES "
                            f"({q(key)}, {q(value_of(key, n))}, {version}, now()) ON CONFLICT "
                            f"(key) DO UPDATE "
                            f"SET value = EXCLUDED.value, version = EXCLUDED.version;")
        r = self.rng.random()
        if r < 0.03:
            return self.sql(sess, "delete", [(key, ord("d"))],
                            f"DELETE FROM strata_kv WHERE key = {q(key)};")
        if r < 0.05:
            # Rolled back: its value must never be read.
            self.ops["rollback"] += 1
            return sess.run(f"BEGIN; UPDATE strata_kv SET value = 'rb{n}' WHERE key = {q(key)}; "
                            "ROLLBACK;")
        present = [k for k in live if self.h[k].present]
        if r < 0.13 and len(present) >= 2:
            # One transaction over several keys of this writer (any prefixes).
            keys = self.rng.sample(present, min(len(present), self.rng.randint(2, 4)))
            bumps = [self.rng.random() < 0.5 for _ in keys]
            stmts = "".join(f"UPDATE strata_kv SET value = {q(value_of(k, len(self.h[k].starts)))}"
                            f"{', version = version + 1' if b else ''} WHERE key = {q(k)}; "
                            for k, b in zip(keys, bumps))
            return self.sql(sess, "txn", [(k, ord("T" if b else "t")) for k, b in zip(keys, bumps)],
                            f"BEGIN; {stmts}COMMIT;")
        # The version left as it was half of the time (an admin tool that knows nothing of
        # versions), else bumped.
        bump = self.rng.random() < 0.5
        self.sql(sess, "update", [(key, ord("v" if bump else "u"))],
                 f"UPDATE strata_kv SET value = {q(value_of(key, n))}"
                 f"{', version = version + 1' if bump else ''}"
                 f"{', updated_at = now()' if self.rng.random() < 0.3 else ''} "
                 f"WHERE key = {q(key)};")

    def strata_op(self, key):
        """A SET (or DEL) through A or B: strata's own write, which the feed must recognize."""
        name = self.rng.choice(sorted(self.ports))
        c = self.conn(name)
        h = self.h[key]
        delete = h.present and self.rng.random() < 0.15
        t0 = time.monotonic()
        n = h.begin(t0, ord("D" if delete else "S"))
        h.via[n] = name
        reply = c.call("DEL", key) if delete else c.call("SET", key, value_of(key, n))
        t1 = time.monotonic()
        if reply in (b"+OK\r\n", b":1\r\n"):
            h.acks[n] = t1
            self.ops[f"strata {'del' if delete else 'set'} via {name}"] += 1
        else:
            # Committed or not, maybe later: this key's order is no longer known.
            h.retired = True
            self.failures.append(f"{'DEL' if delete else 'SET'} {key} via {name}: {reply[:100]!r}")


class Reader(Worker):
    def __init__(self, name, port, keys, log, stop, period_s, seed):
        super().__init__(f"reader-{name}", keys, log, stop, period_s, seed)
        self.rid = name
        self.port = port
        self.slowest = 0.0

    def run(self):
        conn = harness.Conn(self.port, timeout=kCallTimeoutS)
        while not self.stop.is_set():
            key = self.rng.choice(self.keys)
            rs = time.monotonic()
            reply = conn.call("GET", key)
            re = time.monotonic()
            self.slowest = max(self.slowest, re - rs)
            self.log.append((key, rs, re, decode(key, reply), self.rid))
            if self.period_s:
                time.sleep(self.period_s)
        conn.close()


def value_of(key, n):
    """State n's value of `key`: the key is in it, so a reply meant for another key is caught."""
    return f"{key}#{n}"


def decode(key, reply):
    """A GET reply of `key` -> its state number, -1 for nil, the reply's bytes for anything
    else (an error, another key's value, a rolled-back value)."""
    if reply in (b"$-1\r\n", b"_\r\n"):
        return -1
    if reply.startswith(b"$"):
        k, _, n = reply.split(b"\r\n", 2)[1].rpartition(b"#")
        if k == key.encode() and n.isdigit():
            return int(n)
    return reply


# ---------------------------------------------------------------- the run


def l1_hits(conns):
    """{prefix: L1 hits summed over the instances} from INFO # Policies."""
    out = {}
    for c in conns.values():
        pol = info_policies(c)
        for p, _ in kPrefixes:
            try:
                out[p] = out.get(p, 0) + int(pol.get(p, {}).get("l1_hits", "0"))
            except ValueError:
                pass
    return out


def feed_counters(conns):
    names = ("changefeed_transactions", "changefeed_changes", "changefeed_keys_invalidated",
             "changefeed_keys_updated", "changefeed_own_writes_skipped",
             "changefeed_apply_retries", "changefeed_stream_errors", "changefeed_decode_errors",
             "changefeed_visibility_waits")
    out = {}
    for n, c in conns.items():
        f = info_changefeed(c)
        out[n] = {k: int(f.get(k, "0") or 0) for k in names}
        out[n]["lag_p50_ms"] = f.get("changefeed_lag_p50_ms", "-")
        out[n]["lag_p99_ms"] = f.get("changefeed_lag_p99_ms", "-")
        out[n]["lag_max_ms"] = f.get("changefeed_lag_max_ms", "-")
        out[n]["state"] = f.get("changefeed_state", "-")
    return out


def create_keys(pg, keys):
    """Every key at state 0 ("0", version 1), in one statement; the time it was acknowledged."""
    values = ", ".join(f"({q(k)}, {q(value_of(k, 0))}, 1, now())" for k in keys)
    pg.sql(f"DELETE FROM strata_kv WHERE key IN ({', '.join(q(k) for k in keys)}); "
           f"INSERT INTO strata_kv(key, value, version, updated_at) VALUES {values};")
    return time.monotonic()


def run(seconds=60, bound_ms=None, pg=None, ports=None, changefeed=True, writers=3,
        readers_per_instance=3, keys_per_prefix=150, write_period_ms=6, read_period_ms=1,
        strata_writes=0.05, seed=None, trace=False, out=print):
    """Runs the workload for `seconds` against strata instances {name: port} in front of `pg`
    (started here when not given: see start_cluster). Returns the result dict (see report())."""
    bound_ms = bound_ms or default_bound_ms()
    bound_s = bound_ms / 1000.0
    started = []
    if pg is None:
        pg, started, ports = start_cluster(changefeed)
    seed = seed if seed is not None else random.randrange(1 << 30)
    conns = {n: harness.Conn(p, timeout=kCallTimeoutS) for n, p in sorted(ports.items())}
    out(f"change feed checker: {seconds:.0f} s, bound {bound_ms} ms, instances "
        f"{', '.join(conns)}, change feed {'on' if changefeed else 'OFF (negative control)'}, "
        f"seed {seed}", flush=True)
    reader_name = wait_reader(conns) if changefeed else None
    if changefeed and reader_name is None:
        out("  no instance reads the feed: " + str({n: info_changefeed(c) for n, c in
                                                     conns.items()}))
    tag = f"{seed % 100000:05d}"
    owned = {w: [f"{p}k{tag}.{w}.{i}" for p, _ in kPrefixes
                 for i in range(w, keys_per_prefix, writers)] for w in range(writers)}
    keys = sorted(k for ks in owned.values() for k in ks)
    t_created = create_keys(pg, keys)
    hist = {k: KeyHistory(t_created) for k in keys}
    # Every key cached everywhere it can be before the first change.
    for c in conns.values():
        for k in keys:
            c.call("GET", k)
    hits0 = l1_hits(conns)
    feed0 = feed_counters(conns)
    stop = threading.Event()
    rng = random.Random(seed)
    logs = [collections.deque() for _ in range(writers)]
    ws = [Writer(pg, w, owned[w], hist, ports, stop, write_period_ms / 1000.0, strata_writes,
                 rng.randrange(1 << 30), logs[w]) for w in range(writers)]
    rs_ = []
    for name, port in sorted(ports.items()):
        for r in range(readers_per_instance):
            log = collections.deque()
            logs.append(log)
            rs_.append(Reader(f"{name}{r}", port, keys, log, stop, read_period_ms / 1000.0,
                              rng.randrange(1 << 30)))
    checker = Checker(hist, bound_s, trace)
    t0 = time.monotonic()
    for t in ws + rs_:
        t.start()
    while time.monotonic() < t0 + seconds:
        time.sleep(0.5)
        checker.drain(logs, time.monotonic() - kCheckDelayS)
    stop.set()
    for t in ws + rs_:
        t.join(kCallTimeoutS + 30)
    elapsed = time.monotonic() - t0
    checker.drain(logs, kInf)
    hits = {p: n - hits0.get(p, 0) for p, n in l1_hits(conns).items()}
    feed1 = feed_counters(conns)
    changes = sum(len(h.starts) - 1 for h in hist.values())
    acked = sum(1 for h in hist.values() for a in h.acks[1:] if a != kInf)
    ops = collections.Counter()
    for w in ws:
        ops.update(w.ops)
    res = {
        "seconds": elapsed, "bound_ms": bound_ms, "changefeed": changefeed, "seed": seed,
        "reader": reader_name, "keys": len(keys), "changes": changes, "acked": acked,
        "checked": len(checker.checked), "ops": dict(ops),
        "reads": checker.total.reads, "nil_reads": checker.total.nil,
        "lagging": checker.total.lagging, "stale": checker.total.stale,
        "max_staleness_ms": checker.total.max_staleness * 1000,
        "unknown": len(checker.unknown), "errors": len(checker.errors),
        "per_prefix": {p: vars(s) for p, s in checker.per_prefix.items()},
        "per_instance": {n: vars(s) for n, s in sorted(checker.per_instance.items())},
        "l1_hits": hits,
        "feed": {n: {k: (v - feed0[n].get(k, 0) if isinstance(v, int) else v)
                     for k, v in c.items()} for n, c in feed1.items()},
        "slowest_get_ms": max((r.slowest for r in rs_), default=0) * 1000,
        "writer_failures": [f for w in ws for f in w.failures],
        "stale_samples": sorted(checker.stale, reverse=True)[:2000],
        "stale_all": checker.stale,
        "unknown_samples": checker.unknown[:10], "error_samples": checker.errors[:5],
        "alive": all(not hasattr(s, "alive") or s.alive() for s in started),
    }
    res["model_mismatches"] = model_mismatches(pg, hist)
    res["problems"] = problems(res)
    res["ok"] = not res["problems"]
    res["t0"] = t0
    res["history"] = hist
    res["trace"] = checker.trace
    for c in conns.values():
        c.close()
    return res


def model_mismatches(pg, hist):
    """Keys whose row in PostgreSQL is not their last state: the checker's own model is wrong
    there (a statement that did not do what the writer recorded). [(key, want, row)]"""
    rows = dict(tuple(r) for r in pg.rows(
        "SELECT key, convert_from(value, 'UTF8') FROM strata_kv WHERE key IN (" +
        ", ".join(q(k) for k, h in hist.items() if not h.retired) + ")"))
    out = []
    for k, h in hist.items():
        if h.retired:
            continue
        n = len(h.starts) - 1
        want = None if n in h.deletes else value_of(k, n)
        if rows.get(k) != want:
            out.append((k, want, rows.get(k)))
    return out


def problems(res):
    """Why the run fails, as lines: stale or unknown reads, or too little traffic to prove
    anything."""
    out = []
    s = res["seconds"]
    slow = kSanitizerSlowdown if sanitizer_build() else 1
    if res["stale"]:
        out.append(f"{res['stale']} reads staler than {res['bound_ms']} ms")
    if res["model_mismatches"]:
        out.append(f"{len(res['model_mismatches'])} keys whose row is not their last state "
                   f"(the checker's model is wrong): {res['model_mismatches'][:3]}")
    if res["unknown"]:
        out.append(f"{res['unknown']} reads of a value no commit produced")
    if res["writer_failures"]:
        out.append(f"writers failed: {res['writer_failures'][:3]}")
    if res["errors"] > 0.01 * max(res["reads"], 1):
        out.append(f"{res['errors']} error replies to GET (over 1% of the reads)")
    if not res["alive"]:
        out.append("a server died during the run")
    if res["changes"] < kMinChangesPerS * s / slow:
        out.append(f"only {res['changes']} changes committed (< {kMinChangesPerS}/s)")
    if res["reads"] < kMinReadsPerS * s / slow:
        out.append(f"only {res['reads']} reads (< {kMinReadsPerS}/s)")
    if res["checked"] < kMinCheckedShare * res["changes"]:
        out.append(f"only {res['checked']} of {res['changes']} changes checked by a read")
    for n, st in res["per_instance"].items():
        if st["reads"] < 0.25 * res["reads"]:
            out.append(f"instance {n} served only {st['reads']} of {res['reads']} reads")
    for p, st in res["per_prefix"].items():
        if res["l1_hits"].get(p, 0) < kMinL1Share * st["reads"]:
            out.append(f"{p}: only {res['l1_hits'].get(p, 0)} of {st['reads']} reads from L1")
    if res["changefeed"] and res["reader"] is None:
        out.append("no instance read the change feed")
    return out


def trace_lines(res, key, t0):
    """With --trace: per instance, the states its reads of `key` returned over time (runs of
    one state as "state@first-last")."""
    reads = (res.get("trace") or {}).get(key, [])
    out = []
    for inst in sorted({r[0] for _, r, _ in reads}):
        runs = []
        for rs, reader, got in sorted(x for x in reads if x[1][0] == inst):
            if runs and runs[-1][0] == got:
                runs[-1][2] = rs
            else:
                runs.append([got, rs, rs])
        out.append(f"reads on {inst}: " + ", ".join(
            f"{g}@{a - t0:.2f}-{b - t0:.2f}" for g, a, b in runs[-12:]))
    return out


def stale_episodes(res):
    """{(key, state returned): [reads, worst staleness s, readers]} of the stale reads."""
    out = {}
    for st, key, reader, _, n, _ in res["stale_all"]:
        e = out.setdefault((key, n), [0, 0.0, set()])
        e[0] += 1
        e[1] = max(e[1], st)
        e[2].add(reader)
    return out


def report(res, out=print, explain=5):
    """The result as a short table."""
    ms = res["bound_ms"]
    out("")
    out(f"change feed stale-read check: {res['seconds']:.1f} s, bound {ms} ms, change feed "
        f"{'on (reader ' + str(res['reader']) + ')' if res['changefeed'] else 'OFF'}, "
        f"{res['keys']} keys")
    ops = ", ".join(f"{k} {v}" for k, v in sorted(res["ops"].items()))
    out(f"  changes committed {res['changes']} ({res['changes'] / res['seconds']:.0f}/s; {ops})")
    out(f"  changes checked   {res['checked']} (a read sent > bound after the commit, before "
        f"the next one)")
    out(f"  reads             {res['reads']} ({res['reads'] / res['seconds']:.0f}/s; nil "
        f"{res['nil_reads']}); slowest GET {res['slowest_get_ms']:.0f} ms")
    out(f"  older, in bound   {res['lagging']} (informational)")
    out(f"  STALE past bound  {res['stale']} (must be 0); worst staleness "
        f"{res['max_staleness_ms']:.1f} ms")
    out(f"  unknown values    {res['unknown']}; error replies {res['errors']}")
    out(f"  {'prefix':<6} {'tiers':<18} {'reads':>8} {'L1 hits':>8} {'older':>7} {'stale':>6} "
        f"{'worst ms':>9}")
    for p, what in kPrefixes:
        st = res["per_prefix"][p]
        out(f"  {p:<6} {what:<18} {st['reads']:>8} {res['l1_hits'].get(p, 0):>8} "
            f"{st['lagging']:>7} {st['stale']:>6} {st['max_staleness'] * 1000:>9.1f}")
    for n, st in res["per_instance"].items():
        f = res["feed"].get(n, {})
        out(f"  instance {n}: reads {st['reads']}, older {st['lagging']}, stale {st['stale']}, "
            f"worst {st['max_staleness'] * 1000:.1f} ms | feed {f.get('state', '-')}: INFO lag p50 "
            f"{f.get('lag_p50_ms', '-')} ms p99 {f.get('lag_p99_ms', '-')} ms max "
            f"{f.get('lag_max_ms', '-')} ms (its last 8192 transactions); in the run: "
            f"transactions {f.get('changefeed_transactions', 0)}, "
            f"invalidated {f.get('changefeed_keys_invalidated', 0)}, updated "
            f"{f.get('changefeed_keys_updated', 0)}, own writes skipped "
            f"{f.get('changefeed_own_writes_skipped', 0)}, retries "
            f"{f.get('changefeed_apply_retries', 0)}, stream errors "
            f"{f.get('changefeed_stream_errors', 0)}, visibility waits "
            f"{f.get('changefeed_visibility_waits', 0)}")
    t0 = res["t0"]
    episodes = stale_episodes(res)
    if episodes:
        out(f"  stale episodes (a key stuck at an old state): {len(episodes)}")
        kinds = collections.Counter(
            (key[:3], chr(res["history"][key].how[n]), chr(res["history"][key].how[n + 1]))
            for key, n in episodes)
        for (p, a, b), c in kinds.most_common(12):
            out(f"    {c:4d} x {p} returned '{kHow[a]}', missed '{kHow[b]}'")
    shown = set()
    for st, key, reader, rs, n, nxt in res["stale_samples"]:
        if (key, n) in shown or len(shown) >= explain:
            continue
        shown.add((key, n))
        h = res["history"][key]
        out(f"    stale: {key} read by {reader} at {rs - t0:.3f}s returned state {n}: "
            f"{st * 1000:.0f} ms stale; its states ({h.how.decode()}):")
        for i in range(max(0, n - 2), min(len(h.starts), nxt + 3)):
            how = kHow.get(chr(h.how[i]), "?") + (f" via {h.via[i]}" if i in h.via else "")
            out(f"      {i}: {how}, sent {h.starts[i] - t0:.3f}s, acknowledged "
                f"{h.acks[i] - t0:.3f}s")
        for line in trace_lines(res, key, t0):
            out("      " + line)
    for key, reader, got, rs in res["unknown_samples"][:explain]:
        out(f"    unknown: {key} read by {reader} at {rs - t0:.3f}s returned {got!r}")
    for e in res["error_samples"][:3]:
        out(f"    error reply: {e}")
    for p in res["problems"]:
        out(f"  problem: {p}")
    out(f"  verdict: {'PASS' if res['ok'] else 'FAIL'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--bound-ms", type=int, default=None,
                    help=f"default {kDefaultBoundMs} ({kSanitizerBoundMs} under a sanitizer)")
    ap.add_argument("--no-changefeed", action="store_true",
                    help="negative control: changefeed = false on both instances")
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--readers", type=int, default=3, help="reader threads per instance")
    ap.add_argument("--keys", type=int, default=150, help="keys per prefix")
    ap.add_argument("--write-period-ms", type=float, default=6)
    ap.add_argument("--strata-writes", type=float, default=0.05,
                    help="share of the writers' operations made through strata")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--explain", type=int, default=5, help="stale reads described")
    ap.add_argument("--trace", action="store_true",
                    help="keep every read: the stale keys' reads per instance over time")
    a = ap.parse_args(argv)
    res = run(a.seconds, a.bound_ms, changefeed=not a.no_changefeed, writers=a.writers,
              readers_per_instance=a.readers, keys_per_prefix=a.keys,
              write_period_ms=a.write_period_ms, strata_writes=a.strata_writes, seed=a.seed,
              trace=a.trace)
    report(res, explain=a.explain)
    return harness.finish(not res["ok"])


if __name__ == "__main__":
    sys.exit(main())
