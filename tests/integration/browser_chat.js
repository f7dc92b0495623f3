// Two tabs of web/chat.html talking through strata, in Debian's chromium (headless) driven by
// puppeteer-core. Started by test_browser.py, which serves web/ and runs strata + PostgreSQL.
// Usage: node browser_chat.js CONFIG_JSON
//   {"page": "http://127.0.0.1:P/chat.html?ws=...&token=...&room=R", "page2": (the same on the
//    second instance), "chromium": "/usr/bin/chromium", "profile": "<throwaway user-data-dir>",
//    "deadline_ms": 45000, "messages": 7}
// Prints check failures, one line `TIMINGS {...}` and one line `MESSAGES [...]` (what tab B
// shows at the end, in order), then "N passed, N failed".
'use strict';

const puppeteer = require('puppeteer-core');
const { check, finish } = require('./checks');

const cfg = JSON.parse(process.argv[2]);
const kWaitMs = 10000;  // any one step
const timings = {};
const t0 = Date.now();
const since = (t) => Date.now() - t;

// Chromium must reach nothing but 127.0.0.1: no background services, no name resolution, and
// any non-loopback request goes to a proxy that does not exist (port 9, discard: refused).
const kArgs = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--no-first-run',
  '--disable-sync', '--disable-default-apps', '--metrics-recording-only',
  '--disable-extensions', '--disable-domain-reliability', '--disable-client-side-phishing-detection',
  '--no-pings', '--dns-prefetch-disable', '--disable-breakpad', '--mute-audio',
  '--disable-features=OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,AutofillServerCommunication,CertificateTransparencyComponentUpdater',
  '--proxy-server=127.0.0.1:9', '--proxy-bypass-list=127.0.0.1',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

async function openTab(browser, name, problems, url = cfg.page) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`${name}: request failed: ${r.url()}`));
  const started = Date.now();
  await page.goto(`${url}&name=${name}`, { waitUntil: 'load', timeout: kWaitMs });
  await waitLive(page);
  await page.waitForFunction(() => window.chat.sub.synced, { timeout: kWaitMs });
  timings[`${name}_load_to_live_ms`] = since(started);
  // Records, per message, the state it was first rendered in (the optimistic UI's greyed copy
  // shows before the ack) and when it first showed and showed confirmed (Date.now(): the tabs
  // share the clock with the key's time, its submit time); and each status change's time.
  await page.evaluate(() => {
    window.seen = {};
    window.statusLog = [];
    const status = document.getElementById('status');
    const note = () => {
      const now = Date.now();
      for (const li of document.querySelectorAll('#messages li')) {
        const s = window.seen[li.dataset.key] ??= { first: li.dataset.state, at: now };
        if (li.dataset.state === 'confirmed') s.confirmedAt ??= now;
      }
      const last = window.statusLog[window.statusLog.length - 1];
      if (!last || last.state !== status.dataset.state) {
        window.statusLog.push({ state: status.dataset.state, at: now });
      }
    };
    new MutationObserver(note).observe(document.body, { childList: true, subtree: true,
                                                        attributes: true });
  });
  return page;
}

const waitLive = (page) =>
  page.waitForSelector('#status[data-state="live"]', { timeout: kWaitMs });

// Types `text` into the page's box, sends it, and returns its key (the newest of this tab's).
async function say(page, text) {
  await page.type('#text', text);
  await page.keyboard.press('Enter');
  const h = await page.waitForFunction(
      (t) => [...document.querySelectorAll('#messages li')].find(
          (li) => li.querySelector('.text').textContent === t)?.dataset.key,
      { timeout: kWaitMs }, text);
  return h.jsonValue();
}

// Resolves when `page` shows `key` confirmed; the time it took.
async function seen(page, key) {
  const started = Date.now();
  await page.waitForSelector(`#messages li[data-key="${key}"][data-state="confirmed"]`,
                             { timeout: kWaitMs });
  return since(started);
}

const shown = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => ({
  key: li.dataset.key, state: li.dataset.state, text: li.querySelector('.text').textContent,
  from: li.querySelector('.from').textContent })));
