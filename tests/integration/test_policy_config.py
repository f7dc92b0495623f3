#!/usr/bin/env python3
"""Policy-file validation: strata started with each kind of mistake exits 1 and its output
names the file, the line and the field (the message shape is checked loosely: file name,
":LINE:", field name, and for enumerations what is allowed). Then a running strata is sent
each bad file by STRATA RELOAD and SIGHUP: refused, running policies unchanged. No PostgreSQL
is needed: strata validates before connecting."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import Conn, kOk  # noqa: E402

kRefuseTimeoutS = 5  # a refused file makes strata exit at once; this bounds a wrong strata
kMark = "  # <-- the mistake"
kConninfo = 'conninfo = "host=127.0.0.1 port=1 dbname=postgres user=postgres"'

kGood = f"""[postgres]
{kConninfo}

[journal]
dir = "journal"

[default]
strategy = "cache"
ttl_ms = 0

[[policy]]
prefix = "user:"
strategy = "write-through"
ttl_ms = 300000

[[policy]]
prefix = "chat:"
strategy = "write-behind"
flush_interval_ms = 100

[[policy]]
prefix = "stats:"
strategy = "refresh-ahead"
ttl_ms = 10000
refresh_point = 0.8
"""


def mutate(old, new, text=kGood, count=1):
    assert old in text, old
    return text.replace(old, new + kMark, count)


# (name, config text with the bad line marked, fields that must appear in the message,
#  whether the marked line number must appear). The marked line is the offending one.
kCases = [
    ("unknown strategy", mutate('strategy = "write-behind"', 'strategy = "write-behnd"'),
     ["strategy", "write-behnd", "write-through", "write-around", "refresh-ahead", "chat:"], True),
    ("unknown key in [[policy]]", mutate("flush_interval_ms = 100", "flush_intervall_ms = 100"),
     ["flush_intervall_ms"], True),
    ("unknown key in [postgres]", mutate(kConninfo, kConninfo + "\npoolsize = 3"), ["poolsize"],
     True),
    ("unknown key in [journal]", mutate('dir = "journal"', 'directory = "journal"'),
     ["directory"], True),
    ("unknown table", mutate("[journal]", "[jornal]"), ["jornal"], True),
    ("duplicate prefix", mutate('prefix = "stats:"', 'prefix = "user:"'), ["prefix", "user:"],
     True),
    ("l1 and l2 both off with cache", kGood + '\n[[policy]]\nprefix = "x:"\nstrategy = "cache"\n'
     'l1 = false\nl2 = false' + kMark + "\n", ["l1", "l2"], True),
    ("PostgreSQL strategy without conninfo", kGood.replace(kConninfo, 'pool_size = 2'),
     ["conninfo"], False),
    ("refresh-ahead without ttl", mutate("ttl_ms = 10000", "ttl_ms = 0"), ["ttl_ms"], True),
    ("refresh_point out of range", mutate("refresh_point = 0.8", "refresh_point = 1.5"),
     ["refresh_point"], True),
    ("refresh_point zero", mutate("refresh_point = 0.8", "refresh_point = 0.0"),
     ["refresh_point"], True),
    ("max_batch zero", mutate("flush_interval_ms = 100", "flush_interval_ms = 100\nmax_batch = 0"),
     ["max_batch"], True),
    ("max_batch too big",
     mutate("flush_interval_ms = 100", "flush_interval_ms = 100\nmax_batch = 10001"),
     ["max_batch"], True),
    ("negative ttl", mutate("ttl_ms = 300000", "ttl_ms = -5"), ["ttl_ms"], True),
    ("wrong type", mutate("ttl_ms = 300000", 'ttl_ms = "five minutes"'), ["ttl_ms"], True),
    ("bad boolean", mutate("ttl_ms = 300000", 'ttl_ms = 300000\nl1 = "maybe"'), ["l1"], True),
    ("bad table identifier",
     mutate("ttl_ms = 300000", 'ttl_ms = 300000\ntable = "kv; DROP TABLE x"'), ["table"], True),
    ("bad column identifier",
     mutate("ttl_ms = 300000", 'ttl_ms = 300000\nkey_column = "1key"'), ["key_column"], True),
    ("TOML syntax error", mutate("ttl_ms = 300000", "ttl_ms = = 3"), [], True),
    ("policy without prefix", kGood + '\n[[policy]]\nstrategy = "write-through"' + kMark + "\n",
     ["prefix"], False),
]

kValidSchemaTable = mutate("ttl_ms = 300000", 'ttl_ms = 300000\ntable = "app.kv_user"')


def marked_line(text):
    for i, line in enumerate(text.splitlines(), 1):
        if kMark in line:
            return i
    return None


def check_message(chk, name, out, fields, line, want_line):
    path_ok = "strata.toml" in out
    chk.ok(path_ok, f"{name}: the message names the file", out[-400:])
    m = re.search(r"strata\.toml:(\d+):", out)
    chk.ok(m is not None, f"{name}: message has FILE:LINE:", out[-400:])
    if m and want_line and line is not None:
        chk.eq(int(m.group(1)), line, f"{name}: the line of the mistake")
    for f in fields:
        chk.ok(f in out, f"{name}: the message names '{f}'", out[-400:])


def startup_refusals(chk):
    tmp = harness.make_tmpdir("cfg")
    for name, text, fields, want_line in kCases:
        code, out, _ = harness.run_strata_once(text, tmpdir=tmp, timeout=kRefuseTimeoutS)
        chk.eq(code, 1, f"{name}: strata exits 1")
        chk.ok(not any(m.decode() in out for m in harness.kSanitizerMarks),
               f"{name}: no sanitizer report", out[-2000:])
        check_message(chk, name, out, fields, marked_line(text), want_line)
    code, out, _ = harness.run_strata_once(kValidSchemaTable, tmpdir=tmp, timeout=3)
    chk.ok(code is None, "schema.table identifier is accepted (strata keeps running)",
           f"exit {code}: {out[-300:]}")
    bad_dir = kGood.replace('dir = "journal"', 'dir = "/proc/strata-no-such/journal"')
    code, out, _ = harness.run_strata_once(bad_dir, tmpdir=tmp, timeout=kRefuseTimeoutS)
    chk.eq(code, 1, "an unusable journal dir: strata exits 1")
    chk.ok("/proc/strata-no-such" in out, "an unusable journal dir: the message names it",
           out[-300:])
    example = os.path.join(os.environ.get("STRATA_SOURCE_DIR", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")), "config", "strata.example.toml")
    with open(example) as f:
        code, out, _ = harness.run_strata_once(f.read(), tmpdir=tmp, timeout=3)
    chk.ok(code is None, "config/strata.example.toml is accepted", f"exit {code}: {out[-300:]}")
    code, out, _ = harness.run_strata_once(kGood, tmpdir=tmp, timeout=3)
    chk.ok(code is None, "the good file starts (PostgreSQL unreachable is not a config error)",
           f"exit {code}: {out[-300:]}")


def cache_only(extra=""):
    return ('[default]\nstrategy = "cache"\n\n[[policy]]\nprefix = "a:"\nstrategy = "cache"\n'
            'ttl_ms = 1000\n\n[[policy]]\nprefix = "b:"\nstrategy = "cache"\nl2 = false\n' + extra)


def reload_refusals(chk):
    srv = harness.start_strata_config(cache_only(), tag="strata-cfg-reload")
    c = Conn(srv.port)
    before = c.value("STRATA", "POLICY", "LIST")
    chk.ok(isinstance(before, list) and len(before) == 3, "POLICY LIST of the running file", before)
    for name, text, fields, _ in kCases:
        srv.write(text)
        reply = c.call("STRATA", "RELOAD")
        chk.ok(reply.startswith(b"-ERR reload refused: ") and b"strata.toml" in reply,
               f"RELOAD refused: {name}", reply[:300])
        for f in fields[:1]:
            chk.ok(f.encode() in reply, f"RELOAD refused: {name}: names '{f}'", reply[:300])
        chk.eq(c.value("STRATA", "POLICY", "LIST"), before, f"RELOAD refused: {name}: unchanged")
    for name, text, _, _ in kCases[:3]:
        srv.write(text)
        os.kill(srv.pid, signal.SIGHUP)
        time.sleep(0.3)
        chk.ok(srv.alive(), f"SIGHUP with a bad file ({name}): strata keeps running")
        chk.eq(c.value("STRATA", "POLICY", "LIST"), before, f"SIGHUP refused: {name}: unchanged")
    chk.ok("strata.toml" in srv.log_tail(80), "a refused SIGHUP reload is logged with the file",
           srv.log_tail(10))
    srv.write(cache_only('\n[[policy]]\nprefix = "c:"\nstrategy = "cache"\n'))
    chk.eq(c.call("STRATA", "RELOAD"), kOk, "RELOAD of a good file after refused ones")
    chk.eq(len(c.value("STRATA", "POLICY", "LIST") or []), 4, "the good file's policies apply")
    srv.write(cache_only().replace("[default]", '[server]\nmaxclients = 7\n\n[default]'))
    reply = c.call("STRATA", "RELOAD")
    chk.ok(reply == kOk or reply.startswith(b"-ERR reload refused"),
           "RELOAD with a changed [server] table answers", reply)
    c.close()
    srv.stop()


def main():
    chk = harness.Checks()
    for phase in (startup_refusals, reload_refusals):
        print(f"--- {phase.__name__}", flush=True)
        try:
            phase(chk)
        except Exception as e:
            import traceback
            traceback.print_exc()
            chk.ok(False, phase.__name__, f"{type(e).__name__}: {e}")
    code = harness.finish(chk.failed)
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
