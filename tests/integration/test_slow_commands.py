#!/usr/bin/env python3
"""Slow commands through strata do not take other clients down (a real redis-server, its
lua-time-limit / busy-reply-threshold at the default 5 s, strata with 2 workers):

- a 6 s script returns its result while 50 other clients keep getting answers (or Redis's own
  -BUSY); nobody gets "connection lost" and strata logs no lost upstream connection;
- SCRIPT KILL sent through strata while a script runs reaches Redis at once: the script's client
  gets Redis's "killed by user" error, the others go on;
- a script started on Redis directly (not through strata: another instance, an operator) does
  not make strata drop its shared connections either (the reply timeout asks Redis first);
- DEBUG SLEEP past the reply timeout (strata at --upstream-reply-timeout-ms 1000) is waited for;
- a client's own order holds across the move to a lane: SET, EVAL, SET, GET pipelined see each
  other in the order sent;
- PING while a script runs is Redis's (-BUSY), as for a direct client.
Every socket read has a timeout: a hang is a failure."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import phases  # noqa: E402

kScriptS = 6
kOthers = 50
# Busy loop for ARGV[1] seconds by Redis's clock; returns 'done'. Read-only: SCRIPT KILL works.
kBusyScript = (
    "local t = redis.call('TIME') "
    "local start = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
    "while true do "
    "  local n = redis.call('TIME') "
    "  if tonumber(n[1]) + tonumber(n[2]) / 1000000 - start > tonumber(ARGV[1]) then break end "
    "end "
    "return 'done'")
kLostMarks = (b"connection lost", b"unavailable", b"<")  # "<...>": the harness's failed call


class Others:
    """kOthers clients in threads, each sending a mix of commands in a loop until stopped; every
    reply must be a normal one or Redis's -BUSY."""

    def __init__(self, port, tag):
        self.port = port
        self.tag = tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.busy = 0
        self.bad = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(kOthers)]

    def run(self, i):
        c = harness.Conn(self.port, timeout=30.0)
        key = f"{self.tag}:list:{i}"
        n = 0
        while not self.stop.is_set():
            n += 1
            for cmd in (("LPUSH", key, str(n)), ("GET", f"{self.tag}:hot"),
                        ("GET", f"{self.tag}:miss:{i}:{n % 7}"), ("INCR", f"{self.tag}:n:{i}")):
                reply = c.call(*cmd)
                with self.lock:
                    if reply.startswith(b"-BUSY"):
                        self.busy += 1
                    elif reply.startswith(b"-") or any(reply.startswith(m) for m in kLostMarks):
                        self.bad.append((cmd[0], reply[:120]))
                    else:
                        self.ok += 1
            time.sleep(0.05)
        c.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(40)
        return not any(t.is_alive() for t in self.threads)


def log_has_lost_upstream(strata):
    with open(strata.log_path, "rb") as f:
        text = f.read()
    return any(m in text for m in (b"reply timeout", b"unavailable", b"connection lost"))


def info_field(c, name):
    text = harness.parse(c.call("INFO", "all"))
    if not isinstance(text, bytes):
        return None
    for line in text.splitlines():
        if line.startswith(name.encode() + b":"):
            return line.split(b":", 1)[1].decode()
    return None


def script_with_others(chk, strata, tag):
    setup = harness.Conn(strata.port)
    setup.call("SET", f"{tag}:hot", "v")
    setup.call("GET", f"{tag}:hot")  # now an L1 hit
    others = Others(strata.port, tag)
    others.start()
    time.sleep(0.3)
    script = harness.Conn(strata.port, timeout=30.0)
    t0 = time.monotonic()
    reply = script.call("EVAL", kBusyScript, "0", str(kScriptS))
    took = time.monotonic() - t0
    chk.eq(reply, b"$4\r\ndone\r\n", "a 6 s script through strata returns its result")
    chk.ok(took >= kScriptS, "the script ran its 6 s", f"{took:.1f}s")
    time.sleep(0.5)  # the others get answers again once the script is over
    with others.lock:
        before = others.ok
    time.sleep(0.5)
    stopped = others.finish()
    chk.ok(stopped, "the other clients finished")
    chk.ok(not others.bad, "no other client got an error but -BUSY", others.bad[:5])
    chk.ok(others.busy > 0, "other clients got Redis's -BUSY while the script ran",
           f"ok={others.ok} busy={others.busy}")
    chk.ok(others.ok > before, "other clients are answered after the script",
           f"{before} -> {others.ok}")
    chk.eq(info_field(setup, "upstream_up"), "1", "INFO upstream_up after the script")
    chk.ok(not log_has_lost_upstream(strata), "strata lost no upstream connection",
           strata.log_tail(10))
    script.close()
    setup.close()


def script_kill(chk, strata, tag):
    others = Others(strata.port, tag)
    others.start()
    script = harness.Conn(strata.port, timeout=30.0)
    script.send("EVAL", kBusyScript, "0", str(kScriptS))
    time.sleep(1.0)
    killer = harness.Conn(strata.port, timeout=30.0)
    t0 = time.monotonic()
    # Redis reads other connections once the script is past busy-reply-threshold (5 s).
    chk.eq(killer.call("SCRIPT", "KILL"), b"+OK\r\n", "SCRIPT KILL through strata")
    chk.ok(time.monotonic() - t0 < kScriptS - 1.0,
           "SCRIPT KILL answered before the script would have ended")
    try:
        reply = script.read()
    except (OSError, harness.ConnectionClosed) as e:
        reply = f"<{e}>".encode()
    chk.ok(reply.startswith(b"-") and b"killed by user" in reply,
           "the script's client gets Redis's error for a killed script", reply[:160])
    time.sleep(0.5)
    chk.ok(others.finish(), "the other clients finished")
    chk.ok(not others.bad, "no other client got an error but -BUSY (SCRIPT KILL)", others.bad[:5])
    chk.eq(script.call("PING"), b"+PONG\r\n", "the script's client goes on")
    chk.ok(not log_has_lost_upstream(strata), "strata lost no upstream connection (SCRIPT KILL)",
           strata.log_tail(10))
    script.close()
    killer.close()


