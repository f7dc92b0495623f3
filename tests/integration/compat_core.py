"""Differential script, part 1: the commands strata serves natively (connection, keys,
expiry, databases, inline and pipelined input, AUTH; strings are in compat_strings). Every key
starts with the given prefix, so the script can run again (in RESP3)."""

import compat_strings
from compat_dsl import at_ms, at_s, kPttlTolMs, kTtlTolS
from harness import encode


def connection(s, p):
    s.c("PING")
    s.c("PING", "hello world")
    s.c("PING", b"")
    s.c("PING", "a", "b")
    s.c("ping")
    s.c("ECHO", "hi")
    s.c("ECHO", b"")
    s.c("ECHO", b"bin\x00ary\r\nvalue\xff")
    s.c("ECHO")
    s.c("ECHO", "a", "b")
    s.c("FOO")
    s.c("FOO", "a", "b")
    s.c("foo", "x" * 200)
    s.raw(b"*1\r\n$0\r\n\r\n", 1, label="empty command name")
    s.c("GeT", p + "nosuch")
    s.c("CLIENT", "GETNAME")
    s.c("CLIENT", "SETNAME", "itest-client")
    s.c("CLIENT", "GETNAME")
    s.c("CLIENT", "SETNAME", "bad name")
    s.c("CLIENT", "SETNAME", "bad\nname")
    s.c("CLIENT", "SETNAME", "")
    s.c("CLIENT", "GETNAME")
    s.c("CLIENT", "SETNAME")
    s.c("CLIENT", "SETNAME", "a", "b")
    s.c("CLIENT", "GETNAME", "x")
    s.c("client", "setname", "lower")
    s.c("CLIENT", "GETNAME")
    s.shape("CLIENT", "ID")
    s.c("CLIENT", "NOSUCHSUB")
    s.c("CLIENT")
    s.c("AUTH", "pw")
    s.c("AUTH", "default", "pw")
    s.c("AUTH")
    s.c("AUTH", "a", "b", "c")
    s.shape("COMMAND", "COUNT")
    s.type_only("COMMAND")
    s.type_only("COMMAND", "INFO", "get")
    s.type_only("COMMAND", "DOCS", "get")
    s.c("COMMAND", "NOSUCHSUB")
    s.type_only("INFO")
    s.type_only("INFO", "server")
    s.type_only("INFO", "keyspace")
    s.type_only("INFO", "all")
    s.hello()
    s.c("HELLO", "4")
    s.c("HELLO", "abc")
    s.c("HELLO", "1")
    s.hello("2", "AUTH", "default", "any")  # the default user has no password: accepted
    s.c("HELLO", "2", "NOSUCHOPT")
    s.hello("2", "SETNAME", "hello-name")
    s.c("CLIENT", "GETNAME")
    # QUIT answers +OK and closes.
    s.c("PING", conn="q")
    s.c("QUIT", conn="q")
    s.closed(conn="q")
    s.c("QUIT", "extra", conn="q2")
    s.closed(conn="q2")


def multi_key(s, p):
    a, b, c = p + "ma", p + "mb", p + "mc"
    s.c("MSET", a, "1", b, "2", c, "3")
    s.c("MGET", a, b, c, p + "missing", a)
    s.c("MSET", a)
    s.c("MSET", a, "1", b)
    s.c("MSET")
    s.c("MGET")
    s.c("MSET", p + "dup", "1", p + "dup", "2")
    s.c("GET", p + "dup")
    s.c("MSETNX", p + "nx1", "1", p + "nx2", "2")
    s.c("MSETNX", p + "nx1", "x", p + "nx3", "3")
    s.c("EXISTS", p + "nx3")
    s.c("MSETNX", p + "nx4", "a", p + "nx4", "b")
    s.c("GET", p + "nx4")
    s.c("MSETNX", p + "nx5")
    s.c("EXISTS", a, b, c, p + "missing")
    s.c("EXISTS", a, a, a)
    s.c("EXISTS")
    s.c("TYPE", a)
    s.c("TYPE", p + "missing")
    s.c("TYPE")
    s.c("DEL", a, a, p + "missing")
    s.c("DEL", b, c)
    s.c("DEL")
    s.c("MSET", a, "1", b, "2")
    s.c("UNLINK", a, b, b, p + "missing")
    s.c("UNLINK")
    s.c("MGET", a, b)


