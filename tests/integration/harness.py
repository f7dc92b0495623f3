"""Integration-test harness: real redis-server and strata processes on loopback ports, killed at
exit. The raw RESP client (exact reply bytes) lives in resp_client.py and is re-exported here.

Environment:
  STRATA_BIN         path to the strata binary (set by ctest).
  STRATA_TEST_FAKE=1 development only: "strata" is a second redis-server (standalone) or a tiny
                     forwarding proxy in this process (upstream mode), so the harness can be
                     developed before strata exists. Never set in CI.
  STRATA_START_TIMEOUT_S  readiness timeout (default 20; sanitizer builds start slowly).
  STRATA_TEST_ARGS   extra flags for every strata started (e.g. "--io epoll").
  STRATA_KEEP_LOGS=1 keep the servers' temp dirs (logs) after the test.

Every process started here dies with the test: atexit, SIGTERM/SIGINT/SIGHUP handlers, and
PR_SET_PDEATHSIG in the child (so even a SIGKILLed test leaves nothing behind).
"""

import atexit
import ctypes
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


def strata_bin():
    path = os.environ.get("STRATA_BIN")
    if not path and not is_fake():
        raise RuntimeError("STRATA_BIN is not set (ctest sets it; or STRATA_TEST_FAKE=1 for dev)")
    return path


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

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir,
                                     preexec_fn=_pdeathsig,
                                     env=dict(os.environ, **self.env) if self.env else None)
        log.close()
        _procs.append(self)
        return self.wait_ready()

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
        return a + list(extra) + os.environ.get("STRATA_TEST_ARGS", "").split()

    srv = _start_with_retries(tag, argv, tmpdir, env=env)
    _strata_servers.append(srv)
    return srv


