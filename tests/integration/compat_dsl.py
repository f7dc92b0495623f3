"""The differential script's vocabulary: steps, how each is run on one side, how two sides'
results are compared. A side is a port (redis-server directly, or strata); the same steps run on
both and every step's replies are compared -- byte for byte unless the step says otherwise."""

import time

import harness

# Commands strata serves itself; in standalone mode every other command is skipped.
NATIVE = {
    "ping", "echo", "hello", "auth", "select", "quit", "client", "command", "info", "dbsize",
    "flushall", "flushdb", "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex",
    "mget", "mset", "msetnx", "del", "unlink", "exists", "type", "expire", "pexpire",
    "expireat", "pexpireat", "ttl", "pttl", "persist", "incr", "decr", "incrby", "decrby",
    "incrbyfloat", "append", "strlen", "getrange", "setrange", "keys", "scan",
}
# CLIENT subcommands strata serves natively.
NATIVE_CLIENT = {"setname", "getname", "id"}
# FUNCTION subcommands strata serves standalone (it holds no functions: FLUSH is a no-op that
# Redis's own test suite sends before every test).
NATIVE_FUNCTION = {"flush"}

kTtlTolS = 2  # TTL in seconds may tick between the two runs
kPttlTolMs = 3000


def at_s(delta_s):
    """An absolute unix time (s) computed when the step is sent: the sides run apart in time."""
    return lambda: str(int(time.time()) + delta_s)


def at_ms(delta_ms):
    return lambda: str(int(time.time() * 1000) + delta_ms)


CLOSED = b"<connection closed>"
TIMEOUT = b"<read timeout>"
ABORTED = b"<not run: too many timeouts>"
kTimeoutsMax = 5


class Step:
    """kind: cmd (send, read one reply), send (no read), read (one reply), raw (bytes, read
    n replies), sleep, closed (expect EOF), reconnect, scanall (full SCAN iteration)."""

    def __init__(self, kind, payload=None, mode="exact", conn="main", n=1, tol=0,
                 proxy_only=False, label=None):
        self.kind = kind
        self.payload = payload
        self.mode = mode
        self.conn = conn
        self.n = n
        self.tol = tol
        self.proxy_only = proxy_only
        self.label = label

    def describe(self):
        if self.label:
            return self.label
        if self.kind in ("cmd", "send"):
            args = [a if isinstance(a, bytes) else str(a).encode()
                    for a in _resolve(self.payload)]
            text = b" ".join(a[:40] + (b"..." if len(a) > 40 else b"") for a in args)
            return f"[{self.conn}] {self.kind} {text!r}"
        if self.kind == "raw":
            p = self.payload
            return f"[{self.conn}] raw {p[:80]!r}{'...' if len(p) > 80 else ''} ({self.n} replies)"
        return f"[{self.conn}] {self.kind} {self.payload!r}"

    def needs_upstream(self):
        if self.proxy_only:
            return True
        if self.kind not in ("cmd", "send"):
            return False
        name = _lower(self.payload[0])
        if name == "client" and len(self.payload) > 1:
            return _lower(self.payload[1]) not in NATIVE_CLIENT
        if name == "function" and len(self.payload) > 1:
            return _lower(self.payload[1]) not in NATIVE_FUNCTION
        return name not in NATIVE


def _lower(a):
    if isinstance(a, bytes):
        a = a.decode("latin-1")
    return str(a).lower()


class Script:
    """Builds a step list; `proxy` sections are skipped when strata has no upstream."""

    def __init__(self):
        self.steps = []
        self.proxy_section = False

    def _add(self, step):
        step.proxy_only = step.proxy_only or self.proxy_section
        self.steps.append(step)

    def c(self, *args, conn="main", mode="exact"):
        self._add(Step("cmd", args, mode=mode, conn=conn))

    def ttl(self, *args, tol, conn="main"):
        self._add(Step("cmd", args, mode="tol", tol=tol, conn=conn))

    def shape(self, *args, conn="main"):
        self._add(Step("cmd", args, mode="shape", conn=conn))

    def type_only(self, *args, conn="main"):
        self._add(Step("cmd", args, mode="type", conn=conn))

    def hello(self, *args, conn="main"):
        self._add(Step("cmd", ("HELLO",) + args, mode="hello", conn=conn))

    def unordered(self, *args, conn="main"):
        self._add(Step("cmd", args, mode="unordered", conn=conn))

    def error(self, *args, conn="main"):
        self._add(Step("cmd", args, mode="error", conn=conn))

    def send(self, *args, conn="main"):
        self._add(Step("send", args, conn=conn))

    def read(self, conn="main", mode="exact"):
        self._add(Step("read", None, mode=mode, conn=conn))

    def raw(self, data, n, conn="main", label=None):
        self._add(Step("raw", data, n=n, conn=conn, label=label))

    def sleep(self, seconds):
        self._add(Step("sleep", seconds))

    def closed(self, conn="main"):
        self._add(Step("closed", None, conn=conn))

    def reconnect(self, conn="main"):
        self._add(Step("reconnect", None, conn=conn))

    def scanall(self, *opts, conn="main"):
        self._add(Step("scanall", opts, mode="scanall", conn=conn))


# ---------------------------------------------------------------- running one side


