#!/usr/bin/env python3
"""`strata-bench floor`, the constant-answer server compare_redis.sh uses as the CPU floor of
loopback TCP: its replies must be what redis-benchmark expects (a GET gets a value of the
configured size, a SET +OK), pipelined and split requests are answered in order, bad input
closes only that connection, and SIGTERM stops it cleanly. A floor that answered wrongly would
make the baseline meaningless."""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import encode  # noqa: E402

kValueBytes = 37


def read_exact(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    bench = harness.strata_bench_bin()
    tmp = harness.make_tmpdir("floor")
    port = harness.free_port()
    srv = harness.Server("floor", [bench, "floor", "--port", str(port), "--value-bytes",
                                   str(kValueBytes)], port, tmp)
    if not chk.ok(srv.start(), "the floor server starts", srv.log_tail()):
        return harness.finish(chk.failed)
    get_reply = b"$%d\r\n%s\r\n" % (kValueBytes, b"x" * kValueBytes)
    want = get_reply + b"+OK\r\n+PONG\r\n" + get_reply
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(encode("GET", "k") + encode("SET", "k", "v") + encode("PING") + encode("get", "z"))
    chk.eq(read_exact(s, len(want)), want, "pipelined GET/SET/PING/get answered in order")
    request = encode("SET", "key:1", "x" * 5000) + encode("GET", "key:1")
    for i in range(0, len(request), 7):  # split across many receives
        s.sendall(request[i:i + 7])
    want = b"+OK\r\n" + get_reply
    chk.eq(read_exact(s, len(want)), want, "a request split into 7-byte pieces")
    bad = socket.create_connection(("127.0.0.1", port))
    bad.sendall(b"*1\r\n$-5\r\n")
    chk.eq(read_exact(bad, 1), b"", "a protocol error closes that connection")
    bad.close()
    s.sendall(encode("PING"))
    chk.eq(read_exact(s, 7), b"+PONG\r\n", "the other connection is still served")
    s.close()
    srv.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while srv.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    chk.eq(srv.proc.poll(), 0, "SIGTERM stops it with exit status 0")
    code = harness.finish(chk.failed)
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
