"""Differential script, part 2: commands strata forwards to its upstream (run only when strata
has one), and native commands meeting keys that only the upstream can describe (wrong types,
keys changed by forwarded writes)."""

import sys

from harness import encode


def wrong_types(s, p):
    lst = p + "list"
    s.c("RPUSH", lst, "a", "b", "c")
    for args in (("GET", lst), ("SET", lst, "v", "GET"), ("INCR", lst), ("INCRBY", lst, "2"),
                 ("DECR", lst), ("INCRBYFLOAT", lst, "1.5"), ("APPEND", lst, "x"),
                 ("STRLEN", lst), ("GETRANGE", lst, "0", "1"), ("SETRANGE", lst, "0", "x"),
                 ("GETDEL", lst), ("GETEX", lst, "EX", "10"), ("GETSET", lst, "x"),
                 ("MGET", lst, p + "missing", lst), ("TYPE", lst), ("EXISTS", lst, lst),
                 ("TTL", lst), ("EXPIRE", lst, "100"), ("PERSIST", lst), ("PTTL", lst),
                 ("SETNX", lst, "v"), ("MSETNX", lst, "v", p + "other", "w"),
                 ("SET", lst, "v", "NX"), ("LRANGE", lst, "0", "-1")):
        s.c(*args)
    s.c("SET", lst, "now-a-string", "XX")
    s.c("TYPE", lst)
    s.c("GET", lst)
    s.c("LPUSH", lst, "x")
    s.c("DEL", lst)
    s.c("HSET", p + "hash", "f", "v")
    s.c("GET", p + "hash")
    s.c("SET", p + "hash", "v", "GET")
    s.c("SET", p + "hash", "v")
    s.c("HGET", p + "hash", "f")
    s.c("GET", p + "hash")


def data_types(s, p):
    lst, h, st, z = p + "l2", p + "h2", p + "s2", p + "z2"
    s.c("LPUSH", lst, "1", "2", "3")
    s.c("RPUSH", lst, b"\x00bin\r\n")
    s.c("LRANGE", lst, "0", "-1")
    s.c("LLEN", lst)
    s.c("LPOP", lst)
    s.c("RPOP", lst, "2")
    s.c("LINDEX", lst, "0")
    s.c("HSET", h, "f1", "v1", "f2", "v2")
    s.c("HGET", h, "f1")
    s.c("HGETALL", h)
    s.c("HINCRBY", h, "n", "5")
    s.c("HINCRBYFLOAT", h, "x", "1.5")
    s.c("HMGET", h, "f1", "nope", "f2")
    s.c("HDEL", h, "f1", "nope")
    s.c("HLEN", h)
    s.c("SADD", st, "a", "b", "c", "a")
    s.unordered("SMEMBERS", st)
    s.c("SISMEMBER", st, "b")
    s.c("SCARD", st)
    s.c("ZADD", z, "1.5", "one", "2", "two", "-3.25", "neg")
    s.c("ZRANGE", z, "0", "-1", "WITHSCORES")
    s.c("ZSCORE", z, "one")
    s.c("ZSCORE", z, "nope")
    s.c("ZINCRBY", z, "0.1", "one")
    s.c("ZRANK", z, "two")
    s.c("ZCARD", z)
    s.c("TYPE", lst)
    s.c("TYPE", h)
    s.c("TYPE", st)
    s.c("TYPE", z)
    s.scanall("TYPE", "hash")
    s.scanall("TYPE", "list")
    s.unordered("KEYS", p + "*2")
    s.c("DBSIZE")
    s.c("OBJECT", "ENCODING", h)
    s.c("DEL", lst, h, st, z)


