#!/usr/bin/python3
"""Write throughput per strategy against one PostgreSQL, in one run (issue 3, Performance).

One strata, one PostgreSQL, a prefix per strategy, each in its own table:
  l1:  strategy cache, l1 only          (the L1-only baseline, no PostgreSQL)
  wt:  write-through                    (reply after the PostgreSQL commit)
  wa:  write-around                     (reply after the commit, L1 invalidated)
  wb:  write-behind                     (reply after the journal's commit; batches later)
PostgreSQL strategies keep L1 only (l2 = false) so the write-behind/L1-only latency ratio
compares like with like; BENCH_L2=1 starts a redis-server and gives them L2 too.

Placement: split by default (BENCH_PLACEMENT, tier_bench_env.py): PostgreSQL alone on the last
core, strata, redis-benchmark and this script on the others -- PostgreSQL as on its own host, so
a backend's flush never holds a strata worker's core; printed at the start. BENCH_PLACEMENT=shared
puts every process on every core (see bench/README.md for what that does to write-behind's p99).

Journal modes: write-behind runs once per mode of BENCH_JOURNAL_MODES (default "on 10": an
fdatasync per group commit before its OKs, then fdatasync_interval_ms = 10: OKs from the page
cache, a background fdatasync every 10 ms), each in a strata of its own (the journal is
per process) writing its own table; l1, wt and wa run in the first mode's strata. Without
BENCH_JOURNAL_MODES, a BENCH_JOURNAL_FSYNC that is set is the only mode (as before).

For pipelines 1 and 16: redis-benchmark `SET <p>:__rand_int__ <100 bytes>`, 50 clients, 100000
random keys; a calibration run first (also the warm-up: 1000 SETs, then ~1 s if those were
quicker) sizes the measured run to about BENCH_SECONDS. Printed per strategy: SET/s, p50/p99
(ms), strata CPU per SET (utime+stime from /proc), PostgreSQL rows written (the `rows` of
pg_stat_statements for statements on the strategy's table, counted as each ends;
pg_stat_user_tables lags up to 10 s; for write-behind after STRATA FLUSH-BEHIND), rows/s over
run + flush, rows per SET written (coalescing), PostgreSQL backends' CPU per SET; then the
verdicts, from ratios measured in this run:
  write-behind SET p99 / L1-only SET p99, every pipeline, every journal mode   (target <= 2)
  write-behind SET/s / write-through SET/s at -P 16, every journal mode        (target >= 10)
(the -P 1 rate ratio is printed, not judged). Every run's SET count is checked against strata's
own `writes` counter (redis-benchmark does not fail on error replies; with pipelining it sends a
little more than -n, so strata's count is the denominator of the per-SET figures).

A/B in one run: STRATA_BIN_BASE=/path/to/old/strata starts every strata a second time from that
binary, with tables of its own. Every strategy (and journal mode) is then measured for the base
and the new binary back to back, base first in odd rounds and new first in even ones (drift hits
both alike); the table prints both columns and new/base, and every verdict is printed for each
binary. PostgreSQL and the load generator are shared.

A shared machine: the CPU other processes take during each measured run is the machine's
(user+nice+system in /proc/stat) less this script's process tree's (PostgreSQL included); a run
during which it exceeds BENCH_OTHERS_MAX (0.1) of the machine is taken again, up to 3 tries.
Rows whose kept runs were still disturbed are marked '!', and the share others took over the
whole benchmark is printed at the end (a WARNING past 5%).

BENCH_ROUNDS=K repeats every measurement K times (alternating within each round) and reports
the MEDIAN of each figure over the rounds (each column on its own); 1 round is the default.

Env: BENCH_SECONDS (4), BENCH_CLIENTS (50), BENCH_KEYS (100000), BENCH_PIPELINES ("1 16"),
     BENCH_CAL_REQUESTS (1000), BENCH_L2 (0), BENCH_ROUNDS (1), BENCH_STRATEGIES ("l1 wt wa wb":
     a subset, e.g. "l1 wb" for the p99 ratio alone), BENCH_JOURNAL_MODES ("on 10"),
     STRATA_BIN_BASE (unset: no A/B), BENCH_OTHERS_MAX (0.1), BENCH_OUT (CSV file to write), BENCH_PG_STATEMENTS (0; 1
     prints the statements PostgreSQL spent most time in, from pg_stat_statements), plus those
     of tier_bench_env.py (STRATA_BIN, STRATA_WORKERS, STRATA_ARGS, BENCH_PG_FSYNC,
     BENCH_JOURNAL_DIR, BENCH_PLACEMENT).
Runtime with the defaults: about 2 min; with STRATA_BIN_BASE about 4 min; each further round
adds as much again.
"""

