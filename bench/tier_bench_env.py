"""Shared set-up for the issue-3 benchmarks (strategy_bench.py, refresh_ahead_bench.py,
read_tiers_bench.py): a throwaway PostgreSQL, a redis-server (L2) and strata started with a
generated TOML policy file, all on free loopback ports in temp dirs and stopped at exit (the
process handling of tests/integration/harness.py: atexit, signal handlers, PR_SET_PDEATHSIG).

Environment:
  STRATA_BIN      strata binary (default build/release/proxy/strata, else build/proxy/strata)
  STRATA_WORKERS  strata worker threads (default 1: redis-server is single-threaded too)
  STRATA_ARGS     extra strata flags, e.g. "--io epoll"
  BENCH_PG_FSYNC  on (default): PostgreSQL commits are durable (fsync, synchronous_commit), as a
                  system of record runs; off: fsync=off, synchronous_commit=off (test settings)
  BENCH_JOURNAL_FSYNC on (default): the write-behind journal fdatasyncs each group commit before
                  the OKs; off: [journal] fdatasync = false (acknowledged writes survive kill -9,
                  not a power cut: the pairing for BENCH_PG_FSYNC=off); a number N:
                  fdatasync_interval_ms = N (OKs from the page cache, an fdatasync every N ms:
                  survives kill -9, a power cut may lose the last N ms)
  BENCH_JOURNAL_DIR  parent dir of the write-behind journal (default: strata's temp dir, on the
                  same disk as PostgreSQL); /dev/shm takes the journal's fdatasync out of the
                  measurement (a bound, not a durable set-up)
  BENCH_PLACEMENT shared: PostgreSQL, strata and the load generator share every core (the
                  default of refresh_ahead_bench.py and read_tiers_bench.py);
                  split: PostgreSQL gets the last core to itself and everything else (strata,
                  redis-server, the load generator, this script) the others, for every run of
                  the benchmark alike -- the model of PostgreSQL on its own host, as deployed
                  (the default of strategy_bench.py, which sets default_placement).
                  On a 2-core machine a runnable strata worker waits up to a scheduler tick
                  (4 ms here) behind a PostgreSQL backend running a flush on its core, whatever
                  the backend's priority; see bench/README.md
  STRATA_KEEP_LOGS=1 keeps the temp dirs (logs, config) after the run
"""

import csv
import os
import signal
import subprocess
import sys
import tempfile
import time

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(kRepo, "tests", "integration"))

import harness  # noqa: E402  (process management shared with the integration tests)
import harness_pg  # noqa: E402  (their PostgreSQL and policy-file strata)
from resp_client import Client, Err, parse  # noqa: E402,F401

kOthersWarnShare = 0.05  # others_note() warns past this share of the machine's CPU
kOthersMax = float(os.environ.get("BENCH_OTHERS_MAX", "0.1"))  # a run where others took more
# of the machine's CPU is disturbed (strategy_bench.py measures it again)
kSettleTimeoutS = 30  # waiting for PostgreSQL's row count to stop moving after a run
kSettlePollS = 0.5
kValue = b"x" * 100  # every benchmark writes 100-byte values
kTableDdl = ("CREATE TABLE IF NOT EXISTS {t} (key text PRIMARY KEY, value bytea, "
             "version bigint, updated_at timestamptz)")


def strata_bin(var="STRATA_BIN"):
    """The strata binary named by env `var` (STRATA_BIN, or STRATA_BIN_BASE for A/B runs); for
    STRATA_BIN, unset means the build tree's."""
    if var != "STRATA_BIN":
        path = os.environ.get(var)
        if not path or not os.access(path, os.X_OK):
            sys.exit(f"{var}={path}: not an executable")
        return os.path.abspath(path)
    path = os.environ.get("STRATA_BIN")
    if not path:
        for cand in ("build/release/proxy/strata", "build/proxy/strata"):
            if os.access(os.path.join(kRepo, cand), os.X_OK):
                path = os.path.join(kRepo, cand)
                break
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"no strata binary (set STRATA_BIN); looked at {path or 'build/*/proxy/strata'}")
    return os.path.abspath(path)


def pg_durable():
    return os.environ.get("BENCH_PG_FSYNC", "on") != "off"


default_placement = "shared"  # a benchmark may change it before place_processes()


def placement():
    mode = os.environ.get("BENCH_PLACEMENT", default_placement)
    if mode not in ("shared", "split"):
        sys.exit(f"BENCH_PLACEMENT={mode}: expected shared or split")
    if mode == "split" and len(_kCpus) < 2:
        sys.exit("BENCH_PLACEMENT=split needs at least 2 cores")
    return mode


# Under split placement PostgreSQL runs on the last of these, everything else on the others.
_kCpus = sorted(os.sched_getaffinity(0))  # before place_processes() narrows them


