"""Integration-test harness: real redis-server and strata processes on loopback ports, killed at
exit. The raw RESP client (exact reply bytes) lives in resp_client.py and is re-exported here.

Environment:
  STRATA_BIN         path to the strata binary (set by ctest).
  STRATA_TEST_FAKE=1 development only: "strata" is a second redis-server (standalone) or a tiny
                     forwarding proxy in this process (upstream mode), so the harness can be
                     developed before strata exists. Never set in CI.
  STRATA_START_TIMEOUT_S  readiness timeout (default 20; sanitizer builds start slowly).
  STRATA_TEST_ARGS   extra flags for every strata started (e.g. "--io epoll").
  STRATA_TEST_WORKERS  --workers for every strata whose test does not choose (default: strata's,
                     one per core); the ThreadSanitizer pass sets 2, so workers share the Store,
                     the write-behind queues and the journal ledger on any machine.
  STRATA_KEEP_LOGS=1 keep the servers' temp dirs (logs) after the test.

A sanitizer report fails the test: finish() scans the log of every strata started for one, and
an exit with kSanitizerExitCode (the TSan pass's TSAN_OPTIONS exitcode) counts as one too.

Every process started here dies with the test: atexit, SIGTERM/SIGINT/SIGHUP handlers, and
PR_SET_PDEATHSIG in the child (so even a SIGKILLed test leaves nothing behind).
"""

import atexit
import ctypes
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from resp_client import (  # noqa: F401  (re-exported: tests use harness.Client etc.)
    ConnectionClosed, Client, Double, Err, Push, ReplyError, RSet, encode, kReadTimeoutS, parse,
    shape)

kStartTimeoutS = float(os.environ.get("STRATA_START_TIMEOUT_S", "20"))
kPortLo, kPortHi = 20000, 32000  # below Linux's ephemeral range, so clients don't steal ports
kStartTries = 5

_procs = []
_tmpdirs = []
_strata_servers = []  # every strata started, for the sanitizer-log scan in finish()
kSanitizerMarks = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                   b"ERROR: ThreadSanitizer", b"WARNING: ThreadSanitizer")
kSanitizerExitCode = 66  # ThreadSanitizer's exit code after a report (scripts/test.sh sets it)
_cleanup_lock = threading.Lock()


# ---------------------------------------------------------------- process management


def _pdeathsig():
    # Child side of fork: die with the parent (the test), whatever kills it.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def cleanup():
    with _cleanup_lock:
        while _procs:
            proc = _procs.pop()
            proc.stop()
        while _tmpdirs:
            d = _tmpdirs.pop()
            if os.environ.get("STRATA_KEEP_LOGS") == "1":
                sys.stderr.write(f"harness: kept {d}\n")
            else:
                shutil.rmtree(d, ignore_errors=True)


def _on_signal(signum, _frame):
    cleanup()
    sys.stderr.write(f"harness: killed by signal {signum}\n")
    os._exit(128 + signum)


atexit.register(cleanup)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def make_tmpdir(tag):
    d = tempfile.mkdtemp(prefix=f"strata-it-{tag}-")
    _tmpdirs.append(d)
    return d


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    for _ in range(200):
        port = random.randint(kPortLo, kPortHi)
        if port_is_free(port):
            return port
    raise RuntimeError("no free loopback port found")


def is_fake():
    return os.environ.get("STRATA_TEST_FAKE") == "1"


def fake_run():
    """True, having printed an empty result, when STRATA_TEST_FAKE asks a suite to start no
    server (the suite then returns 0)."""
    if not is_fake():
        return False
    print("STRATA_TEST_FAKE: nothing to run")
    print("0 passed, 0 failed")
    return True


def strata_bin():
    path = os.environ.get("STRATA_BIN")
    if not path and not is_fake():
        raise RuntimeError("STRATA_BIN is not set (ctest sets it; or STRATA_TEST_FAKE=1 for dev)")
    return path


def default_workers():
    """["--workers", N] from STRATA_TEST_WORKERS, placed before a test's own flags (the last
    --workers wins, so a test that picks its count keeps it)."""
    n = os.environ.get("STRATA_TEST_WORKERS", "")
    return ["--workers", n] if n else []


def strata_bench_bin():
    """strata-bench: STRATA_BENCH_BIN (ctest sets it), else next to strata in the build tree."""
    return os.environ.get("STRATA_BENCH_BIN") or os.path.join(
        os.path.dirname(strata_bin()), "..", "bench", "strata-bench")