def forwarded_writes(s, p):
    """A native read after a forwarded write must see the write (L1 invalidated)."""
    k = p + "fw"
    s.c("SET", k, "v")
    s.c("GET", k)
    s.c("SETBIT", k, "7", "1")
    s.c("GET", k)
    s.c("RENAME", k, k + "2")
    s.c("GET", k)
    s.c("GET", k + "2")
    s.c("COPY", k + "2", k)
    s.c("GET", k)
    s.c("SET", k, "base")
    s.c("GET", k)
    s.c("SETRANGE", k, "0", "B")
    s.c("BITFIELD", k, "SET", "u8", "8", "65")
    s.c("GET", k)
    s.c("SET", k, "10")
    s.c("GET", k)
    s.c("EVAL", "return redis.call('INCRBY', KEYS[1], 5)", "1", k)
    s.c("GET", k)
    s.c("SET", k, "val", "EX", "100")
    s.c("GET", k)
    s.c("MOVE", k, "1")
    s.c("GET", k)
    s.c("SELECT", "1")
    s.c("GET", k)
    s.c("FLUSHDB")
    s.c("SELECT", "0")
    s.c("SET", k, "a")
    s.c("GET", k)
    s.c("LMOVE", p + "nosrc", k, "LEFT", "RIGHT")
    s.c("SET", k, "a")
    s.c("GET", k)
    s.c("RENAMENX", k + "2", k)
    s.c("GET", k)
    s.c("SORT", p + "nolist", "STORE", k)
    s.c("GET", k)
    s.c("SET", k, "a")
    s.c("GET", k)
    s.c("RPUSH", p + "list", "2", "1")
    s.c("SORT", p + "list", "STORE", k + "2", "STORE", k)  # the last STORE is written
    s.c("GET", k)
    s.c("GET", k + "2")
    s.c("TYPE", k)
    s.c("DEL", k, k + "2", p + "list")


