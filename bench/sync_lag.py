#!/usr/bin/env python3
"""Sync lag and sync CPU cost, measured from the outside: strata A and B in front of one
redis-server and one PostgreSQL, a real nats-server between them (strata's [nats] defaults:
heartbeat 100 ms, 64 partitions, invalidate mode), everything on loopback.

1. Lag, write acknowledged at A -> change on the bus, at --rate writes/s (default 10000): a paced
   writer process (unique keys, several connections, an ack time per write) through A, and a
   subscriber process (raw NATS, SUB strata.ev.>) that decodes strata's change messages (format
   3 batches: every worker's and partition's changes sent together) and
   timestamps each record's arrival, as B's delivery thread gets it. p50/p99/p99.9 of
   (arrival - ack); negative when the message beats the OK to its reader (they leave in the same
   loop iteration). Once for a write-through l2 = false prefix (L1 + PostgreSQL) and once for a
   cache prefix with Redis behind it.
2. Beside it, the raw NATS baseline of the same run: one connection publishing messages of the
   same size at the same rate, another subscribed; publish -> arrival.
3. End to end, read-your-peer's-write, under that load: a prober holds a key in B's L1 (read twice
   through B), writes it through A, then reads it through B until the new value shows;
   ack -> end of the first fresh read (an upper bound: it includes one GET round trip, printed).
4. CPU: strata's utime+stime (/proc/PID/stat, both instances) per write with sync on vs off, the
   same paced workload on a synced prefix and on a sync = "off" twin, alternating in one run,
   and nats-server's beside it (the messages it forwards are part of the cost);
   and per L1-hit GET at A (strata-bench load, closed loop) on the synced vs the off prefix.
   Also the same from /proc/PID/task/*/schedstat (ns) as a cross-check.
5. Before/after: with --base-bin OLD_STRATA a second, identical cluster runs the old build; the
   lag phases run on both, and the SET CPU rounds alternate between the two clusters (and on/off
   within each), so both see the same machine.

Targets (the sync issue): lag p50 <= 0.5 ms, p99 <= 5 ms; a write with sync on costs <= 2 us
more strata CPU; an L1-hit GET's CPU within 5% of sync off. Verdicts are printed; exit status 0
unless --strict and a target is missed.

    STRATA_BIN=build/release/proxy/strata bench/sync_lag.py            # ~2.5 min
    bench/sync_lag.py --rate 5000 --seconds 5 --rounds 2               # quicker
    bench/sync_lag.py --base-bin build-old/proxy/strata --phases lag,set   # before/after
    bench/sync_lag.py --linger-us 1000 --compare-linger-us 400 --phases lag,set  # the trade-off

Environment as for the other benchmarks: STRATA_BIN, STRATA_KEEP_LOGS=1; STRATA_BENCH_BIN for
strata-bench (default: next to strata in the build tree)."""

import argparse
import multiprocessing as mp
import os
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import time

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(kRepo, "tests", "integration"))

import harness  # noqa: E402
from policy_util import global_int, info_policies, policy_block  # noqa: E402
from sync_cluster import SyncCluster, sync_counters  # noqa: E402

kValue = b"x" * 100
kInFlightMax = 64  # per writer connection
kClkTck = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- small helpers


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total


def ctx_switches(pid):
    """Voluntary + involuntary context switches of every thread of pid."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Cpu:
    """utime+stime (s), schedstat (s) and context switches of some pids, as deltas."""

    def __init__(self, pids):
        self.pids = pids
        self.t0 = {p: (cpu_ticks(p), cpu_ns(p), ctx_switches(p)) for p in pids}

    def stop(self):
        out = {}
        for p in self.pids:
            t, n, c = cpu_ticks(p), cpu_ns(p), ctx_switches(p)
            out[p] = ((t - self.t0[p][0]) / kClkTck, (n - self.t0[p][1]) / 1e9,
                      c - self.t0[p][2])
        return out


# ---------------------------------------------------------------- NATS by hand


def nats_connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(65536)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    return s


def nats_sync(s):
    """PING, then read until PONG (the server processed what we sent before it)."""
    s.sendall(b"PING\r\n")
    buf = b""
    while b"PONG\r\n" not in buf:
        buf += s.recv(65536)


class MsgReader:
    """MSG frames from a NATS stream: feed(bytes) -> [(subject, payload)]; answers PING."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        pos = 0
        buf = self.buf
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos):
                parts = bytes(buf[pos:eol]).split()
                n = int(parts[-1])
                if len(buf) < eol + 2 + n + 2:
                    break
                out.append((parts[1], bytes(buf[eol + 2:eol + 2 + n])))
                pos = eol + 2 + n + 2
                continue
            if buf.startswith(b"PING", pos):
                self.sock.sendall(b"PONG\r\n")
            pos = eol + 2
        del self.buf[:pos]
        return out