def expiry(s, p):
    e = p + "e"
    s.c("SET", e, "v")
    s.c("TTL", e)
    s.c("PTTL", e)
    s.c("TTL", p + "missing")
    s.c("PTTL", p + "missing")
    s.c("EXPIRE", e, "100")
    s.ttl("TTL", e, tol=kTtlTolS)
    s.c("EXPIRE", p + "missing", "100")
    s.c("EXPIRE", e, "100", "NX")
    s.c("PERSIST", e)
    s.c("PERSIST", e)
    s.c("PERSIST", p + "missing")
    s.c("EXPIRE", e, "100", "NX")
    s.c("EXPIRE", e, "200", "XX")
    s.ttl("TTL", e, tol=kTtlTolS)
    s.c("EXPIRE", e, "50", "GT")
    s.c("EXPIRE", e, "300", "GT")
    s.c("EXPIRE", e, "400", "LT")
    s.c("EXPIRE", e, "10", "LT")
    s.ttl("TTL", e, tol=kTtlTolS)
    s.c("PERSIST", e)
    s.c("EXPIRE", e, "100", "XX")
    s.c("EXPIRE", e, "100", "GT")
    s.c("EXPIRE", e, "100", "LT")
    s.c("PERSIST", e)
    for bad in (("1", "NX", "XX"), ("1", "GT", "LT"), ("1", "NX", "GT"), ("1", "FOO"),
                ("abc",), ("1.5",), ("9223372036854775807",), ("-9223372036854775808",),
                ("",)):
        s.c("EXPIRE", e, *bad)
    s.c("EXPIRE", e, "100", "nx")
    s.c("EXPIRE", e)
    s.c("EXPIRE", e, "1", "XX", "XX")
    s.c("PEXPIRE", e, "100000")
    s.ttl("PTTL", e, tol=kPttlTolMs)
    s.c("PEXPIRE", e, "9223372036854775807")
    s.c("PEXPIRE", e, "500000", "GT")
    s.c("EXPIREAT", e, at_s(3000))
    s.ttl("TTL", e, tol=kTtlTolS)
    s.c("PEXPIREAT", e, at_ms(3000010))
    s.ttl("PTTL", e, tol=kPttlTolMs)
    s.c("EXPIREAT", e, at_s(3005), "LT")
    s.c("EXPIREAT", e, at_s(3005), "GT")
    s.c("EXPIREAT", e, "9223372036854775807")
    s.c("PEXPIREAT", e, "abc")
    s.c("EXPIREAT", e, "1")
    s.c("EXISTS", e)
    s.c("SET", e, "v")
    s.c("EXPIRE", e, "0")
    s.c("GET", e)
    s.c("SET", e, "v")
    s.c("EXPIRE", e, "-1")
    s.c("EXISTS", e)
    s.c("SET", e, "v")
    s.c("PEXPIRE", e, "-100")
    s.c("TTL", e)
    s.c("SET", e, "v")
    s.c("PEXPIREAT", e, "1000", "NX")
    s.c("EXISTS", e)
    # Real expiry: gone after the deadline, for every way of reading the key.
    s.c("SET", p + "px1", "v", "PX", "100")
    s.c("SET", p + "px2", "v", "PX", "100")
    s.c("SET", p + "px3", "v", "PX", "100")
    s.c("PSETEX", p + "px4", "100", "v")
    s.c("SET", p + "px5", "v")
    s.c("PEXPIRE", p + "px5", "100")
    s.sleep(0.3)
    s.c("GET", p + "px1")
    s.c("EXISTS", p + "px2")
    s.c("TTL", p + "px3")
    s.c("MGET", p + "px4", p + "px5")
    s.c("SET", p + "px6", "v", "PX", "100")
    s.sleep(0.3)
    s.c("APPEND", p + "px6", "x")
    s.c("TTL", p + "px6")
    s.c("SET", p + "px7", "5", "PX", "100")
    s.sleep(0.3)
    s.c("INCR", p + "px7")
    s.c("SET", p + "px8", "v", "PX", "100")
    s.sleep(0.3)
    s.c("SET", p + "px8", "w", "NX")
    s.c("SET", p + "px9", "v", "PX", "100")
    s.sleep(0.3)
    s.c("SET", p + "px9", "w", "XX")
    s.c("TYPE", p + "px9")


