"""A TCP fault proxy for the integration tests: listens on a free loopback port, forwards every
connection to a target, and injects faults at run time.

    p = FaultProxy(target_port, nats=True)   # p.port is where clients connect
    p.pass_()                # forward normally (clears delay, stall, refuse)
    p.delay(200)             # hold every chunk 200 ms in each direction (order kept)
    p.stall()                # forward nothing either way, keep the sockets open (a half-open
                             # link: the peers see silence, not a close); pass_()/unstall()
                             # delivers what was held, as TCP would after retransmits
    p.cut()                  # close every current connection (new ones are accepted)
    p.refuse(True)           # accept and close new connections at once (with cut(): an outage)
    p.drop_next_msg("strata.ev.")  # server->client: drop exactly one NATS MSG frame whose
                             # subject starts with the prefix; p.dropped lists what was dropped
    p.hold_after(b"...")     # client->server: forward up to the end of the next occurrence of
                             # the bytes and hold what follows on that connection (a TCP
                             # segment boundary inside a pipeline); p.release() sends it

With nats=True the server->client direction is parsed as the NATS text protocol (INFO, MSG,
HMSG, PING, PONG, +OK, -ERR) and forwarded frame by frame, so a frame is dropped whole and the
stream stays valid. Pure Python, two threads per direction (reader, writer); meant for test
traffic (thousands of messages a second), not for benchmarks.

Run this file to check it against a real nats-server (harness_nats.RawNats on both sides)."""

import collections
import os
import socket
import sys
import threading
import time

kChunkBytes = 65536
kHeldBytesMax = 8 << 20  # past this a direction stops reading (back-pressure to its sender)


class NatsFrames:
    """Splits a NATS server->client byte stream into whole frames (the control line plus, for
    MSG/HMSG, the payload and its CRLF). feed(bytes) returns [(op, subject, frame_bytes)]."""

    def __init__(self):
        self.buf = bytearray()
        self.need = 0  # bytes of the current MSG frame, once its control line is parsed
        self.head = None  # (op, subject) of that frame

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            if self.need:
                if len(self.buf) < self.need:
                    return out
                out.append((*self.head, bytes(self.buf[:self.need])))
                del self.buf[:self.need]
                self.need, self.head = 0, None
                continue
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return out
            line = bytes(self.buf[:eol])
            parts = line.split()
            op = parts[0].upper() if parts else b""
            if op in (b"MSG", b"HMSG"):
                # MSG <subject> <sid> [reply] <#bytes>; HMSG ... <#header bytes> <#total bytes>
                self.need = eol + 2 + int(parts[-1]) + 2
                self.head = (op.decode(), parts[1].decode("utf-8", "replace"))
                continue
            out.append((op.decode("ascii", "replace"), "", line + b"\r\n"))
            del self.buf[:eol + 2]


class _Direction:
    """One way of one connection: a reader thread queues (due time, bytes), a writer thread
    sends them when due and the proxy is not stalled."""

    def __init__(self, proxy, link, src, dst, parse_nats, to_server=False):
        self.proxy = proxy
        self.to_server = to_server
        self.link = link
        self.src = src
        self.dst = dst
        self.frames = NatsFrames() if parse_nats else None
        self.queue = collections.deque()  # (due monotonic s, bytes); None = src closed
        self.held = 0
        self.cv = threading.Condition(proxy.lock)
        self.done = False

    def start(self):
        for fn in (self._read, self._write):
            threading.Thread(target=fn, daemon=True).start()

    def _read(self):
        try:
            while True:
                with self.cv:
                    while self.held > kHeldBytesMax and not self.done:
                        self.cv.wait(0.1)
                    if self.done:
                        return
                data = self.src.recv(kChunkBytes)
                if not data:
                    break
                now = time.monotonic()
                chunks = [data] if self.frames is None else self._filter(data, now)
                with self.cv:
                    due = now + self.proxy.delay_ms / 1000.0
                    pattern = self.proxy.hold_pattern if self.to_server else None
                    at = data.find(pattern) if pattern else -1
                    if at >= 0:
                        self.proxy.hold_pattern = None
                        cut = at + len(pattern)
                        # What follows the bytes waits for release(), and so does everything
                        # queued after it (the queue keeps its order).
                        chunks = [(due, data[:cut]), (float("inf"), data[cut:])]
                        self.proxy.holding.append(self)
                    else:
                        chunks = [(due, c) for c in chunks]
                    for c in chunks:
                        self.queue.append(c)
                        self.held += len(c[1])
                    self.cv.notify_all()
        except OSError:
            pass
        with self.cv:
            self.queue.append(None)
            self.cv.notify_all()

    def _filter(self, data, now):
        out = []
        for op, subject, frame in self.frames.feed(data):
            if op in ("MSG", "HMSG") and self.proxy._take_drop(subject, now):
                continue
            out.append(frame)
        # Frames are forwarded joined: one send per received chunk, as before parsing.
        return [b"".join(out)] if out else []

    def _write(self):
        while True:
            with self.cv:
                while True:
                    if self.done:
                        return
                    if self.queue and not self.proxy.stalled:
                        item = self.queue[0]
                        if item is None:
                            break
                        wait = item[0] - time.monotonic()
                        if wait <= 0:
                            break
                        self.cv.wait(min(wait, 0.1))
                    else:
                        self.cv.wait(0.1)
                item = self.queue.popleft()
                if item is not None:
                    self.held -= len(item[1])
                    self.cv.notify_all()
            if item is None:
                self.link.close()
                return
            try:
                self.dst.sendall(item[1])
            except OSError:
                self.link.close()
                return


