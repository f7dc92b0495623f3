// App-server workload through real Node clients: ioredis (RESP2: pipelines, MULTI/EXEC, WATCH,
// pub/sub, scanStream, Buffers) and node-redis v5 with RESP: 3 (HELLO 3; maps, doubles, nulls).
// Usage: node client_workload.js PORT MODE   (MODE: standalone | proxy)
// Needs NODE_PATH pointing at a node_modules with ioredis@5 and redis@5.
'use strict';

const Redis = require('ioredis');
const { createClient } = require('redis');

const kDeadlineMs = 120000;  // the whole workload; a hang is a failure, not a stuck CI
const port = Number(process.argv[2]);
const proxy = process.argv[3] === 'proxy';
const ns = `node:${process.pid}:`;
const { check, finish } = require('./checks');

function eq(got, want, what) {
  check(JSON.stringify(got) === JSON.stringify(want), what, { got, want });
}

async function rejects(promise, pattern, what) {
  try {
    await promise;
    check(false, what, 'no error');
  } catch (e) {
    check(pattern.test(String(e.message)), what, String(e.message));
  }
}

function ioredisClient(extra = {}) {
  return new Redis({
    host: '127.0.0.1', port, db: 0, connectionName: 'itest-ioredis', commandTimeout: 10000,
    maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true, ...extra,
  });
}

async function sessionStore(r) {
  const sessions = [];
  for (let i = 0; i < 200; i++) {
    const s = { user: i, roles: ['a', 'b'], name: `user-${i}\u00e9\u4e2d`, at: Date.now() };
    sessions.push(s);
    await r.set(`${ns}sess:${i}`, JSON.stringify(s), 'EX', 3600);
  }
  for (let i = 0; i < 200; i += 17) {
    eq(JSON.parse(await r.get(`${ns}sess:${i}`)), sessions[i], `session ${i} round trip`);
  }
  const ttl = await r.ttl(`${ns}sess:5`);
  check(ttl > 3590 && ttl <= 3600, 'session TTL', ttl);
  const keys = Array.from({ length: 50 }, (_, i) => `${ns}sess:${i}`);
  const got = await r.mget(...keys, `${ns}missing`);
  eq(got.length, 51, 'mget length');
  eq(got[50], null, 'mget missing is null');
  eq(JSON.parse(got[7]).user, 7, 'mget value');
  eq(await r.getex(`${ns}sess:1`, 'PERSIST').then((v) => JSON.parse(v).user), 1, 'getex');
  eq(await r.ttl(`${ns}sess:1`), -1, 'getex persist');
  eq(await r.getdel(`${ns}sess:2`).then((v) => JSON.parse(v).user), 2, 'getdel');
  eq(await r.exists(`${ns}sess:2`, `${ns}sess:3`), 1, 'exists after getdel');
  eq(await r.set(`${ns}sess:3`, 'x', 'NX'), null, 'set NX on existing');
  eq(await r.set(`${ns}sess:3`, 'y', 'XX', 'GET').then((v) => JSON.parse(v).user), 3, 'set XX GET');
  eq(await r.del(...keys), 49, 'del many');
}

async function counters(r) {
  const key = `${ns}ctr`;
  await Promise.all(Array.from({ length: 300 }, () => r.incr(key)));
  eq(await r.get(key), '300', 'concurrent incr');
  eq(await r.incrby(key, -50), 250, 'incrby');
  eq(await r.incrbyfloat(key, '0.5'), '250.5', 'incrbyfloat');
  await rejects(r.incr(key), /ERR value is not an integer or out of range/, 'incr on a float');
  await r.set(`${ns}max`, '9223372036854775807');
  await rejects(r.incr(`${ns}max`), /ERR increment or decrement would overflow/, 'overflow');
  eq(await r.append(`${ns}app`, 'abc'), 3, 'append');
  eq(await r.getrange(`${ns}app`, 1, -1), 'bc', 'getrange');
  eq(await r.setrange(`${ns}app`, 5, 'z'), 6, 'setrange pads');
  eq(await r.strlen(`${ns}app`), 6, 'strlen');
}

async function pipelines(r) {
  const p = r.pipeline();
  for (let i = 0; i < 1000; i++) {
    p.set(`${ns}p:${i}`, `v${i}`);
    if (i % 3 === 0) p.get(`${ns}p:${i}`);
    if (i % 100 === 0) p.incr(`${ns}p:${i}`);  // error inside the pipeline
  }
  const res = await p.exec();
  const errors = res.filter(([e]) => e).length;
  eq(errors, 10, 'pipeline errors are per command');
  check(res.filter(([e, v]) => !e && v === 'OK').length === 1000, 'pipeline sets', res.length);
  eq(res[1], [null, 'v0'], 'pipeline get');
  const big = Buffer.alloc(1 << 20, 7);
  big[0] = 0; big[1] = 13; big[2] = 10;
  await r.set(`${ns}bin`, big);
  const back = await r.getBuffer(`${ns}bin`);
  check(Buffer.compare(back, big) === 0, '1 MB binary value round trip', back.length);
  const seen = new Set();
  await new Promise((resolve, reject) => {
    r.scanStream({ match: `${ns}p:*`, count: 100 }).on('data', (ks) => ks.forEach((k) => seen.add(k)))
      .on('end', resolve).on('error', reject);
  });
  eq(seen.size, 1000, 'scanStream sees every key once');
  const del = r.pipeline();
  for (let i = 0; i < 1000; i++) del.unlink(`${ns}p:${i}`);
  await del.exec();
  eq(await r.dbsize().then((n) => n >= 0), true, 'dbsize');
}

