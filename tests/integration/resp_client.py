"""Raw RESP client for tests: sends bytes, reads back exactly one reply as its raw bytes (a small
RESP2/RESP3 reader), so replies can be compared byte for byte; plus decoding and "shape"."""

import socket

kReadTimeoutS = 10.0  # every socket read is bounded: a hang is a failure, never a stuck CI


class ReplyError(Exception):
    pass


class ConnectionClosed(Exception):
    pass


def encode(*args):
    """A command as a RESP multibulk request."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    """Raw RESP connection: send bytes, read back exactly one reply as its raw bytes."""

    def __init__(self, port, timeout=kReadTimeoutS, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def call(self, *args):
        self.send(encode(*args))
        return self.read_reply()

    def _fill(self):
        if self.pos > 1 << 20 and self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionClosed("peer closed the connection")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def read_reply(self):
        """Raw bytes of one complete RESP2/RESP3 reply (attributes included with their reply)."""
        start = self.pos
        self._skip_one()
        raw = bytes(self.buf[start:self.pos])
        if self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
        return raw

    def _skip_one(self):
        line = self._line()
        if not line:
            raise ReplyError("empty reply line")
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return
        if t in (b"$", b"!", b"="):
            n = int(rest)
            if n >= 0:
                self._exact(n + 2)
            return
        if t in (b"*", b"~", b">"):
            n = int(rest)
            for _ in range(max(n, 0)):
                self._skip_one()
            return
        if t == b"%":
            for _ in range(2 * int(rest)):
                self._skip_one()
            return
        if t == b"|":  # attribute map, then the reply it annotates
            for _ in range(2 * int(rest)):
                self._skip_one()
            self._skip_one()
            return
        raise ReplyError(f"bad reply type byte {line[:20]!r}")

    def read_closed(self, timeout=5.0):
        """True if the peer closes the connection (EOF or reset) within timeout with no data."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            if self.pos < len(self.buf):
                return False
            data = self.sock.recv(65536)
            if data:
                self.buf += data
                return False
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)


# ---------------------------------------------------------------- reply decoding


class Err(str):
    pass


class Double(float):
    pass


class Push(list):
    pass


class RSet(list):
    pass


def parse(raw):
    """Decodes raw reply bytes into Python values (bytes, int, Err, None, list, dict...)."""
    value, end = _parse_at(raw, 0)
    if end != len(raw):
        raise ReplyError(f"trailing bytes after reply: {raw[end:end + 40]!r}")
    return value


def _parse_at(raw, i):
    j = raw.index(b"\r\n", i)
    t, rest = raw[i:i + 1], raw[i + 1:j]
    i = j + 2
    if t == b"+":
        return rest, i
    if t == b"-":
        return Err(rest.decode("utf-8", "replace")), i
    if t in (b":", b"("):
        return int(rest), i
    if t == b"_":
        return None, i
    if t == b",":
        return Double(float(rest)), i
    if t == b"#":
        return rest == b"t", i
    if t in (b"$", b"!", b"="):
        n = int(rest)
        if n < 0:
            return None, i
        return raw[i:i + n], i + n + 2
    if t in (b"*", b"~", b">"):
        n = int(rest)
        if n < 0:
            return None, i
        out = []
        for _ in range(n):
            v, i = _parse_at(raw, i)
            out.append(v)
        return (RSet(out) if t == b"~" else Push(out) if t == b">" else out), i
    if t in (b"%", b"|"):
        d = {}
        for _ in range(int(rest)):
            k, i = _parse_at(raw, i)
            v, i = _parse_at(raw, i)
            d[k if not isinstance(k, list) else tuple(k)] = v
        if t == b"|":
            return _parse_at(raw, i)
        return d, i
    raise ReplyError(f"bad type {t!r}")


def shape(raw):
    """Type structure of a reply, values dropped: '+', ':', '$', '*[...]', '%{keys}'."""
    return _shape_at(raw, 0)[0]


def _shape_at(raw, i):
    j = raw.index(b"\r\n", i)
    t, rest = raw[i:i + 1], raw[i + 1:j]
    i = j + 2
    if t in (b"$", b"!", b"="):
        n = int(rest)
        return (t.decode() + ("null" if n < 0 else "")), (i if n < 0 else i + n + 2)
    if t in (b"*", b"~", b">"):
        n = int(rest)
        parts = []
        for _ in range(max(n, 0)):
            s, i = _shape_at(raw, i)
            parts.append(s)
        return t.decode() + ("null" if n < 0 else "[" + ",".join(parts) + "]"), i
    if t in (b"%", b"|"):
        parts = []
        for _ in range(int(rest)):
            k, i = _parse_at(raw, i)
            s, i = _shape_at(raw, i)
            parts.append(f"{k!r}:{s}")
        return t.decode() + "{" + ",".join(parts) + "}", i
    return t.decode(), i