class Server:
    """A child process listening on 127.0.0.1:port, with its output in a log file."""

    def __init__(self, name, argv, port, tmpdir, env=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.tmpdir = tmpdir
        self.log_path = os.path.join(tmpdir, f"{name}.log")
        self.proc = None
        self.runs = []  # every process started (restarts too), for sanitizer_reports()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        self.spawn()
        return self.wait_ready()

    def spawn(self):
        """Starts the process without waiting for it to serve. From the main thread only: the
        child's parent-death signal fires when the thread that started it ends."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir,
                                     preexec_fn=_pdeathsig,
                                     env=dict(os.environ, **self.env) if self.env else None)
        log.close()
        self.runs.append(self.proc)
        _procs.append(self)

    def wait_ready(self):
        deadline = time.monotonic() + kStartTimeoutS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                c = Client(self.port, timeout=2.0)
                reply = c.call("PING")
                c.close()
                if reply == b"+PONG\r\n" or reply.startswith(b"-NOAUTH"):  # up, maybe locked
                    return True
            except (OSError, ConnectionClosed, ReplyError):
                pass
            time.sleep(0.05)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in _procs:
            _procs.remove(self)

    def cpu_ticks(self):
        """utime+stime of the process in clock ticks (from /proc/PID/stat)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])


def _start_with_retries(name, make_argv, tmpdir, port=None, env=None):
    last = None
    for _ in range(kStartTries if port is None else 1):
        p = port or free_port()
        srv = Server(name, make_argv(p), p, tmpdir, env)
        if srv.start():
            return srv
        last = srv.log_tail()
        srv.stop()
    raise RuntimeError(f"{name} did not become ready; log tail:\n{last}")


def redis_argv(port, tmpdir, extra=()):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", tmpdir, *extra]


def start_redis(tag="redis", extra=(), port=None):
    tmpdir = make_tmpdir(tag)
    return _start_with_retries(tag, lambda p: redis_argv(p, tmpdir, extra), tmpdir, port)


