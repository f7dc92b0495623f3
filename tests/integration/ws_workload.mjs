// The WebSocket channel's client module (web/strata-ws.mjs) under load, for test_websocket.py.
//   node ws_workload.mjs converge '<json config>'
// converge: `clients` StrataClients spread over the instances' URLs, all subscribed to one
// prefix, write optimistically (set with the version their view shows) to `keys` keys for
// `seconds`, while a timer cuts a random client's connection every 100 ms (it reconnects,
// resumes or re-snapshots, and resends unanswered writes). Checks:
// - no client ever shows a version of a key older than one it showed before (the handler is
//   instrumented: every key it is told about is compared with the highest version shown);
// - an ack means visible: when set() resolves, the view holds that version or a newer one;
// - a conflict nack carries the current version (another than the one expected);
// - every write is answered (none pending at the end), no nack other than conflict;
// - after quiescence every view equals a fresh snapshot of each instance, and the instances'
//   snapshots are equal. Prints `RESULT {json}` (the reference values) for the Python side.
import { createRequire } from "node:module";
import crypto from "node:crypto";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");
const { check, finish } = require("./checks.js");

const mode = process.argv[2];
const cfg = JSON.parse(process.argv[3]);
const { StrataClient } = await import(pathToFileURL(cfg.module).href);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64url = (b) => Buffer.from(b).toString("base64url");

function sign(claims) {
  const h = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const p = b64url(JSON.stringify(claims));
  const mac = crypto.createHmac("sha256", cfg.secret).update(`${h}.${p}`).digest();
  return `${h}.${p}.${b64url(mac)}`;
}

async function waitFor(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(20);
  }
  return pred();
}

// A fresh connection's snapshot of the prefix: key -> {v, ver}.
function referenceSnapshot(url, prefix) {
  return new Promise((resolve, reject) => {
    const tok = sign({ sub: "ref", read: [prefix], write: [] });
    const ws = new WebSocket(`${url}?token=${tok}`);
    const out = {};
    const timer = setTimeout(() => reject(new Error(`no snapshot from ${url}`)), 10000);
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.t === "hello") ws.send(JSON.stringify({ t: "sub", id: 1, prefix }));
      if (m.t === "snap") {
        for (const it of m.items) out[it.k] = { v: it.v, ver: it.ver };
        if (m.last) {
          clearTimeout(timer);
          ws.close();
          resolve(out);
        }
      }
    });
    ws.on("error", reject);
  });
}

