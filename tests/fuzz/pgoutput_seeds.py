#!/usr/bin/env python3
"""Writes the seed corpus of pgoutput_fuzz (tests/fuzz/corpus/pgoutput/): one valid pgoutput
message (proto_version 1) of every type, bare and inside an XLogData, and keepalives, encoded
here independently of the C++ codec from the layouts in protocol/pgoutput.h (PostgreSQL's
proto.c). Run it again after a change to the codec's rules."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "pgoutput")
TIME = 774000000123456  # us since 2000-01-01


def cstr(s):
    return s + b"\0"


def tuple_data(columns):
    """columns: (kind, bytes) pairs; 'n' and 'u' carry no bytes."""
    out = struct.pack(">H", len(columns))
    for kind, value in columns:
        out += kind
        if kind in (b"t", b"b"):
            out += struct.pack(">i", len(value)) + value
    return out


def relation(relid, nspname, name, identity, columns):
    out = b"R" + struct.pack(">I", relid) + cstr(nspname) + cstr(name) + identity
    out += struct.pack(">H", len(columns))
    for key, colname, oid, typmod in columns:
        out += bytes([1 if key else 0]) + cstr(colname) + struct.pack(">Ii", oid, typmod)
    return out


def xlog_data(message, start=0x16B374D848):
    return b"w" + struct.pack(">QQq", start, start + 0x30, TIME) + message


ROW = [(b"t", b"42"), (b"n", b""), (b"u", b""), (b"b", b"a\0b"), (b"t", b"")]
KEY = [(b"t", b"42"), (b"n", b""), (b"n", b""), (b"n", b""), (b"n", b"")]

MESSAGES = {
    "begin": b"B" + struct.pack(">QqI", 0x16B374D848, TIME, 737),
    "commit": b"C" + struct.pack(">BQQq", 0, 0x16B374D848, 0x16B374D878, TIME),
    "origin": b"O" + struct.pack(">Q", 0x1ABCDEF) + cstr(b"upstream"),
    "relation": relation(16384, b"public", b"item", b"d",
                         [(True, b"id", 23, -1), (False, b"name", 1043, 68), (False, b"n", 25, -1)]),
    "relation_full": relation(16385, b"", b"w", b"f", [(True, b"a", 1700, 655366)]),
    "type": b"Y" + struct.pack(">I", 16404) + cstr(b"public") + cstr(b"mood"),
    "insert": b"I" + struct.pack(">I", 16384) + b"N" + tuple_data(ROW),
    "update": b"U" + struct.pack(">I", 16384) + b"N" + tuple_data(ROW),
    "update_old_key": b"U" + struct.pack(">I", 16384) + b"K" + tuple_data(KEY) + b"N" +
                      tuple_data(ROW),
    "update_old_row": b"U" + struct.pack(">I", 16384) + b"O" + tuple_data(ROW) + b"N" +
                      tuple_data(ROW),
    "delete_old_key": b"D" + struct.pack(">I", 16384) + b"K" + tuple_data(KEY),
    "delete_old_row": b"D" + struct.pack(">I", 16384) + b"O" + tuple_data(ROW),
    "truncate": b"T" + struct.pack(">IBIII", 3, 3, 16384, 16385, 7),
    "message": b"M" + struct.pack(">BQ", 1, 0x1526498) + cstr(b"strata") +
               struct.pack(">i", 5) + b"hello",
}

SEEDS = {}
for name, message in MESSAGES.items():
    SEEDS["pg_" + name] = message
    SEEDS["w_" + name] = xlog_data(message)
SEEDS["keepalive"] = b"k" + struct.pack(">QqB", 0x16B374D848, TIME, 0)
SEEDS["keepalive_reply"] = b"k" + struct.pack(">QqB", 0x16B374D848, TIME, 1)

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
