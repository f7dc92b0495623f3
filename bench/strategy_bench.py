#!/usr/bin/python3
"""Write throughput per strategy against one PostgreSQL, in one run (issue 3, Performance).

One strata, one PostgreSQL, a prefix per strategy, each in its own table:
  l1:  strategy cache, l1 only          (the L1-only baseline, no PostgreSQL)
  wt:  write-through                    (reply after the PostgreSQL commit)
  wa:  write-around                     (reply after the commit, L1 invalidated)
  wb:  write-behind                     (reply after the journal's fdatasync; batches later)
PostgreSQL strategies keep L1 only (l2 = false) so the write-behind/L1-only latency ratio
compares like with like; BENCH_L2=1 starts a redis-server and gives them L2 too.

For pipelines 1 and 16: redis-benchmark `SET <p>:__rand_int__ <100 bytes>`, 50 clients, 100000
random keys; a calibration run first (also the warm-up: 1000 SETs, then ~1 s if those were
quicker) sizes the measured run to about BENCH_SECONDS. Printed per strategy: SET/s, p50/p99
(ms), strata CPU per SET (utime+stime from /proc), PostgreSQL rows written (the `rows` of
pg_stat_statements for statements on the strategy's table, counted as each ends;
pg_stat_user_tables lags up to 10 s; for write-behind after STRATA FLUSH-BEHIND), rows/s over
run + flush, rows per SET written (coalescing), PostgreSQL backends' CPU per SET; then the
ratios issue 3 targets:
  write-behind SET/s / write-through SET/s   (target >= 10)
  write-behind SET p99 / L1-only SET p99     (target <= 2)
Every run's SET count is checked against strata's own `writes` counter (redis-benchmark does
not fail on error replies; with pipelining it sends a little more than -n, so strata's count is
the denominator of the per-SET figures).

Env: BENCH_SECONDS (4), BENCH_CLIENTS (50), BENCH_KEYS (100000), BENCH_PIPELINES ("1 16"),
     BENCH_CAL_REQUESTS (1000), BENCH_L2 (0), BENCH_ROUNDS (1; more alternate the strategies and
     keep each one's fastest round), BENCH_STRATEGIES ("l1 wt wa wb": a subset, e.g. "l1 wb"
     for the p99 ratio alone), BENCH_OUT (CSV file to write), BENCH_PG_STATEMENTS (0; 1 prints
     the statements PostgreSQL spent most time in, from pg_stat_statements), plus those of
     tier_bench_env.py (STRATA_BIN, STRATA_WORKERS, STRATA_ARGS, BENCH_PG_FSYNC).
"""

import os
import sys
import time

import tier_bench_env as env

kSeconds = float(os.environ.get("BENCH_SECONDS", "4"))
kClients = int(os.environ.get("BENCH_CLIENTS", "50"))
kKeys = int(os.environ.get("BENCH_KEYS", "100000"))
kPipelines = [int(p) for p in os.environ.get("BENCH_PIPELINES", "1 16").split()]
kCalRequests = int(os.environ.get("BENCH_CAL_REQUESTS", "1000"))
kCalMinSeconds = 1.0
kWithL2 = os.environ.get("BENCH_L2", "0") == "1"
kRounds = int(os.environ.get("BENCH_ROUNDS", "1"))
kFlushTimeoutMs = 120000
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


def policies():
    out = []
    for name, _, p in kTargets:
        pol = {"prefix": f"{name}:"}
        pol.update(p)
        if "table" in p:
            pol.update({"l1": True, "l2": kWithL2})
        out.append(pol)
    return out


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


def measure(strata, pg, client, name, table, pipeline):
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
    res = run(n)
    flush_s = flush_behind(client) if name == "wb" else 0.0
    rows = (pg.settled_rows(table) - rows0) if table else 0  # also lets overshoot requests end
    cpu1, pgcpu1 = env.cpu_ticks(strata.pid), pg_backend_ticks(pg)
    info1 = env.policy_stats(client)
    writes = env.stat_delta(info0, info1, f"{name}:", "writes")
    if table and writes < n:  # more is fine: pipelines overshoot -n
        print(f"WARNING {name} P{pipeline}: strata counted {writes} writes for {n} SETs "
              "(error replies?)", flush=True)
    n = max(n, writes)
    res.update(n=n, rows=rows, flush_s=flush_s, writes=writes,
               cpu_us=env.cpu_seconds(cpu1 - cpu0) * 1e6 / n,
               pg_cpu_us=env.cpu_seconds(pgcpu1 - pgcpu0) * 1e6 / n,
               rows_per_s=rows / (res["seconds"] + flush_s) if table else 0.0,
               batches=env.stat_delta(info0, info1, f"{name}:", "wb_batches"))
    return res


