// node-redis's own client-side cache (clientSideCache, RESP3 tracking) through strata, against
// a mixed writer loop: a writer through strata on a PostgreSQL-backed prefix and a cache prefix,
// and a writer straight to Redis on the cache prefix. Every value the caching client returns is
// checked against the history of acknowledged writes: none may be older than a write
// acknowledged more than BOUND_MS before the read began.
// Usage: node client_cache.js STRATA_PORT REDIS_PORT SECONDS   (NODE_PATH: redis@5, ioredis@5)
'use strict';

const { createClient } = require('redis');
const Redis = require('ioredis');
const { check, finish } = require('./checks');

const [strataPort, redisPort, seconds] = process.argv.slice(2).map(Number);
const kBoundMs = 100;
const kKeys = [...Array(8).keys()].flatMap((i) => [`pg:n${i}`, `c:n${i}`]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const timer = setTimeout(() => {
    console.log('FAIL deadline passed');
    finish(1);
  }, (seconds + 60) * 1000);
  const cached = createClient({ socket: { host: '127.0.0.1', port: strataPort }, RESP: 3,
                                clientSideCache: { ttl: 0, maxEntries: 0 } });
  const via = createClient({ socket: { host: '127.0.0.1', port: strataPort } });
  const direct = new Redis({ host: '127.0.0.1', port: redisPort });
  await cached.connect();
  await via.connect();
  const acks = new Map();  // key -> [[value, ackedAt]]
  const counter = new Map();
  let stop = false;
  const writer = async () => {
    while (!stop) {
      const key = kKeys[Math.floor(Math.random() * kKeys.length)];
      const value = (counter.get(key) || 0) + 1;
      counter.set(key, value);
      const toRedis = key.startsWith('c:') && Math.random() < 0.3;
      const r = toRedis ? await direct.set(key, String(value)) : await via.set(key, String(value));
      if (r === 'OK') {
        if (!acks.has(key)) acks.set(key, []);
        acks.get(key).push([value, now()]);
      }
      await sleep(2);
    }
  };
  let reads = 0;
  let stale = 0;
  const worst = [];
  const reader = async () => {
    while (!stop) {
      const key = kKeys[Math.floor(Math.random() * kKeys.length)];
      const started = now();
      const got = await cached.get(key);
      const value = got === null ? 0 : Number(got);
      reads++;
      for (const [v, at] of acks.get(key) || []) {
        if (v > value && at < started - kBoundMs) {
          stale++;
          if (worst.length < 3) worst.push({ key, value, newer: v });
          break;
        }
      }
      await sleep(1);
    }
  };
  const jobs = [writer(), reader(), reader()];
  await sleep(seconds * 1000);
  stop = true;
  await Promise.all(jobs);
  const stats = cached.clientSideCache.stats();
  console.log(`node-redis clientSideCache: ${reads} reads, ${stats.hitCount} cache hits, ` +
              `${stale} stale past ${kBoundMs} ms ${JSON.stringify(worst)}`);
  check(reads > 200, 'enough reads', reads);
  check(stats.hitCount > reads / 4, 'the client-side cache served reads', stats.hitCount);
  check(stale === 0, `no read staler than ${kBoundMs} ms`, { stale, worst });
  await cached.quit();
  await via.quit();
  direct.disconnect();
  clearTimeout(timer);
  finish();
}

main().catch((e) => {
  console.log(`FAIL ${e.stack}`);
  finish(1);
});
