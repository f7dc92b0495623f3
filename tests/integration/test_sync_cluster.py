#!/usr/bin/env python3
"""The sync bus on a 3-node NATS cluster: instance A connects to node 1, B to node 2 (each with
the whole server list). A write through A is seen through B across the cluster's routes; with
B's node killed, B reconnects to another node, drops what it may have missed, and sees A's
writes again."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
from harness_nats import sync_fields, sync_int  # noqa: E402,F401
import harness_pg  # noqa: E402
from policy_util import base_config, bulk, finish, policy_block  # noqa: E402


def cluster(n=3):
    client_ports = [harness.free_port() for _ in range(n)]
    route_ports = [harness.free_port() for _ in range(n)]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
    nodes = []
    for i in range(n):
        extra = ("--cluster_name", "strata-test", "--cluster", f"nats://127.0.0.1:{route_ports[i]}",
                 "--routes", routes)
        nodes.append(harness_nats.start_nats(f"nats-node{i}", extra=extra, port=client_ports[i]))
    return nodes


def config(pg, urls, name):
    return (f'[nats]\nurl = "{urls}"\ninstance = "{name}"\nheartbeat_ms = 50\n'
            f"reconnect_wait_ms = 100\n\n" +
            base_config(pg, [policy_block("wt:", "write-through", l2=False)],
                        journal_dir=f"journal-{name}"))


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg = harness_pg.start_postgres("pg-cluster")
    nodes = cluster()
    url = lambda order: ",".join(harness_nats.url(nodes[i]) for i in order)  # noqa: E731
    sa = harness_pg.start_strata_config(config(pg, url([0, 1, 2]), "A"), tag="strata-cA")
    sb = harness_pg.start_strata_config(config(pg, url([1, 2, 0]), "B"), tag="strata-cB")
    a, b = harness.Conn(sa.port), harness.Conn(sb.port)
    for c in (a, b):
        chk.ok(harness.wait_for(lambda c=c: sync_int(c, "sync_connected") == 1, timeout=10),
               "connected to the cluster")
    # Routes form in the background: wait until a write through A reaches B.
    a.call("SET", "wt:probe", "1")
    b.call("GET", "wt:probe")
    chk.ok(harness.wait_for(lambda: (a.call("SET", "wt:probe", "2"), b.call("GET", "wt:probe"))[1]
                            == bulk("2"), timeout=10), "routes up: A's write reaches B")
    a.call("SET", "wt:k", "v1")
    chk.eq(b.call("GET", "wt:k"), bulk("v1"), "B reads v1")
    a.call("SET", "wt:k", "v2")
    chk.ok(harness.wait_for(lambda: b.call("GET", "wt:k") == bulk("v2"), timeout=2),
           "across nodes: B sees v2", b.call("GET", "wt:k"))
    reconnects = sync_int(b, "sync_reconnects")
    text = bytes(harness.parse(b.call("INFO", "sync"))).decode()
    server = next(l.split(":", 1)[1] for l in text.splitlines() if l.startswith("sync_server:"))
    victim = next(n for n in nodes if server.endswith(f":{n.port}"))
    survivors = [n for n in nodes if n is not victim]
    victim.kill()
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_reconnects") > reconnects, timeout=10),
           f"B's node ({server}) killed: B reconnects to another node",
           sync_int(b, "sync_reconnects"))
    a.call("SET", "wt:k", "v3")
    chk.ok(harness.wait_for(lambda: b.call("GET", "wt:k") == bulk("v3"), timeout=5),
           "after failover: B sees v3", b.call("GET", "wt:k"))
    return finish(chk, [sa, sb] + survivors)


if __name__ == "__main__":
    sys.exit(main())