def main():
    env.place_processes()
    pg = env.Postgres().start()
    for _, _, p in kTargets:
        if "table" in p:
            pg.create_table(p["table"])
    redis = env.start_redis() if kWithL2 else None
    strata = env.start_strata(env.config_text(pg, policies()), upstream=redis)
    client = env.Client(strata.port, timeout=kFlushTimeoutMs / 1000 + 10)
    for name, _, p in kTargets:
        preflight(client, name, p.get("table"), pg)
    print(f"# write strategies: SET {len(env.kValue)}-byte values, {kClients} clients, -r {kKeys},"
          f" ~{kSeconds:g}s per run, {kRounds} round(s),"
          f" strata --workers {os.environ.get('STRATA_WORKERS', '1')},"
          f" PostgreSQL fsync={'on' if env.pg_durable() else 'off'}, journal fdatasync="
          f"{env.journal_fsync()}, placement {env.placement()}, PG strategies"
          f" {'L1+L2' if kWithL2 else 'L1'}, {os.cpu_count()} cores shared by all processes",
          flush=True)
    results = {}
    for pipeline in kPipelines:
        for _ in range(kRounds):  # rounds alternate the targets; each keeps its fastest
            for name, _, p in kTargets:
                r = measure(strata, pg, client, name, p.get("table"), pipeline)
                best = results.get((pipeline, name))
                if best is None or r["rps"] > best["rps"]:
                    results[(pipeline, name)] = r
    report(results)
    if os.environ.get("BENCH_PG_STATEMENTS", "0") == "1":
        print("PostgreSQL statements by total time (calls, rows, ms, us/row, query):")
        print(pg.sql("SELECT calls || ' ' || rows || ' ' || round(total_exec_time) || ' ' ||"
                     " round((1000 * total_exec_time / greatest(rows, 1))::numeric, 2) || ' ' ||"
                     " left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM"
                     " pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6"))
    env.harness.cleanup()


def report(results):
    labels = {name: label for name, label, _ in kTargets}
    hdr = (f"{'P':>3} {'strategy':16} {'SET/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
           f" {'us/SET':>7} {'PG rows':>8} {'rows/s':>8} {'rows/SET':>8} {'PG us/SET':>9} {'PG us/row':>9}"
           f" {'flush s':>7}")
    print(hdr)
    print("-" * len(hdr))
    csv_lines = ["pipeline,strategy,requests,set_per_s,p50_ms,p99_ms,max_ms,strata_cpu_us_per_set,"
                 "pg_rows,pg_rows_per_s,rows_per_set,pg_cpu_us_per_set,flush_s,wb_batches"]
    for (pipeline, name), r in results.items():
        pgcol = (f"{r['rows']:>8} {r['rows_per_s']:>8.0f} {r['rows'] / r['n']:>8.3f}"
                 f" {r['pg_cpu_us']:>9.2f} {r['pg_cpu_us'] * r['n'] / max(r['rows'], 1):>9.2f}"
                 if name != "l1" else f"{'-':>8} {'-':>8} {'-':>8} {'-':>9} {'-':>9}")
        print(f"{pipeline:>3} {labels[name]:16} {r['rps']:>9.0f} {r['p50']:>7.3f} {r['p99']:>7.3f}"
              f" {r['max']:>7.3f} {r['cpu_us']:>7.2f} {pgcol} {r['flush_s']:>7.2f}")
        csv_lines.append(f"{pipeline},{name},{r['n']},{r['rps']:.0f},{r['p50']},{r['p99']},"
                         f"{r['max']},{r['cpu_us']:.3f},{r['rows']},{r['rows_per_s']:.0f},"
                         f"{r['rows'] / r['n']:.4f},{r['pg_cpu_us']:.3f},{r['flush_s']:.3f},"
                         f"{r['batches']}")
    print("us/SET: strata CPU per SET; PG us/SET: PostgreSQL backends' CPU per SET (us/row: per"
          " row written); rows/s over the run plus the FLUSH-BEHIND that followed it")
    for pipeline in kPipelines:
        wb, wt, l1 = (results.get((pipeline, n)) for n in ("wb", "wt", "l1"))
        parts = []
        if wb and wt:
            rate = wb["rps"] / wt["rps"] if wt["rps"] else float("inf")
            parts.append(f"write-behind/write-through SET rate x{rate:.1f} (target >= 10: "
                         f"{'met' if rate >= 10 else 'NOT met'})")
        if wb and l1:
            p99 = wb["p99"] / l1["p99"] if l1["p99"] else float("inf")
            parts.append(f"write-behind/L1-only SET p99 x{p99:.2f}"
                         f" (target <= 2: {'met' if p99 <= 2 else 'NOT met'})")
        if parts:
            print(f"P{pipeline}: " + "; ".join(parts))
    if os.environ.get("BENCH_OUT"):
        with open(os.environ["BENCH_OUT"], "w") as f:
            f.write("\n".join(csv_lines) + "\n")
        print(f"CSV: {os.environ['BENCH_OUT']}")


if __name__ == "__main__":
    main()