class _Link:
    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.socks = (client, upstream)
        self.closed = False
        self.dirs = (_Direction(proxy, self, client, upstream, False, to_server=True),
                     _Direction(proxy, self, upstream, client, proxy.nats))

    def close(self):
        with self.proxy.lock:
            if self.closed:
                return
            self.closed = True
            for d in self.dirs:
                d.done = True
                d.cv.notify_all()
            if self in self.proxy.links:
                self.proxy.links.remove(self)
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class FaultProxy:
    def __init__(self, target_port, target_host="127.0.0.1", nats=False, port=0):
        self.target = (target_host, target_port)
        self.nats = nats
        self.lock = threading.RLock()
        self.delay_ms = 0
        self.stalled = False
        self.refusing = False
        self.hold_pattern = None  # hold_after(): the bytes to hold after, until seen once
        self.holding = []         # directions holding bytes until release()
        self.drops = []     # [subject prefix] still to drop, in order
        self.dropped = []   # [(subject, monotonic s)] dropped so far
        self.links = []
        self.accepted = 0
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # ---- controls

    def pass_(self):
        """Forward normally: no delay, no stall, new connections accepted."""
        with self.lock:
            self.delay_ms = 0
            self.stalled = False
            self.refusing = False
            self._notify()

    def delay(self, ms):
        with self.lock:
            self.delay_ms = ms
            self._notify()

    def stall(self):
        with self.lock:
            self.stalled = True

    def unstall(self):
        with self.lock:
            self.stalled = False
            self._notify()

    def refuse(self, on=True):
        with self.lock:
            self.refusing = on

    def cut(self):
        """Closes every current connection, both sides."""
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()
        return len(links)

    def hold_after(self, pattern):
        """Client->server: the next chunk carrying `pattern` is forwarded up to its end; the
        rest of that connection's bytes wait for release()."""
        with self.lock:
            self.hold_pattern = pattern

    def release(self):
        """Sends what hold_after() held, in order. Returns how many connections held bytes."""
        with self.lock:
            held, self.holding = self.holding, []
            now = time.monotonic()
            for d in held:
                d.queue = collections.deque(
                    (now, item[1]) if item is not None and item[0] == float("inf") else item
                    for item in d.queue)
            self._notify()
            return len(held)

    def drop_next_msg(self, subject_prefix):
        """Drops the next MSG frame (server->client) whose subject starts with the prefix."""
        if not self.nats:
            raise ValueError("drop_next_msg needs FaultProxy(..., nats=True)")
        with self.lock:
            self.drops.append(subject_prefix)

    def pending_drops(self):
        with self.lock:
            return len(self.drops)

    def connections(self):
        with self.lock:
            return len(self.links)

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self.cut()

    # ---- internals

    def _notify(self):
        for link in self.links:
            for d in link.dirs:
                d.cv.notify_all()

    def _take_drop(self, subject, now):
        with self.lock:
            for i, prefix in enumerate(self.drops):
                if subject.startswith(prefix):
                    del self.drops[i]
                    self.dropped.append((subject, now))
                    return True
        return False

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.refusing:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, c, u)
            with self.lock:
                self.links.append(link)
                self.accepted += 1
            for d in link.dirs:
                d.start()