def keys_scan(s, p):
    names = ["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h\\llo", "other",
             "h[llo", "H-llo", "hbllo"]
    s.c("MSET", *[x for n in names for x in (p + "kp:" + n, "1")])
    for pat in ("*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h\\*llo",
                "h\\\\llo", "h[llo", "h[\\[]llo", "?????", "", "nomatch*", "[", "\\",
                "h[b-a]llo", "*llo*", "H*", "h[!e]llo", "**o"):
        s.unordered("KEYS", p + "kp:" + pat)
    s.unordered("KEYS", "*")
    s.c("KEYS")
    s.c("KEYS", "a", "b")
    s.scanall()
    s.scanall("MATCH", p + "kp:h*")
    s.scanall("COUNT", "2")
    s.scanall("MATCH", p + "kp:h?llo", "COUNT", "1")
    s.scanall("TYPE", "string")
    s.scanall("TYPE", "STRING", "MATCH", p + "kp:*")
    s.scanall("match", p + "kp:x*", "count", "1000")
    s.c("SCAN", "0", "COUNT", "0")
    s.c("SCAN", "0", "COUNT", "-1")
    s.c("SCAN", "0", "COUNT", "abc")
    s.c("SCAN", "abc")
    s.type_only("SCAN", "-1")  # accepted as a huge unsigned cursor; any page is right
    s.c("SCAN", "0", "FOO")
    s.c("SCAN", "0", "MATCH")
    s.c("SCAN", "0", "COUNT")
    s.c("SCAN", "0", "TYPE")
    s.c("SCAN")
    s.c("SCAN", "18446744073709551616")
    s.c("DEL", *[p + "kp:" + n for n in names])


def databases(s, p):
    # Standalone strata keeps one keyspace (db 0) by design: SELECT n>0 only through a proxy.
    outer, s.proxy_section = s.proxy_section, True
    s.c("SELECT", "1")
    s.c("SET", p + "db1", "in-db-1")
    s.c("DBSIZE")
    s.c("SELECT", "0")
    s.c("GET", p + "db1")
    s.c("SELECT", "1")
    s.c("GET", p + "db1")
    s.unordered("KEYS", p + "db*")
    s.c("DEL", p + "db1")  # not FLUSHDB: if SELECT 1 failed, one mismatch must not cascade
    s.c("DBSIZE")
    s.proxy_section = outer
    s.c("SELECT", "0")
    s.c("DBSIZE")
    for bad in ("16", "-1", "abc", "", "1.0"):
        s.c("SELECT", bad)
    s.c("SELECT")
    s.c("SELECT", "0", "1")
    s.c("DBSIZE", "x")
    s.c("FLUSHDB", "FOO")
    s.c("FLUSHALL", "FOO")
    s.c("FLUSHALL", "SYNC", "ASYNC")


def inline_and_pipeline(s, p):
    s.raw(b"PING\r\n", 1)
    s.raw(b"PING\n", 1)
    s.raw(("SET %sik iv\r\n" % p).encode(), 1)
    s.raw(("GET %sik\n" % p).encode(), 1)
    s.raw(b'ECHO "hello world"\r\n', 1)
    s.raw(b"ECHO 'single quoted'\r\n", 1)
    s.raw(b'ECHO "esc\\x41\\n\\t\\"q"\r\n', 1)
    s.raw(b"\r\nPING\r\n", 1)
    s.raw(b"\n\n\r\nPING\r\n", 1)
    s.raw(b"   PING   \r\n", 1)
    s.raw(b"PING  a\r\n", 1)
    s.raw(b"ping\r\nping\r\nping\r\n", 3)
    s.raw(b"FOO bar\r\n", 1)
    s.raw(("SET %sik2 'a b'\r\nGET %sik2\r\n" % (p, p)).encode(), 2)
    s.raw(b'ECHO ""\r\n', 1)
    s.raw(encode("PING") + b"PING\r\n" + encode("ECHO", "x"), 3, label="mixed inline/multibulk")
    batch = []
    for i in range(200):
        batch.append(encode("SET", p + "pl:%d" % i, "v%d" % i))
        batch.append(encode("GET", p + "pl:%d" % i))
        if i % 50 == 0:
            batch.append(encode("NOSUCHCOMMAND", i))
            batch.append(encode("SET", p + "pl"))
    batch.append(encode("MGET", *[p + "pl:%d" % i for i in range(0, 200, 7)]))
    batch.append(encode("DEL", *[p + "pl:%d" % i for i in range(200)]))
    s.raw(b"".join(batch), len(batch), label="pipeline of %d commands" % len(batch))
    many = b"".join(encode("INCR", p + "pl:ctr") for _ in range(1000))
    s.raw(many, 1000, label="1000 pipelined INCR")
    s.raw(encode("SET", p + "pl:big", b"z" * 300000) + encode("GET", p + "pl:big") +
          encode("STRLEN", p + "pl:big"), 3, label="pipelined 300KB set/get")


