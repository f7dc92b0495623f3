"""Session-store style workload through redis-py (Debian's python3-redis).
Usage: /usr/bin/python3 client_redis_py.py PORT MODE   (MODE: standalone | proxy)"""

import json
import os
import sys
import threading
import time

import redis

kSocketTimeoutS = 10  # every read bounded: a hang is a failure

port = int(sys.argv[1])
proxy = sys.argv[2] == "proxy"
ns = f"py:{os.getpid()}:"
passed = failed = 0


def check(cond, what, detail=None):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}" + ("" if detail is None else f": {detail!r}"), flush=True)


def eq(got, want, what):
    check(got == want, what, {"got": got, "want": want})


def raises(fn, pattern, what):
    try:
        fn()
        check(False, what, "no error")
    except redis.ResponseError as e:
        check(pattern in str(e), what, str(e))


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=kSocketTimeoutS,
                       socket_connect_timeout=5, **kw)


def sessions(r):
    for i in range(300):
        blob = {"user": i, "cart": list(range(i % 10)), "name": f"n\u00e9{i}"}
        r.set(f"{ns}s:{i}", json.dumps(blob), ex=1800)
    eq(json.loads(r.get(f"{ns}s:42")), {"user": 42, "cart": [0, 1], "name": "n\u00e942"},
       "session round trip")
    ttl = r.ttl(f"{ns}s:1")
    check(1790 < ttl <= 1800, "session ttl", ttl)
    got = r.mget([f"{ns}s:{i}" for i in range(10)] + [f"{ns}none"])
    eq(len(got), 11, "mget length")
    eq(got[-1], None, "mget miss")
    eq(r.set(f"{ns}s:1", "x", nx=True), None, "set nx existing")
    eq(r.set(f"{ns}s:1", "x", xx=True, keepttl=True), True, "set xx keepttl")
    check(r.ttl(f"{ns}s:1") > 1790, "keepttl kept the ttl", r.ttl(f"{ns}s:1"))
    eq(r.set(f"{ns}s:1", "y", get=True), b"x", "set get")
    eq(r.getex(f"{ns}s:1", px=50000) is not None, True, "getex px")
    check(45000 < r.pttl(f"{ns}s:1") <= 50000, "pttl after getex", r.pttl(f"{ns}s:1"))
    eq(r.getdel(f"{ns}s:1"), b"y", "getdel")
    eq(r.expire(f"{ns}s:2", 100, nx=True), False, "expire nx when a ttl exists")
    eq(r.expire(f"{ns}s:2", 100, lt=True), True, "expire lt")
    eq(r.persist(f"{ns}s:2"), True, "persist")
    eq(r.exists(*[f"{ns}s:{i}" for i in range(5)]), 4, "exists many")
    r.set(f"{ns}short", "v", px=100)
    time.sleep(0.3)
    eq(r.get(f"{ns}short"), None, "expired")
    keys = set(r.scan_iter(match=f"{ns}s:*", count=50))
    eq(len(keys), 299, "scan_iter")
    eq(len(r.keys(f"{ns}s:1?")), 10, "keys pattern")
    eq(r.delete(*keys), 299, "delete many")


def counters(r):
    k = f"{ns}ctr"
    threads = [threading.Thread(target=lambda: [client().incr(k) for _ in range(50)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eq(r.get(k), b"400", "incr from 8 threads")
    eq(r.incrbyfloat(k, 0.25), 400.25, "incrbyfloat")
    eq(r.decrby(k + "2", 7), -7, "decrby")
    raises(lambda: r.incr(k), "value is not an integer", "incr on float")
    s = client(decode_responses=True, client_name="itest-py")
    eq(s.client_getname(), "itest-py", "client_name")
    eq(s.echo("h\u00e9llo"), "h\u00e9llo", "echo decoded")
    eq(s.ping(), True, "ping")
    s.close()


def pipelines(r):
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"{ns}p:{i}", i)
        p.incr(f"{ns}p:{i}")
    p.mget([f"{ns}p:{i}" for i in range(0, 500, 50)])
    res = p.execute()
    eq(res[:4], [True, 1, True, 2], "pipeline replies")
    eq(res[-1], [str(i + 1).encode() for i in range(0, 500, 50)], "pipeline mget")
    p = r.pipeline(transaction=False)
    p.set(f"{ns}p:s", "str")
    p.incr(f"{ns}p:s")
    p.get(f"{ns}p:s")
    res = p.execute(raise_on_error=False)
    check(isinstance(res[1], redis.ResponseError), "error inside a pipeline", res)
    eq(res[2], b"str", "pipeline continues after an error")
    eq(r.delete(*[f"{ns}p:{i}" for i in range(500)], f"{ns}p:s"), 501, "cleanup")
    big = bytes(range(256)) * 4096
    r.set(f"{ns}big", big)
    eq(r.get(f"{ns}big"), big, "1 MB binary round trip")
    r.delete(f"{ns}big")


def proxy_only(r):
    with r.pipeline(transaction=True) as p:
        p.set(f"{ns}tx", 1).incr(f"{ns}tx").get(f"{ns}tx")
        eq(p.execute(), [True, 2, b"2"], "transaction")

    def bump(pipe):
        v = int(pipe.get(f"{ns}tx"))
        pipe.multi()
        pipe.set(f"{ns}tx", v + 10)

    r.transaction(bump, f"{ns}tx")
    eq(r.get(f"{ns}tx"), b"12", "watch transaction")
    r.hset(f"{ns}h", mapping={"a": 1, "b": 2})
    eq(r.hgetall(f"{ns}h"), {b"a": b"1", b"b": b"2"}, "hash")
    raises(lambda: r.get(f"{ns}h"), "WRONGTYPE", "get on a hash")
    ps = r.pubsub()
    ps.subscribe(f"{ns}chan")
    eq(ps.get_message(timeout=5)["type"], "subscribe", "subscribed")
    eq(r.publish(f"{ns}chan", "hi"), 1, "publish")
    msg = ps.get_message(timeout=5)
    eq(msg and msg["data"], b"hi", "pubsub message")
    ps.close()
    eq(r.blpop(f"{ns}q", timeout=1), None, "blpop timeout")
    r.rpush(f"{ns}q", "x")
    eq(r.blpop(f"{ns}q", timeout=1), (f"{ns}q".encode(), b"x"), "blpop")
    r.delete(f"{ns}tx", f"{ns}h")


def main():
    r = client()
    for fn in (sessions, counters, pipelines) + ((proxy_only,) if proxy else ()):
        try:
            fn(r)
        except Exception as e:  # one broken section is a failure; the rest still run
            check(False, fn.__name__, f"{type(e).__name__}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
