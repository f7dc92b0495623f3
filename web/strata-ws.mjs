// strata's WebSocket channel, client side (docs/websocket.md). No build step, no dependency:
// an ES module for browsers (<script type="module">) and Node (pass `WebSocket` from the `ws`
// package in the options).
//
//   const c = new StrataClient("ws://127.0.0.1:6390/ws", { token });
//   const sub = c.subscribe({ prefix: "chat:room1:" }, (ev) => render(sub.view));
//   await c.set("chat:room1:42", "hello");   // resolves with the ack, rejects with the nack
//
// What it does for you:
// - keeps each subscription's view (key -> {value, ver}) from its snapshot and changes, and
//   never lets a key go back to an older version than one it showed;
// - reconnects with backoff and resumes every subscription from the last position it applied
//   (the server replays what was missed, or sends a fresh snapshot);
// - numbers writes per session and resends unanswered ones after a reconnect: the server
//   applies each once and answers a resend with the first answer.

const OPEN = 1;

function newSessionId() {
  const bytes = new Uint8Array(12);
  if (globalThis.crypto?.getRandomValues) {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    // Filled in place: sessions that all came out zero would share their op numbers.
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Versions are 64-bit: compared as BigInt.
function newer(a, b) {
  return BigInt(a) > BigInt(b);
}

function parsePos(pos) {
  const dot = typeof pos === "string" ? pos.indexOf(".") : -1;
  if (dot <= 0) return null;
  return { epoch: pos.slice(0, dot), seq: BigInt(pos.slice(dot + 1)) };
}

function decodeValue(m, name) {
  if (m[name] !== undefined) return m[name];
  if (m[name + "64"] !== undefined) {
    const bin = atob(m[name + "64"]);
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  }
  return null;
}

export class StrataError extends Error {
  constructor(nack) {
    super(nack.message);
    this.reason = nack.reason;
    this.ver = nack.ver;
    this.value = nack.v === undefined ? undefined : nack.v;
    this.nack = nack;
  }
}

export class StrataClient {
  constructor(url, options = {}) {
    this.url = url;
    this.token = options.token ?? null;
    this.session = options.session ?? newSessionId();
    this.Impl = options.WebSocket ?? globalThis.WebSocket;
    this.minBackoffMs = options.minBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.onStatus = options.onStatus ?? (() => {});
    this.subs = new Map();   // id -> Subscription
    this.pending = new Map(); // op -> {msg, resolve, reject}
    this.nextId = 1;
    this.nextOp = 1;
    this.epoch = null;
    this.pos = null;         // the last position applied (BigInt), in this.epoch
    this.hello = null;
    this.closed = false;
    this.backoffMs = this.minBackoffMs;
    this.stats = { reconnects: 0, resumed: 0, snapshots: 0, changes: 0, merged: 0, stale: 0 };
    this.#connect();
  }

  subscribe(what, handler = () => {}) {
    const sub = new Subscription(this, this.nextId++, what, handler);
    this.subs.set(sub.id, sub);
    // Before the connection's hello, the hello handler sends it (sending it here too would
    // subscribe the id twice).
    if (this.#ready()) this.#sendSub(sub, false);
    return sub;
  }

  set(key, value, opts = {}) {
    const msg = { t: "set", key, v: value };
    if (opts.ver !== undefined) msg.ver = String(opts.ver);
    if (opts.ttlMs !== undefined) msg.ttl_ms = opts.ttlMs;
    return this.#write(msg);
  }

  del(key, opts = {}) {
    const msg = { t: "del", key };
    if (opts.ver !== undefined) msg.ver = String(opts.ver);
    return this.#write(msg);
  }

  append(stream, value) {
    return this.#write({ t: "append", stream, v: value });
  }

  // Drops the connection as a network failure would (tests, the demo's "cut" button).
  cut() {
    this.ws?.close();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
  }

  #write(msg) {
    msg.op = this.nextOp++;
    return new Promise((resolve, reject) => {
      this.pending.set(msg.op, { msg, resolve, reject });
      if (this.#ready()) this.#send(msg);  // else sent with the others after the hello
    });
  }

  #ready() {
    return this.ws?.readyState === OPEN && this.helloSeen;
  }

  #send(msg) {
    if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  #connect() {
    const q = new URLSearchParams({ session: this.session });
    if (this.token) q.set("token", this.token);
    const ws = new this.Impl(`${this.url}?${q}`);
    this.ws = ws;
    this.helloSeen = false;
    ws.onopen = () => {
      this.backoffMs = this.minBackoffMs;
      this.onStatus("open");
    };
    ws.onmessage = (ev) => this.#onMessage(JSON.parse(typeof ev.data === "string" ? ev.data : ev.data.toString()));
    ws.onclose = (ev) => {
      this.onStatus("closed", ev.code, ev.reason);
      if (this.closed || ws !== this.ws) return;
      this.stats.reconnects++;
      const wait = this.backoffMs * (0.5 + Math.random() / 2);
      this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
      this.timer = setTimeout(() => this.#connect(), wait);
    };
    ws.onerror = () => {};
  }

  #sendSub(sub, resume) {
    const msg = { t: "sub", id: sub.id };
    msg[sub.prefix !== undefined ? "prefix" : "key"] = sub.prefix ?? sub.key;
    // Resume only what had a whole snapshot; the rest starts over.
    if (resume && sub.synced && this.pos !== null) msg.since = `${this.epoch}.${this.pos}`;
    sub.synced = false;
    this.#send(msg);
  }

  #onMessage(m) {
    switch (m.t) {
      case "hello": {
        this.hello = m;
        if (m.epoch !== this.epoch) this.pos = null;  // another instance, or it restarted
        const resume = m.epoch === this.epoch;
        this.epoch = m.epoch;
        if (!this.helloSeen) {
          // The connection's first hello (a later one answers an auth message).
          this.helloSeen = true;
          for (const sub of this.subs.values()) this.#sendSub(sub, resume);
          for (const p of this.pending.values()) this.#send(p.msg);
        }
        this.onStatus("ready", m);
        break;
      }
      case "subscribed": {
        const sub = this.subs.get(m.id);
        if (!sub) break;
        // Its pos is the stream's head, not what was applied: the missed changes follow, and
        // a connection lost before they arrive must resume from the last one applied.
        if (m.resumed) {
          this.stats.resumed++;
          sub.synced = true;
          sub.handler({ type: "resumed", sub });
        } else {
          sub.pageItems = [];
          sub.snapPos = m.pos;  // the snapshot holds every change up to here
        }
        break;
      }
      case "snap": {
        const sub = this.subs.get(m.id);
        if (!sub) break;
        for (const it of m.items) sub.pageItems.push(it);
        if (!m.last) break;
        this.stats.snapshots++;
        sub.applySnapshot(sub.pageItems, m.truncated);
        sub.pageItems = null;
        sub.synced = true;
        // Everything up to the snapshot's position is applied now (later changes follow it):
        // a reconnect can resume from there instead of snapshotting again.
        const p = parsePos(sub.snapPos);
        if (p && p.epoch === this.epoch && (this.pos === null || p.seq > this.pos)) this.pos = p.seq;
        break;
      }
      case "c": {
        this.stats.changes++;
        if (m.merged) this.stats.merged++;
        const p = parsePos(m.pos);
        if (p && p.epoch === this.epoch && (this.pos === null || p.seq > this.pos)) this.pos = p.seq;
        for (const sub of this.subs.values()) {
          if (sub.matches(m.k)) sub.applyChange(m);
        }
        break;
      }
      case "ack":
      case "nack": {
        const p = this.pending.get(m.op);
        if (!p) break;
        this.pending.delete(m.op);
        if (m.t === "ack") p.resolve(m);
        else p.reject(new StrataError(m));
        break;
      }
      case "error": {
        const sub = m.id ? this.subs.get(m.id) : undefined;
        if (sub) {
          this.subs.delete(m.id);
          sub.handler({ type: "error", code: m.code, message: m.message, sub });
        } else {
          this.onStatus("error", m);
        }
        break;
      }
      default:
        break;
    }
  }
}