def flushes(s, p):
    s.c("SET", p + "fl", "1")
    s.c("FLUSHALL", "ASYNC")
    s.c("DBSIZE")
    s.c("SET", p + "fl", "1")
    s.c("FLUSHDB", "SYNC")
    s.c("GET", p + "fl")
    s.c("SET", p + "fl", "1")
    s.c("FLUSHALL")
    s.c("DBSIZE")
    # Redis's test suite (unit/sort.tcl): the last STORE is SORT's key.
    for line in (("SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def"),
                 ("SORT", "k", "GET", "store", "BY", "store", "LIMIT", "0", "store"),
                 ("GEORADIUS", "g", "0", "0", "1", "km", "STORE", "a", "STOREDIST", "b"),
                 ("GEORADIUS", "g", "0", "0", "1", "km", "STOREDIST", "a", "STORE", "b"),
                 ("GEORADIUS", "g", "0", "0", "1", "store", "STORE", "b"),
                 ("GEORADIUSBYMEMBER", "g", "store", "1", "km", "STORE", "d")):
        s.c("COMMAND", "GETKEYS", *line)
    # Redis's test suite (external mode) sends FUNCTION FLUSH before every test.
    for args in (("FLUSH",), ("flush", "ASYNC"), ("FLUSH", "sync"), ("FLUSH", "lazy"),
                 ("FLUSH", "ASYNC", "x"), ("NOSUCHSUB",)):
        s.c("FUNCTION", *args)


def auth(s, p, password):
    """For servers started with a password: what works before AUTH, and AUTH's answers."""
    for args in (("PING",), ("GET", p + "a"), ("SET", p + "a", "1"), ("HELLO", "3"),
                 ("NOSUCHCMD",), ("CLIENT", "GETNAME"), ("SELECT", "0"), ("ECHO", "x"),
                 ("AUTH", "wrong"), ("AUTH", "default", "wrong"), ("AUTH", "nouser", password),
                 ("AUTH", "a", "b", "c"), ("AUTH",)):
        s.c(*args)
    s.c("HELLO", "2", "AUTH", "default", "wrong")
    s.raw(b"PING\r\n", 1)
    s.c("AUTH", password)
    s.c("PING")
    s.c("SET", p + "a", "1")
    s.c("GET", p + "a")
    s.c("AUTH", "wrong")  # a failed AUTH does not log an authenticated client out
    s.c("GET", p + "a")
    s.c("AUTH", "default", password, conn="c2")
    s.c("GET", p + "a", conn="c2")
    s.raw(("AUTH %s\r\nGET %sa\r\n" % (password, p)).encode(), 2, conn="c3")
    s.hello("3", "AUTH", "default", password, conn="c4")
    s.c("GET", p + "a", conn="c4")
    s.hello("3", "AUTH", "default", password, "SETNAME", "n4", conn="c5")
    s.c("CLIENT", "GETNAME", conn="c5")
    s.c("QUIT", conn="c6")
    s.closed(conn="c6")
    s.c("DEL", p + "a")


def build(s, p, select_other_db=True):
    """The native-command script under key prefix p. select_other_db=False leaves out SELECT of
    a database other than 0 (it pins the client to a connection of its own in front of Redis)."""
    connection(s, p)
    compat_strings.set_get(s, p)
    compat_strings.getex_getdel(s, p)
    multi_key(s, p)
    expiry(s, p)
    compat_strings.counters(s, p)
    compat_strings.floats(s, p)
    compat_strings.strings(s, p)
    compat_strings.large_values(s, p)
    keys_scan(s, p)
    if select_other_db:
        databases(s, p)
    inline_and_pipeline(s, p)
    s.c("DBSIZE")
