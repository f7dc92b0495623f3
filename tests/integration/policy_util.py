"""Shared pieces of the issue-3 suites (per-prefix policies, PostgreSQL tier, write strategies):
a reconnecting client, PostgreSQL inspection of strata_kv, INFO's # Policies section, the
policy-file template, and the phase runner."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

kOk = b"+OK\r\n"
kNil = b"$-1\r\n"
kFlushTimeoutMs = 20000  # STRATA FLUSH-BEHIND deadline in tests (PostgreSQL just restarted)

# The default strata_kv created before strata starts (strata creates the same if missing), plus
# a trigger logging every applied (key, version) with a serial id: the crash test's and the
# coalescing check's record of what reached PostgreSQL, in order.
kSchema = """
CREATE TABLE IF NOT EXISTS strata_kv(key text PRIMARY KEY, value bytea, version bigint,
                                     updated_at timestamptz);
CREATE TABLE IF NOT EXISTS strata_kv_log(id bigserial PRIMARY KEY, key text, version bigint,
                                         op text, at timestamptz DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION strata_kv_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO strata_kv_log(key, version, op) VALUES (OLD.key, OLD.version, TG_OP);
    RETURN OLD;
  END IF;
  INSERT INTO strata_kv_log(key, version, op) VALUES (NEW.key, NEW.version, TG_OP);
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS strata_kv_log_trg ON strata_kv;
CREATE TRIGGER strata_kv_log_trg AFTER INSERT OR UPDATE OR DELETE ON strata_kv
  FOR EACH ROW EXECUTE FUNCTION strata_kv_log_fn();
"""


def bulk(v):
    if isinstance(v, str):
        v = v.encode()
    return b"$%d\r\n%s\r\n" % (len(v), v)


def q(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


Conn = harness.Conn  # re-exported: the suites import it from here


class CallInThread:
    """One command on its own connection in a thread (a request expected to block)."""

    def __init__(self, port, *args, timeout=30):
        self.reply = None
        self.done_at = None
        self.conn = Conn(port, timeout=timeout)
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)
        self.thread.start()

    def _run(self, *args):
        self.reply = self.conn.call(*args)
        self.done_at = time.monotonic()
        self.conn.close()

    def wait(self, timeout=30):
        self.thread.join(timeout)
        return self.reply

    def done(self):
        return not self.thread.is_alive()


# ---------------------------------------------------------------- PostgreSQL inspection


def pg_get(pg, key, table="strata_kv", key_col="key", value_col="value", version_col="version"):
    """(value bytes, version int) of `key` in PostgreSQL, or None. A row whose value is NULL is
    a write-behind delete's tombstone: the key is absent."""
    rows = pg.rows(f"SELECT encode({value_col}::bytea, 'hex'), {version_col} FROM {table} "
                   f"WHERE {key_col} = {q(key)} AND {value_col} IS NOT NULL")
    if not rows:
        return None
    return bytes.fromhex(rows[0][0]), int(rows[0][1]) if rows[0][1] else 0


def pg_value(pg, key, **kw):
    got = pg_get(pg, key, **kw)
    return None if got is None else got[0]


def pg_put(pg, key, value, version=1):
    """A row written behind strata's back (as another application would)."""
    pg.sql(f"INSERT INTO strata_kv(key, value, version, updated_at) VALUES "
           f"({q(key)}, convert_to({q(value)}, 'UTF8'), {version}, now()) ON CONFLICT (key) DO "
           f"UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, updated_at = now()")


def pg_log_versions(pg, key):
    return [int(r[0]) for r in pg.rows(f"SELECT version FROM strata_kv_log WHERE key = {q(key)} "
                                       f"AND op <> 'DELETE' ORDER BY id")]


# ---------------------------------------------------------------- INFO


def info_text(c):
    v = c.value("INFO", "all")
    return v if isinstance(v, bytes) else b""


def info_globals(c):
    out = {}
    for line in info_text(c).decode("utf-8", "replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def info_policies(c):
    """{prefix: {field: value}} from the # Policies section's policy_<i> lines."""
    out = {}
    in_section = False
    for line in info_text(c).decode("utf-8", "replace").splitlines():
        if line.startswith("#"):
            in_section = line.strip().lower() == "# policies"
            continue
        if not in_section or not line.startswith("policy_") or ":" not in line:
            continue
        fields = {}
        for part in line.split(":", 1)[1].strip().split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                fields[k] = v
        out[fields.get("prefix", "?")] = fields
    return out


def policy_counter(c, prefix, field):
    v = info_policies(c).get(prefix, {}).get(field)
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def global_int(c, field):
    try:
        return int(info_globals(c).get(field))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- config and runner


def policy_block(prefix, strategy, **fields):
    lines = ["[[policy]]", f'prefix = "{prefix}"', f'strategy = "{strategy}"']
    for k, v in fields.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str):
            v = f'"{v}"'
        lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


def base_config(pg, policies, default_strategy="cache", journal_dir="journal",
                shutdown_drain_ms=3000, pool_size=2, query_timeout_ms=8000, server="",
                journal_extra="", postgres_extra=""):
    conninfo = pg.conninfo() if pg is not None else ""
    pg_table = "" if pg is None else (
        f'[postgres]\nconninfo = "{conninfo}"\npool_size = {pool_size}\n'
        f"connect_timeout_ms = 1000\nquery_timeout_ms = {query_timeout_ms}\n"
        f"backoff_max_ms = 300\n{postgres_extra}\n")
    return (f"{server}" + pg_table +
            f'[journal]\ndir = "{journal_dir}"\nshutdown_drain_ms = {shutdown_drain_ms}\n'
            f"{journal_extra}\n"
            f'[default]\nstrategy = "{default_strategy}"\n\n' + "\n".join(policies))


def flush_behind(c, timeout_ms=kFlushTimeoutMs):
    old = c.timeout
    c.settimeout(timeout_ms / 1000 + 10)
    try:
        return c.call("STRATA", "FLUSH-BEHIND", str(timeout_ms))
    finally:
        c.settimeout(old)


def run_phases(chk, phases):
    for phase, args in phases:
        print(f"--- {phase.__name__}", flush=True)
        t0 = time.monotonic()
        try:
            phase(*args)
        except Exception as e:  # one broken phase is a failure, the next phases still run
            import traceback
            traceback.print_exc()
            chk.ok(False, phase.__name__, f"{type(e).__name__}: {e}")
        print(f"    ({time.monotonic() - t0:.1f}s)", flush=True)


def finish(chk, servers):
    for srv in servers:
        if srv is not None and not srv.alive():
            chk.ok(False, f"{srv.name} still running at the end", srv.log_tail())
    code = harness.finish(chk.failed)
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code