async function converge() {
  const keys = Array.from({ length: cfg.keys }, (_, i) => `${cfg.prefix}k${String(i).padStart(2, "0")}`);
  const st = {
    writes: 0, acks: 0, conflicts: 0, nacks: {}, cuts: 0, versionWentBack: 0, ackNotVisible: 0,
    conflictWithoutVer: 0, shownChecks: 0, aways: 0,
  };
  const examples = [];
  const clients = [];
  for (let i = 0; i < cfg.clients; i++) {
    const c = new StrataClient(cfg.urls[i % cfg.urls.length], {
      token: sign({ sub: `u${i}`, read: [cfg.prefix], write: [cfg.prefix] }),
      WebSocket, minBackoffMs: 20, maxBackoffMs: 300,
    });
    const cl = { i, c, shown: new Map(), pending: 0 };
    const see = (k) => {
      const e = cl.sub.view.get(k);
      if (!e) return;
      st.shownChecks++;
      const v = BigInt(e.ver);
      const prev = cl.shown.get(k);
      if (prev !== undefined && v < prev) {
        st.versionWentBack++;
        if (examples.length < 5) examples.push({ client: i, key: k, shown: String(prev), now: e.ver });
      }
      if (prev === undefined || v > prev) cl.shown.set(k, v);
    };
    cl.sub = c.subscribe({ prefix: cfg.prefix }, (ev) => {
      if (ev.type === "snapshot") for (const k of cl.sub.view.keys()) see(k);
      else if (ev.type === "change") see(ev.key);
    });
    clients.push(cl);
  }
  check(await waitFor(() => clients.every((cl) => cl.sub.synced), 15000), "every client synced at start");

  let stopped = false;
  const writer = async (cl) => {
    let n = 0;
    while (!stopped) {
      await sleep(40 + Math.random() * 160);
      if (stopped) break;
      const k = keys[Math.floor(Math.random() * keys.length)];
      const cur = cl.sub.view.get(k);
      const ver = cur ? cur.ver : "0";
      st.writes++;
      cl.pending++;
      try {
        const ack = await cl.c.set(k, `c${cl.i}-${n++}`, { ver });
        st.acks++;
        const e = cl.sub.view.get(k);
        if (!e || BigInt(e.ver) < BigInt(ack.ver)) {
          st.ackNotVisible++;
          if (examples.length < 10) examples.push({ ackNotVisible: k, ack: ack.ver, view: e?.ver });
        }
      } catch (err) {
        if (err.reason === "conflict") {
          st.conflicts++;
          if (err.ver === undefined || err.ver === ver) st.conflictWithoutVer++;
        } else {
          st.nacks[err.reason ?? String(err)] = (st.nacks[err.reason ?? String(err)] ?? 0) + 1;
        }
      } finally {
        cl.pending--;
      }
    }
  };
  const cutter = setInterval(() => {
    clients[Math.floor(Math.random() * clients.length)].c.cut();
    st.cuts++;
  }, 100);
  // Now and then a client is kept away for ~1 s (its reconnects refused): past the short
  // history, so it comes back through a snapshot, with writes to resend.
  const away = setInterval(() => {
    const cl = clients[Math.floor(Math.random() * clients.length)];
    if (cl.away) return;
    cl.away = true;
    const url = cl.c.url;
    cl.c.url = "ws://127.0.0.1:1/ws";
    cl.c.cut();
    st.aways++;
    setTimeout(() => { cl.c.url = url; cl.away = false; }, 1000);
  }, 700);
  const loops = clients.map(writer);
  await sleep(cfg.seconds * 1000);
  clearInterval(cutter);
  clearInterval(away);
  await waitFor(() => clients.every((cl) => !cl.away), 3000);
  stopped = true;
  const settled = await Promise.race([Promise.all(loops).then(() => true), sleep(15000).then(() => false)]);
  const pending = clients.reduce((s, cl) => s + cl.pending, 0);
  check(settled && pending === 0, "every write answered (none left pending)", { pending });
  // Quiescence: every client connected and synced, then nothing moves for a while.
  check(await waitFor(() => clients.every((cl) => cl.c.ws?.readyState === 1 && cl.sub.synced), 10000),
    "every client connected and synced at the end");
  await sleep(1500);

  const refs = [];
  for (const url of cfg.urls) refs.push(await referenceSnapshot(url, cfg.prefix));
  check(JSON.stringify(refs[0]) === JSON.stringify(refs[1]), "both instances' snapshots are equal",
    Object.keys(refs[0]).filter((k) => JSON.stringify(refs[0][k]) !== JSON.stringify(refs[1][k])).slice(0, 5));
  const ref = refs[0];
  let mismatched = 0;
  for (const cl of clients) {
    const view = {};
    for (const [k, e] of cl.sub.view) view[k] = { v: e.value, ver: e.ver };
    if (JSON.stringify(Object.keys(view).sort().map((k) => [k, view[k]])) !==
        JSON.stringify(Object.keys(ref).sort().map((k) => [k, ref[k]]))) {
      mismatched++;
      if (examples.length < 12) {
        const bad = Object.keys(ref).filter((k) => JSON.stringify(view[k]) !== JSON.stringify(ref[k]));
        examples.push({ client: cl.i, key: bad[0], view: view[bad[0]], ref: ref[bad[0]] });
      }
    }
  }
  const agg = { reconnects: 0, resumed: 0, snapshots: 0, changes: 0, merged: 0, stale: 0 };
  for (const cl of clients) for (const k of Object.keys(agg)) agg[k] += cl.c.stats[k];
  check(mismatched === 0, `every view (${clients.length}) equals the servers' values`, { mismatched });
  check(Object.keys(ref).length === keys.length, "every key written", Object.keys(ref).length);
  check(st.versionWentBack === 0, "no view ever showed an older version of a key", st.versionWentBack);
  check(st.ackNotVisible === 0, "every ack's version visible in the writer's view when it resolves",
    st.ackNotVisible);
  check(st.conflictWithoutVer === 0, "every conflict nack carries another current version",
    st.conflictWithoutVer);
  check(Object.keys(st.nacks).length === 0, "no nack other than conflict", st.nacks);
  check(st.acks > 500 && st.conflicts > 0, "writes acknowledged and conflicts seen", st);
  check(agg.reconnects >= 50 && agg.resumed > 0, "reconnects happened and resumed", agg);
  check(agg.snapshots > clients.length, "some reconnects came back through a snapshot", agg);
  for (const cl of clients) cl.c.close();
  console.log(`convergence: ${clients.length} clients, ${cfg.seconds}s: ${st.writes} writes, ` +
    `${st.acks} acks, ${st.conflicts} conflicts, ${st.cuts} cuts, ${st.aways} kept away; ` +
    `${agg.reconnects} reconnects, ` +
    `${agg.resumed} resumed, ${agg.snapshots} snapshots, ${agg.changes} changes ` +
    `(${agg.merged} merged, ${agg.stale} older ones skipped), ${st.shownChecks} shown-version ` +
    `checks, ${st.versionWentBack} went back, ${st.ackNotVisible} acks not visible, ` +
    `${mismatched} views differing at the end`);
  if (examples.length) console.log(`examples: ${JSON.stringify(examples)}`);
  console.log(`RESULT ${JSON.stringify({ reference: ref, stats: st, agg })}`);
  finish();
}

