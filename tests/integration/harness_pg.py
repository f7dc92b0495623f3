"""PostgreSQL and policy-file strata for the integration tests (issue 3), re-exported by
harness.py (tests and bench/ use harness.PostgresServer, harness.start_strata_config, ...).

PostgresServer runs initdb and the postmaster itself, as the postgres account when the tests run
as root, with the postmaster our child under PR_SET_PDEATHSIG so it never outlives the test.
STRATA_PG_BIN overrides the PostgreSQL binary dir."""

import os
import select
import signal
import subprocess
import time

import harness

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
    harness._pdeathsig()


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb in a temp dir) on a free loopback port. The
    postmaster is our direct child (not daemonized by pg_ctl) so it dies with the test, whatever
    kills it. stop() then start() again reuses the same data dir and port ("PostgreSQL stopped
    mid-run, then started again")."""

    def __init__(self, tag="pg", settings=()):
        self.tmpdir = harness.make_tmpdir(tag)
        self.data = os.path.join(self.tmpdir, "data")
        self.log_path = os.path.join(self.tmpdir, "postgres.log")
        self.port = None
        self.proc = None
        self.name = tag
        # ("name=value", ...) on top of the defaults below, later ones winning
        self.settings = [a for kv in settings for a in ("-c", kv)]
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
        tries = harness.kStartTries if self.port is None else 1
        last = ""
        for _ in range(tries):
            port = self.port or harness.free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [os.path.join(kPgBinDir, "postgres"), "-D", self.data, "-p", str(port),
                 "-k", self.tmpdir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "log_min_messages=warning",
                 # the change feed (logical replication) needs these
                 "-c", "wal_level=logical", "-c", "max_replication_slots=16",
                 "-c", "max_wal_senders=16"] + self.settings,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.tmpdir, preexec_fn=_as_pg_user)
            log.close()
            if self not in harness._procs:
                harness._procs.append(self)
            if self._wait_ready(port):
                self.port = port
                return self
            last = self.log_tail()
            self._halt(signal.SIGKILL)
        raise RuntimeError(f"postgres did not become ready; log tail:\n{last}")

    def _wait_ready(self, port):
        deadline = time.monotonic() + max(harness.kStartTimeoutS, 30)
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

    _halt = harness.Server.kill  # signal, wait (SIGKILL if it lingers); uses proc and alive()

    def stop(self, mode="fast"):
        """fast: SIGINT (abort sessions, clean shutdown); immediate: SIGQUIT (crash-like);
        kill: SIGKILL. The data dir stays; start() brings it back on the same port."""
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "kill": signal.SIGKILL}[mode]
        self._halt(sig)
        if mode == "kill":
            # Orphaned backends still hold the port and shared memory; they exit on their own
            # once they notice the postmaster is gone.
            harness.wait_for(lambda: harness.port_is_free(self.port), timeout=10)
        if self in harness._procs:
            harness._procs.remove(self)

    kill = harness.Server.kill

    log_tail = harness.Server.log_tail  # reads self.log_path

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
                                     preexec_fn=harness._pdeathsig)
        self.n = 0

    def run(self, statements, timeout=30):
        self.n += 1
        marker = f"strata-it-done-{self.n}"
        self.proc.stdin.write(f"{statements}\n\\echo {marker}\n".encode())
        self.proc.stdin.flush()
        out = []
        deadline = time.monotonic() + timeout
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


def start_postgres(tag="pg", settings=()):
    """settings: ("synchronous_commit=on", ...) over the defaults. The defaults commit without
    waiting for the WAL flush (synchronous_commit=off), so the WAL a change feed reads may wait
    for the WAL writer (wal_writer_delay, 200 ms): a test of the feed's lag wants it on."""
    return PostgresServer(tag, settings).start()


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
    return (a + harness.default_workers() + list(extra) +
            os.environ.get("STRATA_TEST_ARGS", "").split())


def start_strata_config(config_text, upstream=None, extra=(), tag="strata", tmpdir=None,
                        port=None, binary=None):
    """Writes `config_text` to strata.toml in a fresh temp dir (or `tmpdir`) and starts strata
    with --config on a free port (or `port`); returns a StrataConfig. `upstream` (a Server)
    is passed as --upstream; `binary` replaces STRATA_BIN (a benchmark's baseline build)."""
    tmpdir = tmpdir or harness.make_tmpdir(tag)
    path = os.path.join(tmpdir, "strata.toml")
    with open(path, "w") as f:
        f.write(config_text)
    binary = binary or harness.strata_bin()
    srv = harness._start_with_retries(
        tag, lambda p: strata_config_argv(binary, p, path, upstream, extra), tmpdir, port=port)
    harness._strata_servers.append(srv)
    return StrataConfig(srv, path)


def start_strata_configs(config_texts, extra=(), tag="strata"):
    """Several strata, one per config text, started at the same moment (all spawned, then
    each waited for): for races between processes. Returns their StrataConfigs."""
    started = []
    for i, text in enumerate(config_texts):
        tmpdir = harness.make_tmpdir(f"{tag}{i}")
        path = os.path.join(tmpdir, "strata.toml")
        with open(path, "w") as f:
            f.write(text)
        port = harness.free_port()
        while any(s.port == port for s in started):
            port = harness.free_port()
        srv = harness.Server(f"{tag}{i}", strata_config_argv(harness.strata_bin(), port, path,
                                                             None, extra), port, tmpdir)
        srv.spawn()
        harness._strata_servers.append(srv)
        started.append(StrataConfig(srv, path))
    for s in started:
        if not s.srv.wait_ready():
            raise RuntimeError(f"{s.srv.name} did not become ready; log tail:\n{s.log_tail()}")
    return started


def run_strata_once(config_text, tmpdir=None, extra=(), timeout=20, name="strata.toml"):
    """Runs strata with a config file that should be refused: returns (exit code or None if it
    kept running, output text, config path). A strata that keeps running is killed."""
    tmpdir = tmpdir or harness.make_tmpdir("strata-cfg")
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        f.write(config_text)
    argv = strata_config_argv(harness.strata_bin(), harness.free_port(), path, None, extra)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=tmpdir, preexec_fn=harness._pdeathsig)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        code = None
    return code, out.decode("utf-8", "replace"), path
