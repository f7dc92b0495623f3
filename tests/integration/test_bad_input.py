#!/usr/bin/env python3
"""Hostile and broken clients: malformed RESP (replies compared with redis-server's for the same
bytes), huge declared bulks, byte-at-a-time pipelines, a client that never reads, connection
storms, many idle connections. After each case a fresh client's PING/SET/GET must work and
strata must still be running."""

import os
import resource
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import encode  # noqa: E402

kSettleS = 2.0          # how long a reply or a close may take to arrive
kStormConnections = 2000
kIdleConnections = 1000
kNeverReadValueBytes = 512 * 1024
kNeverReadGets = 2000    # up to ~1 GB of replies if nothing stops them
kNeverReadRssGrowthMax = 600 << 20

PING = encode("PING")

# name, bytes, then a PING?, how to compare. Each is sent on a fresh connection; the reply bytes
# and whether the server closed the connection must match redis-server's (EXACT). QUIRK: Redis
# quirks (a NUL hides the newline from its strchr): strata must only survive. LIMIT: past one of
# strata's named limits that Redis sets higher or checks only sometimes: Redis's answer, or a
# protocol error and a close.
EXACT, QUIRK, LIMIT = "exact", "quirk", "limit"
MALFORMED = [
    ("bad multibulk length", b"*abc\r\n", True, EXACT),
    ("negative bulk length", b"*1\r\n$-5\r\n", True, EXACT),
    ("bulk length not a number", b"*1\r\n$abc\r\n", True, EXACT),
    ("dollar inline", b"$abc\r\n", True, EXACT),
    ("garbage line", b"garbage in\r\n", True, EXACT),
    ("binary garbage", b"\x00\x01\x02\xff\xfe\r\n", True, QUIRK),
    ("missing dollar", b"*1\r\nfoo\r\n", True, EXACT),
    ("multibulk count 2M, no more bytes", b"*2000000\r\n", False, LIMIT),
    ("multibulk count 2M then PING", b"*2000000\r\n", True, LIMIT),
    ("multibulk count over INT_MAX", b"*2147483648\r\n", True, EXACT),
    ("multibulk count negative", b"*-1\r\n", True, EXACT),
    ("multibulk count zero", b"*0\r\n", True, EXACT),
    ("multibulk count -5", b"*-5\r\n", True, EXACT),
    ("multibulk plus sign", b"*+1\r\n$4\r\nPING\r\n", True, EXACT),
    ("bulk over 512MB", b"*1\r\n$536870913\r\n", True, EXACT),
    ("bulk length 20 digits", b"*1\r\n$99999999999999999999\r\n", True, EXACT),
    ("bulk exactly 512MB declared", b"*2\r\n$4\r\nECHO\r\n$536870912\r\n", True, EXACT),
    ("bulk without CRLF", b"*1\r\n$4\r\nPINGXX", True, EXACT),
    ("unbalanced double quote", b'ECHO "abc\r\n', True, EXACT),
    ("unbalanced single quote", b"ECHO 'abc\r\n", True, EXACT),
    ("quote then letter", b'ECHO "abc"def\r\n', True, EXACT),
    ("inline too big", b"A" * (70 * 1024), False, EXACT),
    ("inline 70KB with newline", b"A" * (70 * 1024) + b"\r\n", True, LIMIT),
    ("mbulk count line too big", b"*" + b"1" * (70 * 1024), False, EXACT),
    ("bulk count line too big", b"*1\r\n$" + b"1" * (70 * 1024), False, EXACT),
    ("space in count", b"* 1\r\n$4\r\nPING\r\n", True, EXACT),
    ("lf only multibulk", b"*1\n$4\nPING\n", True, EXACT),
    ("empty bulk command", b"*1\r\n$0\r\n\r\n", True, EXACT),
    ("nul in inline", b"PI\x00NG\r\n", True, QUIRK),
    ("only CR", b"\r", True, EXACT),
    ("star only", b"*\r\n", True, EXACT),
    ("dollar only", b"*1\r\n$\r\n", True, EXACT),
    ("pipeline then error", encode("SET", "bi:k", "v") + encode("GET", "bi:k") + b"*x\r\n",
     True, EXACT),
]