def placement_note():
    """One line on what the placement in force means, for a benchmark's header."""
    if placement() == "split":
        rest = ",".join(str(c) for c in _kCpus[:-1])
        return (f"placement split: PostgreSQL alone on core {_kCpus[-1]}; strata, redis-server,"
                f" redis-benchmark and this script on core(s) {rest} -- PostgreSQL as on its own"
                " host, so a flush never delays a strata worker; it costs every strategy alike"
                " (strata shares its core with the load generator). BENCH_PLACEMENT=shared: every"
                " process on every core")
    return ("placement shared: every process on every core (a PostgreSQL backend's flush can"
            " hold a strata worker's core up to a scheduler tick; see bench/README.md)")


def place_processes():
    """Under split placement, confines this script -- and so every process it starts later but
    PostgreSQL -- to all cores but the last. Called before anything is started."""
    if placement() == "split":
        os.sched_setaffinity(0, _kCpus[:-1])


def _pg_child():
    split = placement() == "split"
    harness_pg._as_pg_user()
    if split:
        os.sched_setaffinity(0, _kCpus[-1:])


def journal_fsync():
    """'on', 'off', or the fdatasync_interval_ms as a string of digits."""
    mode = os.environ.get("BENCH_JOURNAL_FSYNC", "on")
    if mode not in ("on", "off") and not mode.isdigit():
        sys.exit(f"BENCH_JOURNAL_FSYNC={mode}: expected on, off or a number of milliseconds")
    return mode


class Postgres(harness_pg.PostgresServer):
    """harness_pg.PostgresServer (initdb in a temp dir, the postmaster our child so it dies with
    the benchmark) started with durable commits unless BENCH_PG_FSYNC=off: the test settings
    (fsync off) would flatter write-through."""

    def __init__(self):
        super().__init__("bench-pg")

    def start(self):
        durable = "on" if pg_durable() else "off"
        for _ in range(harness.kStartTries):
            port = harness.free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [os.path.join(harness_pg.kPgBinDir, "postgres"), "-D", self.data, "-p", str(port),
                 "-k", self.tmpdir, "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={durable}",
                 "-c", f"synchronous_commit={durable}", "-c", f"full_page_writes={durable}",
                 "-c", "max_connections=100", "-c", "log_min_messages=warning",
                 "-c", "shared_preload_libraries=pg_stat_statements"] + self.settings,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.tmpdir, preexec_fn=_pg_child)
            log.close()
            if self not in harness._procs:
                harness._procs.append(self)  # harness.cleanup() stops it at exit
            if self._wait_ready(port):
                self.port = port
                self.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                return self
            self._halt(signal.SIGKILL)
        sys.exit(f"postgres did not start; log:\n{self.log_tail()}")

    def create_table(self, table):
        self.sql(kTableDdl.format(t=table))

    def insert_keys(self, table, fmt_sql, count):
        """Rows key = fmt_sql (an SQL expression over i), value = kValue, version 1."""
        self.sql(f"INSERT INTO {table} SELECT {fmt_sql}, convert_to(repeat('x', {len(kValue)}),"
                 f" 'UTF8'), 1, now() FROM generate_series(0, {count - 1}) AS i "
                 "ON CONFLICT (key) DO NOTHING")

    def rows_written(self, table):
        """Rows inserted, updated or deleted by statements naming `table`, from
        pg_stat_statements: it counts when each statement ends, where pg_stat_user_tables'
        n_tup_* reach the shared counters only when a backend flushes its statistics, up to
        PGSTAT_IDLE_INTERVAL (10 s) after its last commit."""
        out = self.sql("SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE query"
                       f" ~* '\\m{table}\\M' AND query !~* '^\\s*select' AND query NOT ILIKE"
                       " '%pg_stat_statements%'")  # \m \M: bench_wb is not bench_wb_base
        return int(out or 0)

    def settled_rows(self, table):
        """rows_written once it stops moving (strata may still be finishing requests a client
        sent before it hung up: redis-benchmark's pipelines overshoot -n)."""
        deadline = time.monotonic() + kSettleTimeoutS
        last = self.rows_written(table)
        while time.monotonic() < deadline:
            time.sleep(kSettlePollS)
            now = self.rows_written(table)
            if now == last:
                return now
            last = now
        return last


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(pg, policies, journal_mode=None):
    """A strata policy file: [postgres] for `pg` (a Postgres or None), [journal] if
    BENCH_JOURNAL_DIR or the journal mode (`journal_mode`, else BENCH_JOURNAL_FSYNC: on, off or
    an interval in ms) say so, [default] (cache) and one [[policy]] per dict in `policies`
    (field -> value, 'prefix' first)."""
    mode = journal_mode or journal_fsync()
    lines = []
    if pg is not None:
        lines += ["[postgres]", f"conninfo = {toml_value(pg.conninfo())}", ""]
    journal = []
    if os.environ.get("BENCH_JOURNAL_DIR"):
        journal_dir = tempfile.mkdtemp(prefix="strata-bench-journal-",
                                       dir=os.environ["BENCH_JOURNAL_DIR"])
        harness._tmpdirs.append(journal_dir)  # removed at exit
        journal.append(f"dir = {toml_value(journal_dir)}")
    if mode == "off":
        journal.append("fdatasync = false")
    elif mode.isdigit():
        journal.append(f"fdatasync_interval_ms = {mode}")
    if journal:
        lines += ["[journal]", *journal, ""]
    lines += ["[default]", 'strategy = "cache"', ""]
    for p in policies:
        lines.append("[[policy]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in p.items()]
        lines.append("")
    return "\n".join(lines)


def start_redis():
    return harness.start_redis("bench-redis")


def start_strata(text, upstream=None, binary=None):
    """strata (`binary`, else strata_bin()) with the policy file `text` (in its temp dir, its
    cwd: the journal lands there), in front of `upstream` (a redis Server) if given."""
    default = strata_bin()
    os.environ["STRATA_BIN"] = binary or default  # the binary the harness starts
    extra = ["--workers", os.environ.get("STRATA_WORKERS", "1")]
    extra += os.environ.get("STRATA_ARGS", "").split()
    try:
        return harness_pg.start_strata_config(text, upstream=upstream, extra=extra,
                                              tag="bench-strata")
    except RuntimeError as e:
        sys.exit(f"strata did not start with the policy file:\n{text}\n{e}")
    finally:
        os.environ["STRATA_BIN"] = default  # as before: the resolved STRATA_BIN, for later use


def call(client, *args):
    return parse(client.call(*args))


def policy_stats(client):
    """INFO's # Policies section: prefix -> {field: int}, plus '' -> the global counters."""
    text = call(client, "INFO", "policies")
    if isinstance(text, Err) or b"policy_" not in text:
        text = call(client, "INFO", "everything")
    if isinstance(text, Err):
        sys.exit(f"INFO: {text}")
    out = {"": {}}
    for line in text.decode().splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, rest = line.partition(":")
        if name.startswith("policy_"):
            fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
            prefix = fields.pop("prefix", "")
            out[prefix] = {k: int(v) for k, v in fields.items() if v.lstrip("-").isdigit()}
        elif rest.strip().lstrip("-").isdigit():
            out[""][name] = int(rest)
    return out


def stat_delta(before, after, prefix, field):
    return after.get(prefix, {}).get(field, 0) - before.get(prefix, {}).get(field, 0)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def machine_and_own_ticks(root=None):
    """(user+nice+system ticks of the whole machine from /proc/stat, utime+stime+cutime+cstime of
    the process tree under `root` (default: this process) -- live descendants and the reaped
    ones their parents accounted). The difference of their deltas over a run is what other
    processes on the machine took meanwhile."""
    root = root or os.getpid()
    procs, children = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(p)] = sum(int(x) for x in fields[11:15])
        children.setdefault(int(fields[1]), []).append(int(p))
    own, todo = 0, [root]
    while todo:
        pid = todo.pop()
        own += procs.get(pid, 0)
        todo += children.get(pid, [])
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    return int(cpu[1]) + int(cpu[2]) + int(cpu[3]), own


