#!/usr/bin/env python3
"""Derives strata's reply-shape table (protocol/reply_shapes_table.inc) from a differential run
against redis-server: every probe below runs on one connection in HELLO 2 and on another in
HELLO 3, on the same data, and the two replies are compared node by node. Where RESP3 differs
(a map where RESP2 sent a flat array, a double where it sent a bulk string, a set, a boolean, a
verbatim string, pairs nested where RESP2 flattened them), the difference becomes the command's
shape; nulls ($-1 and *-1 -> _) are converted everywhere and need no entry.

Regenerate (redis-server on PATH, the version strata targets: 7.0):
    python3 scripts/gen_reply_shapes.py --out protocol/reply_shapes_table.inc
Check the checked-in table against a running redis-server (what the integration test does):
    python3 scripts/gen_reply_shapes.py --port 6379 --check protocol/reply_shapes_table.inc

Shapes are type-directed: an operation applies only to the RESP2 type it was seen on (a double
to a bulk string, a map to an array...), so one shape covers replies whose type depends on the
arguments (SPOP key vs SPOP key count; GEORADIUS WITHDIST vs WITHHASH). Where the same RESP2 type
converts two ways depending on the arguments (ZRANGE vs ZRANGE ... WITHSCORES; ZPOPMIN key vs
ZPOPMIN key count), the generator finds the argument that decides -- an option token, or the
argument count -- and emits one entry per variant.

Program grammar (read by protocol/reply_shape.cc):
    .        keep (nulls still become _)          d  bulk -> double      b  integer -> boolean
    v        bulk -> verbatim "txt"                n  bulk -> big number
    A e      array, every element e                S e  array -> set, every element e
    ( e.. ) r  array: positional elements, then r for the rest
    M k v    flat array of 2n -> map of n          P k v  flat array of 2n -> n pairs
    K k v    array of n pairs -> map of n
    { 'name' e ... * e }  map whose value shape depends on its key (* for the others)
    U c o..  one of c operations, by the RESP2 type met (at most one per type)
"""

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# ------------------------------------------------------------------ the probes
# Data every probe starts from (FLUSHALL, then these). CONFIG RESETSTAT + PING: one PING in
# LATENCY HISTOGRAM, whose bucket count would otherwise differ between the two runs.
SETUP = """
SET s hello
SET n 10
SET a1 ohmytext
SET a2 mynewtext
RPUSH l a b c a
HSET h f1 v1 f2 v2 f3 3
SADD st a b c
SADD st2 b c d
ZADD z 1 a 2.5 b 3 c
ZADD z2 1 a 5 d
XADD x 1-1 f v
XADD x 2-1 f2 v2
XGROUP CREATE x g 0
XREADGROUP GROUP g c1 COUNT 1 STREAMS x >
GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
PFADD hll a b c
SETBIT bits 3 1
CONFIG RESETSTAT
PING
FUNCTION LOAD "#!lua name=shapelib\\nredis.register_function('shapef', function(k, a) return 1 end)"
"""

