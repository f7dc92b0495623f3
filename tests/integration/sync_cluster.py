"""Shared by the sync fault and chaos suites and bench/sync_lag.py: strata instances with a
[nats] table in front of one redis-server and one PostgreSQL, INFO # Sync parsing, and an
instance's sync config rewritten for a restart on the same port.

    c = SyncCluster(instances=("A", "B"), policies=[...], nats_url_for={"B": proxy_url})
    c.start()            # PostgreSQL, redis-server, nats-server, then every strata
    c.conn("A").call("SET", "wt:k", "v")
    sync_fields(c.conn("B"))["sync_gaps"]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
from harness_nats import sync_fields, sync_int  # noqa: E402,F401
import harness_pg  # noqa: E402
from policy_util import base_config  # noqa: E402

kHeartbeatMs = 50
kMaxStalenessMs = 400
kReconnectWaitMs = 100
kPingIntervalMs = 1000  # strata's default, written out: the half-open detection time
kMaxPingsOut = 2        # strata's default


def nats_table(url, instance, heartbeat_ms=kHeartbeatMs, max_staleness_ms=kMaxStalenessMs,
               reconnect_wait_ms=kReconnectWaitMs, ping_interval_ms=kPingIntervalMs,
               max_pings_out=kMaxPingsOut, extra=""):
    return (f'[nats]\nurl = "{url}"\ninstance = "{instance}"\nheartbeat_ms = {heartbeat_ms}\n'
            f"max_staleness_ms = {max_staleness_ms}\nreconnect_wait_ms = {reconnect_wait_ms}\n"
            f"ping_interval_ms = {ping_interval_ms}\nmax_pings_out = {max_pings_out}\n"
            f"{extra}\n")


kCounterNames = ("sync_gaps", "sync_partition_drops", "sync_keys_dropped", "sync_silences",
                 "sync_new_epochs", "sync_reconnects", "sync_degraded_episodes",
                 "sync_malformed", "sync_applied_events", "sync_published_messages",
                 "sync_publish_failures", "sync_nats_dropped", "sync_inbox_dropped",
                 "sync_stale_refused", "sync_duplicates", "sync_installed_values",
                 "sync_received_messages", "sync_slow_links", "sync_skewed_links",
                 "sync_untrusted", "sync_trust_restored", "sync_long_silences",
                 "sync_peer_guard_episodes", "sync_unknown_format")


def sync_counters(c):
    f = sync_fields(c)
    out = {}
    for n in kCounterNames:
        try:
            out[n] = int(f.get(n, "0"))
        except ValueError:
            out[n] = 0
    return out


def restart_nats(srv, timeout=10):
    srv.stop()
    deadline = time.monotonic() + timeout
    while not srv.start():
        srv.stop()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{srv.name} did not restart; log tail:\n{srv.log_tail()}")
        time.sleep(0.05)
    return srv


class SyncCluster:
    """PostgreSQL + redis-server + nats-server + one strata per name. nats_url_for maps an
    instance name to the NATS URL it should use (e.g. a fault proxy's); others go direct."""

    def __init__(self, instances, policies, nats_url_for=None, workers=2, tag="sync",
                 nats_kw=None, with_redis=True, binary=None):
        self.names = list(instances)
        self.policies = policies
        self.nats_url_for = dict(nats_url_for or {})
        self.workers = workers
        self.tag = tag
        self.nats_kw = dict(nats_kw or {})
        self.with_redis = with_redis
        self.binary = binary  # None: STRATA_BIN
        self.pg = self.redis = self.nats = None
        self.srv = {}
        self.conns = {}

    def start_backends(self):
        self.pg = harness_pg.start_postgres(f"pg-{self.tag}")
        self.nats = harness_nats.start_nats(f"nats-{self.tag}")
        if self.with_redis:
            self.redis = harness.start_redis(f"redis-{self.tag}")
        return self

    def url(self, name):
        return self.nats_url_for.get(name) or harness_nats.url(self.nats)

    def config(self, name):
        return nats_table(self.url(name), name, **self.nats_kw) + base_config(
            self.pg, self.policies, journal_dir=f"journal-{name}")

    def start_instance(self, name):
        self.srv[name] = harness_pg.start_strata_config(
            self.config(name), upstream=self.redis, extra=("--workers", str(self.workers)),
            tag=f"strata-{self.tag}-{name}", binary=self.binary)
        self.conns[name] = harness.Conn(self.srv[name].port)
        return self.srv[name]

    def start(self, wait_connected=True):
        if self.pg is None:
            self.start_backends()
        for n in self.names:
            self.start_instance(n)
        if wait_connected:
            self.wait_connected()
        return self

    def wait_connected(self, names=None, timeout=15):
        ok = True
        for n in names or self.names:
            ok = harness.wait_for(lambda n=n: sync_int(self.conns[n], "sync_connected") == 1 and
                                  sync_int(self.conns[n], "sync_degraded") == 0,
                                  timeout=timeout) and ok
        return ok

    def conn(self, name):
        return self.conns[name]

    def kill9_restart(self, name):
        """kill -9 the instance and start it again on the same port, dir and config."""
        s = self.srv[name]
        s.srv.kill()
        harness.restart_now(s.srv)
        self.conns[name].close()
        return s

    def restart_nats(self, timeout=10):
        """Starts the (killed) nats-server again on the same port at once: it listens with
        SO_REUSEADDR, so the TIME_WAIT leftovers of its killed connections do not block it."""
        return restart_nats(self.nats, timeout)

    def servers(self):
        return [s for s in (*self.srv.values(), self.nats, self.redis) if s is not None]