kHeaderBytes = {1: 36, 2: 44, 3: 44}  # protocol/sync_event.h, per format
kSectionBytes = 16  # format 3


def sync_records(payload):
    """Keys of a strata changes message (protocol/sync_event.h, formats 1 to 3: a format 3
    batch's sections in order); [] for others."""
    if len(payload) < 36 or payload[0:2] != b"SY" or payload[3] != 1 or \
            payload[2] not in kHeaderBytes:
        return []
    count = struct.unpack_from("<I", payload, 32)[0]
    pos = kHeaderBytes[payload[2]]
    keys = []
    if payload[2] < 3:
        _records(payload, pos, count, keys)
        return keys
    for _ in range(count):  # format 3: count sections, each with its record count
        records = struct.unpack_from("<I", payload, pos + 12)[0]
        pos = _records(payload, pos + kSectionBytes, records, keys)
    return keys


def _records(payload, pos, count, keys):
    """Reads `count` records from pos into keys; returns the position after them."""
    for _ in range(count):
        _op, flags = payload[pos], payload[pos + 1]
        pos += 10
        if flags & 2:
            pos += 8
        klen = struct.unpack_from("<I", payload, pos)[0]
        pos += 4
        keys.append(payload[pos:pos + klen])
        pos += klen
        if flags & 1:
            vlen = struct.unpack_from("<I", payload, pos)[0]
            pos += 4 + vlen
    return pos


# ---------------------------------------------------------------- processes


def subscriber(nats_port, subject, stop, ready, out, match):
    """Records (key or seq, arrival time) of every message on `subject` until `stop` is set.
    match: "sync" decodes strata's records (keys with the lag prefix), "seq" reads a u64."""
    s = nats_connect(nats_port)
    s.sendall(b"SUB %s 1\r\n" % subject.encode())
    nats_sync(s)
    ready.set()
    r = MsgReader(s)
    got = []
    sizes = []
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            break
        t = time.monotonic()
        for _subj, payload in r.feed(data):
            if match == "seq":
                got.append((struct.unpack_from("<Q", payload, 0)[0], t))
            else:
                records = sync_records(payload)
                keys = [k for k in records if k.startswith(match)]
                if keys:
                    sizes.append(len(payload) / len(records))
                for k in keys:
                    got.append((k, t))
    out.put((got, sizes))


def publisher(nats_port, subject, rate, seconds, size, out):
    """Raw NATS publishes at `rate`, payload = u64 seq + padding to `size`; (seq, time) each."""
    s = nats_connect(nats_port)
    nats_sync(s)
    pad = b"p" * max(0, size - 8)
    sent = []
    interval = 1.0 / rate
    start = time.monotonic()
    next_t = start
    n = 0
    subj = subject.encode()
    while next_t < start + seconds:
        now = time.monotonic()
        if now < next_t:
            time.sleep(min(next_t - now, 0.001) if next_t - now > 0.0002 else 0)
            continue
        payload = struct.pack("<Q", n) + pad
        t = time.monotonic()
        s.sendall(b"PUB %s %d\r\n%s\r\n" % (subj, len(payload), payload))
        sent.append((n, t))
        n += 1
        next_t += interval
    nats_sync(s)
    out.put(sent)