import os
import statistics
import sys
import time

import tier_bench_env as env

env.default_placement = "split"

kSeconds = float(os.environ.get("BENCH_SECONDS", "4"))
kClients = int(os.environ.get("BENCH_CLIENTS", "50"))
kKeys = int(os.environ.get("BENCH_KEYS", "100000"))
kPipelines = [int(p) for p in os.environ.get("BENCH_PIPELINES", "1 16").split()]
kCalRequests = int(os.environ.get("BENCH_CAL_REQUESTS", "1000"))
kCalMinSeconds = 1.0
kWithL2 = os.environ.get("BENCH_L2", "0") == "1"
kRounds = int(os.environ.get("BENCH_ROUNDS", "1"))
kFlushTimeoutMs = 120000
kMaxTries = 3  # a run during which other processes took > env.kOthersMax of the CPU is repeated
kSettleStillS = 0.5  # before each run: no strata wrote to disk for this long
kSettleTimeoutS = 30
kWbP99RatioMax = 2.0
kWbWtRateMin = 10.0
kWbWtRatePipeline = 16
kAllTargets = [  # name, label, policy (table None: no PostgreSQL)
    ("l1", "L1 only (cache)", {"strategy": "cache", "l1": True, "l2": False}),
    ("wt", "write-through", {"strategy": "write-through", "table": "bench_wt"}),
    ("wa", "write-around", {"strategy": "write-around", "table": "bench_wa"}),
    ("wb", "write-behind", {"strategy": "write-behind", "table": "bench_wb",
                            "flush_interval_ms": int(os.environ.get("BENCH_WB_FLUSH_MS", "100")),
                            "max_batch": int(os.environ.get("BENCH_WB_BATCH", "256")),
                            "max_queue_depth": int(os.environ.get("BENCH_WB_QUEUE", "100000"))}),
]
kChosen = os.environ.get("BENCH_STRATEGIES", "l1 wt wa wb").split()
kTargets = [t for t in kAllTargets if t[0] in kChosen]
kNumeric = ("rps", "avg", "p50", "p99", "max", "seconds", "n", "rows", "flush_s", "writes",
            "cpu_us", "pg_cpu_us", "rows_per_s", "batches", "others")


def journal_modes():
    text = os.environ.get("BENCH_JOURNAL_MODES") or os.environ.get("BENCH_JOURNAL_FSYNC") or "on 10"
    modes = text.split()
    for m in modes:
        if m not in ("on", "off") and not m.isdigit():
            sys.exit(f"journal mode {m}: expected on, off or a number of milliseconds")
    return modes


kJournalModes = journal_modes()


def mode_label(mode):
    return {"on": "fdatasync/commit", "off": "no fdatasync"}.get(mode, f"fdatasync/{mode} ms")


class Slot:
    """One measured strategy: a target of kTargets in one journal mode."""

    def __init__(self, name, label, policy, mode_index):
        self.name, self.policy, self.mode_index = name, policy, mode_index
        self.mode = kJournalModes[mode_index]
        self.key = name if mode_index == 0 else f"{name}@{self.mode}"
        self.label = f"{label} ({mode_label(self.mode)})" if name == "wb" else label