# ---------------------------------------------------------------- self-check


def selfcheck():
    """Checks every control against a real nats-server; returns the number of failures."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
    import harness_nats

    chk = harness.Checks()
    nats = harness_nats.start_nats("nats-fault-proxy")
    proxy = FaultProxy(nats.port, nats=True)
    pub = harness_nats.RawNats(nats.port)
    sub = harness_nats.RawNats(proxy.port)
    sub.sub("t.>")

    def roundtrip(subject, payload, timeout=2):
        pub.pub(subject, payload)
        return sub.next_msg(timeout=timeout)

    chk.eq(roundtrip("t.a", b"one"), ("t.a", b"one"), "pass: a message goes through")
    # A payload holding protocol-looking bytes and CRLFs must not confuse the frame parser.
    tricky = b"MSG x 1 5\r\nPING\r\n" + bytes(range(256)) * 300
    chk.eq(roundtrip("t.b", tricky), ("t.b", tricky), "pass: binary 76 KB payload intact")

    # drop_next_msg: exactly one matching frame goes, the others (before and after) stay.
    proxy.drop_next_msg("t.ev.")
    for i, s in enumerate(("t.hb", "t.ev.1", "t.ev.2", "t.hb")):
        pub.pub(s, b"m%d" % i)
    got = [sub.next_msg() for _ in range(3)]
    chk.eq(got, [("t.hb", b"m0"), ("t.ev.2", b"m2"), ("t.hb", b"m3")],
           "drop_next_msg: exactly the first matching MSG dropped")
    chk.eq([s for s, _ in proxy.dropped], ["t.ev.1"], "drop_next_msg: recorded")
    chk.eq(proxy.pending_drops(), 0, "drop_next_msg: nothing left pending")
    # The connection still works both ways after a drop (PING/PONG through the proxy).
    chk.eq(roundtrip("t.c", b"after"), ("t.c", b"after"), "drop: stream still valid")

    # delay: a message takes at least the delay, and order is kept.
    proxy.delay(200)
    t0 = time.monotonic()
    pub.pub("t.d", b"1")
    pub.pub("t.d", b"2")
    first = sub.next_msg(timeout=3)
    took = time.monotonic() - t0
    second = sub.next_msg(timeout=3)
    chk.ok(0.19 <= took < 1.0, "delay(200): held ~200 ms", f"{took * 1000:.0f} ms")
    chk.eq((first, second), (("t.d", b"1"), ("t.d", b"2")), "delay: order kept")
    proxy.pass_()

    # stall: nothing arrives, the socket stays open; unstall delivers what was held.
    proxy.stall()
    pub.pub("t.s", b"held")
    try:
        got = sub.next_msg(timeout=0.5)
    except (socket.timeout, TimeoutError):
        got = None
    chk.eq(got, None, "stall: nothing forwarded")
    chk.eq(proxy.connections(), 1, "stall: connection kept open")
    proxy.unstall()
    chk.eq(sub.next_msg(timeout=2), ("t.s", b"held"), "unstall: held message delivered")

    # cut: the client sees the connection closed; a new one works.
    proxy.cut()
    closed = False
    try:
        sub.sock.settimeout(2)
        closed = sub.sock.recv(1) == b""
    except OSError:
        closed = True
    chk.ok(closed, "cut: client connection closed")
    harness.wait_for(lambda: proxy.connections() == 0, timeout=2)
    sub2 = harness_nats.RawNats(proxy.port)
    sub2.sub("t.>")
    pub.pub("t.e", b"again")
    chk.eq(sub2.next_msg(timeout=2), ("t.e", b"again"), "cut: a new connection works")

    # refuse: new connections are closed at once.
    proxy.refuse(True)
    refused = False
    try:
        harness_nats.RawNats(proxy.port)
    except (ConnectionError, OSError):
        refused = True
    chk.ok(refused, "refuse: a new connection is closed")
    proxy.pass_()
    harness_nats.RawNats(proxy.port).close()
    chk.ok(True, "pass_: connections accepted again")

    for c in (pub, sub, sub2):
        c.close()
    proxy.close()
    nats.stop()
    print(f"{chk.passed} passed, {chk.failed} failed")
    return chk.failed


if __name__ == "__main__":
    sys.exit(1 if selfcheck() else 0)