def writer(port, keyfmt, rate, seconds, conns, out, value=kValue):
    """SETs at `rate` over `conns` connections (unique keys keyfmt % n); (n, send, ack)."""
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    pending = [[] for _ in range(conns)]  # per connection: ns in flight, in order
    carry = [b""] * conns
    send_t = {}
    acks = []
    errors = 0
    interval = 1.0 / rate
    start = time.monotonic()
    end = start + seconds
    next_t = start
    n = 0
    while True:
        now = time.monotonic()
        while next_t <= now and next_t < end:
            i = min(range(conns), key=lambda j: len(pending[j]))
            if len(pending[i]) >= kInFlightMax:
                break
            socks[i].setblocking(True)
            socks[i].sendall(resp("SET", keyfmt % n, value))
            socks[i].setblocking(False)
            pending[i].append(n)
            send_t[n] = now
            n += 1
            next_t += interval
        if next_t >= end and not any(pending):
            break
        timeout = max(0.0, next_t - time.monotonic()) if next_t < end else 0.05
        for key, _ in sel.select(timeout):
            i = key.data
            try:
                data = socks[i].recv(1 << 20)
            except BlockingIOError:
                continue
            t = time.monotonic()
            buf = carry[i] + data
            lines = buf.split(b"\r\n")
            carry[i] = lines.pop()
            for line in lines:
                m = pending[i].pop(0)
                if line == b"+OK":
                    acks.append((m, send_t.pop(m), t))
                else:
                    send_t.pop(m, None)
                    errors += 1
        if time.monotonic() > end + 30:
            break  # a stuck server: report what came back
    out.put((acks, errors, n))


def prober(a_port, b_port, prefix, seconds, out):
    """Read-your-peer's-write through B with the key in B's L1: [(ack -> fresh read end s,
    GET round trip s, stale reads before it)]."""
    import resp_client
    a = resp_client.Client(a_port)
    b = resp_client.Client(b_port)
    res = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        key = f"{prefix}probe:{i % 64}"
        a.call("SET", key, f"old{i}")
        time.sleep(0.003)  # A's invalidation of the old value has reached B
        b.call("GET", key)
        want_old = f"$%d\r\nold{i}\r\n" % len(f"old{i}")
        if b.call("GET", key) != want_old.encode():
            i += 1
            continue  # B did not hold it: not a sample
        new = f"new{i}"
        want = (f"${len(new)}\r\n{new}\r\n").encode()
        a.call("SET", key, new)
        t_ack = time.monotonic()
        stale = 0
        while True:
            t0 = time.monotonic()
            got = b.call("GET", key)
            t1 = time.monotonic()
            if got == want:
                res.append((t1 - t_ack, t1 - t0, stale))
                break
            stale += 1
            if t1 - t_ack > 2.0:
                res.append((float("inf"), t1 - t0, stale))
                break
        i += 1
        time.sleep(0.005)
    out.put(res)


# ---------------------------------------------------------------- the phases


def b_l1_hits(cl, prefix):
    """B's L1 hits: per prefix for PostgreSQL-backed ones, INFO's global count for plain cache
    prefixes (which # Policies does not count)."""
    if prefix in ("c:", "coff:"):
        return global_int(cl.conn("B"), "l1_hits") or 0
    return int(info_policies(cl.conn("B")).get(prefix, {}).get("l1_hits", "0") or 0)


