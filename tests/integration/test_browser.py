"""web/chat.html in a real browser: two tabs talking through strata's WebSocket channel, with
write-behind to PostgreSQL.

PostgreSQL + two strata kept coherent over NATS (each with [websocket], one secret made here, a
write-behind chat: policy) + a static HTTP server for web/, all on 127.0.0.1; then
browser_chat.js drives Debian's chromium (headless, puppeteer-core, a throwaway profile, nothing
reachable but loopback): tab A's message appears in tab B, and in tab D on the second instance
(a peer's write-behind change, read once it is in PostgreSQL); B's connection is cut (its
button), A writes meanwhile, B resumes from history and shows what it missed; a message written
while A is cut off shows greyed, then confirmed; a new tab gets the room from a snapshot. Then
every message must reach strata_kv (the write-behind flush).

chromium is Debian's package (CI installs it): without /usr/bin/chromium this test FAILS.
Timings are printed (`timing:` lines)."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WEB = os.path.normpath(os.path.join(HERE, "..", "..", "web"))
CHROMIUM = os.environ.get("STRATA_CHROMIUM", "/usr/bin/chromium")
kBrowserDeadlineMs = 45000
kFlushTimeoutS = 10
kMessages = 7  # what browser_chat.js writes


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_ws_token(claims, secret):
    """An HS256 JWT, as docs/websocket.md describes (what strata's verifier accepts)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def start_http(directory):
    """python3 -m http.server for `directory` on a free loopback port; waits until it serves."""
    tmpdir = harness.make_tmpdir("http")
    for _ in range(harness.kStartTries):
        port = harness.free_port()
        srv = harness.Server("http", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                      "--directory", directory, str(port)], port, tmpdir)
        srv.spawn()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and srv.alive():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/chat.html", timeout=2) as r:
                    if r.status == 200:
                        return srv
            except OSError:
                time.sleep(0.05)
        srv.stop()
    raise RuntimeError(f"the static HTTP server did not start:\n{srv.log_tail()}")


def kill_leftover_browsers(profile):
    """Chromium processes still running with our throwaway profile (the driver was killed before
    it closed them), found by their command line and killed by pid."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if f"--user-data-dir={profile}".encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def main():
    if harness.fake_run():
        return 0
    checks = harness.Checks()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"FAIL {CHROMIUM} not found: install Debian's chromium package "
              "(apt-get install chromium; scripts/deps.sh test does)")
        print("0 passed, 1 failed")
        return 1
    node_modules = harness.ensure_node_packages()
    t0 = time.monotonic()
    pg = harness.start_postgres()
    nats = harness_nats.start_nats()
    secret = secrets.token_hex(24)
    instances = []
    for name in ("one", "two"):
        ws_port = harness.free_port()
        config = f"""
[postgres]
conninfo = "{pg.conninfo()}"
[journal]
dir = "journal"
[nats]
url = "{harness_nats.url(nats)}"
instance = "{name}"
[websocket]
port = {ws_port}
bind = "127.0.0.1"
path = "/ws"
secret = "{secret}"
[[policy]]
prefix = "chat:"
strategy = "write-behind"
flush_interval_ms = 100
"""
        instances.append((harness.start_strata_config(config, tag=f"strata-{name}"), ws_port))
    http = start_http(WEB)
    room = f"it{secrets.token_hex(3)}"
    token = sign_ws_token({"sub": "browser-test", "exp": int(time.time()) + 600,
                           "read": ["chat:"], "write": ["chat:"]}, secret)
    pages = [f"http://127.0.0.1:{http.port}/chat.html?" + urllib.parse.urlencode(
        {"ws": f"ws://127.0.0.1:{ws_port}/ws", "token": token, "room": room})
        for _, ws_port in instances]
    print(f"timing: servers up {time.monotonic() - t0:.2f}s", flush=True)

    profile = os.path.join(harness.make_tmpdir("chromium"), "profile")
    run_cfg = {"page": pages[0], "page2": pages[1], "chromium": CHROMIUM, "profile": profile,
               "deadline_ms": kBrowserDeadlineMs, "messages": kMessages}
    started = time.monotonic()
    try:
        p = subprocess.run(["node", "browser_chat.js", json.dumps(run_cfg)], cwd=HERE,
                           env=dict(os.environ, NODE_PATH=node_modules), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=kBrowserDeadlineMs / 1000 + 15, preexec_fn=harness._pdeathsig)
        out, code = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode("utf-8", "replace") + "\nTIMEOUT", -1
    finally:
        kill_leftover_browsers(profile)
    browser_s = time.monotonic() - started
    messages, timings = [], {}
    for line in out.splitlines():
        if line.startswith("MESSAGES "):
            messages = json.loads(line[len("MESSAGES "):])
        elif line.startswith("TIMINGS "):
            timings = json.loads(line[len("TIMINGS "):])
        else:
            print(f"    {line}")
    checks.ok(code == 0, "the browser run passed", f"exit {code}")
    for name, ms in timings.items():
        print(f"timing: {name} {ms} ms")
    print(f"timing: browser run {browser_s:.2f}s", flush=True)

    # Write-behind: every message the tabs show reaches PostgreSQL, with its value.
    checks.eq(len(messages), kMessages, "messages shown at the end")
    want = {m["key"]: m for m in messages}
    rows = {}
    started = time.monotonic()

    def flushed():
        rows.clear()
        for key, value in pg.rows("SELECT key, convert_from(value, 'UTF8') FROM strata_kv "
                                  f"WHERE key LIKE 'chat:{room}:%' AND value IS NOT NULL"):
            rows[key] = json.loads(value)
        return want and set(rows) == set(want)

    if want:
        checks.ok(harness.wait_for(flushed, timeout=kFlushTimeoutS, interval=0.05),
                  "every message reached PostgreSQL", f"rows {sorted(rows)}, want {sorted(want)}")
        print(f"timing: PostgreSQL holds them {time.monotonic() - started:.2f}s after the run")
    for key, m in want.items():
        got = rows.get(key, {})
        checks.ok(got.get("text") == m["text"] and got.get("from") == m["from"],
                  f"{key} in PostgreSQL", f"got {got}, want {m}")
    for strata, _ in instances:
        checks.ok(strata.alive(), f"{strata.name} still running", strata.log_tail())
    code = harness.finish(checks.failed)
    print(f"timing: total {time.monotonic() - t0:.2f}s")
    print(f"{checks.passed} passed, {checks.failed + (1 if code and not checks.failed else 0)} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
