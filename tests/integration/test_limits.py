#!/usr/bin/env python3
"""strata's command line and memory limit: --help, bad flags refused at start-up, --maxmemory
with suffixes, --config FILE, and for every eviction policy: writing 5x maxmemory keeps L1 within
its limit, evicts, keeps the newest keys and never answers a cache write with an error."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import encode  # noqa: E402

kExitWaitS = 10
kMaxmemory = 8 << 20
kValueBytes = 10 * 1024
kKeys = 5 * kMaxmemory // kValueBytes  # five times what fits
kUsedSlack = 1.10                      # accounting rounding: L1 may exceed its limit by 10%
kFillMin = 0.5                         # after the flood, at least half of maxmemory holds values
kRecencyPolicies = ("lru", "fifo")     # where "the newest keys survive" is the policy's promise


def run_cli(*args):
    try:
        p = subprocess.run([harness.strata_bin(), *args], capture_output=True, text=True,
                           timeout=kExitWaitS, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return None, "did not exit"


def info(port):
    c = harness.Client(port)
    text = harness.parse(c.call("INFO", "all"))
    c.close()
    return dict(line.split(b":", 1) for line in bytes(text).splitlines() if b":" in line)


def cli(chk):
    code, out = run_cli("--help")
    chk.ok(code == 0 and "--maxmemory" in out, "--help exits 0 and lists flags", f"{code} {out[:200]}")
    port = str(harness.free_port())
    bad = [("--eviction", "bogus"), ("--maxmemory", "abc"), ("--maxmemory", "10xb"),
           ("--port", "70000"), ("--port", "-1"), ("--workers", "abc"), ("--upstream", "nocolon"),
           ("--nosuchflag", "1"), ("--config", "/nonexistent/strata.toml")]
    for flag, value in bad:
        code, out = run_cli("--port", port, flag, value)
        chk.ok(code not in (0, None) and out.strip(), f"{flag} {value} is refused at start-up",
               f"exit {code}, output {out[:200]!r}")
    code, out = run_cli("--port", port, "--eviction", "bogus")
    m = re.search(r"known: ([a-z0-9, -]+)", out)
    return [p.strip() for p in m.group(1).split(",")] if m else ["s3fifo", "lru"]


def maxmemory_suffixes(chk):
    for text, want in (("100mb", 100 << 20), ("1gb", 1 << 30), ("5000000", 5000000),
                       ("64MB", 64 << 20)):
        srv = harness.start_strata(extra=("--maxmemory", text), tag="strata-mm")
        got = info(srv.port).get(b"maxmemory")
        chk.ok(got == str(want).encode(), f"--maxmemory {text}", f"INFO maxmemory {got!r}")
        srv.stop()


def config_file(chk):
    tmp = harness.make_tmpdir("config")
    path = os.path.join(tmp, "strata.toml")
    with open(path, "w") as f:
        f.write('[server]\nmaxmemory = "16mb"\neviction = "lru"\n')
    srv = harness.start_strata(extra=("--config", path), tag="strata-config")
    got = info(srv.port)
    chk.ok(got.get(b"maxmemory") == str(16 << 20).encode(), "--config sets maxmemory",
           repr(got.get(b"maxmemory")))
    srv.stop()
    with open(path, "w") as f:
        f.write('[server]\nno_such_setting = 1\n')
    code, out = run_cli("--port", str(harness.free_port()), "--config", path)
    chk.ok(code not in (0, None), "an unknown config key is refused", f"exit {code} {out[:200]!r}")


def eviction(chk, policy):
    srv = harness.start_strata(extra=("--maxmemory", str(kMaxmemory), "--eviction", policy),
                               tag=f"strata-{policy}")
    c = harness.Client(srv.port)
    value = b"v" * kValueBytes
    errors = 0
    batch = 200
    for start in range(0, kKeys, batch):
        end = min(start + batch, kKeys)
        c.send(b"".join(encode("SET", f"ev:{i}", value) for i in range(start, end)))
        errors += sum(1 for _ in range(start, end) if c.read_reply() != b"+OK\r\n")
    chk.ok(errors == 0, f"[{policy}] every SET answered +OK while evicting", f"{errors} errors")
    st = info(srv.port)
    used = int(st.get(b"l1_used_bytes", st.get(b"used_memory", b"0")))
    evicted = int(st.get(b"l1_evictions", st.get(b"evicted_keys", b"0")))
    chk.ok(used <= kMaxmemory * kUsedSlack, f"[{policy}] L1 within maxmemory",
           f"used {used} > {kMaxmemory}")
    chk.ok(evicted > 0, f"[{policy}] evictions counted", f"{evicted}")
    if policy in kRecencyPolicies:  # scan-resistant policies may rightly drop the newest
        newest = [c.call("GET", f"ev:{i}") for i in range(kKeys - 20, kKeys)]
        kept = sum(1 for r in newest if r.endswith(value + b"\r\n"))
        chk.ok(kept >= 15, f"[{policy}] the newest keys are kept", f"{kept}/20")
    dbsize = harness.parse(c.call("DBSIZE"))
    chk.ok(0 < dbsize < kKeys, f"[{policy}] DBSIZE counts only resident keys", f"{dbsize}")
    resident = sum(1 for i in range(kKeys) if len(c.call("GET", f"ev:{i}")) > kValueBytes)
    chk.ok(resident == dbsize, f"[{policy}] DBSIZE equals the keys GET finds",
           f"DBSIZE {dbsize}, found {resident}")
    chk.ok(resident * kValueBytes >= kMaxmemory * kFillMin,
           f"[{policy}] L1 is actually used (not over-evicting)",
           f"{resident} x {kValueBytes} B resident of {kMaxmemory}")
    c.close()
    harness.alive_check(srv.port)
    srv.stop()


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    policies = cli(chk)
    print(f"eviction policies: {policies}")
    for step in (maxmemory_suffixes, config_file):
        try:
            step(chk)
        except Exception as e:  # report and go on
            chk.ok(False, step.__name__, f"{type(e).__name__}: {e}")
    for policy in policies:
        try:
            eviction(chk, policy)
        except Exception as e:
            chk.ok(False, f"eviction {policy}", f"{type(e).__name__}: {e}")
    code = harness.finish(chk.failed)
    chk.ok(code == 0 or chk.failed, "no sanitizer reports")
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