def lag_phase(cl, prefix, rate, seconds, conns, tag, probe=True):
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    ready = ctx.Event()
    qs, qw, qp = ctx.Queue(), ctx.Queue(), ctx.Queue()
    match = f"{prefix}lag:{tag}:".encode()
    sub = ctx.Process(target=subscriber, args=(cl.nats.port, "strata.ev.>", stop, ready, qs,
                                               match), daemon=True)
    sub.start()
    ready.wait(10)
    hits0 = b_l1_hits(cl, prefix)
    before = {n: sync_counters(cl.conn(n)) for n in ("A", "B")}
    w = ctx.Process(target=writer, args=(cl.srv["A"].port, f"{prefix}lag:{tag}:%d", rate,
                                         seconds, conns, qw), daemon=True)
    procs = [w]
    if probe:
        pr = ctx.Process(target=prober, args=(cl.srv["A"].port, cl.srv["B"].port, prefix,
                                              seconds, qp), daemon=True)
        procs.append(pr)
    for p in procs:
        p.start()
    acks, errors, sent = qw.get(timeout=seconds + 120)
    probes = qp.get(timeout=seconds + 60) if probe else []
    time.sleep(1.0)  # the last changes reach the subscriber
    stop.set()
    got, sizes = qs.get(timeout=60)
    for p in procs + [sub]:
        p.join(5)
    arrivals = {}
    for k, t in got:
        arrivals.setdefault(k, t)
    lags = []
    missing = 0
    for n, _ts, ta in acks:
        t = arrivals.get(match + str(n).encode())
        if t is None:
            missing += 1
        else:
            lags.append(t - ta)
    span = (max(a[2] for a in acks) - min(a[1] for a in acks)) if acks else 1
    after = {n: sync_counters(cl.conn(n)) for n in ("A", "B")}
    hits = b_l1_hits(cl, prefix) - hits0
    return {"prefix": prefix, "acked": len(acks), "errors": errors, "sent": sent,
            "rate": len(acks) / span, "lags": lags, "missing": missing,
            "write_lat": [ta - ts for _, ts, ta in acks], "probes": probes,
            "msg_bytes_per_record": statistics.median(sizes) if sizes else 0,
            "b_applied": after["B"]["sync_applied_events"] - before["B"]["sync_applied_events"],
            "b_l1_hits": hits}


def baseline_phase(cl, rate, seconds, size):
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    ready = ctx.Event()
    qs, qp = ctx.Queue(), ctx.Queue()
    sub = ctx.Process(target=subscriber, args=(cl.nats.port, "bench.base", stop, ready, qs,
                                               "seq"), daemon=True)
    sub.start()
    ready.wait(10)
    pub = ctx.Process(target=publisher, args=(cl.nats.port, "bench.base", rate, seconds, size,
                                              qp), daemon=True)
    pub.start()
    sent = qp.get(timeout=seconds + 120)
    time.sleep(1.0)
    stop.set()
    got, _ = qs.get(timeout=60)
    pub.join(5)
    sub.join(5)
    arr = dict(got)
    lags = [arr[n] - t for n, t in sent if n in arr]
    return {"lags": lags, "sent": len(sent), "missing": len(sent) - len(lags),
            "rate": len(sent) / seconds}


def set_cpu_phase(cl, prefix, rate, seconds, conns, tag):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    pids = [cl.srv["A"].pid, cl.srv["B"].pid, cl.nats.proc.pid]
    w = ctx.Process(target=writer, args=(cl.srv["A"].port, f"{prefix}cpu:{tag}:%d", rate,
                                         seconds, conns, q), daemon=True)
    cpu = Cpu(pids)
    w.start()
    acks, errors, _ = q.get(timeout=seconds + 60)
    used = cpu.stop()
    w.join(5)
    return len(acks), errors, used


def get_cpu_phase(cl, prefix, seconds, keys, conns):
    """L1-hit GETs at A with strata-bench load (closed loop)."""
    pid = cl.srv["A"].pid
    hits0 = int(info_policies(cl.conn("A")).get(prefix, {}).get("l1_hits", "0") or 0)
    cpu = Cpu([pid])
    r = subprocess.run([harness.strata_bench_bin(), "load", "--port", str(cl.srv["A"].port),
                        "--connections", str(conns), "--duration", str(seconds), "--ratio",
                        "1:0", "--keys", str(keys), "--dist", "uniform", "--key-prefix",
                        f"{prefix}get:", "--format", "csv", "--no-progress"],
                       capture_output=True, text=True, timeout=seconds + 60)
    used = cpu.stop()[pid]
    if r.returncode != 0:
        raise RuntimeError(f"strata-bench load failed: {r.stderr[-500:]}")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    head = lines[0].split(",")
    row = dict(zip(head, lines[1].split(",")))
    hits = int(info_policies(cl.conn("A")).get(prefix, {}).get("l1_hits", "0") or 0) - hits0
    return int(row["requests"]), hits, used


