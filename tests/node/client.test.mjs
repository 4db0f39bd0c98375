// Integration: the JavaScript client (gateway/web/shoal.js, with Node's `ws` as its WebSocket)
// against the real shoal binary ($SHOAL_BIN, 2 shards, backend $SHOAL_IO). Networks fail
// through a TCP proxy written here (cut, refuse, stall, a subscriber that stops reading); the
// server is restarted for resets and configured with JWT keys for auth. Every wait polls with a
// generous deadline: nothing assumes a rate or a latency.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ShoalClient, ShoalError } from '../../gateway/web/shoal.js';
import { startShoal, waitFor, sleep, hs256, metricSum, TcpProxy } from './helpers.mjs';

const fast = { minDelay: 20, maxDelay: 300 };
let server;  // shared by the tests that do not restart or reconfigure it
const clients = [];
const proxies = [];

function client(url, options = {}) {
  const c = new ShoalClient(url, { WebSocket, reconnect: fast, ...options });
  clients.push(c);
  return c;
}

async function proxy(port = server.port) {
  const p = await new TcpProxy(port).start();
  proxies.push(p);
  return p;
}

// Records what a subscription delivers and the client's gap/reset events for `topic`.
function recorder(c, topic) {
  const r = { seqs: [], data: [], gaps: [], resets: [], handler: (m) => { r.seqs.push(m.seq); r.data.push(m.data); } };
  c.on('gap', (g) => { if (g.topic === topic) r.gaps.push(g); });
  c.on('reset', (e) => { if (e.topic === topic) r.resets.push(e); });
  return r;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

before(async () => { server = await startShoal(); });

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(proxies.map((p) => p.close()));
  assert.equal(await server.stop(), 0, 'shoal exits cleanly');
});

test('subscribe, publish and deliver: the ack carries the seq each subscriber sees', async () => {
  const a = client(server.url);
  const b = client(server.url);
  const ra = recorder(a, 'c.basic');
  const rb = recorder(b, 'c.basic');
  const states = [];
  a.on('state', (s) => states.push(s));
  const [sa] = await Promise.all([a.subscribe('c.basic', ra.handler), b.subscribe('c.basic', rb.handler)]);
  assert.equal(a.state, 'open');
  assert.deepEqual(states, ['open'], 'connecting -> open');
  assert.equal(sa.seq, 0);
  const seq1 = await b.publish('c.basic', { text: 'hi', n: [1, 2] });
  const seq2 = await a.publish('c.basic', 'second');
  assert.deepEqual([seq1, seq2], [1, 2]);
  await waitFor(() => ra.seqs.length === 2 && rb.seqs.length === 2, 'both deliveries');
  assert.deepEqual(ra.data, [{ text: 'hi', n: [1, 2] }, 'second']);
  assert.deepEqual(rb.seqs, [1, 2]);
  assert.equal(sa.seq, 2);
  await sa.unsubscribe();
  assert.equal(sa.active, false);
  await a.publish('c.basic', 'third');
  await waitFor(() => rb.seqs.length === 3, 'b gets the third');
  assert.equal(ra.seqs.length, 2, 'nothing after unsubscribe');
});