def exchange(port, data, ping=True):
    """Sends data (then a PING); returns (bytes received, closed?) once PONG or EOF arrives."""
    c = harness.Client(port, timeout=kSettleS)
    got = bytearray()
    closed = False
    try:
        c.send(data + (PING if ping else b""))
        deadline = time.monotonic() + kSettleS
        while time.monotonic() < deadline and not got.endswith(b"+PONG\r\n"):
            try:
                chunk = c.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        if not closed and not got.endswith(b"+PONG\r\n"):
            closed = c.read_closed(timeout=0.2)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        c.close()
    return bytes(got), closed


def still_alive(res, strata, what):
    try:
        harness.alive_check(strata.port)
        ok = strata.alive()
        detail = "" if ok else "strata exited:\n" + strata.log_tail()
    except Exception as e:  # any failure here is the finding, whatever its type
        ok, detail = False, f"{type(e).__name__}: {e}; alive={strata.alive()}\n{strata.log_tail()}"
    res.ok(ok, f"strata serves after {what}", detail)


def case_malformed(res, strata, redis):
    for name, data, ping, how in MALFORMED:
        want = exchange(redis.port, data, ping)
        got = exchange(strata.port, data, ping)
        if how == QUIRK:
            print(f"  (quirk) {name}: redis {want!r} strata {got!r}")
            continue
        limit_ok = how == LIMIT and got[1] and got[0].startswith(b"-ERR Protocol error")
        res.ok(want == got or limit_ok, f"malformed '{name}' {data[:40]!r}",
                  f"\n  redis:  {want!r}\n  strata: {got!r}")
    still_alive(res, strata, "malformed input")


def case_huge_unsent_bulk(res, strata, _redis):
    """A client declares 400 MB and sends 1 MB of it: everyone else is served meanwhile."""
    hog = harness.Client(strata.port)
    hog.send(b"*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n$400000000\r\n" + b"x" * (1 << 20))
    t0 = time.monotonic()
    still_alive(res, strata, "400MB declared bulk (pending)")
    res.ok(time.monotonic() - t0 < 2.0, "other clients served promptly while a bulk is pending")
    hog.close()
    still_alive(res, strata, "400MB declared bulk (closed)")