def deep_reply(s, p):
    """A script's self-referencing table: Redis nests ~8000 arrays (found by Redis's
    unit/scripting.tcl 'Script return recursive object'; strata refused past 64 levels and
    dropped the shared connection). The harness reads replies recursively: allow the depth."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50000))
    s.c("EVAL", "local a = {}; local b = {a}; a[1] = b; return a", "0")
    s.c("GET", p + "after-deep")


def transactions(s, p):
    t = p + "tx"
    s.c("MULTI")
    s.c("SET", t, "1")
    s.c("INCR", t)
    s.c("GET", t)
    s.c("RPUSH", t + "l", "x")
    s.c("EXEC")
    s.c("GET", t)
    s.c("MULTI")
    s.c("INCR", t)
    s.c("NOSUCHCMD")
    s.c("EXEC")
    s.c("GET", t)
    s.c("MULTI")
    s.c("SET", t, "discarded")
    s.c("DISCARD")
    s.c("GET", t)
    s.c("EXEC")
    s.c("DISCARD")
    s.c("MULTI")
    s.c("MULTI")
    s.c("WATCH", t)
    s.c("GET")
    s.c("EXEC")
    s.c("MULTI")
    s.c("INCR", t + "l")
    s.c("EXEC")
    # WATCH: a write from another client aborts EXEC; no write, EXEC runs.
    s.c("WATCH", t)
    s.c("SET", t, "changed", conn="side")
    s.c("MULTI")
    s.c("SET", t, "mine")
    s.c("EXEC")
    s.c("GET", t)
    s.c("WATCH", t)
    s.c("MULTI")
    s.c("SET", t, "mine")
    s.c("EXEC")
    s.c("GET", t)
    s.c("WATCH", t)
    s.c("UNWATCH")
    s.c("SET", t, "x", conn="side")
    s.c("MULTI")
    s.c("GET", t)
    s.c("EXEC")
    s.c("WATCH", t)
    s.c("EXPIRE", t, "100", conn="side")
    s.c("MULTI")
    s.c("GET", t)
    s.c("EXEC")
    s.c("DEL", t, t + "l")


def blocking(s, p):
    q = p + "q"
    s.c("BLPOP", q, "0.2")
    s.c("RPUSH", q, "x")
    s.c("BLPOP", q, "1")
    s.send("BLPOP", q + "2", "5")
    s.sleep(0.3)
    s.c("RPUSH", q + "2", "y", conn="side")
    s.read()
    s.c("PING")
    s.send("BRPOP", q + "3", q + "4", "5")
    s.sleep(0.3)
    s.c("LPUSH", q + "4", "z", conn="side")
    s.read()
    s.c("BLPOP", q, "abc")
    s.c("BLMOVE", q + "5", q + "6", "LEFT", "RIGHT", "0.1")


def pubsub(s, p):
    ch = p + "chan"
    s.c("SUBSCRIBE", ch, conn="sub")
    s.c("PUBLISH", ch, "hello", conn="side")
    s.read(conn="sub")
    s.c("PSUBSCRIBE", p + "ch*", conn="sub")
    s.c("PUBLISH", ch, b"bin\x00\r\n", conn="side")
    s.read(conn="sub")
    s.read(conn="sub")
    s.c("PING", conn="sub")
    s.c("GET", "x", conn="sub")
    s.c("UNSUBSCRIBE", ch, conn="sub")
    s.c("PUNSUBSCRIBE", conn="sub")
    s.c("PING", conn="sub")
    s.c("PUBLISH", ch, "nobody", conn="side")
    # RESP3: push messages, and normal commands allowed while subscribed.
    s.hello("3", conn="sub3")
    s.c("SUBSCRIBE", ch, conn="sub3")
    s.c("PUBLISH", ch, "resp3", conn="side")
    s.read(conn="sub3")
    s.c("SET", p + "in-sub", "v", conn="sub3")
    s.c("GET", p + "in-sub", conn="sub3")
    s.c("UNSUBSCRIBE", conn="sub3")
    s.c("PUBSUB", "NUMSUB", ch, conn="side")


def resp3_types(s, p):
    """Run on a connection already in RESP3: maps, sets, doubles, nulls from forwarded replies."""
    h, st, z = p + "h3", p + "s3", p + "z3"
    s.c("HSET", h, "a", "1", "b", "2")
    s.c("HGETALL", h)
    s.c("HGETALL", p + "missing")
    s.c("HGET", h, "nope")
    s.c("SADD", st, "x")
    s.c("SMEMBERS", st)
    s.c("ZADD", z, "1.5", "m")
    s.c("ZSCORE", z, "m")
    s.c("ZSCORE", z, "nope")
    s.c("ZRANGE", z, "0", "-1", "WITHSCORES")
    s.c("ZINCRBY", z, "2", "m")
    s.c("LPOP", p + "missing")
    s.c("RPUSH", p + "l3", "a")
    s.c("GET", p + "l3")
    s.c("DEL", h, st, z, p + "l3")


def resp3_pinned(s, p):
    """RESP3 on a connection pinned by a blocking pop and a transaction: Redis speaks RESP3 to
    it directly (strata sent HELLO 3 when it pinned)."""
    h, z = p + "h3p", p + "z3p"
    s.c("HSET", h, "a", "1")
    s.c("ZADD", z, "1.5", "m")
    s.c("BLPOP", p + "missing", "0.1")
    s.c("MULTI")
    s.c("GET", p + "missing")
    s.c("HGETALL", h)
    s.c("ZSCORE", z, "m")
    s.c("EXEC")
    s.c("HGETALL", h)
    s.c("ZRANGE", z, "0", "-1", "WITHSCORES")
    s.c("DEL", h, z)


def reply_shapes(s, p):
    """Every kind of conversion of the reply-shape table (protocol/reply_shapes_table.inc):
    maps, flat and nested pairs, doubles, sets, per-key maps, unions, nulls."""
    h, st, z, z2, x, g = (p + n for n in ("hs", "ss", "zs", "zs2", "xs", "geo"))
    s.c("HSET", h, "f1", "v1", "f2", "v2")
    s.c("HGETALL", h)
    s.shape("HRANDFIELD", h, "2", "WITHVALUES")
    s.shape("HRANDFIELD", h, "-3", "WITHVALUES")
    s.c("HRANDFIELD", p + "missing", "2", "WITHVALUES")
    s.c("CONFIG", "GET", "maxmemory-policy")
    s.c("CONFIG", "GET", "no-such-parameter")
    s.c("SADD", st, "only")
    s.c("SADD", st + "2", "only", "other")
    s.c("SMEMBERS", st)
    for cmd in ("SINTER", "SUNION", "SDIFF"):
        s.c(cmd, st, st + "2")
    s.c("SPOP", st, "1")
    s.c("SPOP", p + "missing", "2")
    s.c("SPOP", p + "missing")
    s.c("ZADD", z, "1", "a", "2.5", "b", "3", "c")
    s.c("ZADD", z2, "1", "a", "5", "d")
    s.c("ZADD", z, "INCR", "1", "a")
    s.c("ZADD", z, "XX", "INCR", "1", "nope")
    s.c("ZMSCORE", z, "a", "nope", "b")
    s.c("ZRANGE", z, "0", "-1")
    s.c("ZRANGE", z, "(1", "+inf", "BYSCORE", "LIMIT", "0", "2", "WITHSCORES")
    s.c("ZRANGEBYSCORE", z, "-inf", "+inf", "WITHSCORES")
    s.c("ZREVRANGEBYSCORE", z, "+inf", "-inf", "WITHSCORES")
    s.c("ZREVRANGEBYSCORE", z, "+inf", "-inf")
    s.c("ZREVRANGE", z, "0", "-1", "withscores")
    s.c("ZRANDMEMBER", z2 + "one", "1", "WITHSCORES")
    s.c("ZUNION", "2", z, z2, "WITHSCORES")
    s.c("ZUNION", "1", z, "WITHSCORES")
    s.c("ZINTER", "2", z, z2, "WITHSCORES")
    s.c("ZDIFF", "2", z, z2, "WITHSCORES")
    s.c("ZDIFF", "2", z, z2)
    s.c("ZPOPMIN", z)
    s.c("ZPOPMAX", z, "1")
    s.c("ZPOPMIN", p + "missing")
    s.c("ZMPOP", "1", z2, "MIN", "COUNT", "2")
    s.c("ZMPOP", "1", p + "missing", "MIN")
    s.c("GEOADD", g, "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
    s.c("GEODIST", g, "Palermo", "Catania", "km")
    s.c("GEOPOS", g, "Palermo", "nope")
    s.c("GEORADIUS", g, "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC")
    s.c("GEORADIUS", g, "15", "37", "200", "km", "WITHHASH", "ASC")
    s.c("GEOSEARCH", g, "FROMMEMBER", "Palermo", "BYRADIUS", "300", "km", "WITHCOORD", "ASC")
    s.c("XADD", x, "1-1", "f", "v")
    s.c("XADD", x, "2-1", "f2", "v2")
    s.c("XREAD", "STREAMS", x, "0")
    s.c("XREAD", "STREAMS", p + "missing", "0")
    s.c("XGROUP", "CREATE", x, "g", "0")
    s.c("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", x, ">")
    s.c("XINFO", "STREAM", x)
    s.c("XINFO", "GROUPS", x)
    s.shape("XINFO", "CONSUMERS", x, "g")
    s.shape("XINFO", "STREAM", x, "FULL")
    s.c("SET", p + "a1", "ohmytext")
    s.c("SET", p + "a2", "mynewtext")
    s.c("LCS", p + "a1", p + "a2", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN")
    s.c("LPOP", p + "missing", "2")
    s.c("LMPOP", "1", p + "missing", "LEFT")
    s.c("MGET", p + "a1", p + "missing")
    s.c("FUNCTION", "LOAD", "#!lua name=compatlib\nredis.register_function('cf', "
        "function(k, a) return 1 end)")
    s.c("FUNCTION", "LIST", "LIBRARYNAME", "compatlib")
    s.c("FUNCTION", "DELETE", "compatlib")
    s.shape("MEMORY", "STATS")
    s.type_only("MEMORY", "DOCTOR")
    # Scripts run on a lane, in the client's protocol: their replies have no fixed shape.
    s.c("EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", "1", h)
    s.c("EVAL", "redis.setresp(3); return redis.call('ZSCORE', KEYS[1], 'b')", "1", z)
    s.c("EVAL", "return false", "0")
    s.c("GET", p + "a1")
    s.c("DEL", h, st, st + "2", z, z2, x, g, p + "a1", p + "a2")


def client_state(s, p):
    """What ioredis does on connect: SETNAME, then CLIENT SETINFO (7.2; an error on 7.0)."""
    s.c("CLIENT", "SETNAME", "lib-client", conn="lib")
    s.c("CLIENT", "SETINFO", "LIB-NAME", "ioredis", conn="lib")
    s.c("CLIENT", "GETNAME", conn="lib")
    s.c("CLIENT", "NO-EVICT", "on", conn="lib")
    s.c("CLIENT", "GETNAME", conn="lib")
    s.c("SELECT", "0", conn="lib")
    s.c("CLIENT", "GETNAME", conn="lib")
    s.shape("CLIENT", "ID", conn="lib")


def mixed_pipeline(s, p):
    """Native and forwarded commands interleaved in one write: replies must keep their order."""
    batch = []
    for i in range(60):
        k = p + "mix:%d" % (i % 7)
        batch += [encode("SET", k, "v%d" % i), encode("RPUSH", p + "mixl", i), encode("GET", k),
                  encode("LLEN", p + "mixl"), encode("INCR", p + "mixn"),
                  encode("HINCRBY", p + "mixh", "f", 1), encode("GET", p + "mixn"),
                  encode("EXISTS", k, p + "mixl"), encode("NOSUCH", i)]
    batch.append(encode("DEL", p + "mixl", p + "mixh", p + "mixn",
                        *[p + "mix:%d" % i for i in range(7)]))
    s.raw(b"".join(batch), len(batch), label="pipeline: %d native/forwarded" % len(batch))


def blocking_pipeline(s, p):
    s.raw(encode("SET", p + "mixb", "1") + encode("BLPOP", p + "mixq", "0.2") +
          encode("GET", p + "mixb") + encode("DEL", p + "mixb"), 4,
          label="pipeline with a blocking pop in the middle")


def behind_the_back(s, p):
    """Keys written to the upstream directly (conn "up..."), then read through strata."""
    k = p + "bb"
    s.c("SET", k, "from-upstream", conn="up")
    s.c("GET", k)
    s.c("MGET", k, p + "bb-none")
    s.c("SET", k, "changed", conn="up")
    s.sleep(0.2)
    s.c("GET", k)
    s.c("DEL", k, conn="up")
    s.sleep(0.2)
    s.c("GET", k)
    s.c("EXISTS", k)
    s.c("SET", k, "5", "EX", "100", conn="up")
    s.ttl("TTL", k, tol=2)
    s.c("INCR", k)
    s.c("GET", k, conn="up")
    s.ttl("TTL", k, tol=2)
    s.c("RPUSH", k + "l", "x", conn="up")
    s.c("GET", k + "l")
    s.c("TYPE", k + "l")
    s.c("DEL", k, k + "l")


def build_shared(s, p):
    """What runs on shared upstream connections (no pinning): in RESP2 and in RESP3."""
    client_state(s, p)
    mixed_pipeline(s, p)
    behind_the_back(s, p)
    wrong_types(s, p)
    data_types(s, p)
    deep_reply(s, p)


def build_pinned(s, p):
    """What pins the client to a connection of its own (another database, MULTI, blocking)."""
    blocking_pipeline(s, p)
    forwarded_writes(s, p)
    transactions(s, p)
    blocking(s, p)


def build(s, p):
    s.proxy_section = True
    build_shared(s, p)
    build_pinned(s, p)
    pubsub(s, p)
    s.proxy_section = False


def build_resp3_shared(s, p):
    """On a connection in RESP3 that must stay on the shared path (test_compat checks that no
    client was pinned meanwhile)."""
    s.proxy_section = True
    build_shared(s, p)
    resp3_types(s, p)
    reply_shapes(s, p)
    s.proxy_section = False


def build_resp3(s, p):
    """RESP3 where the client is pinned: Redis's own RESP3 on the client's connection."""
    s.proxy_section = True
    resp3_pinned(s, p)
    build_pinned(s, p)
    s.proxy_section = False
