"""Mutated pipelines: RespParser (via the driver) against redis-server on the same bytes.

Redis answers every command it runs once and ends with "-ERR Protocol error: ..." on a
protocol error, so the count of commands and the error text must agree. Inputs stay small so
Redis's read sizes cannot matter.
Usage: stream_diff.py DRIVER PORT CASES SEED
"""
import random
import socket
import subprocess
import sys


def read_all(s):
    s.settimeout(2)
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
    except socket.timeout:
        pass
    return out


def top_level_replies(buf):
    replies, i = [], 0

    def one(i):
        j = buf.index(b"\r\n", i)
        line, i = buf[i:j], j + 2
        if line[:1] == b"$" and int(line[1:]) >= 0:
            i += int(line[1:]) + 2
        elif line[:1] == b"*":
            for _ in range(max(0, int(line[1:]))):
                _, i = one(i)
        return line, i

    while i < len(buf):
        line, i = one(i)
        replies.append(line)
    return replies


def command(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def main():
    driver, port, cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    pieces = [b"\r", b"\n", b"$", b"*", b"-", b"0", b"1", b"9", b"x", b"\0", b" ", b"\r\n", b'"']
    mismatches = 0
    for _ in range(cases):
        stream = b""
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.6:
                stream += command([b"RPUSH", b"l", b"v" * rng.randint(0, 12)])
            else:
                stream += b"PING\r\n" if r < 0.8 else command([b"PING"])
        for _ in range(rng.randint(1, 6)):
            p, op = rng.randrange(len(stream) + 1), rng.random()
            if op < 0.4:
                stream = stream[:p] + rng.choice(pieces) + stream[p + 1:]
            elif op < 0.7:
                stream = stream[:p] + stream[p + 1:]
            else:
                stream = stream[:p] + rng.choice(pieces) + stream[p:]
        ours = subprocess.run([driver], input=stream, capture_output=True).stdout.decode()
        ours = [line for line in ours.split("\n") if line]
        commands = sum(1 for line in ours if line.startswith("D"))
        errors = [line[2:] for line in ours if line.startswith("E")]
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(stream)
            s.shutdown(socket.SHUT_WR)
            raw = read_all(s)
        replies = top_level_replies(raw)
        protocol_errors = [r[5:].decode("latin1") for r in replies
                           if r.startswith(b"-ERR Protocol error")]
        ok = len(replies) - len(protocol_errors) == commands and protocol_errors == errors
        if not ok:
            mismatches += 1
            if mismatches <= 10:
                print("MISMATCH", stream, ours, replies)
    print(f"stream: {cases} cases, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