def sanitizer_reports():
    """Sanitizer findings in the logs of every strata started so far (after they stopped)."""
    found = []
    for srv in _strata_servers:
        try:
            with open(srv.log_path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        if any(m in text for m in kSanitizerMarks):
            found.append((srv.name, text[-6000:].decode("utf-8", "replace")))
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


# ---------------------------------------------------------------- PostgreSQL

kPgBinDir = os.environ.get("STRATA_PG_BIN", "/usr/lib/postgresql/15/bin")
kPsql = "/usr/bin/psql"
kPgUser = "postgres"  # the OS account initdb/postgres run as when the tests run as root


class SqlError(Exception):
    pass


def _pg_account():
    """(uid, gid) to drop to before exec'ing initdb/postgres (they refuse root), or None."""
    if os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam(kPgUser)
    return pw.pw_uid, pw.pw_gid


def _as_pg_user():
    # Child side of fork: become the postgres account, then die with the test. The parent-death
    # signal is cleared by a credential change, so it is set after setuid.
    acct = _pg_account()
    if acct is not None:
        os.setgroups([])
        os.setgid(acct[1])
        os.setuid(acct[0])
    _pdeathsig()


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb in a temp dir) on a free loopback port. The
    postmaster is our direct child (not daemonized by pg_ctl) so it dies with the test, whatever
    kills it. stop() then start() again reuses the same data dir and port ("PostgreSQL stopped
    mid-run, then started again")."""

    def __init__(self, tag="pg"):
        self.tmpdir = make_tmpdir(tag)
        self.data = os.path.join(self.tmpdir, "data")
        self.log_path = os.path.join(self.tmpdir, "postgres.log")
        self.port = None
        self.proc = None
        self.name = tag
        acct = _pg_account()
        if acct is not None:
            os.chown(self.tmpdir, *acct)
            os.chmod(self.tmpdir, 0o700)
        r = subprocess.run([os.path.join(kPgBinDir, "initdb"), "-D", self.data, "-U", kPgUser,
                            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           preexec_fn=_as_pg_user, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stdout.decode(errors='replace')[-2000:]}")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def conninfo(self, dbname="postgres"):
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={kPgUser}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts the postmaster (a free port the first time, the same port afterwards) and
        waits until it answers queries."""
        tries = kStartTries if self.port is None else 1
        last = ""
        for _ in range(tries):
            port = self.port or free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [os.path.join(kPgBinDir, "postgres"), "-D", self.data, "-p", str(port),
                 "-k", self.tmpdir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "log_min_messages=warning"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.tmpdir, preexec_fn=_as_pg_user)
            log.close()
            if self not in _procs:
                _procs.append(self)
            if self._wait_ready(port):
                self.port = port
                return self
            last = self.log_tail()
            self._halt(signal.SIGKILL)
        raise RuntimeError(f"postgres did not become ready; log tail:\n{last}")

    def _wait_ready(self, port):
        deadline = time.monotonic() + max(kStartTimeoutS, 30)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            r = subprocess.run([kPsql, "-h", "127.0.0.1", "-p", str(port), "-U", kPgUser,
                                "-d", "postgres", "-At", "-c", "SELECT 1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, PGCONNECT_TIMEOUT="2"), timeout=10)
            if r.returncode == 0 and r.stdout.strip() == b"1":
                return True
            time.sleep(0.1)
        return False

    def _halt(self, sig):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self, mode="fast"):
        """fast: SIGINT (abort sessions, clean shutdown); immediate: SIGQUIT (crash-like);
        kill: SIGKILL. The data dir stays; start() brings it back on the same port."""
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "kill": signal.SIGKILL}[mode]
        self._halt(sig)
        if mode == "kill":
            # Orphaned backends still hold the port and shared memory; they exit on their own
            # once they notice the postmaster is gone.
            wait_for(lambda: port_is_free(self.port), timeout=10)
        if self in _procs:
            _procs.remove(self)

    def kill(self, sig=signal.SIGKILL):
        self._halt(sig)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def psql_argv(self, dbname="postgres"):
        return [kPsql, "-h", "127.0.0.1", "-p", str(self.port), "-U", kPgUser, "-d", dbname,
                "-At", "-v", "ON_ERROR_STOP=1", "-X", "-q"]

    def sql(self, query, dbname="postgres", timeout=30):
        """Runs `query` (one or more statements) with psql -At; returns stdout as text with the
        trailing newline removed (rows on lines, columns separated by '|'). SqlError on error."""
        r = subprocess.run(self.psql_argv(dbname) + ["-c", query], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout,
                           env=dict(os.environ, PGCONNECT_TIMEOUT="5"))
        if r.returncode != 0:
            raise SqlError(f"{query[:200]!r}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode("utf-8", "replace").rstrip("\n")

    def rows(self, query, dbname="postgres"):
        out = self.sql(query, dbname)
        return [line.split("|") for line in out.split("\n")] if out else []

    def session(self, dbname="postgres"):
        """A psql session held open (stdin pipe): for locks held across strata requests."""
        return PsqlSession(self, dbname)


class PsqlSession:
    """One long-lived psql connection fed through stdin. run(sql) waits until the statements
    have executed (a marker echoed after them comes back), so a LOCK is held when it returns."""

    def __init__(self, pg, dbname="postgres"):
        self.proc = subprocess.Popen(pg.psql_argv(dbname), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_pdeathsig)
        self.n = 0

    def run(self, statements, timeout=30):
        self.n += 1
        marker = f"strata-it-done-{self.n}"
        self.proc.stdin.write(f"{statements}\n\\echo {marker}\n".encode())
        self.proc.stdin.flush()
        out = []
        deadline = time.monotonic() + timeout
        import select
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise SqlError(f"psql session ended: {''.join(out)}")
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text == marker:
                return "\n".join(out)
            out.append(text)
        raise SqlError(f"psql session: no answer within {timeout}s to {statements[:200]!r}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_postgres(tag="pg"):
    return PostgresServer(tag).start()


# ---------------------------------------------------------------- strata with a policy file


class StrataConfig:
    """strata started with a generated TOML policy file written into its temp dir (its cwd, so
    a relative journal dir lives inside it). write(text) replaces the file (for reload tests);
    restart() starts it again on the same port, dir and journal."""

    def __init__(self, srv, path):
        self.srv = srv
        self.path = path

    def __getattr__(self, name):
        return getattr(self.srv, name)

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)


def strata_config_argv(binary, port, path, upstream=None, extra=()):
    a = [binary, "--bind", "127.0.0.1", "--port", str(port), "--config", path]
    if upstream is not None:
        a += ["--upstream", f"127.0.0.1:{upstream.port}"]
    return a + list(extra) + os.environ.get("STRATA_TEST_ARGS", "").split()


def start_strata_config(config_text, upstream=None, extra=(), tag="strata", tmpdir=None,
                        port=None):
    """Writes `config_text` to strata.toml in a fresh temp dir (or `tmpdir`) and starts strata
    with --config on a free port (or `port`); returns a StrataConfig. `upstream` (a Server)
    is passed as --upstream."""
    tmpdir = tmpdir or make_tmpdir(tag)
    path = os.path.join(tmpdir, "strata.toml")
    with open(path, "w") as f:
        f.write(config_text)
    binary = strata_bin()
    srv = _start_with_retries(tag, lambda p: strata_config_argv(binary, p, path, upstream, extra),
                              tmpdir, port=port)
    _strata_servers.append(srv)
    return StrataConfig(srv, path)


def run_strata_once(config_text, tmpdir=None, extra=(), timeout=20, name="strata.toml"):
    """Runs strata with a config file that should be refused: returns (exit code or None if it
    kept running, output text, config path). A strata that keeps running is killed."""
    tmpdir = tmpdir or make_tmpdir("strata-cfg")
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        f.write(config_text)
    argv = strata_config_argv(strata_bin(), free_port(), path, None, extra)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=tmpdir, preexec_fn=_pdeathsig)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        code = None
    return code, out.decode("utf-8", "replace"), path
