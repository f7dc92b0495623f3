#!/usr/bin/env python3
"""Writes the seed corpus of sync_event_fuzz (tests/fuzz/corpus/sync/): a few valid sync
messages of every format (format 3 batches too), within the target's small limits, encoded here independently of the C++ encoder
from the format in protocol/sync_event.h. Run it again after a format change."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "sync")
SET, DELETE, INVALIDATE, FLUSHALL = 1, 2, 3, 4


def header(kind, partition, seq, count, origin=0x5EED, epoch=0xE90C, sender=1, fmt=2,
           sent_at_us=1700000000123456):
    out = b"SY" + struct.pack("<BBQQHHQI", fmt, kind, origin, epoch, sender, partition, seq, count)
    return out + (struct.pack("<Q", sent_at_us) if fmt >= 2 else b"")


def record(op, key, value=None, expire=None, version=7):
    flags = (1 if value is not None else 0) | (2 if expire is not None else 0)
    out = struct.pack("<BBQ", op, flags, version)
    if expire is not None:
        out += struct.pack("<q", expire)
    out += struct.pack("<I", len(key)) + key
    if value is not None:
        out += struct.pack("<I", len(value)) + value
    return out


def changes(partition, seq, records, fmt=2):
    return header(1, partition, seq, len(records), fmt=fmt) + b"".join(records)


def section(sender, partition, seq, records):
    return struct.pack("<HHQI", sender, partition, seq, len(records)) + b"".join(records)


def batch(sections):
    """A format 3 changes message; sections: (sender, partition, seq, records); the header names
    the first."""
    sender, partition = sections[0][0], sections[0][1]
    out = header(1, partition, 0, len(sections), sender=sender, fmt=3)
    return out + b"".join(section(*s) for s in sections)


def heartbeat(seqs, fmt=2):
    return header(2, 0, 0, len(seqs), fmt=fmt) + b"".join(struct.pack("<Q", s) for s in seqs)


SEEDS = {
    "changes_every_op": changes(3, 1, [
        record(SET, b"user:1", b"alice", expire=1700000000000),
        record(DELETE, b"k"),
        record(INVALIDATE, b"abc", expire=5),
        record(FLUSHALL, b""),
    ]),
    "changes_binary_and_empty_value": changes(7, 2**64 - 1, [
        record(SET, b"\x00\r\n\xff", b""),
        record(SET, b"k", None, version=0),
    ]),
    "changes_no_records": changes(0, 1, []),
    "heartbeat_8": heartbeat([0, 1, 2, 3, 2**32, 5, 6, 2**64 - 1]),
    "heartbeat_empty": heartbeat([]),
    "stream_changes_then_heartbeat": changes(1, 9, [record(DELETE, b"x")]) + heartbeat([9, 0]),
    # Format 1, as older builds write it (no send time), and a stream mixing both.
    "v1_changes": changes(2, 1, [record(INVALIDATE, b"k1")], fmt=1),
    "v1_heartbeat": heartbeat([1, 0, 3], fmt=1),
    "stream_v1_then_v2": changes(1, 3, [record(DELETE, b"y")], fmt=1) + heartbeat([3, 0]),
    # Format 3: batches of sections of several workers and partitions.
    "v3_batch_one": batch([(1, 3, 1, [record(SET, b"user:1", b"alice", expire=17)])]),
    "v3_batch_three": batch([
        (1, 3, 7, [record(DELETE, b"k"), record(INVALIDATE, b"abc")]),
        (0, 5, 1, []),
        (2, 3, 2**64 - 1, [record(FLUSHALL, b"")]),
    ]),
    "v3_heartbeat": heartbeat([4, 0, 9], fmt=3),
    "stream_v3_v2_v1": batch([(0, 1, 2, [record(DELETE, b"z")])]) +
        changes(1, 3, [record(DELETE, b"y")]) + heartbeat([3, 0], fmt=1),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    assert len(data) <= 256, name  # the fuzz target's small message_bytes_max
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