def slots():
    out = [Slot(name, label, p, 0) for name, label, p in kTargets]
    if any(name == "wb" for name, _, _ in kTargets):
        wb = next(t for t in kTargets if t[0] == "wb")
        out += [Slot(wb[0], wb[1], wb[2], j) for j in range(1, len(kJournalModes))]
    return out


class Instance:
    """One strata process: a binary ("base" or "new") in one journal mode, with its tables."""

    def __init__(self, binary_tag, binary, mode_index, pg, redis):
        self.tag, self.mode_index = binary_tag, mode_index
        suffix = ("_base" if binary_tag == "base" else "") + (
            f"_j{kJournalModes[mode_index]}" if mode_index else "")
        self.tables = {}
        pols = []
        for s in slots():
            if s.mode_index != mode_index:
                continue
            pol = {"prefix": f"{s.name}:"}
            pol.update(s.policy)
            if "table" in s.policy:
                pol.update({"table": s.policy["table"] + suffix, "l1": True, "l2": kWithL2})
                pg.create_table(pol["table"])
            self.tables[s.name] = pol.get("table")
            pols.append(pol)
        self.strata = env.start_strata(env.config_text(pg, pols, kJournalModes[mode_index]),
                                       upstream=redis, binary=binary)
        self.client = env.Client(self.strata.port, timeout=kFlushTimeoutMs / 1000 + 10)
        for name, table in self.tables.items():
            preflight(self.client, name, table, pg)