def case_byte_at_a_time(res, strata, redis):
    cmds = []
    for i in range(150):
        cmds.append(encode("SET", "bb:%d" % i, "v" * (i % 7)))
        cmds.append(encode("GET", "bb:%d" % i))
        cmds.append(b"INCR bb:ctr\r\n")
    cmds.append(encode("DEL", *["bb:%d" % i for i in range(150)] + ["bb:ctr"]))
    data = b"".join(cmds)

    def run(port):
        c = harness.Client(port)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        out = [c.read_reply() for _ in range(len(cmds))]
        c.close()
        return out

    want, got = run(redis.port), run(strata.port)
    bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
    res.ok(not bad, f"byte-at-a-time pipeline of {len(cmds)} commands",
              f"first mismatch #{bad[0]}: redis {want[bad[0]]!r} strata {got[bad[0]]!r}"
              if bad else "")
    still_alive(res, strata, "byte-at-a-time pipeline")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def case_never_reads(res, strata, _redis):
    """Pipelines huge GETs and never reads: strata must bound its memory for this client
    (disconnect at the output limit, or stop reading it) and keep serving others."""
    c = harness.Client(strata.port)
    c.call("SET", "nr:big", b"r" * kNeverReadValueBytes)
    base = rss_bytes(strata.pid)
    peak = base
    hog = socket.create_connection(("127.0.0.1", strata.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    hog.settimeout(0.5)
    req = encode("GET", "nr:big") * 50
    sent = 0
    disconnected = False
    for _ in range(kNeverReadGets // 50):
        try:
            hog.sendall(req)
            sent += 50
        except socket.timeout:
            break  # strata stopped reading us: back-pressure
        except (BrokenPipeError, ConnectionResetError):
            disconnected = True
            break
        peak = max(peak, rss_bytes(strata.pid))
    time.sleep(1.0)
    peak = max(peak, rss_bytes(strata.pid))
    if not disconnected:
        disconnected = _drained_to_eof(hog)
    hog.close()
    print(f"never-reading client: {sent} GETs sent, disconnected={disconnected}, "
          f"rss growth {(peak - base) >> 20} MB", flush=True)
    res.ok(peak - base < kNeverReadRssGrowthMax, "memory bounded for a never-reading client",
              f"rss grew {(peak - base) >> 20} MB")
    still_alive(res, strata, "never-reading client")
    c.call("DEL", "nr:big")
    c.close()


def _drained_to_eof(sock):
    """Reads what the server had queued; True if it then closed the connection."""
    sock.settimeout(2.0)
    try:
        while True:
            if not sock.recv(1 << 20):
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def case_storm(res, strata, _redis):
    t0 = time.monotonic()
    linger_rst = struct.pack("ii", 1, 0)
    for i in range(kStormConnections):
        s = socket.create_connection(("127.0.0.1", strata.port), timeout=5)
        if i % 3 == 0:
            s.sendall(PING)
        if i % 2 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_rst)  # close with RST
        s.close()
    print(f"storm: {kStormConnections} connections in {time.monotonic() - t0:.1f}s", flush=True)
    still_alive(res, strata, "connection storm")

    def clients_back_down():
        c = harness.Client(strata.port)
        info = harness.parse(c.call("INFO", "clients"))
        c.close()
        for line in bytes(info).splitlines():
            if line.startswith(b"connected_clients:"):
                return int(line.split(b":")[1]) <= 2
        return True  # no such field: nothing to check

    res.ok(harness.wait_for(clients_back_down, timeout=10),
              "connected_clients returns to ~1 after the storm")


def case_idle(res, strata, _redis):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = kIdleConnections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    conns = []
    try:
        for _ in range(kIdleConnections):
            conns.append(harness.Client(strata.port))
        still_alive(res, strata, f"{kIdleConnections} idle connections")
        for c in conns:
            c.send(PING)
        bad = sum(1 for c in conns if c.read_reply() != b"+PONG\r\n")
        res.ok(bad == 0, f"all {kIdleConnections} idle connections answer PING", f"{bad} did not")
    except (OSError, harness.ConnectionClosed) as e:
        res.ok(False, f"{kIdleConnections} idle connections", f"{type(e).__name__}: {e}")
    finally:
        for c in conns:
            c.close()
    still_alive(res, strata, "idle connections closed")


def main():
    redis = harness.start_redis("redis-bad-input")
    # Under ASan freed memory waits in a 256 MB quarantine: keep it small so the RSS bound in
    # case_never_reads measures strata's buffering, not the sanitizer's.
    asan = os.environ.get("ASAN_OPTIONS", "")
    strata = harness.start_strata(tag="strata-bad-input",
                                  env={"ASAN_OPTIONS": f"{asan}:quarantine_size_mb=16".lstrip(":")})
    if harness.is_fake():  # the stand-in is a redis-server: give it an output limit
        c = harness.Client(strata.port)
        c.call("CONFIG", "SET", "client-output-buffer-limit", "normal 64mb 64mb 0")
        c.close()
    res = harness.Checks()
    for case in (case_malformed, case_huge_unsent_bulk, case_byte_at_a_time, case_never_reads,
                 case_storm, case_idle):
        print(f"--- {case.__name__}", flush=True)
        try:
            case(res, strata, redis)
        except Exception as e:  # report and go on: one broken case must not hide the others
            res.ok(False, case.__name__, f"{type(e).__name__}: {e}")
            if not strata.alive():
                print(f"strata died:\n{strata.log_tail()}")
                break
    code = harness.finish(res.failed)
    res.ok(code == 0 or res.failed, "no sanitizer reports")
    print(f"{res.passed} passed, {res.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