def restart_server(srv):
    """Starts a stopped server again on the same port with the same arguments."""
    srv.stop()
    deadline = time.monotonic() + 10
    while not port_is_free(srv.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not srv.start():
        raise RuntimeError(f"{srv.name} did not restart; log tail:\n{srv.log_tail()}")
    return srv


def restart_now(srv, timeout=10):
    """Starts a stopped (or killed) server again on the same port without waiting for the port
    to look free: strata binds with SO_REUSEADDR, so the TIME_WAIT leftovers of its killed
    connections do not block it. Retries while the bind still fails."""
    srv.stop()
    deadline = time.monotonic() + timeout
    while True:
        if srv.start():
            return srv
        srv.stop()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{srv.name} did not restart; log tail:\n{srv.log_tail()}")
        time.sleep(0.1)


def start_strata(upstream=None, extra=(), tag="strata", env=None):
    """Starts strata (standalone, or in front of `upstream`, a Server) on a free port;
    env: variables added to strata's environment."""
    tmpdir = make_tmpdir(tag)
    if is_fake():
        if upstream is None:
            return _start_with_retries(tag, lambda p: redis_argv(p, tmpdir, extra), tmpdir)
        return FakeProxy(upstream.port)
    binary = strata_bin()

    def argv(p):
        a = [binary, "--bind", "127.0.0.1", "--port", str(p)]
        if upstream is not None:
            a += ["--upstream", f"127.0.0.1:{upstream.port}"]
        return a + default_workers() + list(extra) + os.environ.get("STRATA_TEST_ARGS", "").split()

    srv = _start_with_retries(tag, argv, tmpdir, env=env)
    _strata_servers.append(srv)
    return srv


def sanitizer_reports():
    """Sanitizer findings in the logs of every strata started so far (after they stopped), and
    strata processes that exited with the sanitizer exit code."""
    found = []
    for srv in _strata_servers:
        try:
            with open(srv.log_path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        exits = [p.returncode for p in srv.runs if p.poll() == kSanitizerExitCode]
        if any(m in text for m in kSanitizerMarks) or exits:
            note = f"(exited {len(exits)} time(s) with {kSanitizerExitCode})\n" if exits else ""
            found.append((srv.name, note + text[-6000:].decode("utf-8", "replace")))
    return found


def finish(failed):
    """Stops every server, fails on sanitizer reports in strata's logs; returns the exit code."""
    for srv in list(_procs):
        srv.stop()
    reports = sanitizer_reports()
    for name, text in reports:
        print(f"FAIL sanitizer report in {name}'s log:\n{text}")
    return 1 if failed or reports else 0


class FakeProxy:
    """Development stand-in for `strata --upstream`: forwards bytes, one upstream per client."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(512)
        self.port = self.lsock.getsockname()[1]
        self.pid = os.getpid()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def alive(self):
        return True

    def log_tail(self, n=30):
        return ""

    def stop(self):
        self.lsock.close()


class Checks:
    """Counts checks; prints each failure with its detail as it happens."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}{': ' + str(detail) if detail != '' else ''}", flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what, f"got {got!r}, want {want!r}")


class Conn:
    """A client that turns a failed call into a marker reply and reconnects on the next call,
    so one dropped connection is one failed check, not a crashed suite."""

    def __init__(self, port, timeout=kReadTimeoutS):
        self.port = port
        self.timeout = timeout
        self.client = None

    def call(self, *args):
        try:
            if self.client is None:
                self.client = Client(self.port, timeout=self.timeout)
            return self.client.call(*args)
        except (OSError, ConnectionClosed, ReplyError) as e:
            self.close()
            return f"<{type(e).__name__}: {e}>".encode()

    def value(self, *args):
        raw = self.call(*args)
        try:
            return parse(raw)
        except Exception:  # a marker reply from a failed call
            return Err(raw.decode("utf-8", "replace"))

    def send(self, *args):
        """Sends without reading (the reply is read later with read())."""
        if self.client is None:
            self.client = Client(self.port, timeout=self.timeout)
        self.client.send(encode(*args))

    def read(self, timeout=None):
        if timeout is not None:
            self.client.settimeout(timeout)
        try:
            return self.client.read_reply()
        finally:
            if timeout is not None:
                self.client.settimeout(self.timeout)

    def settimeout(self, t):
        self.timeout = t
        if self.client:
            self.client.settimeout(t)

    def close(self):
        if self.client:
            self.client.close()
        self.client = None


def run_threads_for(seconds, jobs, join_timeout=30):
    """Starts a thread per (function, args) in jobs, each called with args + (stop,) where stop
    is a threading.Event set after `seconds`; returns once they are joined."""
    stop = threading.Event()
    threads = [threading.Thread(target=fn, args=tuple(args) + (stop,)) for fn, args in jobs]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(join_timeout)


def wait_for(pred, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except (OSError, ConnectionClosed, ReplyError):
            pass
        time.sleep(interval)
    return False


def alive_check(port):
    """A fresh client can PING, SET and GET: the server is alive and serving."""
    c = Client(port)
    try:
        key = b"alive:%d" % random.randint(0, 1 << 30)
        assert c.call("PING") == b"+PONG\r\n", "PING failed"
        assert c.call("SET", key, "v") == b"+OK\r\n", "SET failed"
        assert c.call("GET", key) == b"$1\r\nv\r\n", "GET failed"
        c.call("DEL", key)
    finally:
        c.close()


# PostgreSQL and policy-file strata live in harness_pg.py; imported last because it uses the
# process management above.
from harness_pg import (  # noqa: E402,F401
    PostgresServer, PsqlSession, SqlError, StrataConfig, _as_pg_user, _pg_account, kPgBinDir,
    kPgUser, kPsql, run_strata_once, start_postgres, start_strata_config, start_strata_configs,
    strata_config_argv)


# ---------------------------------------------------------------- node packages
# The npm packages the Node workloads use, installed once into a cache dir (env
# STRATA_NODE_CACHE, default <source>/build/node_cache) under a lock: client libraries (ioredis,
# node-redis), the `ws` WebSocket client, and puppeteer-core to drive Debian's chromium (it
# downloads no browser).
NODE_PACKAGES = {"ioredis": "^5.4.0", "redis": "^5.0.0", "ws": "^8.18.0",
                 "puppeteer-core": "^24.0.0"}
NPM_TIMEOUT_S = 300


def node_cache():
    d = os.environ.get("STRATA_NODE_CACHE")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        src = os.environ.get("STRATA_SOURCE_DIR", os.path.join(here, "..", ".."))
        d = os.path.join(src, "build", "node_cache")
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(d)


def ensure_node_packages():
    cache = node_cache()
    manifest = json.dumps({"name": "strata-itest-clients", "private": True,
                           "dependencies": NODE_PACKAGES}, indent=1)
    stamp = os.path.join(cache, "installed.json")
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # ctest may run two suites that both need it
        if os.path.exists(stamp) and open(stamp).read() == manifest:
            return os.path.join(cache, "node_modules")
        with open(os.path.join(cache, "package.json"), "w") as f:
            f.write(manifest)
        print(f"npm install into {cache}", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=cache, check=True, timeout=NPM_TIMEOUT_S, stdin=subprocess.DEVNULL)
        with open(stamp, "w") as f:
            f.write(manifest)
    return os.path.join(cache, "node_modules")
