"""Random inline lines: RespParser's arguments (via the driver) against what Redis stored.

Each case sends `RPUSH l <random bytes>` inline, then LRANGE, so Redis shows how it split and
unescaped the line; an unbalanced-quotes error must match too.
Usage: inline_diff.py DRIVER PORT CASES SEED
"""
import random
import socket
import subprocess
import sys


def read_reply(f):
    line = f.readline()
    if not line:
        return ("EOF",)
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        return ("ERR", body)
    if kind == b"+":
        return ("OK", body)
    if kind == b":":
        return ("INT", int(body))
    if kind == b"$":
        n = int(body)
        return ("NIL",) if n < 0 else ("BULK", f.read(n + 2)[:-2])
    if kind == b"*":
        return ("ARR", [read_reply(f)[1] for _ in range(int(body))])
    return ("?", line)


def main():
    driver, port, cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    alphabet = [b"a", b"b", b'"', b"'", b"\\", b"x", b"4", b"1", b"f", b"n", b"t", b" ", b"\t",
                b"\x0b", b"\x0c", b"\r", b"\xff", b"r", b"\\x4", b'\\"', b"\\'"]
    lrange = b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n"
    mismatches = 0
    for _ in range(cases):
        stuff = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        line = b"RPUSH l " + stuff + (b"\r\n" if rng.random() < 0.7 else b"\n")
        ours = subprocess.run([driver], input=line, capture_output=True).stdout.decode()
        ours = ours.split("\n")[0]
        with socket.create_connection(("127.0.0.1", port)) as s:
            f = s.makefile("rb")
            s.sendall(b"*2\r\n$3\r\nDEL\r\n$1\r\nl\r\n" + line + lrange)
            read_reply(f)
            pushed, listed = read_reply(f), read_reply(f)
        if ours.startswith("E"):
            ok = pushed == ("ERR", b"ERR " + ours[2:].encode())
        else:
            args = [b"" if a == "-" else bytes.fromhex(a) for a in ours.split()[1:]]
            if len(args) <= 2:
                ok = pushed[0] == "ERR" and b"wrong number" in pushed[1]
            else:
                ok = pushed == ("INT", len(args) - 2) and listed == ("ARR", args[2:])
        if not ok:
            mismatches += 1
            if mismatches <= 10:
                print("MISMATCH", line, ours, pushed, listed)
    print(f"inline: {cases} cases, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
