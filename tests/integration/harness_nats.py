"""A real nats-server on a loopback port in a throwaway dir, and a raw NATS protocol client
(for publishing crafted or malformed messages onto strata's subjects)."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

kReadyTimeoutS = 10


class NatsServer(harness.Server):
    """nats-server answers its own protocol: ready once it greets with INFO."""

    def wait_ready(self):
        deadline = time.monotonic() + kReadyTimeoutS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO "):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False


def nats_argv(port, tmpdir, extra=()):
    return ["nats-server", "-a", "127.0.0.1", "-p", str(port), *extra]


def start_nats(tag="nats", extra=(), port=None):
    tmpdir = harness.make_tmpdir(tag)
    last = None
    for _ in range(3 if port is None else 1):
        p = port or harness.free_port()
        srv = NatsServer(tag, nats_argv(p, tmpdir, extra), p, tmpdir)
        if srv.start():
            return srv
        last = srv.log_tail()
        srv.stop()
    raise RuntimeError(f"{tag} did not become ready; log tail:\n{last}")


def url(srv):
    return f"nats://127.0.0.1:{srv.port}"


def sync_fields(c):
    """INFO sync of a strata as {name: text}; {} when the instance does not answer."""
    raw = c.call("INFO", "sync")
    try:
        text = bytes(harness.parse(raw)).decode()
    except Exception:  # a marker reply from a failed call
        return {}
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def sync_int(c, name):
    """One INFO sync counter; -1 when absent or not a number."""
    try:
        return int(sync_fields(c).get(name, "-1"))
    except ValueError:
        return -1


class RawNats:
    """The NATS text protocol by hand: CONNECT, PUB, SUB, MSG."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("nats closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def pub(self, subject, payload):
        self.sock.sendall(b"PUB %s %d\r\n%s\r\nPING\r\n" % (subject.encode(), len(payload), payload))
        while self._line() != b"PONG":
            pass

    def sub(self, subject, sid=1):
        self.sock.sendall(b"SUB %s %d\r\nPING\r\n" % (subject.encode(), sid))
        while self._line() != b"PONG":
            pass

    def next_msg(self, timeout=5):
        """(subject, payload) of the next MSG."""
        self.sock.settimeout(timeout)
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"MSG "):
                parts = line.split()
                n = int(parts[-1])
                while len(self.buf) < n + 2:
                    self.buf += self.sock.recv(65536)
                payload, self.buf = self.buf[:n], self.buf[n + 2:]
                return parts[1].decode(), payload

    def close(self):
        self.sock.close()


def start_cluster(tag, instances, config, workers=1):
    """PostgreSQL, nats-server, redis-server and `instances` strata started with config(pg, nats,
    name) (names s0, s1, ...), each with `workers` workers: (pg, nats, redis, servers)."""
    import harness_pg  # noqa: E402 (harness_pg imports harness too; loaded only when used)
    pg = harness_pg.start_postgres(f"pg-{tag}")
    nats = start_nats(f"nats-{tag}")
    redis = harness.start_redis(f"redis-{tag}")
    servers = [harness_pg.start_strata_config(config(pg, nats, f"s{i}"), upstream=redis,
                                              extra=("--workers", str(workers)),
                                              tag=f"strata-{tag}{i}")
               for i in range(instances)]
    return pg, nats, redis, servers



def start_pair(config, pg, nats, redis, workers=2):
    """strata A and B, each config(pg, nats, "A"/"B") in front of `redis` with `workers`
    workers, connected to NATS: (server A, server B, client A, client B)."""
    import harness_pg  # noqa: E402 (harness_pg imports harness too; loaded only when used)
    servers = [harness_pg.start_strata_config(config(pg, nats, name), upstream=redis,
                                              extra=("--workers", str(workers)),
                                              tag=f"strata-{name}")
               for name in ("A", "B")]
    conns = [harness.Conn(s.port) for s in servers]
    for c in conns:
        harness.wait_for(lambda c=c: sync_int(c, "sync_connected") == 1, timeout=10)
    return servers[0], servers[1], conns[0], conns[1]