def script_from_outside(chk, strata, redis, tag):
    """A script run on Redis directly: strata's shared connections see Redis silent for 5 s."""
    others = Others(strata.port, tag)
    others.start()
    time.sleep(0.3)
    direct = harness.Conn(redis.port, timeout=30.0)
    chk.eq(direct.call("EVAL", kBusyScript, "0", str(kScriptS)), b"$4\r\ndone\r\n",
           "a script on Redis directly")
    time.sleep(0.5)
    chk.ok(others.finish(), "the other clients finished (script from outside)")
    chk.ok(not others.bad, "no client of strata got an error but -BUSY (script from outside)",
           others.bad[:5])
    chk.ok(not log_has_lost_upstream(strata),
           "strata lost no upstream connection (script from outside)", strata.log_tail(10))
    direct.close()


def debug_sleep(chk, redis):
    """DEBUG SLEEP (Redis answers nobody meanwhile) past strata's reply timeout, twice over."""
    strata = harness.start_strata(redis, extra=("--workers", "2", "--upstream-reply-timeout-ms",
                                                "1000"), tag="strata-sleep")
    others = Others(strata.port, "sleep")
    others.start()
    time.sleep(0.3)
    c = harness.Conn(strata.port, timeout=30.0)
    t0 = time.monotonic()
    chk.eq(c.call("DEBUG", "SLEEP", "3"), b"+OK\r\n", "DEBUG SLEEP 3 through strata")
    chk.ok(time.monotonic() - t0 >= 3.0, "DEBUG SLEEP slept")
    time.sleep(0.3)
    chk.ok(others.finish(), "the other clients finished (DEBUG SLEEP)")
    chk.ok(not others.bad, "no other client got an error (DEBUG SLEEP)", others.bad[:5])
    chk.ok(not log_has_lost_upstream(strata), "strata lost no upstream connection (DEBUG SLEEP)",
           strata.log_tail(10))
    c.close()
    strata.stop()


def bulk(v):
    return b"$%d\r\n%s\r\n" % (len(v), v.encode())


def order_across_lanes(chk, strata):
    """Pipelined SET, EVAL, SET, GET: each sees the one before it, as on one connection."""
    c = harness.Client(strata.port)
    get_script = "return redis.call('GET', KEYS[1])"
    set_script = "return redis.call('SET', KEYS[1], ARGV[1])"
    bad = []
    for i in range(300):
        k = f"order:{i % 5}"
        a, b, x = f"a{i}", f"b{i}", f"x{i}"
        c.send(harness.encode("SET", k, a) + harness.encode("EVAL", get_script, "1", k) +
               harness.encode("SET", k, b) + harness.encode("GET", k) +
               harness.encode("EVAL", set_script, "1", k, x) + harness.encode("GET", k) +
               harness.encode("PING"))
        got = [c.read_reply() for _ in range(7)]
        want = [b"+OK\r\n", bulk(a), b"+OK\r\n", bulk(b), b"+OK\r\n", bulk(x), b"+PONG\r\n"]
        if got != want:
            bad.append((i, got))
    chk.ok(not bad, "pipelined SET/EVAL/SET/GET/EVAL/GET keep their order", bad[:3])
    c.close()


def ping_during_script(chk, strata):
    script = harness.Conn(strata.port, timeout=30.0)
    script.send("EVAL", kBusyScript, "0", str(kScriptS))
    p = harness.Conn(strata.port, timeout=30.0)
    deadline = time.monotonic() + 10
    reply = b""
    while time.monotonic() < deadline:
        reply = p.call("PING")
        if reply.startswith(b"-BUSY"):
            break
        time.sleep(0.2)
    chk.ok(reply.startswith(b"-BUSY"), "PING during a script gets Redis's -BUSY", reply[:80])
    chk.eq(p.call("SCRIPT", "KILL"), b"+OK\r\n", "SCRIPT KILL ends the script")
    got = script.read()
    chk.ok(b"killed by user" in got, "the killed script's client gets the error", got[:120])
    chk.ok(harness.wait_for(lambda: p.call("PING") == b"+PONG\r\n", timeout=5),
           "PING is PONG once the script is gone")
    script.close()
    p.close()


def main():
    chk = harness.Checks()
    redis = harness.start_redis(extra=("--enable-debug-command", "yes"))
    strata = harness.start_strata(redis, extra=("--workers", "2"))
    return phases.run(chk, strata, (
        ("script with others", lambda: script_with_others(chk, strata, "s1")),
        ("script kill", lambda: script_kill(chk, strata, "s2")),
        ("script from outside", lambda: script_from_outside(chk, strata, redis, "s3")),
        ("order across lanes", lambda: order_across_lanes(chk, strata)),
        ("ping during script", lambda: ping_during_script(chk, strata)),
        ("debug sleep", lambda: debug_sleep(chk, redis))))

if __name__ == "__main__":
    sys.exit(main())