# One probe a line; each runs on fresh data (so writes do not disturb the next).
PROBES = """
GET s
GET nope
SET s2 v
SET s w GET
SET nope w GET
SETNX s v
SETEX s2 100 v
PSETEX s2 100000 v
GETDEL s
GETEX s EX 100
GETRANGE s 0 1
SUBSTR s 0 1
GETSET s w
INCR n
INCRBY n 2
INCRBYFLOAT n 1.5
DECR n
DECRBY n 2
APPEND s x
STRLEN s
MGET s nope l
MSET k1 v1 k2 v2
MSETNX k1 v1 k2 v2
SETRANGE s 0 x
LCS a1 a2
LCS a1 a2 LEN
LCS a1 a2 IDX
LCS a1 a2 IDX MINMATCHLEN 2 WITHMATCHLEN
DEL s nope
UNLINK s
EXISTS s nope s
TYPE z
EXPIRE s 100
PEXPIRE s 100000
EXPIREAT s 4000000000
PEXPIREAT s 4000000000000
TTL s
PTTL s
EXPIRETIME s
PEXPIRETIME s
PERSIST s
RENAME s s3
RENAMENX s n
COPY s s4
MOVE s 1
TOUCH s l
KEYS s*
SCAN 0
SCAN 0 MATCH * COUNT 100 TYPE hash
RANDOMKEY
DUMP nope
OBJECT ENCODING z
OBJECT FREQ z
OBJECT IDLETIME z
OBJECT REFCOUNT z
OBJECT HELP
SORT l ALPHA
SORT_RO l ALPHA
SORT l ALPHA STORE out
DBSIZE
SWAPDB 0 1
LPUSH l x
LPUSHX l x
RPUSH l x
RPUSHX nope x
LPOP l
LPOP l 2
LPOP nope
LPOP nope 2
RPOP l
RPOP l 2
RPOP nope 2
LRANGE l 0 -1
LLEN l
LINDEX l 0
LINDEX l 99
LINSERT l BEFORE b x
LSET l 0 y
LREM l 0 a
LTRIM l 0 1
LPOS l a
LPOS l a COUNT 0
LPOS l zz
LMOVE l l2 LEFT RIGHT
RPOPLPUSH l l2
LMPOP 1 l LEFT
LMPOP 1 l LEFT COUNT 2
LMPOP 1 nope LEFT
HSET h f4 v4
HSETNX h f1 v
HGET h f1
HGET h nope
HMGET h f1 nope
HGETALL h
HGETALL nope
HKEYS h
HVALS h
HLEN h
HDEL h f1
HEXISTS h f1
HINCRBY h f3 2
HINCRBYFLOAT h f3 1.5
HSTRLEN h f1
HMSET h f5 v5
HRANDFIELD h
HRANDFIELD nope
HRANDFIELD h 2
HRANDFIELD h -5
HRANDFIELD h 2 WITHVALUES
HRANDFIELD h -5 WITHVALUES
HRANDFIELD nope 2 WITHVALUES
HSCAN h 0
SADD st d
SREM st a
SMEMBERS st
SMEMBERS nope
SISMEMBER st a
SMISMEMBER st a nope
SCARD st
SPOP st
SPOP nope
SPOP st 2
SPOP nope 2
SRANDMEMBER st
SRANDMEMBER st 2
SRANDMEMBER st -5
SRANDMEMBER nope 2
SMOVE st st2 a
SINTER st st2
SUNION st st2
SDIFF st st2
SINTERSTORE out st st2
SUNIONSTORE out st st2
SDIFFSTORE out st st2
SINTERCARD 2 st st2
SSCAN st 0
ZADD z 4 d
ZADD z INCR 1 a
ZADD z XX INCR 1 nope
ZADD z NX INCR 1 a
ZCARD z
ZCOUNT z 0 10
ZINCRBY z 1.5 a
ZSCORE z a
ZSCORE z nope
ZMSCORE z a nope b
ZRANK z b
ZRANK z nope
ZREVRANK z b
ZRANGE z 0 -1
ZRANGE z 0 -1 WITHSCORES
ZRANGE z (1 +inf BYSCORE LIMIT 0 2 WITHSCORES
ZRANGE z [a [z BYLEX
ZRANGE z 0 -1 REV WITHSCORES
ZRANGEBYSCORE z -inf +inf
ZRANGEBYSCORE z -inf +inf WITHSCORES
ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 0 1
ZREVRANGEBYSCORE z +inf -inf
ZREVRANGEBYSCORE z +inf -inf WITHSCORES
ZREVRANGEBYSCORE z +inf -inf LIMIT 0 1 WITHSCORES
ZUNION 1 z WITHSCORES
ZINTER 1 z WITHSCORES
ZRANGEBYLEX z - +
ZREVRANGEBYLEX z + -
ZREVRANGE z 0 -1
ZREVRANGE z 0 -1 WITHSCORES
ZRANGESTORE out z 0 -1
ZREM z a
ZREMRANGEBYSCORE z 0 1
ZREMRANGEBYRANK z 0 0
ZREMRANGEBYLEX z - +
ZLEXCOUNT z - +
ZPOPMIN z
ZPOPMIN z 1
ZPOPMIN z 2
ZPOPMIN nope
ZPOPMIN nope 2
ZPOPMAX z
ZPOPMAX z 2
ZMPOP 1 z MIN
ZMPOP 1 z MAX COUNT 2
ZMPOP 1 nope MIN
ZRANDMEMBER z
ZRANDMEMBER nope
ZRANDMEMBER z 2
ZRANDMEMBER z 2 WITHSCORES
ZRANDMEMBER z -5 WITHSCORES
ZRANDMEMBER nope 2 WITHSCORES
ZUNION 2 z z2
ZUNION 2 z z2 WITHSCORES
ZUNION 2 z z2 WEIGHTS 1 2 AGGREGATE MAX WITHSCORES
ZINTER 2 z z2
ZINTER 2 z z2 WITHSCORES
ZDIFF 2 z z2
ZDIFF 2 z z2 WITHSCORES
ZUNIONSTORE out 2 z z2
ZINTERSTORE out 2 z z2
ZDIFFSTORE out 2 z z2
ZINTERCARD 2 z z2
ZSCAN z 0
XADD x 3-1 f v
XADD x NOMKSTREAM MAXLEN 10 * f v
XLEN x
XRANGE x - +
XRANGE x - + COUNT 1
XREVRANGE x + -
XDEL x 1-1
XTRIM x MAXLEN 1
XREAD COUNT 1 STREAMS x 0
XREAD STREAMS x nope 0 0
XREAD STREAMS nope 0
XREADGROUP GROUP g c2 COUNT 1 STREAMS x >
XREADGROUP GROUP g c1 STREAMS x 0
XACK x g 1-1
XPENDING x g
XPENDING x g - + 10
XPENDING x g - + 10 c1
XCLAIM x g c2 0 1-1
XCLAIM x g c2 0 1-1 JUSTID
XAUTOCLAIM x g c2 0 0
XAUTOCLAIM x g c2 0 0 JUSTID
XINFO STREAM x
XINFO STREAM x FULL
XINFO STREAM x FULL COUNT 1
XINFO GROUPS x
XINFO CONSUMERS x g
XINFO HELP
XGROUP CREATE x g2 $
XGROUP CREATECONSUMER x g c9
XGROUP DELCONSUMER x g c1
XGROUP DESTROY x g
XGROUP SETID x g 0
XGROUP HELP
XSETID x 5-5
GEOADD geo 13.5 38.5 Other
GEODIST geo Palermo Catania
GEODIST geo Palermo Catania km
GEODIST geo Palermo nope
GEOHASH geo Palermo nope
GEOPOS geo Palermo nope
GEORADIUS geo 15 37 200 km
GEORADIUS geo 15 37 200 km WITHDIST
GEORADIUS geo 15 37 200 km WITHCOORD
GEORADIUS geo 15 37 200 km WITHHASH
GEORADIUS geo 15 37 200 km WITHDIST WITHHASH
GEORADIUS geo 15 37 200 km WITHCOORD WITHHASH
GEORADIUS geo 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
GEORADIUS geo 15 37 200 km STORE out
GEORADIUS_RO geo 15 37 200 km WITHDIST WITHCOORD
GEORADIUSBYMEMBER geo Palermo 200 km WITHDIST
GEORADIUSBYMEMBER geo Palermo 200 km WITHCOORD WITHHASH
GEORADIUSBYMEMBER_RO geo Palermo 200 km WITHDIST WITHCOORD
GEOSEARCH geo FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCH geo FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST WITHCOORD WITHHASH
GEOSEARCH geo FROMMEMBER Palermo BYBOX 400 400 km WITHDIST
GEOSEARCH geo FROMMEMBER Palermo BYBOX 400 400 km WITHCOORD
GEOSEARCHSTORE out geo FROMLONLAT 15 37 BYRADIUS 200 km
PFADD hll d
PFCOUNT hll
PFMERGE hll2 hll
SETBIT bits 4 1
GETBIT bits 3
BITCOUNT bits
BITPOS bits 1
BITOP OR out bits bits
BITFIELD bits GET u8 0 INCRBY u8 0 1
BITFIELD bits OVERFLOW FAIL INCRBY u2 0 10
BITFIELD_RO bits GET u8 0
CONFIG GET maxmemory*
CONFIG GET nope
CONFIG SET maxmemory-samples 5
CONFIG RESETSTAT
CONFIG HELP
CONFIG REWRITE
TIME
LASTSAVE
ROLE
WAIT 0 0
SLOWLOG GET
SLOWLOG LEN
SLOWLOG RESET
SLOWLOG HELP
LATENCY LATEST
LATENCY HISTORY command
LATENCY DOCTOR
LATENCY GRAPH command
LATENCY HISTOGRAM ping
LATENCY RESET
LATENCY HELP
MEMORY USAGE s
MEMORY USAGE nope
MEMORY STATS
MEMORY DOCTOR
MEMORY MALLOC-STATS
MEMORY PURGE
MEMORY HELP
MODULE LIST
MODULE HELP
ACL CAT
ACL CAT string
ACL WHOAMI
ACL USERS
ACL LIST
ACL GETUSER default
ACL GETUSER nope
ACL LOG
ACL LOG RESET
ACL GENPASS
ACL DRYRUN default GET s
ACL SETUSER shape-user
ACL DELUSER nope
ACL HELP
ACL LOAD
ACL SAVE
FUNCTION LIST
FUNCTION LIST WITHCODE
FUNCTION STATS
FUNCTION DUMP
FUNCTION DELETE shapelib
FUNCTION HELP
SCRIPT EXISTS abc
SCRIPT LOAD "return 1"
SCRIPT FLUSH
SCRIPT HELP
PUBSUB CHANNELS
PUBSUB NUMSUB c1 c2
PUBSUB NUMPAT
PUBSUB SHARDCHANNELS
PUBSUB SHARDNUMSUB c1
PUBSUB HELP
PUBLISH c1 m
SPUBLISH c1 m
LOLWUT
LOLWUT VERSION 5 1 1 1
ECHO hi
PING
COMMAND COUNT
COMMAND INFO get
COMMAND DOCS get
COMMAND GETKEYS set k v
COMMAND GETKEYSANDFLAGS set k v
COMMAND LIST FILTERBY PATTERN xinfo*
COMMAND HELP
CLIENT INFO
CLIENT LIST
CLIENT GETNAME
CLIENT ID
CLIENT GETREDIR
CLIENT TRACKINGINFO
CLIENT NO-EVICT on
CLIENT HELP
CLUSTER INFO
READONLY
READWRITE
FAILOVER ABORT
REPLICAOF NO ONE
SLAVEOF NO ONE
"""

