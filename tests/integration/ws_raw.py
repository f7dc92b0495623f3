"""A WebSocket client by hand (RFC 6455, client side), for protocol-level checks of strata's
WebSocket channel: the upgrade request as bytes, frames built bit by bit (so a test can send
what no library would: unmasked frames, reserved opcodes, fragmented control frames, invalid
UTF-8), a small receive buffer on request (a slow consumer the kernel cannot hide), and every
read with a timeout. Also HS256 tokens (docs/websocket.md, Auth)."""

import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import time

kGuid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(secret, claims, header=None):
    """An HS256 JWT of `claims` (a dict) signed with `secret`."""
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(mac)}"


class Closed(Exception):
    """The connection ended: code/reason of the close frame, or code 1006 for a bare EOF."""

    def __init__(self, code, reason=""):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class Timeout(Exception):
    pass


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None, mask_key=None):
    """One client frame. `length` overrides the length field (the payload sent is still
    `payload`), for frames that announce more than they carry."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    out = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        out.append(mbit | n)
    elif n < 65536:
        out.append(mbit | 126)
        out += struct.pack("!H", n)
    else:
        out.append(mbit | 127)
        out += struct.pack("!Q", n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        out += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(out) + payload


class WsRaw:
    """One connection. `status` is the HTTP status of the upgrade's answer (101 when open),
    `headers` its headers (lower-case names), `body` what followed a refusal."""

    def __init__(self, port, path="/ws", query="", timeout=5.0, rcvbuf=None, request=None,
                 extra_headers="", host="127.0.0.1"):
        self.port = port
        self.timeout = timeout
        self.buf = b""
        self.closed = None  # the Closed once the server's close frame (or EOF) was read
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect: the window the server sees is this small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.status = None
        self.headers = {}
        self.body = b""
        self.key = base64.b64encode(os.urandom(16)).decode()
        if request is None:
            target = path + (("?" + query) if query else "")
            request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
                       f"Sec-WebSocket-Version: 13\r\n{extra_headers}\r\n").encode()
        if request is not False:
            self.sock.sendall(request)
            self._read_head()

    # ---- handshake ----

    def _read_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise Timeout("no complete answer to the upgrade request")
            chunk = self._recv_some(deadline)
            if not chunk:
                break
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.buf = rest
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1(self.key.encode() + kGuid).digest()).decode()
            self.accept_ok = self.headers.get("sec-websocket-accept") == want
        else:
            self.body = self.read_to_eof(2.0)

    def read_to_eof(self, timeout):
        """What the server sends until it closes the connection (b"" + Timeout if it does not)."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Timeout("the server kept the connection open")
            except OSError:
                return data
            if not chunk:
                return data
            data += chunk
        raise Timeout("the server kept the connection open")

    def _recv_some(self, deadline):
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            return None
        except ConnectionResetError:
            chunk = b""
        self.buf += chunk
        return chunk

    # ---- frames ----

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def send(self, obj):
        self.send_frame(1, json.dumps(obj, separators=(",", ":")))

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload) of the next server frame. Timeout when none comes in time,
        Closed(1006) on EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                n = b1 & 0x7F
                off = 2
                if n == 126 and len(self.buf) >= 4:
                    n = struct.unpack("!H", self.buf[2:4])[0]
                    off = 4
                elif n == 127 and len(self.buf) >= 10:
                    n = struct.unpack("!Q", self.buf[2:10])[0]
                    off = 10
                if (b1 & 0x7F) < 126 or off > 2:
                    if b1 & 0x80:
                        raise AssertionError("server frame is masked")
                    if len(self.buf) >= off + n:
                        payload = self.buf[off:off + n]
                        self.buf = self.buf[off + n:]
                        return bool(b0 & 0x80), b0 & 0x0F, payload
            if time.monotonic() >= deadline:
                raise Timeout("no frame in time")
            chunk = self._recv_some(deadline)
            if chunk == b"":
                raise Closed(1006, "EOF")

    def recv(self, timeout=None):
        """The next message: a dict (a JSON text message). A close frame raises Closed (after
        answering it); a ping is answered; binary or bad JSON raise AssertionError."""
        if self.closed is not None:
            raise self.closed
        while True:
            try:
                fin, op, payload = self.recv_frame(timeout)
            except Closed as e:
                self.closed = e
                raise
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.closed = Closed(code, payload[2:].decode("utf-8", "replace"))
                try:
                    self.send_frame(8, payload[:2])
                except OSError:
                    pass
                raise self.closed
            if op == 9:
                self.send_frame(10, payload)
                continue
            if op == 10:
                continue
            if op != 1 or not fin:
                raise AssertionError(f"unexpected frame opcode {op} fin {fin}")
            return json.loads(payload.decode("utf-8"))

    def recv_until(self, pred, timeout=5.0):
        """Messages up to and including the first for which pred(msg) holds."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"condition not met; got {out[-5:]}")
            m = self.recv(left)
            out.append(m)
            if pred(m):
                return out

    def recv_type(self, t, timeout=5.0):
        """Messages up to the first of type t; returns (that message, all before it)."""
        msgs = self.recv_until(lambda m: m.get("t") == t, timeout)
        return msgs[-1], msgs[:-1]

    def drain(self, quiet=0.3, limit=10.0):
        """Every message until none comes for `quiet` seconds (at most `limit`)."""
        out = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                out.append(self.recv(quiet))
            except Timeout:
                break
        return out

    def wait_close(self, timeout=5.0):
        """The close code the server ends with (1006 for EOF without a close frame), skipping
        messages; None when it stays open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.recv(max(0.01, deadline - time.monotonic()))
            except Closed as e:
                return e.code
            except Timeout:
                return None
        return None

    def alive(self, timeout=3.0):
        """A ping message is answered with pong (skipping anything queued before it)."""
        try:
            self.send({"t": "ping"})
            self.recv_type("pong", timeout)
            return True
        except (Closed, Timeout, OSError, AssertionError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def terminate(self):
        """Drops the TCP connection without a close frame (RST: SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def open_ws(port, token=None, session=None, **kw):
    """A WsRaw past its hello: (conn, hello)."""
    q = []
    if token:
        q.append(f"token={token}")
    if session:
        q.append(f"session={session}")
    c = WsRaw(port, query="&".join(q), **kw)
    if c.status != 101:
        raise AssertionError(f"upgrade refused: {c.status} {c.body[:200]!r}")
    hello, _ = c.recv_type("hello", 5.0)
    return c, hello