def others_share(start, end, seconds):
    """The share of the machine's CPU other processes took between two machine_and_own_ticks()
    samples `seconds` apart."""
    others = cpu_seconds((end[0] - start[0]) - (end[1] - start[1]))
    return max(others, 0) / (max(seconds, 1e-3) * (os.cpu_count() or 1))


def others_note(start, end, seconds):
    """A line on the CPU other processes took between two machine_and_own_ticks() samples;
    starts with WARNING past 5% of the machine."""
    others = cpu_seconds((end[0] - start[0]) - (end[1] - start[1]))
    share = others / (seconds * (os.cpu_count() or 1)) if seconds > 0 else 0.0
    text = (f"other processes on this machine took {max(others, 0):.1f} CPU-s during the"
            f" {seconds:.0f} s of measurements ({max(share, 0):.0%} of {os.cpu_count()} cores)")
    if share > kOthersWarnShare:
        return (f"WARNING: {text}: every figure is disturbed (most where they ran); rerun on a"
                " quiet machine")
    return text


def cpu_seconds(ticks):
    return ticks / os.sysconf("SC_CLK_TCK")


def redis_benchmark(port, command, requests, clients=50, pipeline=1, keyspace=100000):
    """One redis-benchmark run of `command` (a list, may hold __rand_int__): a dict with rps,
    p50/p99/max (ms) and seconds (wall clock). redis-benchmark counts error replies as done
    requests, so callers check the server's own counters."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c",
            str(clients), "-P", str(pipeline), "-r", str(keyspace), "--csv", *command]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    secs = time.monotonic() - t0
    rows = list(csv.reader(r.stdout.decode().splitlines()))
    if r.returncode != 0 or len(rows) < 2 or len(rows[-1]) < 8:
        sys.exit(f"redis-benchmark failed: {' '.join(argv)}\n{r.stdout.decode()[-500:]}"
                 f"{r.stderr.decode()[-500:]}")
    row = rows[-1]
    return {"rps": float(row[1]), "avg": float(row[2]), "p50": float(row[4]),
            "p99": float(row[6]), "max": float(row[7]), "seconds": secs}


def sized_requests(rate, seconds, lo=2000, hi=5_000_000):
    return max(lo, min(hi, int(rate * seconds)))


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]