test('answers are matched to requests by id; a refused request rejects only its own promise', async () => {
  const c = client(server.url);
  await c.ready();
  const results = await Promise.allSettled([
    c.publish('c.ids', 1), c.publish('c.ids..bad', 2), c.publish('c.ids', 3),
    c.subscribe('c.ids/', () => {}), c.publish('c.ids', 4),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual([results[0].value, results[2].value, results[4].value], [1, 2, 3]);
  for (const r of [results[1], results[3]]) {
    assert.ok(r.reason instanceof ShoalError);
    assert.equal(r.reason.code, 'bad_topic');
  }
  await assert.rejects(c.subscribe('', () => {}), (e) => e.code === 'invalid_argument');
  await assert.rejects(c.publish('c.ids', undefined), (e) => e.code === 'invalid_argument');
});

test('a request the server never answers is rejected with timeout', async () => {
  const p = await proxy();
  const c = client(p.url(), { requestTimeout: 300, heartbeat: false });
  await c.ready();
  p.stall();
  const started = Date.now();
  await assert.rejects(c.publish('c.timeout', 1), (e) => e.code === 'timeout' && e.topic === 'c.timeout');
  assert.ok(Date.now() - started >= 250);
  await assert.rejects(c.subscribe('c.timeout', () => {}), (e) => e.code === 'timeout');
});

test('many pipelined publishes from two clients: every ack distinct, one order for all', async () => {
  const sub = client(server.url);
  const r = recorder(sub, 'c.order');
  await sub.subscribe('c.order', r.handler);
  const pubs = [client(server.url), client(server.url)];
  const n = 1500;
  const acks = await Promise.all(range(0, 2 * n - 1).map((i) => pubs[i % 2].publish('c.order', { p: i % 2, i })));
  assert.deepEqual([...acks].sort((x, y) => x - y), range(1, 2 * n));
  await waitFor(() => r.seqs.length === 2 * n, `${2 * n} deliveries`);
  assert.deepEqual(r.seqs, range(1, 2 * n));
  for (const p of [0, 1]) {
    const mine = r.data.filter((d) => d.p === p).map((d) => d.i);
    assert.deepEqual(mine, [...mine].sort((x, y) => x - y), `publisher ${p}'s order kept`);
  }
  r.data.forEach((d, k) => assert.equal(acks[d.i], k + 1, 'the ack is the delivered seq'));
});

test('connections cut under load: resume from the last seq, no loss, no duplicate, no gap', async () => {
  const p = await proxy();
  const sub = client(p.url());
  const r = recorder(sub, 'c.resume');
  const closes = [];
  sub.on('close', (e) => closes.push(e));
  await sub.subscribe('c.resume', r.handler);
  const pub = client(server.url);
  const n = 1200;
  let published = 0;
  const publishing = (async () => {
    while (published < n) {
      await Promise.all(range(1, 20).map(() => pub.publish('c.resume', ++published)));
      await sleep(2);
    }
  })();
  for (let cut = 1; cut <= 4; cut++) {
    await waitFor(() => r.seqs.length >= (cut * n) / 5, `deliveries before cut ${cut}`);
    p.cut();
    await waitFor(() => closes.length === cut, `close ${cut} seen`);
    await waitFor(() => sub.state === 'open', `reopened after cut ${cut}`);
  }
  await publishing;
  await waitFor(() => r.seqs.length === n, `all ${n} deliveries`);
  assert.deepEqual(r.seqs, range(1, n), 'every message once, in order');
  assert.deepEqual(r.data, range(1, n));
  assert.deepEqual(r.gaps, []);
  assert.equal(sub.stats.reconnects, 4);
  assert.ok(closes.length === 4 && closes.every((c) => c.code === 1006), JSON.stringify(closes));
});

test('a server restart loses history: the resume gets reset, then the new numbering flows', async () => {
  const own = await startShoal(['--drain', '1s']);
  const c = client(own.url, { reconnect: { minDelay: 20, maxDelay: 200 } });
  const r = recorder(c, 'c.reset');
  const states = [];
  c.on('state', (s) => states.push(s));
  await c.subscribe('c.reset', r.handler);
  for (let i = 1; i <= 5; i++) await c.publish('c.reset', `old ${i}`);
  await waitFor(() => r.seqs.length === 5, 'five deliveries');
  assert.equal(await own.stop(), 0);
  await waitFor(() => c.state === 'reconnecting', 'reconnecting');
  const again = await startShoal(['--drain', '1s'], { port: own.port });
  try {
    await waitFor(() => c.state === 'open', 'open on the new server');
    assert.deepEqual(r.resets, [{ topic: 'c.reset', since: 5, oldest: 1, seq: 0 }]);
    assert.equal(await c.publish('c.reset', 'new 1'), 1);
    await waitFor(() => r.seqs.length === 6, 'the first new message');
    assert.deepEqual(r.seqs, [1, 2, 3, 4, 5, 1]);
    assert.equal(r.data[5], 'new 1');
    assert.deepEqual(states.slice(0, 2), ['open', 'reconnecting']);
    assert.equal(states.at(-1), 'open');
  } finally {
    await c.close();
    await again.stop();
  }
});

test('a slow subscriber gets a gap notice: every seq is delivered or announced, never both', async () => {
  const own = await startShoal(['--high-watermark', '16384', '--slow-consumer-limit', '65536']);
  const p = await proxy(own.port);
  const slow = client(p.url(), { heartbeat: false });
  const r = recorder(slow, 'c.gap');
  const subscription = await slow.subscribe('c.gap', r.handler);
  const pub = client(own.url);
  p.holdDownstream(true);
  const payload = 'x'.repeat(4000);
  let last = 0;
  try {
    // Publish until the server starts dropping for the held subscriber (the kernel's socket
    // buffers absorb megabytes first), then a few more batches.
    let extra = 3;
    for (let batch = 0; batch < 200 && extra > 0; batch++) {
      const acks = await Promise.all(range(1, 100).map(() => pub.publish('c.gap', payload)));
      last = Math.max(...acks);
      if (await metricSum(own.port, 'shoal_drops_total') > 0) extra--;
    }
    assert.equal(extra, 0, 'the server dropped for the slow subscriber');
    p.holdDownstream(false);
    await waitFor(() => subscription.seq === last, 'the subscriber caught up to the last publish', 60000);
    assert.ok(r.gaps.length >= 1, 'at least one gap');
    assert.ok(r.gaps.every((g) => g.announced), 'gaps come from the server, no unexplained jump');
    const covered = new Set(r.seqs);
    for (const g of r.gaps) for (let s = g.from; s <= g.to; s++) {
      assert.ok(!covered.has(s), `seq ${s} both delivered and announced`);
      covered.add(s);
    }
    assert.equal(covered.size, last, 'every seq delivered or announced');
    for (let k = 1; k < r.seqs.length; k++) assert.ok(r.seqs[k] > r.seqs[k - 1], 'in order');
    assert.equal(slow.stats.reconnects, 0, 'the drop policy keeps the connection');
  } finally {
    await slow.close();
    await pub.close();
    await p.close();
    await own.stop();
  }
});

test('publishes queued while reconnecting go out in order after resubscription; the byte bound holds', async () => {
  const p = await proxy();
  const c = client(p.url(), { maxQueuedBytes: 4096 });
  const r = recorder(c, 'c.queue');
  await c.subscribe('c.queue', r.handler);
  const watcher = client(server.url);
  const rw = recorder(watcher, 'c.queue');
  await watcher.subscribe('c.queue', rw.handler);
  p.refuse(true);
  p.cut();
  await waitFor(() => c.state === 'reconnecting', 'reconnecting');
  assert.equal(c.bufferedAmount, 0);
  const queued = range(1, 5).map((i) => c.publish('c.queue', { i, pad: 'q'.repeat(500) }));
  const held = c.bufferedAmount;
  assert.ok(held > 5 * 500 && held <= 4096, `queued bytes ${held}`);
  await assert.rejects(c.publish('c.queue', 'z'.repeat(2000)), (e) => e instanceof ShoalError && e.code === 'queue_full');
  assert.equal(c.bufferedAmount, held, 'a refused publish takes no room');
  await sleep(200);
  assert.ok(p.accepted >= 2, 'the client kept trying');
  p.refuse(false);
  const seqs = await Promise.all(queued);
  assert.deepEqual(seqs, range(seqs[0], seqs[0] + 4), 'sent in call order');
  await waitFor(() => rw.seqs.length === 5 && r.seqs.length === 5, 'deliveries');
  assert.deepEqual(rw.data.map((d) => d.i), [1, 2, 3, 4, 5]);
  assert.deepEqual(r.seqs, seqs, 'the resubscribed publisher sees its own publishes');
  assert.equal(c.bufferedAmount, 0);
});

test('a publish in flight when the connection drops is rejected with connection_lost and never resent', async () => {
  const p = await proxy();
  const c = client(p.url(), { heartbeat: false });
  await c.ready();
  const watcher = client(server.url);
  const rw = recorder(watcher, 'c.lost');
  await watcher.subscribe('c.lost', rw.handler);
  p.stall();
  const lost = c.publish('c.lost', 'lost');
  await sleep(50);
  p.cut();
  await assert.rejects(lost, (e) => e.code === 'connection_lost');
  await waitFor(() => c.state === 'open', 'reconnected');
  assert.equal(await c.publish('c.lost', 'after'), 1);
  await waitFor(() => rw.data.length === 1, 'the later publish');
  await sleep(100);
  assert.deepEqual(rw.data, ['after']);
});

test('heartbeat: a path that goes silent without closing is found and replaced; an idle live one is kept', async () => {
  const p = await proxy();
  const c = client(p.url(), { heartbeat: { interval: 300, timeout: 1500 } });
  const r = recorder(c, 'c.heart');
  const closes = [];
  c.on('close', (e) => closes.push(e));
  await c.subscribe('c.heart', r.handler);
  await sleep(2000);  // idle: probes are answered
  assert.deepEqual(closes, [], 'no false alarm on an idle connection');
  const pub = client(server.url);
  await pub.publish('c.heart', 'before');
  await waitFor(() => r.seqs.length === 1, 'first delivery');
  p.stall();
  const stalledAt = Date.now();
  await pub.publish('c.heart', 'during');  // stuck in the stalled path
  await waitFor(() => closes.length === 1, 'the heartbeat timeout');
  assert.equal(closes[0].code, 4000);
  assert.match(closes[0].reason, /heartbeat/);
  assert.ok(Date.now() - stalledAt >= 1000, 'not before the timeout');
  await waitFor(() => c.state === 'open', 'reconnected through a fresh path');
  await pub.publish('c.heart', 'after');
  await waitFor(() => r.seqs.length === 3, 'the missed and the new message');
  assert.deepEqual(r.data, ['before', 'during', 'after']);
});

test('subscriptions made before connect() and several handlers per topic share one server subscription', async () => {
  const c = client(server.url, { autoConnect: false });
  assert.equal(c.state, 'closed');
  const got1 = [];
  const got2 = [];
  const s1 = c.subscribe('c.multi', (m) => got1.push(m.seq));
  c.connect();
  const first = await s1;
  const second = await c.subscribe('c.multi', (m) => got2.push(m.seq));
  await assert.rejects(c.subscribe('c.multi', () => {}, { since: 0 }), (e) => e.code === 'already_subscribed');
  await c.publish('c.multi', 1);
  await waitFor(() => got1.length === 1 && got2.length === 1, 'both handlers');
  await first.unsubscribe();
  await c.publish('c.multi', 2);
  await waitFor(() => got2.length === 2, 'the remaining handler');
  assert.deepEqual(got1, [1]);
  assert.equal(second.active, true);
});

// ---- Authentication: an HS256 key, tokens signed here ---------------------------------------

const SECRET = 'an-hmac-secret-of-at-least-thirty-two-bytes-for-node-tests';
let auth;  // {server, dir}

function token(ttl = 300, grants = { sub: ['auth.>'], pub: ['auth.>'] }, secret = SECRET) {
  const now = Math.floor(Date.now() / 1000);
  return hs256({ sub: 'user-7', iat: now, exp: now + ttl, shoal: grants }, secret);
}

async function authServer() {
  if (auth) return auth;
  const dir = mkdtempSync(join(tmpdir(), 'shoal-client-'));
  writeFileSync(join(dir, 'hs1.key'), `${SECRET}\n`);
  auth = { dir, server: await startShoal(['--jwt-secret-file', join(dir, 'hs1.key'), '--jwt-clock-skew', '0s']) };
  return auth;
}

after(async () => {
  if (!auth) return;
  await Promise.all(clients.map((c) => c.close()));
  assert.equal(await auth.server.stop(), 0);
  rmSync(auth.dir, { recursive: true, force: true });
});

test('auth: a token in the first message grants its topics; others are refused', async () => {
  const { server: s } = await authServer();
  const authed = [];
  const c = client(s.url, { token: token() });
  c.on('authed', (e) => authed.push(e));
  const r = recorder(c, 'auth.a');
  await c.subscribe('auth.a', r.handler);
  assert.equal(authed.length, 1);
  assert.equal(authed[0].sub, 'user-7');
  assert.equal(await c.publish('auth.a', 'ok'), 1);
  await assert.rejects(c.subscribe('other', () => {}), (e) => e.code === 'unauthorized' && e.topic === 'other');
  await assert.rejects(c.publish('other', 1), (e) => e.code === 'unauthorized');
  await waitFor(() => r.seqs.length === 1, 'delivery');
});

test('auth: a refused token is retried with backoff, reported, and given up on', async () => {
  const { server: s } = await authServer();
  const errors = [];
  const closes = [];
  const c = client(s.url, { token: token(300, undefined, 'a-different-secret-of-thirty-two-bytes!!'), maxAuthFailures: 3 });
  c.on('error', (e) => errors.push(e));
  c.on('close', (e) => closes.push(e));
  await waitFor(() => c.state === 'closed', 'giving up', 60000);
  assert.equal(closes.length, 3, 'three connections, then no more');
  assert.ok(errors.length >= 3 && errors.every((e) => e.code === 'unauthorized'), errors.map((e) => e.message).join('; '));
  assert.match(errors[0].message, /signature/);
  await sleep(500);
  assert.equal(closes.length, 3);
  await assert.rejects(c.ready(), (e) => e.code === 'closed');
});

test('auth: getToken renews the token on the connection before exp, without reconnecting', async () => {
  const { server: s } = await authServer();
  let calls = 0;
  const closes = [];
  const authed = [];
  const c = client(s.url, { getToken: async () => { calls++; return token(4); } });
  c.on('close', (e) => closes.push(e));
  c.on('authed', (e) => authed.push(e));
  await c.ready();
  const firstExp = authed[0].exp;
  await waitFor(() => Date.now() / 1000 > firstExp + 1, 'past the first token\'s exp', 15000);
  assert.deepEqual(closes, [], 'refreshed in band: no 4001');
  assert.ok(calls >= 2 && authed.length >= 2 && authed.at(-1).exp > firstExp, `calls ${calls}`);
  assert.equal(await c.publish('auth.refresh', 1), 1);
});

test('auth: close 4001 (token expired) reconnects with a new token from getToken and resumes', async () => {
  const { server: s } = await authServer();
  let calls = 0;
  const closes = [];
  const c = client(s.url, { getToken: async () => { calls++; return token(2); }, refreshBeforeExpiry: 0 });
  c.on('close', (e) => closes.push(e));
  const r = recorder(c, 'auth.expiry');
  await c.subscribe('auth.expiry', r.handler);
  const pub = client(s.url, { token: token() });
  let n = 0;
  while (!closes.some((e) => e.code === 4001)) {
    await pub.publish('auth.expiry', ++n);
    await sleep(20);
    assert.ok(n < 2000, 'the server closed with 4001 at exp');
  }
  for (let k = 0; k < 10; k++) await pub.publish('auth.expiry', ++n);
  await waitFor(() => r.seqs.length === n, `all ${n} messages`);
  assert.deepEqual(r.seqs, range(1, n), 'resumed across the expiry without loss or duplicate');
  assert.ok(calls >= 2, `getToken calls: ${calls}`);
  assert.equal(closes.find((e) => e.code === 4001).reason, 'token expired');
});