def prefill(cl, prefix, keys):
    c = harness.Client(cl.srv["A"].port)
    # strata-bench load's keys: the prefix and 12 digits.
    batch = b"".join(resp("SET", f"{prefix}get:{n:012d}", kValue) for n in range(keys))
    c.send(batch)
    for _ in range(keys):
        c.read_reply()
    # Read them once through A: write-through put them in A's L1; make sure.
    c.send(b"".join(resp("GET", f"{prefix}get:{n:012d}") for n in range(keys)))
    for _ in range(keys):
        c.read_reply()
    c.close()


# ---------------------------------------------------------------- report


def ms3(v):
    return f"{v * 1000:7.3f}"


def lag_row(name, lags, extra=""):
    return (f"  {name:<40} {len(lags):>7} {ms3(pct(lags, 0.5))} {ms3(pct(lags, 0.99))} "
            f"{ms3(pct(lags, 0.999))} {ms3(max(lags) if lags else float('nan'))}  {extra}")


def run_lag(cl, a):
    results = {}
    for prefix in ("wt:", "c:"):
        print(f"lag: {a.seconds:.0f} s at {a.rate:.0f} writes/s on {prefix} ...", flush=True)
        results[prefix] = lag_phase(cl, prefix, a.rate, a.seconds, a.conns, "r1")
    results_all = dict(results)
    low = None
    if a.low_rate:
        print(f"lag: 4 s at {a.low_rate:.0f} writes/s on wt: (a quiet system) ...", flush=True)
        low = lag_phase(cl, "wt:", a.low_rate, 4, 1, "low", probe=False)
    size = int(results["wt:"]["msg_bytes_per_record"] or 60)
    print(f"baseline: raw NATS pub -> sub, {size} B messages ...", flush=True)
    base = baseline_phase(cl, a.rate, a.seconds, size)
    print()
    print(f"Lag, write acknowledged at A -> change message at a subscriber beside B "
          f"(ms; {os.cpu_count()} cores shared by PostgreSQL, Redis, NATS, 2 strata, the load)")
    print(f"  {'':<40} {'samples':>7} {'p50':>7} {'p99':>7} {'p99.9':>7} {'max':>7}")
    for prefix, r in results.items():
        label = {"wt:": "write-through l2=false (wt:)", "c:": "cache + Redis (c:)"}[prefix]
        print(lag_row(f"strata {label}", r["lags"],
                      f"{r['rate']:.0f} writes/s acked, {r['missing']} never seen, "
                      f"{r['errors']} errors; B applied {r['b_applied']}"))
    if low is not None:
        print(lag_row(f"strata wt: at {low['rate']:.0f} writes/s (quiet)", low["lags"],
                      f"{low['missing']} never seen"))
    print(lag_row("raw NATS publish -> subscribe (baseline)", base["lags"],
                  f"{base['rate']:.0f} msgs/s, {size} B, {base['missing']} lost"))
    for prefix, r in results.items():
        print(lag_row(f"  (write latency at A, {prefix})", r["write_lat"]))
    shape = [("wt:", results["wt:"]["lags"])] + ([("quiet", low["lags"])] if low else [])
    for name, lags in shape:
        print(f"  strata {name} lag shape, ms: " + " ".join(
            f"p{int(q * 100)} {pct(lags, q) * 1000:.3f}" for q in (0.1, 0.25, 0.5, 0.75, 0.9)))
    print("  (under a busy stream strata's bus sender sends a batch every 400 us, one wake-up"
          " each: a change waits 0-400 us at A; a lone change leaves at once)")
    print()
    print("End to end, read-your-peer's-write: key in B's L1, SET through A, GET through B until "
          "fresh (ms; ack -> end of the first fresh GET)")
    print(f"  {'':<40} {'samples':>7} {'p50':>7} {'p99':>7} {'p99.9':>7} {'max':>7}")
    for prefix, r in results.items():
        e2e = [p[0] for p in r["probes"]]
        rtt = [p[1] for p in r["probes"]]
        stale = sum(1 for p in r["probes"] if p[2] > 0)
        print(lag_row(f"under {r['rate']:.0f} writes/s on {prefix}", e2e,
                      f"GET rtt p50 {pct(rtt, 0.5) * 1000:.3f} ms; {stale} probes saw the old "
                      f"value first; B L1 hits {r['b_l1_hits']}"))
    print("  (c: has Redis behind it: Redis's tracking invalidation reaches B before A's OK "
          "reaches the client, so B is mostly fresh on the first read)")
    if low is not None:
        results_all["wt: quiet"] = low
    return results_all