export class Subscription {
  constructor(client, id, what, handler) {
    this.client = client;
    this.id = id;
    this.key = what.key;
    this.prefix = what.prefix;
    this.handler = handler;
    this.view = new Map();  // key -> {value, ver}
    this.gone = new Map();  // deleted key -> {ver}: an older set must not bring it back
    this.synced = false;
    this.pageItems = null;
    this.truncated = false;
  }

  matches(key) {
    return this.prefix !== undefined ? key.startsWith(this.prefix) : key === this.key;
  }

  // A snapshot replaces the view, except where the view already shows a newer version.
  applySnapshot(items, truncated) {
    const next = new Map();
    for (const it of items) next.set(it.k, { value: decodeValue(it, "v"), ver: it.ver });
    for (const [k, cur] of this.view) {
      const s = next.get(k);
      if (s && newer(cur.ver, s.ver)) next.set(k, cur);
    }
    this.view = next;
    this.truncated = truncated;
    this.handler({ type: "snapshot", sub: this });
  }

  applyChange(m) {
    const cur = this.view.get(m.k) ?? this.gone.get(m.k);
    if (cur && m.ver !== "0" && !newer(m.ver, cur.ver)) {
      if (cur.ver !== m.ver) this.client.stats.stale++;
      return;  // older than (or the same as) what is shown
    }
    if (m.op === "del") {
      this.view.delete(m.k);
      this.gone.set(m.k, { ver: m.ver });
    } else {
      this.view.set(m.k, { value: decodeValue(m, "v"), ver: m.ver });
      this.gone.delete(m.k);
    }
    this.handler({ type: "change", key: m.k, op: m.op, merged: !!m.merged, sub: this });
  }

  unsubscribe() {
    this.client.subs.delete(this.id);
    if (this.client.ws?.readyState === OPEN) this.client.ws.send(JSON.stringify({ t: "unsub", id: this.id }));
  }
}