# Commands of redis-server 7.0's COMMAND LIST not probed, and why (the check fails on a command
# that is neither probed nor listed here, so a new Redis command cannot slip past).
UNPROBED = {
    "auth": "strata's own (--requirepass)",
    "hello": "strata's own; its reply describes the server",
    "select": "strata's own for 0; another database pins the client",
    "quit": "strata's own",
    "reset": "strata's own",
    "info": "strata composes it (Redis's text with strata's sections), verbatim in RESP3",
    "multi": "pinned: the client's own connection speaks its protocol",
    "exec": "pinned", "discard": "pinned", "watch": "pinned", "unwatch": "pinned",
    "subscribe": "pinned", "unsubscribe": "pinned", "psubscribe": "pinned",
    "punsubscribe": "pinned", "ssubscribe": "pinned", "sunsubscribe": "pinned",
    "monitor": "pinned",
    "blpop": "pinned (blocking)", "brpop": "pinned (blocking)", "brpoplpush": "pinned (blocking)",
    "blmove": "pinned (blocking)", "blmpop": "pinned (blocking)", "bzpopmin": "pinned (blocking)",
    "bzpopmax": "pinned (blocking)", "bzmpop": "pinned (blocking)",
    "client|tracking": "pinned", "client|caching": "pinned", "client|reply": "pinned",
    "client|kill": "strata's own", "client|unblock": "strata's own",
    "client|setname": "strata's own", "client|pause": "a lane, +OK",
    "client|unpause": "a lane, +OK",
    "sync": "pinned (replication link)", "psync": "pinned (replication link)",
    "replconf": "replication only",
    "eval": "a lane, which speaks the client's protocol (a script's reply has no fixed shape)",
    "evalsha": "a lane, as eval", "eval_ro": "a lane, as eval", "evalsha_ro": "a lane, as eval",
    "fcall": "a lane, as eval", "fcall_ro": "a lane, as eval",
    "script|kill": "a lane; an error or +OK", "script|debug": "needs a scripting debugger",
    "function|kill": "a lane; an error or +OK", "function|flush": "+OK",
    "function|load": "bulk (the library name), probed in the setup",
    "function|restore": "needs a FUNCTION DUMP payload; +OK or an error",
    "debug": "a lane; test-only command", "pfdebug": "test-only command",
    "pfselftest": "test-only command, +OK",
    "shutdown": "strata's own (stops strata)",
    "save": "+OK (writes the RDB)", "bgsave": "a status line (writes the RDB)",
    "bgrewriteaof": "a status line (writes the AOF)",
    "restore": "needs a DUMP payload; +OK or an error", "restore-asking": "cluster only",
    "asking": "cluster only", "migrate": "a lane; +OK/+NOKEY or an error",
    "module|load": "loads code into Redis", "module|loadex": "as module|load",
    "module|unload": "as module|load",
    "flushall": "+OK", "flushdb": "+OK",
    "cluster": "cluster support is off in the upstream strata fronts: an error",
}
# Every CLUSTER subcommand answers the same error with cluster support off.
kUnprobedContainers = ("cluster",)