def run_set_cpu(clusters, a):
    """Per cluster: [(prefix, median paired delta us/write, schedstat delta, A delta, B delta,
    nats-server delta)]."""
    print()
    print(f"CPU: SETs at {a.rate:.0f}/s for {a.cpu_seconds:.0f} s, sync on vs off alternating, "
          f"{a.rounds} rounds each{', the clusters alternating too' if len(clusters) > 1 else ''}"
          f" (us/w: CPU per write; cs/w: context switches; NATS: nats-server)", flush=True)
    out = {label: [] for label, _ in clusters}
    for on, off in (("wt:", "wtoff:"), ("c:", "coff:")):
        # runs[label][prefix]: (writes, A s, B s, A+B schedstat s, A cs, B cs, nats s, nats cs)
        runs = {label: {on: [], off: []} for label, _ in clusters}
        for rnd in range(a.rounds):
            order = clusters if rnd % 2 == 0 else clusters[::-1]
            for label, cl in order:
                A, B, N = cl.srv["A"].pid, cl.srv["B"].pid, cl.nats.proc.pid
                for prefix in ((on, off) if rnd % 2 == 0 else (off, on)):
                    n, _, used = set_cpu_phase(cl, prefix, a.rate, a.cpu_seconds, a.conns,
                                               f"r{rnd}")
                    runs[label][prefix].append((n, used[A][0], used[B][0],
                                                used[A][1] + used[B][1], used[A][2], used[B][2],
                                                used[N][0], used[N][2]))
        for label, _ in clusters:
            out[label].append(set_cpu_report(label, runs[label], on, off))
    return out


def set_cpu_report(label, runs, on, off):
    print(f"  [{label}] {'prefix':<8} {'writes':>8} {'A us/w':>8} {'B us/w':>8} {'A+B us/w':>9} "
          f"{'schedstat':>10} {'A cs/w':>7} {'B cs/w':>7} {'NATS us/w':>10} {'NATS cs/w':>10}")
    tot = {}
    for prefix in (on, off):
        tot[prefix] = [sum(r[k] for r in runs[prefix]) for k in range(8)]
        n, ta, tb, ns, ca, cb, tn, cn = tot[prefix]
        print(f"  [{label}] {prefix:<8} {n:>8} {ta / n * 1e6:>8.2f} {tb / n * 1e6:>8.2f} "
              f"{(ta + tb) / n * 1e6:>9.2f} {ns / n * 1e6:>10.2f} {ca / n:>7.2f} "
              f"{cb / n:>7.2f} {tn / n * 1e6:>10.2f} {cn / n:>10.2f}")

    def per_write(prefix, k):
        return tot[prefix][k] / tot[prefix][0] * 1e6

    da, db, dn, dnats = (per_write(on, k) - per_write(off, k) for k in (1, 2, 3, 6))
    pairs = sorted((x[1] + x[2]) / x[0] * 1e6 - (y[1] + y[2]) / y[0] * 1e6
                   for x, y in zip(runs[on], runs[off]))
    d = statistics.median(pairs)
    print(f"  [{label}] {'':<8} sync on costs {d:+.2f} us/write of strata CPU (median of "
          f"{len(pairs)} paired rounds, range {pairs[0]:+.2f}..{pairs[-1]:+.2f}; pooled: A, the "
          f"writer's instance {da:+.2f}, B, its peer {db:+.2f}; schedstat {dn:+.2f}); "
          f"nats-server {dnats:+.2f}")
    return (on, d, dn, da, db, dnats)