def pg_backend_ticks(pg):
    """utime+stime of the postmaster's TCP client backends (the connections strata holds open;
    not autovacuum workers, which come and go)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                tcp = b"127.0.0.1(" in f.read()
        except OSError:
            continue
        if int(fields[1]) == pg.proc.pid and tcp:
            total += int(fields[11]) + int(fields[12])
    return total


def flush_behind(client):
    t0 = time.monotonic()
    reply = env.call(client, "STRATA", "FLUSH-BEHIND", str(kFlushTimeoutMs))
    if isinstance(reply, env.Err):
        sys.exit(f"STRATA FLUSH-BEHIND: {reply}")
    return time.monotonic() - t0


def preflight(client, name, table, pg):
    key = f"{name}:preflight"
    got = env.call(client, "SET", key, env.kValue)
    if got != b"OK":
        sys.exit(f"SET {key} through strata: {got!r} (is the policy layer in this build?)")
    got = env.call(client, "GET", key)
    if got != env.kValue:
        sys.exit(f"GET {key} after SET: {got!r}")
    in_pg = table and pg.sql(f"SELECT count(*) FROM {table} WHERE key = '{key}'") == "1"
    if table and name != "wb" and not in_pg:
        sys.exit(f"{name}: SET acknowledged but {table} has no row for {key}")


def measure(inst, pg, name, pipeline):
    strata, client, table = inst.strata, inst.client, inst.tables[name]
    command = ["SET", f"{name}:__rand_int__", env.kValue.decode()]
    run = lambda n: env.redis_benchmark(strata.port, command, n, kClients, pipeline, kKeys)
    cal = run(kCalRequests)
    if cal["seconds"] < kCalMinSeconds:  # too short to trust: a second, ~1 s calibration
        cal = run(env.sized_requests(cal["rps"], kCalMinSeconds))
    n = env.sized_requests(cal["rps"], kSeconds)
    if name == "wb":
        flush_behind(client)
    rows0 = pg.settled_rows(table) if table else 0
    info0 = env.policy_stats(client)
    cpu0, pgcpu0 = env.cpu_ticks(strata.pid), pg_backend_ticks(pg)
    machine0 = env.machine_and_own_ticks()
    res = run(n)
    others = env.others_share(machine0, env.machine_and_own_ticks(), res["seconds"])
    flush_s = flush_behind(client) if name == "wb" else 0.0
    rows = (pg.settled_rows(table) - rows0) if table else 0  # also lets overshoot requests end
    cpu1, pgcpu1 = env.cpu_ticks(strata.pid), pg_backend_ticks(pg)
    info1 = env.policy_stats(client)
    writes = env.stat_delta(info0, info1, f"{name}:", "writes")
    if table and writes < n:  # more is fine: pipelines overshoot -n
        print(f"WARNING {name} P{pipeline} ({inst.tag}): strata counted {writes} writes for {n}"
              " SETs (error replies?)", flush=True)
    n = max(n, writes)
    res.update(n=n, rows=rows, flush_s=flush_s, writes=writes, others=others,
               cpu_us=env.cpu_seconds(cpu1 - cpu0) * 1e6 / n,
               pg_cpu_us=env.cpu_seconds(pgcpu1 - pgcpu0) * 1e6 / n,
               rows_per_s=rows / (res["seconds"] + flush_s) if table else 0.0,
               batches=env.stat_delta(info0, info1, f"{name}:", "wb_batches"))
    return res


def write_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))


def settle(instances, still_s=kSettleStillS, timeout_s=kSettleTimeoutS):
    """Waits until no strata has written to disk for `still_s` (a journal spare being zero-filled
    after the preflight or the last write-behind run, in whichever strata): the next run must
    not share the core and the disk with it. Returns the seconds waited."""
    t0 = time.monotonic()
    pids = [i.strata.pid for i in instances]
    last, since = [write_bytes(p) for p in pids], t0
    while time.monotonic() - t0 < timeout_s:
        time.sleep(0.1)
        now = [write_bytes(p) for p in pids]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= still_s:
            break
    return time.monotonic() - t0


def median_result(runs):
    out = {k: statistics.median(r[k] for r in runs) for k in kNumeric}
    out["disturbed"] = max(r["others"] for r in runs) > env.kOthersMax
    return out


def main():
    env.place_processes()
    binaries = [("new", env.strata_bin())]
    if os.environ.get("STRATA_BIN_BASE"):
        binaries.insert(0, ("base", env.strata_bin("STRATA_BIN_BASE")))
    pg = env.Postgres().start()
    redis = env.start_redis() if kWithL2 else None
    modes = sorted({s.mode_index for s in slots()})
    inst = {(tag, j): Instance(tag, path, j, pg, redis) for tag, path in binaries for j in modes}
    print(f"# write strategies: SET {len(env.kValue)}-byte values, {kClients} clients, -r {kKeys},"
          f" ~{kSeconds:g}s per run, {kRounds} round(s) (median per strategy),"
          f" strata --workers {os.environ.get('STRATA_WORKERS', '1')},"
          f" PostgreSQL fsync={'on' if env.pg_durable() else 'off'}, write-behind journal modes:"
          f" {', '.join(mode_label(m) for m in kJournalModes)}, PG strategies"
          f" {'L1+L2' if kWithL2 else 'L1'}, {os.cpu_count()} cores", flush=True)
    print(f"# {env.placement_note()}", flush=True)
    for tag, path in binaries:
        print(f"# {tag}: {path}", flush=True)
    if len(binaries) == 2:
        print("# A/B: base and new alternate for every strategy in every round", flush=True)
    runs, repeats = {}, 0
    machine0, t0 = env.machine_and_own_ticks(), time.monotonic()
    settled = settle(inst.values())
    print(f"# start-up writes (journal spares) settled after {settled:.1f} s", flush=True)
    for pipeline in kPipelines:
        for rnd in range(1, kRounds + 1):
            order = [tag for tag, _ in binaries]
            if rnd % 2 == 0:
                order.reverse()
            for s in slots():
                for tag in order:
                    for _ in range(kMaxTries):  # again while others took too much of the CPU
                        settled += settle(inst.values())
                        r = measure(inst[(tag, s.mode_index)], pg, s.name, pipeline)
                        if r["others"] <= env.kOthersMax:
                            break
                        repeats += 1
                    runs.setdefault((pipeline, s.key, tag), []).append(r)
    machine1, t1 = env.machine_and_own_ticks(), time.monotonic()
    results = {k: median_result(v) for k, v in runs.items()}
    report(results, [tag for tag, _ in binaries])
    print(f"{repeats} run(s) repeated because other processes took more than {env.kOthersMax:.0%}"
          " of the machine's CPU meanwhile (at most 3 tries)"
          + ("; '!' marks a row one of whose runs still was"
             if any(r["disturbed"] for r in results.values()) else ""))
    print(f"waited {settled:.1f} s in all for strata's disk writes to settle before runs")
    print(env.others_note(machine0, machine1, t1 - t0))
    if os.environ.get("BENCH_PG_STATEMENTS", "0") == "1":
        print("PostgreSQL statements by total time (calls, rows, ms, us/row, query):")
        print(pg.sql("SELECT calls || ' ' || rows || ' ' || round(total_exec_time) || ' ' ||"
                     " round((1000 * total_exec_time / greatest(rows, 1))::numeric, 2) || ' ' ||"
                     " left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM"
                     " pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6"))
    env.harness.cleanup()


def ratio(a, b):
    return a / b if b else float("inf")


def mark(label, *results):  # "!": other processes took more than kOthersMax in one of its runs
    return label + ("!" if any(r["disturbed"] for r in results) else "")


def report(results, tags):
    ab = len(tags) == 2
    wide = max(len(s.label) for s in slots()) + 1
    if not ab:
        hdr = (f"{'P':>3} {'strategy':{wide}} {'SET/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
               f" {'max ms':>7} {'us/SET':>7} {'PG rows':>8} {'rows/s':>8} {'rows/SET':>8}"
               f" {'PG us/SET':>9} {'PG us/row':>9} {'flush s':>7}")
    else:
        hdr = (f"{'P':>3} {'strategy':{wide}} {'SET/s base':>10} {'SET/s new':>10} {'n/b':>5}"
               f" {'p50 base':>8} {'p50 new':>8} {'p99 base':>8} {'p99 new':>8} {'n/b':>5}"
               f" {'us/SET b':>8} {'us/SET n':>8} {'n/b':>5} {'rows/SET b':>10} {'rows/SET n':>10}"
               f" {'PG us/SET b':>11} {'PG us/SET n':>11}")
    print(hdr)
    print("-" * len(hdr))
    csv_lines = ["binary,pipeline,strategy,journal,requests,set_per_s,p50_ms,p99_ms,max_ms,"
                 "strata_cpu_us_per_set,pg_rows,pg_rows_per_s,rows_per_set,pg_cpu_us_per_set,"
                 "flush_s,wb_batches"]
    spread = []
    for pipeline in kPipelines:
        for s in slots():
            rs = {t: results.get((pipeline, s.key, t)) for t in tags}
            if any(r is None for r in rs.values()):
                continue
            for t, r in rs.items():
                csv_lines.append(
                    f"{t},{pipeline},{s.name},{s.mode},{r['n']:.0f},{r['rps']:.0f},{r['p50']},"
                    f"{r['p99']},{r['max']},{r['cpu_us']:.3f},{r['rows']:.0f},"
                    f"{r['rows_per_s']:.0f},{r['rows'] / r['n']:.4f},{r['pg_cpu_us']:.3f},"
                    f"{r['flush_s']:.3f},{r['batches']:.0f}")
            pg_strategy = s.name != "l1"
            if not ab:
                r = rs["new"]
                pgcol = (f"{r['rows']:>8.0f} {r['rows_per_s']:>8.0f} {r['rows'] / r['n']:>8.3f}"
                         f" {r['pg_cpu_us']:>9.2f}"
                         f" {r['pg_cpu_us'] * r['n'] / max(r['rows'], 1):>9.2f}"
                         if pg_strategy else
                         f"{'-':>8} {'-':>8} {'-':>8} {'-':>9} {'-':>9}")
                print(f"{pipeline:>3} {mark(s.label, r):{wide}} {r['rps']:>9.0f} {r['p50']:>7.3f}"
                      f" {r['p99']:>7.3f} {r['max']:>7.3f} {r['cpu_us']:>7.2f} {pgcol}"
                      f" {r['flush_s']:>7.2f}")
                continue
            b, n = rs["base"], rs["new"]
            spread += [ratio(n["rps"], b["rps"]), ratio(n["p99"], b["p99"])]
            pgcol = (f"{b['rows'] / b['n']:>10.3f} {n['rows'] / n['n']:>10.3f}"
                     f" {b['pg_cpu_us']:>11.2f} {n['pg_cpu_us']:>11.2f}" if pg_strategy else
                     f"{'-':>10} {'-':>10} {'-':>11} {'-':>11}")
            print(f"{pipeline:>3} {mark(s.label, b, n):{wide}} {b['rps']:>10.0f} {n['rps']:>10.0f}"
                  f" {ratio(n['rps'], b['rps']):>5.2f} {b['p50']:>8.3f} {n['p50']:>8.3f}"
                  f" {b['p99']:>8.3f} {n['p99']:>8.3f} {ratio(n['p99'], b['p99']):>5.2f}"
                  f" {b['cpu_us']:>8.2f} {n['cpu_us']:>8.2f} {ratio(n['cpu_us'], b['cpu_us']):>5.2f}"
                  f" {pgcol}")
    if not ab:
        print("us/SET: strata CPU per SET; PG us/SET: PostgreSQL backends' CPU per SET (us/row:"
              " per row written); rows/s over the run plus the FLUSH-BEHIND that followed it")
    else:
        print("p50/p99 in ms; us/SET: strata CPU per SET; PG us/SET: PostgreSQL backends' CPU per"
              " SET; n/b: new/base")
        if spread:
            print(f"new/base over all rows (SET/s and p99): from {min(spread):.2f} to"
                  f" {max(spread):.2f} (median {statistics.median(spread):.2f})")
    verdicts(results, tags)
    if os.environ.get("BENCH_OUT"):
        with open(os.environ["BENCH_OUT"], "w") as f:
            f.write("\n".join(csv_lines) + "\n")
        print(f"CSV: {os.environ['BENCH_OUT']}")


def verdicts(results, tags):
    ab = len(tags) == 2
    met = {t: [] for t in tags}

    def line(tag, ok, text):
        if ok is not None:
            met[tag].append(ok)
        status = "PASS" if ok else "FAIL" if ok is not None else "info"
        print(f"  {status}  {f'[{tag:4}] ' if ab else ''}{text}")

    print()
    print(f"verdicts ({env.placement()} placement; ratios measured in this run):")
    wbs = [s for s in slots() if s.name == "wb"]
    for s in wbs:
        for pipeline in kPipelines:
            for t in tags:
                wb, l1 = results.get((pipeline, s.key, t)), results.get((pipeline, "l1", t))
                if wb and l1:
                    x = ratio(wb["p99"], l1["p99"])
                    line(t, x <= kWbP99RatioMax,
                         f"write-behind p99 / L1-only p99, journal {mode_label(s.mode)}, P{pipeline}:"
                         f" x{x:.2f} ({wb['p99']:.3f} / {l1['p99']:.3f} ms; target"
                         f" <= {kWbP99RatioMax:g})")
    for s in wbs:
        for pipeline in kPipelines:
            for t in tags:
                wb, wt = results.get((pipeline, s.key, t)), results.get((pipeline, "wt", t))
                if wb and wt:
                    x = ratio(wb["rps"], wt["rps"])
                    judged = pipeline == kWbWtRatePipeline
                    line(t, x >= kWbWtRateMin if judged else None,
                         f"write-behind / write-through SET/s, journal {mode_label(s.mode)},"
                         f" P{pipeline}: x{x:.1f} ({wb['rps']:.0f} / {wt['rps']:.0f}; "
                         + (f"target >= {kWbWtRateMin:g})" if judged else "not judged)"))
    for t in tags:
        if met[t]:
            print(f"  {f'[{t:4}] ' if ab else ''}{sum(met[t])}/{len(met[t])} targets met")


if __name__ == "__main__":
    main()