async function transactions(r, other) {
  const res = await r.multi().set(`${ns}tx`, '1').incr(`${ns}tx`).get(`${ns}tx`).exec();
  eq(res, [[null, 'OK'], [null, 2], [null, '2']], 'multi/exec');
  await r.watch(`${ns}tx`);
  await other.set(`${ns}tx`, 'changed');
  eq(await r.multi().set(`${ns}tx`, 'mine').exec(), null, 'watch aborts exec');
  eq(await r.get(`${ns}tx`), 'changed', 'value after aborted exec');
  await r.watch(`${ns}tx`);
  eq(await r.multi().set(`${ns}tx`, 'mine').exec(), [[null, 'OK']], 'watch without change');
  await r.rpush(`${ns}list`, 'a', 'b');
  eq(await r.lrange(`${ns}list`, 0, -1), ['a', 'b'], 'list forwarded');
  await r.hset(`${ns}hash`, { f1: 'v1', f2: 'v2' });
  eq(await r.hgetall(`${ns}hash`), { f1: 'v1', f2: 'v2' }, 'hgetall forwarded');
  await rejects(r.get(`${ns}list`), /WRONGTYPE/, 'GET on a list');
  eq(await r.blpop(`${ns}empty`, 0.2), null, 'blpop timeout');
}

async function pubsub(sub, pub) {
  const got = new Promise((resolve) => sub.on('message', (ch, msg) => resolve([ch, msg])));
  await sub.subscribe(`${ns}chan`);
  eq(await pub.publish(`${ns}chan`, 'hello'), 1, 'publish receivers');
  eq(await got, [`${ns}chan`, 'hello'], 'message received');
}

async function resp3(mode) {
  const c = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 5000 }, RESP: 3 });
  c.on('error', () => {});
  await c.connect();
  eq(await c.set(`${ns}r3`, 'v'), 'OK', 'resp3 set');
  eq(await c.get(`${ns}r3`), 'v', 'resp3 get');
  eq(await c.get(`${ns}r3-missing`), null, 'resp3 null');
  eq(await c.mGet([`${ns}r3`, `${ns}r3-missing`]), ['v', null], 'resp3 mget');
  eq(await c.incrByFloat(`${ns}r3f`, 1.5), '1.5', 'resp3 incrbyfloat');
  await c.clientSetName('itest-resp3');
  eq(await c.clientGetName(), 'itest-resp3', 'resp3 client getname');
  eq(await c.sendCommand(['PING']), 'PONG', 'resp3 ping');
  if (mode === 'proxy') {
    // Through strata (INFO has its section): the RESP3 client's GETs are L1 hits and nothing
    // so far pinned it to a Redis connection of its own.
    const stat = async (name) => Number(((await c.info('strata')).match(new RegExp(`${name}:(\\d+)`)) || [])[1]);
    const hits = await stat('l1_hits');
    if (!Number.isNaN(hits)) {
      const pinned = await stat('upstream_pinned_total');
      for (let i = 0; i < 20; i++) eq(await c.get(`${ns}r3`), 'v', 'resp3 get (L1)');
      check(await stat('l1_hits') - hits >= 20, 'resp3 GETs are L1 hits', await stat('l1_hits') - hits);
      eq(await stat('upstream_pinned_total'), pinned, 'resp3 client not pinned');
    }
    await c.hSet(`${ns}r3h`, { a: '1', b: '2' });
    eq(await c.hGetAll(`${ns}r3h`), { a: '1', b: '2' }, 'resp3 map');
    await c.zAdd(`${ns}r3z`, { score: 1.25, value: 'm' });
    eq(await c.zScore(`${ns}r3z`, 'm'), 1.25, 'resp3 double');
    const tx = await c.multi().set(`${ns}r3t`, 'a').get(`${ns}r3t`).exec();
    eq(tx, ['OK', 'a'], 'resp3 multi');
  }
  await c.del([`${ns}r3`, `${ns}r3f`, `${ns}r3h`, `${ns}r3z`, `${ns}r3t`]);
  await c.quit();
}

async function main() {
  const timer = setTimeout(() => {
    console.log(`FAIL workload did not finish in ${kDeadlineMs} ms`);
    finish(1);
  }, kDeadlineMs);
  const r = ioredisClient();
  const other = ioredisClient();
  await r.connect();
  await other.connect();
  eq(await r.client('GETNAME'), 'itest-ioredis', 'connectionName');
  for (const [name, fn] of [['session store', sessionStore], ['counters', counters],
    ['pipelines', pipelines]]) {
    try { await fn(r); } catch (e) { check(false, name, String(e.stack)); }
  }
  if (proxy) {
    try { await transactions(r, other); } catch (e) { check(false, 'transactions', String(e.stack)); }
    const sub = ioredisClient({ connectionName: undefined });
    await sub.connect();
    try { await pubsub(sub, other); } catch (e) { check(false, 'pubsub', String(e.stack)); }
    sub.disconnect();
  }
  try { await resp3(proxy ? 'proxy' : 'standalone'); } catch (e) { check(false, 'resp3', String(e.stack)); }
  r.disconnect();
  other.disconnect();
  clearTimeout(timer);
  finish();
}

main().catch((e) => {
  console.log(`FAIL ${e.stack}`);
  process.exit(1);
});