def run_get_cpu(cl, a):
    """Median paired ratio (synced / off - 1) of schedstat CPU per L1-hit GET at A."""
    print(f"CPU: L1-hit GETs at A (strata-bench load, closed loop, {a.get_conns} "
          f"connection(s)), {a.get_keys} keys, {a.get_rounds} x {a.get_seconds:.0f} s each, "
          f"alternating", flush=True)
    for prefix in ("wt:", "wtoff:"):
        prefill(cl, prefix, a.get_keys)
    runs = {"wt:": [], "wtoff:": []}  # (GETs, L1 hits, utime+stime s, schedstat s)
    for rnd in range(a.get_rounds):
        for prefix in (("wt:", "wtoff:") if rnd % 2 == 0 else ("wtoff:", "wt:")):
            n, hits, used = get_cpu_phase(cl, prefix, a.get_seconds, a.get_keys, a.get_conns)
            runs[prefix].append((n, hits, used[0], used[1]))
            if os.environ.get("SYNC_LAG_DEBUG"):
                print(f"    round {rnd} {prefix:<7} {n:>8} GETs {used[1] / n * 1e6:7.3f} us/GET "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    per = {}
    for prefix, rows in runs.items():
        n, hits, t, ns = (sum(r[k] for r in rows) for k in range(4))
        per[prefix] = (t / n * 1e6, ns / n * 1e6)
        print(f"  {prefix:<8} {n:>9} GETs ({hits / max(n, 1):.0%} L1 hits): "
              f"{per[prefix][0]:.3f} us/GET (utime+stime), {per[prefix][1]:.3f} us/GET "
              f"(schedstat)")
    ratios = sorted((x[3] / x[0]) / (y[3] / y[0]) - 1 for x, y in zip(runs["wt:"],
                                                                      runs["wtoff:"]))
    ratio = statistics.median(ratios)
    print(f"  synced vs off: {ratio:+.1%} (median of {len(ratios)} paired rounds, schedstat; "
          f"range {ratios[0]:+.1%}..{ratios[-1]:+.1%}); pooled utime+stime "
          f"{per['wt:'][0] / per['wtoff:'][0] - 1:+.1%}")
    return ratio


def verdicts(results, set_deltas, get_ratio):
    print()
    print("Verdicts (targets of the sync issue)")
    ok_all = True

    def verdict(ok, text):
        nonlocal ok_all
        ok_all = ok_all and ok
        print(f"  {'PASS' if ok else 'MISS'}  {text}")

    for prefix, r in (results or {}).items():
        p50, p99 = pct(r["lags"], 0.5), pct(r["lags"], 0.99)
        verdict(p50 <= 0.0005, f"{prefix} lag p50 {p50 * 1000:.3f} ms <= 0.5 ms")
        verdict(p99 <= 0.005, f"{prefix} lag p99 {p99 * 1000:.3f} ms <= 5 ms")
        verdict(r["missing"] == 0, f"{prefix} every acknowledged write's change seen on the bus "
                f"({r['missing']} missing)")
    for on, d, dn, da, db, dnats in (set_deltas or {}).get("new", []):
        verdict(d <= 2.0, f"{on} SET with sync on: {d:+.2f} us strata CPU, both instances "
                f"(A {da:+.2f}, B {db:+.2f}; schedstat {dn:+.2f}; nats-server {dnats:+.2f}) "
                f"<= +2 us")
    if get_ratio is not None:
        verdict(abs(get_ratio) <= 0.05, f"L1-hit GET CPU, synced vs sync off: {get_ratio:+.1%} "
                f"(median of paired rounds) within 5%")
    return ok_all


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=10000, help="writes/s (lag and CPU phases)")
    ap.add_argument("--seconds", type=float, default=10, help="each lag phase")
    ap.add_argument("--cpu-seconds", type=float, default=3, help="each SET CPU phase")
    ap.add_argument("--rounds", type=int, default=4, help="on/off alternations per SET pair")
    ap.add_argument("--conns", type=int, default=8, help="writer connections")
    ap.add_argument("--workers", type=int, default=2, help="strata worker threads")
    ap.add_argument("--get-keys", type=int, default=1000)
    ap.add_argument("--get-rounds", type=int, default=12)
    ap.add_argument("--get-seconds", type=float, default=1)
    ap.add_argument("--low-rate", type=float, default=200,
                    help="writes/s of the quiet lag phase (0: skip it)")
    ap.add_argument("--get-conns", type=int, default=1,
                    help="strata-bench connections for the GET phases (1: no batching, the "
                         "steadiest CPU per request on a shared machine)")
    ap.add_argument("--phases", default="lag,set,get",
                    help="which of lag, set (SET CPU), get (GET CPU) to run")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--base-bin", help="an older strata build: a second cluster runs it, and the "
                    "lag and SET CPU phases compare the two (before/after)")
    ap.add_argument("--linger-us", type=int, help="[nats] linger_us of the cluster measured "
                    "(default: strata's, 400)")
    ap.add_argument("--compare-linger-us", type=int, help="a second cluster of the same build "
                    "with this linger_us, compared as --base-bin's is (the lag/CPU trade-off)")
    a = ap.parse_args()
    if a.base_bin and a.compare_linger_us is not None:
        ap.error("--base-bin and --compare-linger-us each make the second cluster: one of them")
    return a