// The client module against a scripted server (no strata): where it resumes from. A resumed
// `subscribed` names the server's stream head, but the missed changes it announces come after
// it; a connection lost in between must resume from the last change applied, not the head.
// Also: an unanswered write is resent on the next connection with its number and session.
async function moduleResume() {
  const { WebSocketServer } = require("ws");
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.on("listening", r));
  const url = `ws://127.0.0.1:${wss.address().port}/ws`;
  const conns = [];  // per connection: {sessions, subs: [sub messages], sets: [set messages]}
  let step = 0;
  wss.on("connection", (ws, req) => {
    const info = { session: new URL(req.url, "http://x").searchParams.get("session"), subs: [], sets: [] };
    conns.push(info);
    const n = conns.length;
    const send = (m) => ws.send(JSON.stringify(m));
    send({ t: "hello", instance: "fake", epoch: "e1", pos: "e1.5", sub: null, exp: null, read: [], write: [] });
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.t === "set") {
        info.sets.push(m);
        if (n === 3) send({ t: "ack", op: m.op, ver: "20", pos: "e1.10" });
        return;
      }
      if (m.t !== "sub") return;
      info.subs.push(m);
      if (n === 1) {
        send({ t: "subscribed", id: m.id, pos: "e1.5", resumed: false });
        send({ t: "snap", id: m.id, items: [{ k: "p:a", v: "1", ver: "10" }], last: true, truncated: false });
        send({ t: "c", k: "p:a", op: "set", v: "2", ver: "11", pos: "e1.6" });
        step = 1;
      } else if (n === 2) {
        // Resumed, then lost before the missed changes (e1.7 .. e1.9) went out.
        send({ t: "subscribed", id: m.id, pos: "e1.9", resumed: true });
        ws.terminate();
      } else {
        send({ t: "subscribed", id: m.id, pos: "e1.9", resumed: true });
        send({ t: "c", k: "p:a", op: "set", v: "3", ver: "12", pos: "e1.7" });
        step = 3;
      }
    });
  });
  const c = new StrataClient(url, { WebSocket, minBackoffMs: 20, maxBackoffMs: 50 });
  const sub = c.subscribe({ prefix: "p:" });
  check(await waitFor(() => step === 1 && sub.view.get("p:a")?.value === "2", 3000), "module: snapshot then a change");
  let answer = null;
  c.cut();
  const write = c.set("p:b", "x").then((a) => { answer = a; }, (e) => { answer = e; });
  check(await waitFor(() => step === 3 && sub.view.get("p:a")?.value === "3", 5000),
    "module: the missed change applied after two reconnects", sub.view.get("p:a"));
  await write;
  check(conns.length >= 3 && conns[1].subs[0]?.since === "e1.6", "module: first resume from the last change applied",
    conns[1]?.subs);
  check(conns.length >= 3 && conns[2].subs[0]?.since === "e1.6",
    "module: a resume lost before its missed changes resumes again from the last change applied (not the head)",
    conns[2]?.subs);
  const sets = conns.flatMap((x) => x.sets);
  check(sets.length >= 1 && sets.every((m) => m.op === sets[0].op) && conns.every((x) => x.session === conns[0].session),
    "module: an unanswered write resent with its number, same session", sets);
  check(answer?.t === "ack" && answer.ver === "20", "module: the resent write's answer resolves set()", answer);
  c.close();
  wss.close();
  finish();
}

if (mode === "converge") await converge();
else if (mode === "module") await moduleResume();
else {
  console.log(`unknown mode ${mode}`);
  process.exit(2);
}