kSocketTimeoutS = 10
kRedisStartTimeoutS = 10

# ------------------------------------------------------------------ RESP reading


class Node:
    """One reply node: t is the type byte (RESP3 types as sent; '$-1'/'*-1' are 'null')."""

    def __init__(self, t, value=None, children=None, fmt=None):
        self.t, self.value, self.children, self.fmt = t, value, children or [], fmt

    def __repr__(self):
        if self.children:
            return f"{self.t}{self.children!r}"
        return f"{self.t}{self.value!r}"


class Conn:
    def __init__(self, port=None, path=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(kSocketTimeoutS)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("redis-server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = chr(line[0]), line[1:]
        if t in "+-:,(#":
            return Node(t, rest)
        if t == "_":
            return Node("null")
        if t in "$=!":
            n = int(rest)
            if n < 0:
                return Node("null")
            data = self._exact(n)
            if t == "=":
                return Node("=", data[4:], fmt=data[:3])
            return Node(t, data)
        if t in "*~>%|":
            n = int(rest)
            if n < 0:
                return Node("null")
            count = n * 2 if t in "%|" else n
            kids = [self.read() for _ in range(count)]
            if t == "|":  # an attribute annotates the next value (Redis 7.0 sends none)
                return self.read()
            return Node(t, children=kids)
        raise ValueError(f"unknown reply type {line!r}")

    def call_many(self, commands):
        self.sock.sendall(b"".join(encode(c) for c in commands))
        return [self.read() for _ in commands]


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def split(line):
    return [a.encode().decode("unicode_escape") for a in shlex.split(line)]


# ------------------------------------------------------------------ shapes
# A shape is a dict slot -> operation, slots by the RESP2 type a node arrives as: "bulk" (op
# ".", "d", "v", "n"), "int" (".", "b") and "array" (an ArrayOp). A missing slot was never
# seen. Scalars other than bulk and integer (status, error, null) always pass as they are.


class Conflict(Exception):
    pass


class ArrayOp:
    """kind: seq (prefix shapes, then rest), set (rest), map (key, rest), fields (dict, rest),
    pairs (key, rest), pairmap (key, rest), anymap (an empty map), unknown (an empty array:
    nothing learnt)."""

    def __init__(self, kind, rest=None, prefix=None, key=None, fields=None):
        self.kind = kind
        self.rest = rest if rest is not None else {}
        self.prefix = prefix or []
        self.key = key if key is not None else {}
        self.fields = fields or {}

    def __eq__(self, other):
        return isinstance(other, ArrayOp) and vars(self) == vars(other)


def merge(a, b):
    out = dict(a)
    for slot, op in b.items():
        if slot not in out:
            out[slot] = op
        elif slot == "array":
            out[slot] = merge_array(out[slot], op)
        elif out[slot] != op:
            raise Conflict(f"{slot}: {out[slot]} vs {op}")
    return out


def merge_array(a, b):
    if a.kind == "unknown":
        return b
    if b.kind == "unknown":
        return a
    if a.kind == "anymap" and b.kind in ("map", "pairmap", "fields", "anymap"):
        return b
    if b.kind == "anymap" and a.kind in ("map", "pairmap", "fields"):
        return a
    if a.kind == "map" and b.kind == "fields" or a.kind == "fields" and b.kind == "map":
        a = as_fields(a)
        b = as_fields(b)
    if a.kind != b.kind:
        raise Conflict(f"array: {a.kind} vs {b.kind}")
    if a.kind == "seq":
        n = max(len(a.prefix), len(b.prefix))
        prefix = [merge(a.prefix[i] if i < len(a.prefix) else a.rest,
                        b.prefix[i] if i < len(b.prefix) else b.rest) for i in range(n)]
        return ArrayOp("seq", merge(a.rest, b.rest), prefix=prefix)
    if a.kind == "fields":
        fields = dict(a.fields)
        for k, v in b.fields.items():
            fields[k] = merge(fields.get(k, {}), v)
        return ArrayOp("fields", merge(a.rest, b.rest), fields=fields)
    return ArrayOp(a.kind, merge(a.rest, b.rest), key=merge(a.key, b.key))


def as_fields(op):
    if op.kind == "fields":
        return op
    return ArrayOp("fields", op.rest, fields={})


def merge_all(shapes):
    out = {}
    for s in shapes:
        out = merge(out, s)
    return out


def infer(r2, r3, where="reply"):
    """The shape that turns RESP2 node r2 into RESP3 node r3."""
    if r2.t == "null":
        if r3.t != "null":
            raise ValueError(f"{where}: RESP2 null, RESP3 {r3!r}")
        return {}
    if r2.t in "+-":
        if r3.t != r2.t:
            raise ValueError(f"{where}: RESP2 {r2.t}, RESP3 {r3.t}")
        return {}
    if r2.t == ":":
        if r3.t == ":":
            return {"int": "."}
        if r3.t == "#" and (r2.value, r3.value) in ((b"0", b"f"), (b"1", b"t")):
            return {"int": "b"}
        raise ValueError(f"{where}: RESP2 integer, RESP3 {r3!r}")
    if r2.t == "$":
        ops = {"$": ".", ",": "d", "(": "n"}
        # Random replies (ZRANDMEMBER...) differ between the runs, so the texts are only
        # checked to be numbers; test_compat compares the bytes of deterministic ones.
        if r3.t in ",(" and not (is_number(r3.value) and is_number(r2.value)):
            raise ValueError(f"{where}: RESP3 {r3!r} from RESP2 {r2.value!r} is not a number")
        if r3.t in ops:
            return {"bulk": ops[r3.t]}
        if r3.t == "=":
            if r3.fmt != b"txt":
                raise ValueError(f"{where}: verbatim format {r3.fmt!r}")
            return {"bulk": "v"}
        raise ValueError(f"{where}: RESP2 bulk, RESP3 {r3!r}")
    if r2.t != "*":
        raise ValueError(f"{where}: unexpected RESP2 type {r2.t}")
    kids2, kids3 = r2.children, r3.children
    if r3.t == "%" and not kids2 and not kids3:
        return {"array": ArrayOp("anymap")}  # flat or nested pairs: an empty map tells nothing
    if r3.t == "%" and len(kids2) * 2 == len(kids3) and all(
            k.t == "*" and len(k.children) == 2 for k in kids2):
        keys = [infer(k.children[0], kids3[2 * i], where + " key") for i, k in enumerate(kids2)]
        vals = [infer(k.children[1], kids3[2 * i + 1], where + " value")
                for i, k in enumerate(kids2)]
        return {"array": ArrayOp("pairmap", merge_all(vals), key=merge_all(keys))}
    if r3.t == "%":
        if len(kids2) != len(kids3):
            raise ValueError(f"{where}: map of {len(kids3) // 2} from an array of {len(kids2)}")
        keys, values, per_key = [], [], {}
        for i in range(0, len(kids2), 2):
            keys.append(infer(kids2[i], kids3[i], where + " key"))
            v = infer(kids2[i + 1], kids3[i + 1], where + f" [{kids2[i].value!r}]")
            values.append(v)
            per_key[kids2[i].value] = v
        key = merge_all(keys)
        if program(key) != ".":
            raise ValueError(f"{where}: map keys converted ({key})")
        try:
            return {"array": ArrayOp("map", merge_all(values), key=key)}
        except Conflict:
            fields = {k.decode(): v for k, v in per_key.items()}
            if any(k.t != "$" for k in kids2[::2]):
                raise ValueError(f"{where}: a map with non-string keys converts per key")
            return {"array": ArrayOp("fields", {}, fields=fields)}
    if r3.t == "~":
        if len(kids2) != len(kids3):
            raise ValueError(f"{where}: set of {len(kids3)} from an array of {len(kids2)}")
        # Sets are unordered: RESP2 and RESP3 runs may list members apart. Members are scalars
        # in every Redis 7.0 set reply, so their shapes are compared by type only.
        return {"array": ArrayOp("set", merge_all(
            infer(a, b, where + " member") for a, b in zip(sorted_nodes(kids2),
                                                            sorted_nodes(kids3))))}
    if r3.t != "*":
        raise ValueError(f"{where}: RESP2 array, RESP3 {r3!r}")
    if not kids2 and not kids3:
        return {"array": ArrayOp("unknown")}
    if len(kids2) == 2 * len(kids3) and all(k.t == "*" and len(k.children) == 2 for k in kids3):
        keys = [infer(kids2[2 * i], kids3[i].children[0], where + " pair key")
                for i in range(len(kids3))]
        vals = [infer(kids2[2 * i + 1], kids3[i].children[1], where + " pair value")
                for i in range(len(kids3))]
        return {"array": ArrayOp("pairs", merge_all(vals), key=merge_all(keys))}
    if len(kids2) != len(kids3):
        raise ValueError(f"{where}: array of {len(kids3)} from an array of {len(kids2)}")
    elems = [infer(a, b, where + f"[{i}]") for i, (a, b) in enumerate(zip(kids2, kids3))]
    try:
        return {"array": ArrayOp("seq", merge_all(elems))}
    except Conflict:
        return {"array": ArrayOp("seq", {}, prefix=elems)}


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def sorted_nodes(nodes):
    return sorted(nodes, key=lambda n: (n.t, n.value or b""))


# ------------------------------------------------------------------ programs


def program(shape):
    ops = []
    for slot in ("bulk", "int", "array"):
        op = shape.get(slot)
        if op is None or op == ".":
            continue
        if slot == "array":
            text = array_program(op)
            if text is not None:
                ops.append(text)
        else:
            ops.append(op)
    if not ops:
        return "."
    if len(ops) == 1:
        return ops[0]
    return "U%d%s" % (len(ops), "".join(ops))


def array_program(op):
    """None when the array and everything in it is kept."""
    if op.kind == "unknown":
        return None
    if op.kind == "set":
        return "S" + program(op.rest)
    if op.kind == "anymap":
        return "M.."
    if op.kind == "map":
        return "M" + program(op.key) + program(op.rest)
    if op.kind == "pairs":
        return "P" + program(op.key) + program(op.rest)
    if op.kind == "pairmap":
        return "K" + program(op.key) + program(op.rest)
    if op.kind == "fields":
        parts = [f"'{k}'{program(v)}" for k, v in sorted(op.fields.items())
                 if program(v) != "."]
        for k in op.fields:
            if "'" in k:
                raise ValueError(f"map key {k!r} cannot be written in a program")
        return "{" + "".join(parts) + "*" + program(op.rest) + "}"
    prefix = [program(p) for p in op.prefix]
    rest = program(op.rest)
    while prefix and prefix[-1] == rest:
        prefix.pop()
    if not prefix:
        return None if rest == "." else "A" + rest
    return "(" + "".join(prefix) + ")" + rest


# ------------------------------------------------------------------ the run


def command_key(args):
    """(name, subcommand) as the table keys them; subcommand "" for plain commands."""
    name = args[0].lower()
    if name in CONTAINERS and len(args) > 1:
        return name, args[1].lower()
    return name, ""


CONTAINERS = set()


def observe(port=None, path=None):
    """Runs every probe in both protocols; returns [(args, shape)]."""
    c2, c3 = Conn(port, path), Conn(port, path)
    c2.call_many([["HELLO", "2"]])
    c3.call_many([["HELLO", "3"]])
    global CONTAINERS
    CONTAINERS = containers(c2)
    setup = [split(line) for line in SETUP.strip().splitlines()]
    out = []
    for line in PROBES.strip().splitlines():
        args = split(line)
        replies = []
        for conn in (c2, c3):
            got = conn.call_many([["FLUSHALL"], ["FUNCTION", "FLUSH"]] + setup + [args])
            replies.append(got[-1])
        try:
            out.append((args, infer(replies[0], replies[1])))
        except (ValueError, Conflict) as e:
            raise SystemExit(f"probe {line!r}: {e}\n  RESP2 {replies[0]!r}\n  RESP3 {replies[1]!r}")
    c2.call_many([["FLUSHALL"], ["FUNCTION", "FLUSH"], ["ACL", "DELUSER", "shape-user"]])
    return out


def containers(conn):
    """Commands with subcommands (COMMAND INFO's entries with a subcommand list)."""
    names = set()
    for line in conn.call_many([["COMMAND", "LIST"]])[0].children:
        name = line.value.decode()
        if "|" in name:
            names.add(name.split("|")[0])
    return names


def split_variants(key, observations):
    """[(token, min_argc, shape)], most specific first. A token is looked for after the
    command's first argument (its key; for a subcommand, after the subcommand's first)."""
    try:
        return [("", 0, merge_all(s for _, s in observations))]
    except Conflict:
        pass
    skip = 2 if key[1] else 1
    tokens = sorted({a.upper() for args, _ in observations for a in args[skip:]
                     if a.isalpha() and a.isupper()})
    for token in tokens:
        with_t = [(a, s) for a, s in observations if token in (x.upper() for x in a[skip:])]
        without = [(a, s) for a, s in observations if (a, s) not in with_t]
        try:
            shape_with = merge_all(s for _, s in with_t)
            shape_without = merge_all(s for _, s in without)
        except Conflict:
            continue
        return [(token, 0, shape_with), ("", 0, shape_without)]
    for argc in sorted({len(a) for a, _ in observations}):
        more = [(a, s) for a, s in observations if len(a) >= argc]
        fewer = [(a, s) for a, s in observations if len(a) < argc]
        if not fewer:
            continue
        try:
            return [("", argc, merge_all(s for _, s in more)),
                    ("", 0, merge_all(s for _, s in fewer))]
        except Conflict:
            continue
    raise SystemExit(f"{key}: replies convert differently and no option or argument count "
                     f"tells them apart: {[' '.join(a) for a, _ in observations]}")


def table(observations):
    by_key = {}
    for args, shape in observations:
        by_key.setdefault(command_key(args), []).append((args, shape))
    rows = []
    for key in sorted(by_key):
        variants = split_variants(key, by_key[key])
        texts = [program(shape) for *_, shape in variants]
        if all(t == "." for t in texts):
            continue
        for (token, argc, _), text in zip(variants, texts):
            rows.append((key[0], key[1], token, argc, text))
    return rows


def render(rows, redis_version):
    out = ["// Generated by scripts/gen_reply_shapes.py from a differential run against",
           f"// redis-server {redis_version} (each probe in HELLO 2 and HELLO 3). Do not edit:",
           "//   python3 scripts/gen_reply_shapes.py --out protocol/reply_shapes_table.inc",
           "// {command, subcommand, option token, min argc, program}; a command's entries in",
           "// order, the first that matches applies (protocol/reply_shape.h).",
           "// clang-format off"]
    for name, sub, token, argc, text in rows:
        prog = text.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{{"{name}", "{sub}", "{token}", {argc}, "{prog}"}},')
    out.append("// clang-format on")
    return "\n".join(out) + "\n"


def coverage(port=None, path=None):
    """Commands of the server's COMMAND LIST neither probed nor listed in UNPROBED."""
    conn = Conn(port, path)
    names = [n.value.decode() for n in conn.call_many([["COMMAND", "LIST"]])[0].children]
    probed = set()
    for line in PROBES.strip().splitlines():
        name, sub = command_key(split(line))
        probed.add(f"{name}|{sub}" if sub else name)
    missing = []
    for name in sorted(names):
        base = name.split("|")[0]
        if name in probed or name in UNPROBED or base in kUnprobedContainers:
            continue
        if "|" not in name and name in CONTAINERS:
            continue  # the container itself: its subcommands are checked
        if name.endswith("|help") and base in CONTAINERS:
            probed.add(name)  # a list of lines in both protocols
            continue
        missing.append(name)
    return missing


def server_version(port=None, path=None):
    info = Conn(port, path).call_many([["INFO", "server"]])[0].value.decode()
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def generate(port=None, path=None):
    rows = table(observe(port, path))
    missing = coverage(port, path)
    return render(rows, server_version(port, path)), missing


def start_redis(tmp):
    path = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", path, "--save", "",
                             "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + kRedisStartTimeoutS
    while True:
        try:
            Conn(path=path).call_many([["PING"]])
            return proc, path
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, help="a running redis-server (default: start one)")
    ap.add_argument("--out", help="write the table here")
    ap.add_argument("--check", help="compare with this checked-in table; exit 1 if it differs")
    opts = ap.parse_args()
    tmp = proc = None
    path = None
    if opts.port is None:
        tmp = tempfile.mkdtemp(prefix="reply-shapes-")
        proc, path = start_redis(tmp)
    try:
        text, missing = generate(opts.port, path)
    finally:
        if proc:
            proc.terminate()
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
    if missing:
        print("commands neither probed nor listed as unprobed: " + ", ".join(missing))
        return 1
    if opts.check:
        with open(opts.check) as f:
            old = f.read()
        if old != text:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True), opts.check, "derived now"))
            return 1
        print(f"{opts.check}: matches the server")
        return 0
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