def main():
    a = parse_args()
    phases = set(a.phases.split(","))
    policies = [policy_block("wt:", "write-through", l2=False),
                policy_block("wtoff:", "write-through", l2=False, sync="off"),
                policy_block("c:", "cache"),
                policy_block("coff:", "cache", sync="off")]
    # strata's own [nats] defaults, but the URL and instance name.
    nats_kw = dict(heartbeat_ms=100, max_staleness_ms=1000, reconnect_wait_ms=250)

    def with_linger(us):
        return dict(nats_kw, extra=f"linger_us = {us}") if us is not None else nats_kw

    clusters = [("new", SyncCluster(("A", "B"), policies, workers=a.workers, tag="lag",
                                     nats_kw=with_linger(a.linger_us)))]
    if a.base_bin:
        clusters.append(("base", SyncCluster(("A", "B"), policies, workers=a.workers,
                                             tag="lag-base", nats_kw=nats_kw,
                                             binary=os.path.abspath(a.base_bin))))
    if a.compare_linger_us is not None:
        # "base" in the tables below: the same build, the other linger_us.
        clusters.append(("base", SyncCluster(("A", "B"), policies, workers=a.workers,
                                             tag="lag-linger",
                                             nats_kw=with_linger(a.compare_linger_us))))
    for _, c in clusters:
        c.start()
    cl = clusters[0][1]
    load = os.getloadavg()[0]
    lingers = {"new": a.linger_us, "base": a.compare_linger_us}
    for label, c in clusters:
        linger = lingers[label] if lingers[label] is not None else "default"
        print(f"[{label}] strata A pid {c.srv['A'].pid}, B pid {c.srv['B'].pid}, nats-server pid "
              f"{c.nats.proc.pid}; {a.workers} worker(s) each; linger_us {linger}"
              f"{'' if label == 'new' or not a.base_bin else ' (its build: --base-bin)'}",
              flush=True)
    print(f"{os.cpu_count()} cores shared by everything; load average {load:.1f} at the start",
          flush=True)
    if load > os.cpu_count():
        print(f"WARNING: the machine is busy (load {load:.1f} on {os.cpu_count()} cores): "
              f"latencies and CPU figures will show it", flush=True)
    results = None
    if "lag" in phases:
        for label, c in clusters:
            print(f"--- [{label}]", flush=True)
            r = run_lag(c, a)
            results = r if label == "new" else results
    set_deltas = run_set_cpu(clusters, a) if "set" in phases else None
    if set_deltas and "base" in set_deltas:
        print()
        print("Before/after, sync on minus off per write (us): strata A+B, nats-server")
        for (on, d, _, _, _, dn), (_, bd, _, _, _, bdn) in zip(set_deltas["new"],
                                                              set_deltas["base"]):
            print(f"  {on:<6} base {bd:+7.2f} / {bdn:+7.2f}   new {d:+7.2f} / {dn:+7.2f}   "
                  f"strata cost new/base {d / bd if bd else float('nan'):.2f}")
    get_ratio = run_get_cpu(cl, a) if "get" in phases else None
    ok = verdicts(results, set_deltas, get_ratio)
    print(f"  (load average {os.getloadavg()[0]:.1f} at the end)")
    harness.finish(False)
    return 1 if a.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
