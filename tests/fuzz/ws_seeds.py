#!/usr/bin/env python3
"""Writes the seed corpora of ws_frame_fuzz (tests/fuzz/corpus/ws_frame/) and
http_upgrade_fuzz (tests/fuzz/corpus/http_upgrade/): valid client frame streams and handshakes,
and a few near misses, encoded here independently of the C++ codecs from RFC 6455 and
RFC 7230. Run it again after a change to either format's rules."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 5.7's key
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


def frame(op, payload, fin=True, mask=MASK, length_form=None):
    """A client frame (masked); length_form 16 or 64 forces a longer length field."""
    head = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length_form == 64 or n > 0xFFFF:
        head += bytes([mask_bit | 127]) + struct.pack(">Q", n)
    elif length_form == 16 or n > 125:
        head += bytes([mask_bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mask_bit | n])
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close(code, reason=b""):
    return frame(CLOSE, struct.pack(">H", code) + reason)


WS_SEEDS = {
    "text_hello": frame(TEXT, b"Hello"),
    "binary_every_byte": frame(BINARY, bytes(range(256))),
    "length_forms": frame(TEXT, b"x" * 126) + frame(BINARY, b"abc", length_form=16)
    + frame(BINARY, b"abc", length_form=64),
    "fragments_with_control": frame(TEXT, b"Hel", fin=False) + frame(PING, b"p")
    + frame(CONT, b"", fin=False) + frame(PONG, b"") + frame(CONT, b"lo"),
    "utf8_straddling": frame(TEXT, "a\u20ac".encode()[:2], fin=False)
    + frame(CONT, "a\u20ac".encode()[2:] + "\U0001F600".encode()),
    "close_with_reason": frame(TEXT, b"bye") + close(1000, "done \u00e9".encode()),
    "close_empty": frame(CLOSE, b""),
    "server_frames": frame(TEXT, b"from server", mask=None) + frame(PING, b"", mask=None)
    + frame(CLOSE, struct.pack(">H", 1001), mask=None),
    # Near misses: each breaks one rule.
    "bad_utf8_overlong": frame(TEXT, b"\xc0\x80"),
    "bad_close_code": close(1005),
    "bad_rsv": bytes([0xC1]) + frame(TEXT, b"a")[1:],
    "continuation_first": frame(CONT, b"x"),
}

HANDSHAKE_LINES = [
    b"Host: 127.0.0.1:8080",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
]


def head(lines, request_line=b"GET /chat HTTP/1.1"):
    return request_line + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


HTTP_SEEDS = {
    "minimal": head(HANDSHAKE_LINES),
    "browser_like": head([
        b"Host: example.com", b"Connection: keep-alive, Upgrade", b"Upgrade: websocket",
        b"Origin: https://example.com", b"Sec-WebSocket-Version: 13",
        b"Cookie: a=1", b"Cookie: b=2", b"Sec-WebSocket-Key: Bc6g730cUbPzKON80YVx+Q==",
        b"Sec-WebSocket-Protocol: strata.v1, json", b"Authorization: Bearer t0k3n",
    ], b"GET /ws?room=1&x=%20 HTTP/1.1"),
    "pipelined_frame": head(HANDSHAKE_LINES) + frame(TEXT, b"Hello"),
    "wrong_version": head(HANDSHAKE_LINES[:4] + [b"Sec-WebSocket-Version: 8"]),
    "post": head(HANDSHAKE_LINES, b"POST /chat HTTP/1.1"),
    "http10": head(HANDSHAKE_LINES, b"GET /chat HTTP/1.0"),
    "obs_fold": head(HANDSHAKE_LINES + [b" folded"]),
    "bare_lf": head(HANDSHAKE_LINES).replace(b"\r\n", b"\n", 2),
}

for name, seeds in (("ws_frame", WS_SEEDS), ("http_upgrade", HTTP_SEEDS)):
    out = os.path.join(HERE, "corpus", name)
    os.makedirs(out, exist_ok=True)
    for seed, data in seeds.items():
        assert len(data) <= 600, seed
        with open(os.path.join(out, seed), "wb") as f:
            f.write(data)
