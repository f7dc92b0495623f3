// Subscribers that the network drops and that reconnect on their own, as app servers run them:
// ioredis (RESP2) and node-redis v5 (RESP2 and RESP3) with auto-reconnect, each behind a TCP
// relay this script runs; the publisher connects directly. Each round cuts every relayed
// connection (both sides destroyed, as a network reset does), waits until each subscriber is
// back and receives a fresh message, then checks:
//   - every message published after that one reaches every subscriber, in order, none lost;
//   - PUBLISH counts exactly the live subscribers (the cut connections are not counted).
// Usage: node pubsub_reconnect.js PORT ROUNDS   (NODE_PATH: a node_modules with ioredis@5,
// redis@5). Prints "N passed, N failed"; exits 1 on a failure.
'use strict';

const net = require('net');
const Redis = require('ioredis');
const { createClient } = require('redis');

const port = Number(process.argv[2]);
const rounds = Number(process.argv[3] || 50);
const kBackMs = 5000;      // a subscriber must be back (a message received) within this
const kBurst = 20;         // messages per round once everyone is back
const kDeadlineMs = 600000;
const { check, finish } = require('./checks');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP relay to the server under test; cut() resets every connection through it.
function relay() {
  const pairs = new Set();
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    const pair = [down, up];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      // how: 'both' resets both sides at once; 'client' resets the subscriber's side first and
      // the server's side `lagMs` later (the server hears of it late); 'server' the reverse.
      cut(how, lagMs) {
        for (const [down, up] of pairs) {
          const first = how === 'server' ? up : down;
          const second = how === 'server' ? down : up;
          first.resetAndDestroy();
          if (how === 'both') second.resetAndDestroy();
          else setTimeout(() => second.resetAndDestroy(), lagMs);
        }
        pairs.clear();
      },
      close() { server.close(); },
    }));
  });
}

// Each subscriber records what it receives on its channel.
function makeIoredis(relayPort, channel, extra = {}, label = '') {
  const got = [];
  const r = new Redis({ host: '127.0.0.1', port: relayPort, retryStrategy: () => 50,
                        maxRetriesPerRequest: null, enableOfflineQueue: true, ...extra });
  r.on('error', () => {});
  r.on('message', (ch, msg) => { if (ch === channel) got.push(msg); });
  return { name: `ioredis${label}`, got, start: () => r.subscribe(channel),
           stop: () => r.disconnect() };
}

function makeNodeRedis(relayPort, channel, resp, extra = {}, label = '') {
  const got = [];
  const c = createClient({ socket: { host: '127.0.0.1', port: relayPort,
                                     reconnectStrategy: () => 50 }, RESP: resp, ...extra });
  c.on('error', () => {});
  return {
    name: `node-redis RESP${resp}${label}`, got,
    start: async () => { await c.connect(); await c.subscribe(channel, (m) => got.push(m)); },
    stop: () => c.destroy(),
  };
}

async function main() {
  const timer = setTimeout(() => {
    console.log('FAIL deadline passed');
    process.exit(1);
  }, kDeadlineMs);
  const pub = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  const subs = [];
  const relays = [];
  const channel = `reconnect:${process.pid}`;
  // Defaults, and what app servers add: a connection name and a database (sent again on each
  // reconnect, before the subscriptions), a ping interval.
  const makers = [
    (p) => makeIoredis(p, channel),
    (p) => makeIoredis(p, channel, { connectionName: 'sub', db: 1 }, ' (name, db 1)'),
    (p) => makeNodeRedis(p, channel, 2),
    (p) => makeNodeRedis(p, channel, 3),
    (p) => makeNodeRedis(p, channel, 3, { name: 'sub', database: 1, pingInterval: 100 },
                         ' (name, db 1, ping)'),
  ];
  for (const make of makers) {
    const rl = await relay();
    relays.push(rl);
    const s = make(rl.port);
    await s.start();
    subs.push(s);
  }
  let seq = 0;
  let lostRounds = 0;
  for (let round = 0; round < rounds; round++) {
    const how = ['both', 'client', 'server'][round % 3];
    const lag = [0, 30, 150, 400][Math.floor(round / 3) % 4];
    for (const rl of relays) rl.cut(how, lag);
    // Back: a marker published again and again until each subscriber has one of this round.
    const marker = `back:${round}:`;
    const t0 = Date.now();
    const back = subs.map(() => false);
    while (back.includes(false) && Date.now() - t0 < kBackMs) {
      await pub.publish(channel, marker + seq++);
      await sleep(20);
      subs.forEach((s, i) => { back[i] = back[i] || s.got.some((m) => m.startsWith(marker)); });
    }
    subs.forEach((s, i) => check(back[i], `round ${round} (${how} ${lag} ms): ${s.name} back ` +
                                 `within ${kBackMs} ms`));
    if (back.includes(false)) {
      lostRounds++;
      if (lostRounds >= 3) break;  // the subscription is gone for good: say so, stop here
      continue;
    }
    // Every subscriber is subscribed again now: each message reaches all of them, in order.
    for (const s of subs) s.got.length = 0;
    const sent = [];
    let counts = [];
    for (let i = 0; i < kBurst; i++) {
      const m = `r${round}:${i}`;
      sent.push(m);
      counts.push(await pub.publish(channel, m));
    }
    check(counts.every((n) => n === subs.length), `round ${round}: PUBLISH counts ${subs.length}`,
          counts);
    // The cut side's close may reach the server after the subscriber is back: the counts of a
    // burst published then must still be exact.
    const t1 = Date.now();
    // (A marker of the wait above may still arrive: only this burst's messages count.)
    const burst = (s) => s.got.filter((m) => m.startsWith(`r${round}:`));
    while (subs.some((s) => burst(s).length < kBurst) && Date.now() - t1 < kBackMs) {
      await sleep(10);
    }
    await sleep(20);  // a duplicate would arrive now
    for (const s of subs) {
      check(JSON.stringify(burst(s)) === JSON.stringify(sent),
            `round ${round}: ${s.name} received every message in order, once`,
            { got: burst(s).length, want: kBurst });
    }
  }
  for (const s of subs) await s.stop();
  for (const rl of relays) rl.close();
  pub.disconnect();
  clearTimeout(timer);
  finish();
}

main().catch((e) => {
  console.log(`FAIL ${e.stack}`);
  process.exit(1);
});