// Holds the tab's next reconnect (the client module's backoff timer) until released, so the tab
// stays away exactly as long as the test needs, whatever the machine's speed.
const holdReconnect = (page) => page.evaluate(() => {
  const real = window.setTimeout;
  window.setTimeout = (fn, ms, ...args) => {
    if (!String(fn).includes('connect')) return real(fn, ms, ...args);
    window.setTimeout = real;
    window.heldReconnect = fn;
    return real(() => {}, 0);
  };
});
const releaseReconnect = (page) => page.evaluate(() => {
  const fn = window.heldReconnect;
  window.heldReconnect = null;
  fn();
});

const stats = (page) => page.evaluate(() => ({ ...window.chat.client.stats }));

// When `page` first showed `key` (and showed it confirmed), in ms after the key's submit time.
async function shownAfter(page, key) {
  const s = await page.evaluate((k) => window.seen[k], key);
  const at = Number(key.split(':')[2].split('-')[0]);
  return { shown: s.at - at, confirmed: s.confirmedAt - at, first: s.first };
}
// When `page`'s status last became `state` (Date.now()).
const statusAt = (page, state) => page.evaluate(
    (st) => window.statusLog.filter((e) => e.state === st).pop()?.at, state);

async function run() {
  const problems = [];
  let started = Date.now();
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium, headless: true, pipe: true, userDataDir: cfg.profile,
    args: kArgs, timeout: kWaitMs, protocolTimeout: kWaitMs,
  });
  timings.launch_ms = since(started);
  try {
    const a = await openTab(browser, 'alice', problems);
    const b = await openTab(browser, 'bob', problems);
    const d = await openTab(browser, 'dave', problems, cfg.page2);  // on the second instance

    // 1. A says something; B sees it. Latencies from the submit (the key's time).
    const k1 = await say(a, 'hello from alice');
    await seen(a, k1);
    await seen(b, k1);
    const inA = await shownAfter(a, k1);
    const inB = await shownAfter(b, k1);
    check(inA.first === 'pending', 'the sender shows its message greyed before the ack', inA);
    check(inB.first === 'confirmed', 'the other tab shows it confirmed', inB);
    timings.a_shown_ms = inA.shown;
    timings.a_acked_ms = inA.confirmed;
    timings.a_to_b_ms = inB.shown;
    const k2 = await say(b, 'hi alice, bob here');
    await seen(b, k2);
    await seen(a, k2);
    timings.b_acked_ms = (await shownAfter(b, k2)).confirmed;
    timings.b_to_a_ms = (await shownAfter(a, k2)).shown;
    // Across instances: a peer's write-behind change, over NATS.
    await seen(d, k1);
    await seen(d, k2);
    timings.a_to_d_other_instance_ms = (await shownAfter(d, k1)).shown;
    const kd = await say(d, 'dave, on the other instance');
    await seen(d, kd);
    await seen(a, kd);
    await seen(b, kd);
    timings.d_to_a_other_instance_ms = (await shownAfter(a, kd)).shown;

    // 2. B's connection is cut (its button); A writes while B is away; B resumes from its
    // position and shows what it missed, without a snapshot.
    const before = await stats(b);
    await holdReconnect(b);
    started = Date.now();
    await b.click('#cut');
    await b.waitForSelector('#status[data-state="closed"]', { timeout: kWaitMs });
    timings.cut_to_closed_ms = (await statusAt(b, 'closed')) - started;
    const missed = [];
    for (let i = 1; i <= 3; i++) missed.push(await say(a, `while bob was away ${i}`));
    for (const k of missed) await seen(a, k);
    const bAway = await b.evaluate(() => document.getElementById('status').dataset.state);
    check(bAway === 'closed', 'B still away while A wrote (the writes are missed, not live)', bAway);
    const missedBefore = await b.evaluate(
        (ks) => ks.filter((k) => document.querySelector(`#messages li[data-key="${k}"]`)).length,
        missed);
    check(missedBefore === 0, 'B shows none of the missed messages before it reconnects', missedBefore);
    const reconnectAt = await b.evaluate(() => Date.now());
    await releaseReconnect(b);
    await waitLive(b);
    for (const k of missed) await seen(b, k);
    const liveAgain = await statusAt(b, 'live');
    timings.b_reconnect_to_live_ms = liveAgain - reconnectAt;
    const missedAt = await b.evaluate((ks) => Math.max(...ks.map((k) => window.seen[k].at)), missed);
    timings.b_live_to_missed_shown_ms = missedAt - liveAgain;
    const after = await stats(b);
    check(after.reconnects === before.reconnects + 1, 'B reconnected once', { before, after });
    check(after.resumed === before.resumed + 1, 'B resumed from history', { before, after });
    check(after.snapshots === before.snapshots, 'B needed no snapshot', { before, after });

    // 3. A's own connection cut: a message sent meanwhile stays greyed, then is confirmed when
    // the client resends it after reconnecting; the others get it once.
    await holdReconnect(a);
    await a.click('#cut');
    await a.waitForSelector('#status[data-state="closed"]', { timeout: kWaitMs });
    const k3 = await say(a, 'sent while alice was cut off');
    await new Promise((r) => setTimeout(r, 200));  // no answer can come while away
    const pendingState = await a.$eval(`#messages li[data-key="${k3}"]`, (li) => li.dataset.state);
    check(pendingState === 'pending', 'a message written while cut off stays greyed', pendingState);
    await releaseReconnect(a);
    await seen(a, k3);
    await seen(b, k3);
    await seen(d, k3);
    timings.a_live_to_resent_acked_ms =
        (await a.evaluate((k) => window.seen[k].confirmedAt, k3)) - (await statusAt(a, 'live'));

    // Both tabs show the same messages, in key order, all confirmed.
    for (const k of missed) await seen(d, k);
    const [la, lb, ld] = [await shown(a), await shown(b), await shown(d)];
    const keys = (l) => l.map((m) => m.key);
    check(JSON.stringify(keys(la)) === JSON.stringify(keys(lb)), 'tabs A and B show the same messages',
          { a: keys(la), b: keys(lb) });
    check(JSON.stringify(keys(ld)) === JSON.stringify(keys(lb)),
          'the tab on the other instance shows the same messages', { d: keys(ld), b: keys(lb) });
    check(JSON.stringify(keys(lb)) === JSON.stringify([...keys(lb)].sort()), 'in key order', keys(lb));
    check(lb.length === cfg.messages && lb.every((m) => m.state === 'confirmed'),
          `${cfg.messages} messages, confirmed`, lb);
    check((await stats(d)).snapshots === 1, 'the other instance\'s tab heard everything live',
          await stats(d));
    check(lb.length === new Set(keys(lb)).size, 'no message shown twice', keys(lb));
    console.log(`MESSAGES ${JSON.stringify(lb.map(({ key, text, from }) => ({ key, text, from })))}`);

    // 4. A third tab opened now gets the room from a snapshot.
    const c = await openTab(browser, 'carol', problems);
    check(JSON.stringify(keys(await shown(c))) === JSON.stringify(keys(lb)),
          'a new tab shows the whole room from its snapshot', keys(await shown(c)));
    check((await stats(c)).snapshots === 1, 'the new tab had one snapshot', await stats(c));
  } finally {
    started = Date.now();
    await browser.close();
    timings.close_ms = since(started);
  }
  check(problems.length === 0, 'no page errors, console errors or failed requests', problems);
  timings.total_ms = since(t0);
  console.log(`TIMINGS ${JSON.stringify(timings)}`);
}

const deadline = setTimeout(() => {
  check(false, `browser run past its deadline (${cfg.deadline_ms} ms)`, timings);
  finish();
}, cfg.deadline_ms);
run().then(() => { clearTimeout(deadline); finish(); }, (e) => {
  clearTimeout(deadline);
  check(false, 'browser run', String(e && e.stack || e));
  console.log(`TIMINGS ${JSON.stringify(timings)}`);
  finish();
});