class Side:
    """Connections of one side by name; names starting with "up" go to the upstream Redis
    directly (behind strata's back), which on the redis side is the same server."""

    def __init__(self, port, upstream_port=None):
        self.port = port
        self.upstream_port = upstream_port or port
        self.conns = {}

    def conn(self, name):
        if name not in self.conns:
            port = self.upstream_port if name.startswith("up") else self.port
            self.conns[name] = harness.Client(port)
        return self.conns[name]

    def drop(self, name):
        c = self.conns.pop(name, None)
        if c:
            c.close()

    def close_all(self):
        for name in list(self.conns):
            self.drop(name)


def run_steps(steps, port, upstream_port=None):
    """Runs steps on one side; returns one result per step (raw bytes or a list of them)."""
    side = Side(port, upstream_port)
    results = []
    timeouts = 0
    try:
        for step in steps:
            if timeouts >= kTimeoutsMax:  # a hung server: stop paying 10 s per step
                results.append([ABORTED] * step.n if step.kind == "raw" else ABORTED)
                continue
            result = _run_one(side, step)
            timeouts += result.count(TIMEOUT) if isinstance(result, list) else result == TIMEOUT
            results.append(result)
    finally:
        side.close_all()
    return results


def _read(side, step):
    try:
        return side.conn(step.conn).read_reply()
    except harness.ConnectionClosed:
        side.drop(step.conn)
        return CLOSED
    except OSError as e:  # timeout or reset
        side.drop(step.conn)
        return TIMEOUT if "timed out" in str(e) else CLOSED
    except harness.ReplyError as e:
        side.drop(step.conn)
        return b"<bad reply: " + str(e).encode() + b">"


def _send(side, step, data):
    try:
        side.conn(step.conn).send(data)
        return True
    except OSError:
        side.drop(step.conn)
        return False


def _run_one(side, step):
    k = step.kind
    if k == "sleep":
        time.sleep(step.payload)
        return b""
    if k == "reconnect":
        side.drop(step.conn)
        return b""
    if k == "closed":
        c = side.conn(step.conn)
        closed = c.read_closed(timeout=3.0)
        side.drop(step.conn)
        return b"closed" if closed else b"still open"
    if k == "scanall":
        return _scan_all(side, step)
    if k in ("cmd", "send"):
        if not _send(side, step, harness.encode(*_resolve(step.payload))):
            return CLOSED
        return b"" if k == "send" else _read(side, step)
    if k == "read":
        return _read(side, step)
    if k == "raw":
        if not _send(side, step, step.payload):
            return [CLOSED]
        return [_read(side, step) for _ in range(step.n)]
    raise ValueError(k)


def _resolve(args):
    # Absolute deadlines (EXAT, PXAT...) are computed when sent: the two sides run apart in time.
    return [a() if callable(a) else a for a in args]


kScanPagesMax = 10000  # a cursor that never returns to 0 is a bug, not an endless loop


def _scan_all(side, step):
    """Whole SCAN iteration: (first page's shape, sorted unique keys) or an error reply."""
    cursor = b"0"
    keys = set()
    first_shape = None
    for _ in range(kScanPagesMax):
        raw = _read_after_send(side, step, ("SCAN", cursor) + tuple(step.payload))
        if not raw.startswith(b"*"):
            return raw
        if first_shape is None:
            first_shape = harness.shape(raw)[:5]  # "*[$,*" : cursor then array
        value = harness.parse(raw)
        cursor = value[0]
        keys.update(value[1])
        if cursor == b"0":
            return (first_shape, tuple(sorted(keys)))
    return b"<cursor never returned to 0>"


def _read_after_send(side, step, args):
    if not _send(side, step, harness.encode(*args)):
        return CLOSED
    return _read(side, step)


# ---------------------------------------------------------------- comparing


def same(step, a, b):
    """True if results a (redis) and b (strata) agree under the step's comparison mode."""
    if step.kind == "raw":
        return len(a) == len(b) and all(_same_reply(step, x, y) for x, y in zip(a, b))
    return _same_reply(step, a, b)


def _same_reply(step, a, b):
    mode = step.mode
    if a == b:
        return True
    if not isinstance(a, bytes) or not isinstance(b, bytes) or mode == "exact":
        return False
    if a.startswith(b"<") or b.startswith(b"<"):
        return False
    if mode == "tol":
        return _within(a, b, step.tol)
    if mode == "shape":
        return harness.shape(a) == harness.shape(b)
    if mode == "type":
        return a[:1] == b[:1]
    if mode == "error":
        return a.startswith(b"-") and b.startswith(b"-")
    if mode == "unordered":
        return _unordered(a, b)
    if mode == "hello":
        return _hello_same(a, b)
    return False


def _within(a, b, tol):
    if not (a.startswith(b":") and b.startswith(b":")):
        return False
    x, y = harness.parse(a), harness.parse(b)
    if x < 0 or y < 0:
        return x == y
    return abs(x - y) <= tol


def _unordered(a, b):
    if a[:1] != b[:1]:
        return False
    x, y = harness.parse(a), harness.parse(b)
    if not isinstance(x, list) or not isinstance(y, list):
        return False
    return sorted(map(repr, x)) == sorted(map(repr, y))


def _hello_same(a, b):
    """HELLO: same reply type and the same field names; proto must match exactly."""
    if a[:1] != b[:1]:
        return False
    if a.startswith(b"-"):
        return a == b
    x, y = harness.parse(a), harness.parse(b)
    if isinstance(x, list):  # RESP2: flat key/value list
        x = dict(zip(x[::2], x[1::2]))
        y = dict(zip(y[::2], y[1::2])) if isinstance(y, list) else None
    if not isinstance(y, dict) or set(x) != set(y):
        return False
    return x.get(b"proto") == y.get(b"proto")
